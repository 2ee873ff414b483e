/**
 * The project's one "promise against a deadline": stop waiting for `p` when a signal fires or a time
 * limit passes, even if whatever produces `p` ignores both (a plugin that does not watch its signal,
 * an etcd call whose answer never comes). `p` itself is not cancelled; its late result is dropped.
 */

export interface DeadlineOptions {
  /** Stop waiting when this fires: a TimeoutError reason becomes `timeoutMessage`, any other reason is the rejection. */
  signal?: AbortSignal;
  /** Stop waiting after this many milliseconds (a timer of its own), with `timeoutMessage`. */
  ms?: number;
  /** The error message when the time is up ("lease grant timed out after 500 ms (DEADLINE)", "no answer within 5.0s"). */
  timeoutMessage: string;
}

/** `p`, or a rejection when the deadline comes first. */
export function withDeadline<T>(p: Promise<T>, opts: DeadlineOptions): Promise<T> {
  const { signal, ms, timeoutMessage } = opts;
  return new Promise<T>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      const reason = signal!.reason as Error | undefined;
      reject(reason?.name === 'TimeoutError' ? new Error(timeoutMessage) : (reason ?? new Error('aborted')));
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    if (ms !== undefined) timer = setTimeout(() => reject(new Error(timeoutMessage)), Math.max(1, ms));
    p.then(resolve, reject).finally(() => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    });
  });
}
