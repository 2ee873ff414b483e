/**
 * Who held each floating address over time, recorded by the simulator at the instant a change is
 * applied, so tests and the chaos campaign judge "never on two targets longer than X" and "never
 * unheld longer than Y" from the cloud's side, not from the daemons' word.
 */
export interface HolderEvent {
  /** Epoch ms. */
  t: number;
  /** The floating address (or another resource key the simulator uses, e.g. a route). */
  resource: string;
  /** Holders right after the change. */
  holders: string[];
  /** The call that caused it ("assign-floating-ip", "admin"…). */
  cause: string;
}

export interface HolderInterval {
  from: number;
  /** null while current. */
  to: number | null;
  holders: string[];
}

export interface HolderTimeline {
  resource: string;
  holders: string[];
  intervals: HolderInterval[];
  /** Longest stretch with two or more holders, ms. */
  maxMultiHolderMs: number;
  /** Longest stretch with no holder after the first holder appeared, ms. */
  maxUnheldMs: number;
}

export class HolderHistory {
  #events: HolderEvent[] = [];
  #current = new Map<string, string[]>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Records the holders of `resource` after a change (no event when the set did not change). */
  record(resource: string, holders: readonly string[], cause: string): void {
    const sorted = [...holders].sort();
    const prev = this.#current.get(resource);
    if (prev && prev.length === sorted.length && prev.every((h, i) => h === sorted[i])) return;
    this.#current.set(resource, sorted);
    this.#events.push({ t: this.now(), resource, holders: sorted, cause });
  }

  events(sinceMs = 0, resource?: string): HolderEvent[] {
    return this.#events.filter((e) => e.t >= sinceMs && (resource === undefined || e.resource === resource));
  }

  clear(): void {
    this.#events = [];
    this.#current.clear();
  }

  timeline(resource: string, sinceMs?: number): HolderTimeline {
    return holderTimeline(this.#events, resource, this.now(), sinceMs);
  }
}

/** Pure: folds events into intervals up to `nowMs`. */
export function holderTimeline(events: readonly HolderEvent[], resource: string, nowMs: number, sinceMs?: number): HolderTimeline {
  const mine = events.filter((e) => e.resource === resource);
  const intervals: HolderInterval[] = [];
  let before: string[] = [];
  for (const e of mine) if (sinceMs !== undefined && e.t < sinceMs) before = e.holders;
  const inRange = mine.filter((e) => sinceMs === undefined || e.t >= sinceMs);
  let cur: HolderInterval = { from: sinceMs ?? inRange[0]?.t ?? nowMs, to: null, holders: before };
  for (const e of inRange) {
    cur.to = e.t;
    intervals.push(cur);
    cur = { from: e.t, to: null, holders: e.holders };
  }
  intervals.push(cur);
  let maxMulti = 0;
  let maxUnheld = 0;
  let seenHolder = false;
  for (const iv of intervals) {
    const len = (iv.to ?? nowMs) - iv.from;
    if (iv.holders.length >= 2) maxMulti = Math.max(maxMulti, len);
    if (iv.holders.length > 0) seenHolder = true;
    else if (seenHolder) maxUnheld = Math.max(maxUnheld, len);
  }
  return { resource, holders: cur.holders, intervals: intervals.filter((iv) => (iv.to ?? nowMs) > iv.from || iv.to === null), maxMultiHolderMs: maxMulti, maxUnheldMs: maxUnheld };
}
