/**
 * Time and timers as the shells take them: injected, so the real shells (check runner, heartbeat
 * election, instance runner, cloud controller) run under the tests' fake clocks.
 */

export interface Clock {
  /** Wall clock, ms since the epoch (for `at`). */
  now(): number;
  /** Monotonic ms (for latency). */
  monotonic(): number;
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The wall clock and timers in one (the cloud controller's view). */
export type TimerClock = Pick<Clock, 'now'> & Timers;

export const systemClock: Clock = { now: () => Date.now(), monotonic: () => performance.now() };

export const systemTimers: Timers = { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };
