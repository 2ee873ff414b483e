/**
 * The one HTTP layer of every cloud provider:
 * - one keep-alive agent per client, so the connection made at start-up (or by the last reconcile)
 *   is still warm when a failover needs it: no TLS handshake on the failover path;
 * - a timeout on every attempt (connect, send and the whole answer), optionally short for the first
 *   attempt and doubled per retry (firstTimeoutMs): a request that hung is re-sent soon;
 * - retries through the project's one retry helper (src/util/retry.ts), with the wait a rate-limited
 *   answer asks for (Retry-After, RateLimit-Reset, ratelimit-reset: the provider's `classify` reads
 *   them into CloudApiError.retryAfterMs) honoured before the next attempt;
 * - secrets (tokens, keys: whatever `secrets()` returns) redacted from every error message and log line.
 *
 * The provider supplies what differs per cloud: `authorize` (a Bearer header, or a SigV4 signature over
 * the final request) and `classify` (its error bodies and status codes mapped to CloudApiError kinds).
 *
 * Mutations are retried only when the request cannot have been applied (rate limited, conflict/locked,
 * connection refused) unless the caller marks it `idempotent`. The controller above is level-triggered:
 * it reads the holders back, so a change whose answer was lost is noticed, not repeated blindly.
 */
import http from 'node:http';
import https from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { retry } from '../util/retry.js';
import { HttpAbortError, HttpTimeoutError, httpRequest, type HttpResponse } from './http-exchange.js';
import { CloudApiError } from './provider.js';

export type { HttpResponse } from './http-exchange.js';

/** The request as it will be sent, handed to `authorize` (which may sign it). */
export interface OutgoingRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: string;
}

export interface RetryPolicy {
  /** Attempts after the first (default 4). */
  retries?: number;
  /** First backoff, ms (default 200). */
  minDelayMs?: number;
  /** Backoff cap, ms (default 5000). */
  maxDelayMs?: number;
  /** Overall budget of one call, attempts included, ms (default 30 000). */
  deadlineMs?: number;
}

export interface CloudHttpOptions {
  /** Registry name of the cloud, for errors ('hetzner'). */
  cloud: string;
  /** Base URL; request paths are resolved against it ('https://api.hetzner.cloud/v1/'). */
  baseUrl: string;
  /** Per-attempt timeout, ms (default 10 000): with firstTimeoutMs, the longest an attempt waits. */
  timeoutMs?: number;
  /**
   * The first attempt's timeout, ms; each retry doubles it, up to timeoutMs (default: timeoutMs for
   * every attempt). A request sent while the API was hanging (or lost on the way) is re-sent after
   * this, not after the longest wait a slow answer may need: the failover path's first attempt.
   */
  firstTimeoutMs?: number;
  retry?: RetryPolicy;
  /** Adds authentication to the request (headers it returns are merged in, after every other header). */
  authorize?: (req: OutgoingRequest) => Record<string, string> | Promise<Record<string, string>>;
  /**
   * Maps a non-2xx answer to a CloudApiError (the message must name the call and, for auth errors, the
   * credential reference). Default: defaultClassify.
   */
  classify?: (res: HttpResponse, req: OutgoingRequest) => CloudApiError;
  /** Secret values to redact from messages (called at error time, so rotated values are covered). */
  secrets?: () => Array<string | undefined>;
  /** Called before each retry, e.g. for a debug log line (message already redacted). */
  onRetry?: (info: { attempt: number; error: CloudApiError; delayMs?: number }) => void;
  /** Extra headers on every request (User-Agent…). */
  headers?: Record<string, string>;
  /**
   * Called after every attempt (metrics: the action passes ActionContext.onApiCall, which feeds
   * ipwarden_api_*). `call` is CloudRequest.call, else "METHOD path".
   */
  onCall?: (sample: { call: string; status?: number; durationMs: number; error?: boolean }) => void;
}

export interface CloudRequest {
  /** Query parameters appended to the URL. */
  query?: Record<string, string | number | boolean | undefined>;
  /** A JSON value (serialised, content-type application/json) or a ready string body. */
  json?: unknown;
  body?: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Once aborted, no further attempt is sent (the last attempt's error is thrown): see CallOptions.resend in provider.ts. */
  resend?: AbortSignal;
  /** Safe to repeat even if the first attempt was applied (default: true for GET/HEAD/PUT/DELETE). */
  idempotent?: boolean;
  /** Override the client's retry policy for this call (`false`: one attempt only). */
  retry?: RetryPolicy | false;
  /** Per-attempt timeout for this call (every attempt; the client's firstTimeoutMs does not apply). */
  timeoutMs?: number;
  /** The call's name for metrics ("assign-floating-ip"); default "METHOD path". */
  call?: string;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/**
 * The daemon's cloud actions: the first attempt of a call waits this long for its answer before it is
 * re-sent (then twice as long, up to the action's timeoutMs). Every call on the failover path (a read,
 * an attach, a detach) answers in well under a second when the API is healthy, the asynchronous changes
 * being polled, not awaited; one lost on the way or sent while the API hung costs 2 s, not 5.
 */
export const FAILOVER_FIRST_TIMEOUT_MS = 2_000;

/** Attempt `attempt`'s timeout (1 = the first): `firstMs` doubled per retry, up to `capMs`; `capMs` without `firstMs`. */
export function attemptTimeoutMs(attempt: number, capMs: number, firstMs?: number): number {
  return firstMs === undefined ? capMs : Math.min(capMs, firstMs * 2 ** (Math.max(1, attempt) - 1));
}
const NOT_APPLIED_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/** Replaces every secret value (length >= 4) in `text` with "[redacted]". */
export function redactSecrets(text: string, secrets: ReadonlyArray<string | undefined>): string {
  let out = text;
  for (const s of secrets) {
    if (s && s.length >= 4) out = out.split(s).join('[redacted]');
  }
  return out;
}

/** Reads a wait from Retry-After (seconds or HTTP date) or a RateLimit-Reset style header (unix seconds or delta). */
export function retryAfterFromHeaders(headers: http.IncomingHttpHeaders, nowMs: number = Date.now()): number | undefined {
  const ra = headerValue(headers['retry-after']);
  if (ra !== undefined) {
    const secs = Number(ra);
    if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
    const date = Date.parse(ra);
    if (Number.isFinite(date)) return Math.max(0, date - nowMs);
  }
  const reset = headerValue(headers['ratelimit-reset'] ?? headers['x-ratelimit-reset']);
  if (reset !== undefined) {
    const n = Number(reset);
    if (Number.isFinite(n)) {
      // Large values are unix times (Hetzner, DigitalOcean); small ones are deltas (IETF draft).
      return n > 1e9 ? Math.max(0, n * 1000 - nowMs) : Math.max(0, n * 1000);
    }
  }
  return undefined;
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** Status-only mapping, for clouds without a better one. */
export function defaultClassify(res: HttpResponse, req: OutgoingRequest, cloud: string): CloudApiError {
  const what = `${req.method} ${req.url.pathname}`;
  const snippet = res.body.slice(0, 300);
  const details = { status: res.status, retryAfterMs: retryAfterFromHeaders(res.headers) };
  if (res.status === 429) return new CloudApiError(cloud, 'rate-limited', `${what}: rate limited (429)`, details);
  if (res.status === 401 || res.status === 403) return new CloudApiError(cloud, 'auth', `${what}: ${res.status} ${snippet}`, details);
  if (res.status === 404) return new CloudApiError(cloud, 'not-found', `${what}: not found (404)`, details);
  if (res.status === 409 || res.status === 423) return new CloudApiError(cloud, 'conflict', `${what}: ${res.status} ${snippet}`, details);
  if (res.status >= 500) return new CloudApiError(cloud, 'retryable', `${what}: ${res.status} ${snippet}`, details);
  return new CloudApiError(cloud, 'invalid', `${what}: ${res.status} ${snippet}`, details);
}

export class CloudHttpClient {
  readonly cloud: string;
  readonly baseUrl: URL;
  readonly #opts: CloudHttpOptions;
  readonly #agent: http.Agent;

  constructor(opts: CloudHttpOptions) {
    this.cloud = opts.cloud;
    this.#opts = opts;
    const base = opts.baseUrl.endsWith('/') ? opts.baseUrl : `${opts.baseUrl}/`;
    let url: URL;
    try {
      url = new URL(base);
    } catch {
      throw new Error(`${opts.cloud} endpoint: not a URL: ${JSON.stringify(opts.baseUrl)}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new Error(`${opts.cloud} endpoint: expected http: or https:, got ${JSON.stringify(url.protocol)}`);
    }
    this.baseUrl = url;
    for (const key of ['timeoutMs', 'firstTimeoutMs'] as const) {
      const ms = opts[key];
      if (ms !== undefined && !(Number.isFinite(ms) && ms > 0)) throw new Error(`${opts.cloud} HTTP client: ${key} must be a positive number of ms, got ${ms}`);
    }
    const agentOpts = { keepAlive: true, keepAliveMsecs: 15_000, maxSockets: 8, maxFreeSockets: 2 };
    this.#agent = url.protocol === 'https:' ? new https.Agent(agentOpts) : new http.Agent(agentOpts);
  }

  /** Resolves `path` ('floating_ips/42/actions/assign' or '/v2/...') against the base URL. */
  url(path: string, query?: CloudRequest['query']): URL {
    const rel = path.startsWith('/') ? path.slice(1) : path;
    const url = new URL(rel, this.baseUrl);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    return url;
  }

  /** A request answered 2xx; any other outcome is a CloudApiError (retried per policy first). */
  async request(method: string, path: string, req: CloudRequest = {}): Promise<HttpResponse> {
    const policy = req.retry === false ? { retries: 0 } : { ...this.#opts.retry, ...req.retry };
    const idempotent = req.idempotent ?? ['GET', 'HEAD', 'PUT', 'DELETE'].includes(method);
    let pendingWait: number | undefined;
    let lastError: unknown;
    return retry(
      async (attempt) => {
        if (pendingWait !== undefined) {
          const wait = pendingWait;
          pendingWait = undefined;
          await sleep(wait, undefined, req.signal ? { signal: req.signal } : undefined);
        }
        // the caller stopped wanting this change during the backoff: send nothing more
        if (attempt > 1 && req.resend?.aborted) throw lastError;
        try {
          return await this.#once(method, path, req, this.attemptTimeoutMs(attempt, req));
        } catch (err) {
          lastError = err;
          throw err;
        }
      },
      {
        retries: policy.retries ?? 4,
        minDelay: policy.minDelayMs ?? 200,
        maxDelay: policy.maxDelayMs ?? 5000,
        deadline: policy.deadlineMs ?? 30_000,
        ...(req.signal ? { signal: req.signal } : {}),
        shouldRetry: (err) => {
          if (!(err instanceof CloudApiError) || !err.retryable || req.resend?.aborted) return false;
          if (idempotent || err.kind !== 'retryable') return true;
          return err.code !== undefined && NOT_APPLIED_CODES.has(err.code);
        },
        onRetry: ({ error, attempt }) => {
          const e = error as CloudApiError;
          // The wait the cloud asked for, bounded by the backoff cap so one answer cannot stall a failover.
          if (e.retryAfterMs !== undefined) pendingWait = Math.min(e.retryAfterMs, policy.maxDelayMs ?? 5000);
          this.#opts.onRetry?.({ attempt, error: e, ...(pendingWait !== undefined ? { delayMs: pendingWait } : {}) });
        },
      },
    );
  }

  /** The timeout of attempt `attempt` (1 = the first): firstTimeoutMs doubled per retry, up to timeoutMs. */
  attemptTimeoutMs(attempt: number, req: Pick<CloudRequest, 'timeoutMs'> = {}): number {
    return req.timeoutMs ?? attemptTimeoutMs(attempt, this.#opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, this.#opts.firstTimeoutMs);
  }

  /** GET + JSON.parse; a body that is not JSON is an `invalid` error naming the call. */
  async getJson<T = unknown>(path: string, req: CloudRequest = {}): Promise<T> {
    return this.parseJson<T>(await this.request('GET', path, req), `GET ${path}`);
  }

  parseJson<T>(res: HttpResponse, what: string): T {
    try {
      return JSON.parse(res.body) as T;
    } catch {
      throw new CloudApiError(this.cloud, 'invalid', `${what}: answer is not JSON: ${this.redact(res.body.slice(0, 200))}`, {
        status: res.status,
      });
    }
  }

  redact(text: string): string {
    return redactSecrets(text, this.#opts.secrets?.() ?? []);
  }

  close(): void {
    this.#agent.destroy();
  }

  async #once(method: string, path: string, req: CloudRequest, timeoutMs: number): Promise<HttpResponse> {
    const url = this.url(path, req.query);
    const headers: Record<string, string> = { accept: 'application/json', ...this.#opts.headers, ...req.headers };
    let body = req.body;
    if (req.json !== undefined) {
      body = JSON.stringify(req.json);
      headers['content-type'] = 'application/json';
    }
    const outgoing: OutgoingRequest = { method, url, headers, ...(body !== undefined ? { body } : {}) };
    Object.assign(headers, await this.#opts.authorize?.(outgoing));
    let res: HttpResponse;
    const started = performance.now();
    const report = (status: number | undefined, error: boolean) =>
      this.#opts.onCall?.({ call: req.call ?? `${method} ${url.pathname}`, ...(status !== undefined ? { status } : {}), durationMs: performance.now() - started, ...(error ? { error } : {}) });
    try {
      res = await httpRequest({
        method,
        url,
        headers,
        ...(body !== undefined ? { body } : {}),
        timeoutMs,
        agent: this.#agent,
        ...(req.signal ? { signal: req.signal } : {}),
      });
    } catch (err) {
      report(undefined, true);
      if (err instanceof HttpAbortError) throw err;
      const code = (err as { code?: string }).code;
      const reason = err instanceof HttpTimeoutError ? err.message : `${code ?? ''} ${(err as Error).message}`.trim();
      throw new CloudApiError(this.cloud, 'retryable', this.redact(`${method} ${url.pathname}: ${reason}`), {
        ...(code ? { code } : {}),
        cause: err,
      });
    }
    report(res.status, res.status >= 400);
    if (res.status >= 200 && res.status < 300) return res;
    const classified = (this.#opts.classify ?? ((r, q) => defaultClassify(r, q, this.cloud)))(res, outgoing);
    const redacted = this.redact(classified.message);
    if (redacted === classified.message) throw classified;
    throw new CloudApiError(classified.cloud, classified.kind, redacted, {
      ...(classified.status !== undefined ? { status: classified.status } : {}),
      ...(classified.code !== undefined ? { code: classified.code } : {}),
      ...(classified.retryAfterMs !== undefined ? { retryAfterMs: classified.retryAfterMs } : {}),
    });
  }
}
