/**
 * A token bucket per simulator (a cloud's per-project/per-account budget): `limit` tokens, refilled at
 * `refillPerSecond`. Each cloud renders the state in its own headers (Hetzner RateLimit-*, DigitalOcean
 * ratelimit-*, AWS a RequestLimitExceeded error).
 */
export interface RateBudgetOptions {
  limit: number;
  refillPerSecond: number;
  now?: () => number;
}

export interface RateDecision {
  allowed: boolean;
  limit: number;
  /** Whole tokens left after this request. */
  remaining: number;
  /** Epoch ms when the bucket is full again. */
  resetAtMs: number;
  /** When refused: ms until one token is available. */
  retryAfterMs: number;
}

export class RateBudget {
  #tokens: number;
  #last: number;
  readonly #now: () => number;

  constructor(private opts: RateBudgetOptions) {
    if (!(opts.limit > 0) || !(opts.refillPerSecond > 0)) throw new Error('rate budget: limit and refillPerSecond must be > 0');
    this.#now = opts.now ?? Date.now;
    this.#tokens = opts.limit;
    this.#last = this.#now();
  }

  /** Takes one token if there is one. */
  take(): RateDecision {
    this.#refill();
    const allowed = this.#tokens >= 1;
    if (allowed) this.#tokens -= 1;
    return this.#decision(allowed);
  }

  /** The state without taking a token. */
  peek(): RateDecision {
    this.#refill();
    return this.#decision(true);
  }

  /** Changes limit/refill (admin API); the bucket is refilled to the new limit. */
  configure(opts: Partial<Pick<RateBudgetOptions, 'limit' | 'refillPerSecond'>>): void {
    this.opts = { ...this.opts, ...opts };
    this.#tokens = this.opts.limit;
    this.#last = this.#now();
  }

  get settings(): { limit: number; refillPerSecond: number } {
    return { limit: this.opts.limit, refillPerSecond: this.opts.refillPerSecond };
  }

  #refill(): void {
    const now = this.#now();
    this.#tokens = Math.min(this.opts.limit, this.#tokens + ((now - this.#last) / 1000) * this.opts.refillPerSecond);
    this.#last = now;
  }

  #decision(allowed: boolean): RateDecision {
    const now = this.#now();
    const missing = this.opts.limit - this.#tokens;
    return {
      allowed,
      limit: this.opts.limit,
      remaining: Math.floor(this.#tokens),
      resetAtMs: now + Math.ceil((missing / this.opts.refillPerSecond) * 1000),
      retryAfterMs: allowed ? 0 : Math.ceil(((1 - this.#tokens) / this.opts.refillPerSecond) * 1000),
    };
  }
}
