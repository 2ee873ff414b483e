/**
 * Interim glue between the engine's transitions and a single-holder FloatingIpProvider, until the
 * shared controller (src/cloud/controller.ts, branch `controller`) is merged; it has the same
 * constructor and methods (transition, peerDead, close), so the switch is one import.
 *
 *   MASTER            attach here (one assign moves the IP), read back; reconcile every `reconcileMs`
 *   BACKUP from MASTER  nothing: the new MASTER's assign moves the IP (no unheld window)
 *   BACKUP, FAULT, STOP  release: detach here (the provider reads first; never a peer's)
 *   from INIT           a release waits `startupGraceMs`
 * A failed MASTER pass is retried in the background with backoff; with onApiUnreachable "release"
 * an unreachable API fails the action (so `required: true` gives the instance up).
 */
import type { Logger } from '../../src/log.js';
import type { InstanceState } from '../../src/plugins/api.js';
import { isApiUnreachable, type FloatingIpProvider } from '../../src/cloud/provider.js';

export interface GlueSettings {
  release: boolean;
  onApiUnreachable: 'hold' | 'release';
  reconcileMs: number;
  startupGraceMs: number;
  retryMinMs?: number;
  retryMaxMs?: number;
}

export class SingleHolderGlue {
  #state: InstanceState = 'INIT';
  #epoch = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #failures = 0;
  #lane: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(
    readonly provider: FloatingIpProvider,
    private readonly settings: GlueSettings,
    private readonly log: Logger,
  ) {}

  get state(): InstanceState {
    return this.#state;
  }

  async transition(from: InstanceState, to: InstanceState, signal: AbortSignal): Promise<void> {
    if (this.#closed) return;
    this.#epoch.abort(new Error('superseded'));
    this.#epoch = new AbortController();
    clearTimeout(this.#timer);
    this.#state = to;
    this.#failures = 0;
    if (to === 'MASTER') return this.#pass(signal);
    if (!this.settings.release || to === 'INIT' || (to === 'BACKUP' && from === 'MASTER')) return;
    if (from === 'INIT' && to !== 'STOP' && this.settings.startupGraceMs > 0) {
      this.#timer = setTimeout(() => void this.#pass(this.#epoch.signal).catch(() => undefined), this.settings.startupGraceMs).unref();
      return;
    }
    return this.#pass(signal);
  }

  async peerDead(_peer: { id: string; address: string }, _state: InstanceState, signal: AbortSignal): Promise<void> {
    // single holder: the MASTER's own assign is the fencing; a pass makes sure it holds
    if (this.#state === 'MASTER') await this.#pass(signal);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#epoch.abort(new Error('closed'));
    await this.#lane.catch(() => undefined);
  }

  /** One pass for the current state, in the lane (one at a time). */
  #pass(signal: AbortSignal): Promise<void> {
    const epoch = this.#epoch.signal;
    const run = this.#lane.then(() => this.#once(AbortSignal.any([signal, epoch]), epoch));
    this.#lane = run.catch(() => undefined);
    return run;
  }

  async #once(signal: AbortSignal, epoch: AbortSignal): Promise<void> {
    if (epoch.aborted || this.#closed) return;
    const state = this.#state;
    try {
      const self = await this.provider.self({ signal });
      const holders = await this.provider.holders({ signal });
      if (state === 'MASTER') {
        if (!(holders.length === 1 && holders[0] === self)) {
          this.log.info({ holders }, `MASTER: moving ${this.provider.describe()} here (droplet ${self}; held by ${holders.join(', ') || 'nobody'})`);
          await this.provider.attach(self, { signal });
          const after = await this.provider.holders({ signal });
          if (!after.includes(self)) throw new Error(`${this.provider.describe()}: still held by ${after.join(', ') || 'nobody'} after the assign`);
        }
      } else if (holders.includes(self)) {
        this.log.info(`${state}: releasing ${this.provider.describe()} (droplet ${self})`);
        await this.provider.detach(self, { signal });
      }
      this.#failures = 0;
      if (state === 'MASTER' && this.settings.reconcileMs > 0 && !epoch.aborted) this.#schedule(this.settings.reconcileMs, epoch);
    } catch (err) {
      if (epoch.aborted || this.#closed) return;
      this.#failures++;
      const delay = Math.min(this.settings.retryMaxMs ?? 30_000, (this.settings.retryMinMs ?? 1_000) * 2 ** (this.#failures - 1));
      this.log.warn({ err: (err as Error).message, retryInMs: delay }, `${state}: ${this.provider.describe()}: ${(err as Error).message}`);
      this.#schedule(delay, epoch);
      if (state === 'MASTER' && isApiUnreachable(err) && this.settings.onApiUnreachable === 'hold') return;
      throw err;
    }
  }

  #schedule(ms: number, epoch: AbortSignal): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      if (!epoch.aborted) void this.#pass(epoch).catch(() => undefined);
    }, ms).unref();
  }
}
