/**
 * The project's one retry helper (p-retry underneath): jittered exponential backoff
 * under an overall deadline, abortable, with a predicate deciding what is worth retrying.
 */
import pRetry, { AbortError } from 'p-retry';

export interface RetryOptions {
  /** Attempts after the first one (default 5). */
  retries?: number;
  /** First backoff in ms (default 100). */
  minDelay?: number;
  /** Backoff cap in ms (default 5000). */
  maxDelay?: number;
  /** Overall budget in ms, attempts included; no new attempt starts after it (default: none). */
  deadline?: number;
  signal?: AbortSignal;
  /** Return false to fail at once (e.g. a 4xx). Default: retry everything. */
  shouldRetry?: (error: unknown) => boolean;
  /** Called after each failed attempt that will be retried. */
  onRetry?: (info: { error: unknown; attempt: number; retriesLeft: number }) => void;
}

export async function retry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const shouldRetry = opts.shouldRetry ?? (() => true);
  return pRetry(
    async (attempt) => {
      try {
        return await fn(attempt);
      } catch (error) {
        if (!shouldRetry(error)) throw new AbortError(error instanceof Error ? error : new Error(String(error)));
        throw error;
      }
    },
    {
      retries: opts.retries ?? 5,
      minTimeout: opts.minDelay ?? 100,
      maxTimeout: opts.maxDelay ?? 5000,
      factor: 2,
      randomize: true,
      ...(opts.deadline !== undefined ? { maxRetryTime: opts.deadline } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
        if (retriesLeft > 0) opts.onRetry?.({ error, attempt: attemptNumber, retriesLeft });
      },
    },
  );
}
