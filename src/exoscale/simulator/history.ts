/**
 * Who held an Elastic IP over time, computed from the simulator's event log, so
 * tests can assert "never on two instances longer than X" and "never unheld longer than Y".
 */

/** The part of a simulator event this computation needs. */
export interface HolderChange {
  /** Epoch milliseconds. */
  t: number;
  eip?: { id: string; ip: string };
  /** Holders of the EIP right after the event. */
  holders?: string[];
}

export interface HolderInterval {
  /** Epoch ms the holder set started. */
  from: number;
  /** Epoch ms it ended; null while current. */
  to: number | null;
  holders: string[];
}

export interface HolderHistory {
  eip: { id: string; ip: string };
  /** Holders now. */
  holders: string[];
  intervals: HolderInterval[];
  /** Longest stretch with two or more holders. */
  maxMultiHolderMs: number;
  /** Sum of the stretches with two or more holders. */
  totalMultiHolderMs: number;
  /** Longest stretch with no holder, counted from the first attach. */
  maxUnheldMs: number;
}

/** Folds the events of one EIP (matched by id) into holder intervals up to `nowMs`. */
export function holderHistory(
  events: readonly HolderChange[],
  eip: { id: string; ip: string },
  initialHolders: readonly string[],
  nowMs: number,
  sinceMs?: number,
): HolderHistory {
  const relevant = events.filter((e) => e.eip?.id === eip.id && e.holders !== undefined);
  const intervals: HolderInterval[] = [];
  let current: HolderInterval = { from: sinceMs ?? relevant[0]?.t ?? nowMs, to: null, holders: [...initialHolders] };
  for (const e of relevant) {
    if (sameSet(current.holders, e.holders!)) continue;
    current.to = e.t;
    intervals.push(current);
    current = { from: e.t, to: null, holders: [...e.holders!] };
  }
  intervals.push(current);
  let maxMulti = 0;
  let totalMulti = 0;
  let maxUnheld = 0;
  let seenHeld = false;
  for (const iv of intervals) {
    const len = (iv.to ?? nowMs) - iv.from;
    if (iv.holders.length >= 2) {
      maxMulti = Math.max(maxMulti, len);
      totalMulti += len;
    }
    if (iv.holders.length > 0) seenHeld = true;
    else if (seenHeld) maxUnheld = Math.max(maxUnheld, len);
  }
  return {
    eip,
    holders: [...current.holders],
    intervals: intervals.filter((iv) => (iv.to ?? nowMs) > iv.from || iv.to === null),
    maxMultiHolderMs: maxMulti,
    totalMultiHolderMs: totalMulti,
    maxUnheldMs: maxUnheld,
  };
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}
