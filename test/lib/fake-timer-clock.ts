/**
 * A fake TimerClock (src/util/clock.ts) for the floating-IP controller: time moves only on advance(),
 * and `pending` lists the timers left, so "nothing more will happen" is asserted exactly (no timer
 * pending) instead of by sleeping and counting calls.
 */
import type { TimerClock } from '../../src/util/clock.js';

export class FakeTimerClock implements TimerClock {
  t = 1_000_000;
  #timers: { at: number; fn: () => void; id: number }[] = [];
  #next = 1;
  now = () => this.t;
  setTimeout = (fn: () => void, ms: number) => {
    const id = this.#next++;
    this.#timers.push({ at: this.t + ms, fn, id });
    return id;
  };
  clearTimeout = (h: unknown) => {
    this.#timers = this.#timers.filter((x) => x.id !== h);
  };
  /** ms from now to each pending timer, soonest first. */
  get pending(): number[] {
    return this.#timers.map((x) => x.at - this.t).sort((a, b) => a - b);
  }
  /**
   * Advances time, running due timers in order and letting their promises settle (microtasks and a
   * few event-loop turns: work that waits on real I/O goes on after this returns).
   */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await settle();
      const due = this.#timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.#timers = this.#timers.filter((x) => x !== due);
      this.t = due.at;
      due.fn();
    }
    this.t = end;
    await settle();
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
}
