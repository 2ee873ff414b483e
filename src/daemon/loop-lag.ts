/**
 * The daemon's own event-loop lag: adverts are sent from this loop, so code that blocks it (an
 * in-process plugin's synchronous work) delays them and can make the peers fail over. Measured
 * by one ticker every TICK_MS: how late each tick runs is a delay sample (into a histogram:
 * percentiles per window, for `status` and the metrics), and a tick later than BLOCK_WARN_MS logs a
 * warning naming the in-process checks whose code ran during the stall (third-party checks run
 * in worker threads and cannot stall it). Not perf_hooks.monitorEventLoopDelay: its own timer
 * wakes the loop every `resolution` ms (100 wakeups a second at 10 ms), which cost the idle daemon
 * about 0.5 % of a core in a bare process and more in the daemon (the benchmark's 16-peer CPU).
 */
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import type { Logger } from '../log.js';
import { formatDuration } from '../util/duration.js';

/** A tick this late is a stall worth a warning (adverts at 1 s with deadRatio 3 fail over after 3 s). */
export const BLOCK_WARN_MS = 250;
const TICK_MS = 100;
const WINDOW_MS = 10_000;

/** `status.eventLoop`: delay percentiles of the last full window, and the stalls seen. */
export interface EventLoopStatus {
  /** Length of the window the percentiles cover (ms). */
  windowMs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Stalls longer than BLOCK_WARN_MS since start. */
  blocks: number;
  lastBlock?: { at: string; ms: number; running: string[] };
}

/** A stall of `lateMs` on a tick due every `tickMs`, or undefined when the tick was on time. */
export function stallOf(previousTick: number, now: number, tickMs: number, thresholdMs = BLOCK_WARN_MS): number | undefined {
  const late = now - previousTick - tickMs;
  return late > thresholdMs ? late : undefined;
}

const ms = (ns: number) => Math.round(ns / 1e4) / 100;

export class LoopLagMonitor {
  private histogram: RecordableHistogram | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private lastTick = 0;
  private windowStart = 0;
  private window: Pick<EventLoopStatus, 'p50Ms' | 'p99Ms' | 'maxMs' | 'windowMs'> = { p50Ms: 0, p99Ms: 0, maxMs: 0, windowMs: 0 };
  private blocks = 0;
  private lastBlock: EventLoopStatus['lastBlock'];

  constructor(
    private readonly log: Logger,
    /** The in-process code that ran since a monotonic time ("web/app (plugin x)"). */
    private readonly runningSince: (sinceMonotonic: number) => string[],
  ) {}

  start(): void {
    if (this.histogram) return;
    this.histogram = createHistogram();
    this.lastTick = this.windowStart = performance.now();
    this.ticker = setInterval(() => this.tick(), TICK_MS);
    this.ticker.unref();
  }

  stop(): void {
    clearInterval(this.ticker);
    this.histogram = undefined;
  }

  status(): EventLoopStatus {
    const h = this.histogram;
    // until the first window is complete, the one in progress
    const current = this.window.windowMs === 0 && h && h.count > 0 ? { p50Ms: ms(h.percentile(50)), p99Ms: ms(h.percentile(99)), maxMs: ms(h.max), windowMs: Math.round(performance.now() - this.windowStart) } : this.window;
    return { ...current, blocks: this.blocks, ...(this.lastBlock ? { lastBlock: { ...this.lastBlock, running: [...this.lastBlock.running] } } : {}) };
  }

  private tick(): void {
    const now = performance.now();
    // the delay sample, in ns like perf_hooks' own (a tick a hair early counts as 1 ns)
    this.histogram?.record(Math.max(1, Math.round((now - this.lastTick - TICK_MS) * 1e6)));
    const late = stallOf(this.lastTick, now, TICK_MS);
    if (late !== undefined) {
      const running = this.runningSince(this.lastTick);
      this.blocks++;
      this.lastBlock = { at: new Date().toISOString(), ms: Math.round(late), running };
      const who = running.length ? `in-process check(s) running then: ${running.join(', ')}` : 'no in-process check was running then';
      this.log.warn({ event: 'event-loop-blocked', blockedMs: Math.round(late), running }, `event loop blocked for ${formatDuration(late)} (adverts were delayed); ${who}`);
    }
    this.lastTick = now;
    const h = this.histogram;
    if (h && now - this.windowStart >= WINDOW_MS) {
      this.window = { p50Ms: ms(h.percentile(50)), p99Ms: ms(h.percentile(99)), maxMs: ms(h.max), windowMs: Math.round(now - this.windowStart) };
      h.reset();
      this.windowStart = now;
    }
  }
}
