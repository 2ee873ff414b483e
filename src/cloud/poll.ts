/**
 * The one poller for clouds whose changes are asynchronous (Exoscale operations, Hetzner actions,
 * DigitalOcean actions): ask until the change is done, fast at first (most complete within a few
 * seconds and a failover waits on them), then slower, under an overall deadline. A poll that fails with
 * a retryable error is retried by the HTTP layer underneath; what reaches here is final.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { CloudApiError } from './provider.js';

export type PollResult<T> = { done: true; value: T } | { done: false };

export interface PollOptions {
  cloud: string;
  /** What is awaited, for the timeout error ("Hetzner action 42 (assign_floating_ip)"). */
  what: string;
  /** Interval during the fast phase, ms (default 250). */
  fastIntervalMs?: number;
  /** Length of the fast phase, ms (default 5000). */
  fastForMs?: number;
  /** Interval after it, ms (default 1000). */
  slowIntervalMs?: number;
  /** Give up after, ms (default 120 000): a `retryable` CloudApiError (the change may still complete). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Injected clock (tests). */
  now?: () => number;
  /** Injected sleep (tests). */
  wait?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

const defaultWait = (ms: number, signal?: AbortSignal): Promise<void> =>
  sleep(ms, undefined, signal ? { signal } : undefined);

/** Calls `check` until it reports done; the first check runs after the first interval. */
export async function pollUntilDone<T>(check: () => Promise<PollResult<T>>, opts: PollOptions): Promise<T> {
  const now = opts.now ?? Date.now;
  const wait = opts.wait ?? defaultWait;
  const fast = opts.fastIntervalMs ?? 250;
  const fastFor = opts.fastForMs ?? 5000;
  const slow = opts.slowIntervalMs ?? 1000;
  const timeout = opts.timeoutMs ?? 120_000;
  const start = now();
  for (;;) {
    const elapsed = now() - start;
    if (elapsed >= timeout) {
      throw new CloudApiError(opts.cloud, 'retryable', `${opts.what}: not complete after ${Math.round(elapsed)}ms`, {
        code: 'POLL_TIMEOUT',
      });
    }
    await wait(Math.min(elapsed < fastFor ? fast : slow, Math.max(1, timeout - elapsed)), opts.signal);
    const r = await check();
    if (r.done) return r.value;
  }
}
