/**
 * Who held an Elastic IP over time, from the simulator's event log: the kit's holderTimeline
 * (src/cloud/simulator-kit/history.ts) over the events of one EIP, plus what Exoscale's admin API
 * reports beside it (the EIP, the summed multi-holder time).
 */
import { holderTimeline, type HolderEvent, type HolderInterval } from '../../cloud/simulator-kit/history.js';

export type { HolderInterval };

/** The part of a simulator event this computation needs. */
export interface HolderChange {
  /** Epoch milliseconds. */
  t: number;
  eip?: { id: string; ip: string };
  /** Holders of the EIP right after the event. */
  holders?: string[];
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
  const from = sinceMs ?? relevant[0]?.t ?? nowMs;
  // the holders at `from`, then only the events that change the set (the kit's record() does the same)
  const changes: HolderEvent[] = [{ t: from, resource: eip.id, holders: [...initialHolders], cause: 'initial' }];
  for (const e of relevant) {
    if (!sameSet(changes[changes.length - 1]!.holders, e.holders!)) changes.push({ t: e.t, resource: eip.id, holders: [...e.holders!], cause: 'event' });
  }
  const tl = holderTimeline(changes, eip.id, nowMs, from);
  const totalMultiHolderMs = tl.intervals.filter((iv) => iv.holders.length >= 2).reduce((sum, iv) => sum + (iv.to ?? nowMs) - iv.from, 0);
  return { eip, holders: tl.holders, intervals: tl.intervals, maxMultiHolderMs: tl.maxMultiHolderMs, totalMultiHolderMs, maxUnheldMs: tl.maxUnheldMs };
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}
