/**
 * Replay and freshness protection for verified heartbeats. Pure: the caller passes `now`; no timers.
 *
 * Call it only with packets whose tag verified (decodePacket ok): a forger without the key must not be able
 * to move a sender's recorded incarnation or sequence, nor fill the table.
 */
import type { Packet } from './types.js';

export interface ReplayGuardOptions {
  /** Accepted clock difference, either way, between a packet's timestamp and `now` (ms). Default 60 s. */
  windowMs?: number;
  /** Most senders tracked at once; the least recently accepted one is forgotten first. Default 1024. */
  maxSenders?: number;
}

export type ReplayVerdict = { ok: true } | { ok: false; reason: 'replay' | 'stale-timestamp' };

/** What is remembered about one sender. */
export interface SenderMark {
  incarnation: number;
  /** Last accepted sequence within `incarnation`. */
  sequence: number;
}

export const DEFAULT_REPLAY_WINDOW_MS = 60_000;
export const DEFAULT_MAX_SENDERS = 1024;

type Stamp = Pick<Packet, 'instanceKey' | 'nodeId' | 'incarnation' | 'sequence' | 'timestamp'>;

/**
 * Tracks, per sender (instance key + node id), the incarnation and the last accepted sequence.
 * - a timestamp more than `windowMs` away from `now` -> 'stale-timestamp' (checked first; nothing recorded);
 * - a lower incarnation than recorded -> 'replay'; a higher one (the sender restarted) is accepted whatever
 *   its sequence;
 * - within the same incarnation, a sequence not greater than the last accepted one -> 'replay'.
 * Senders must therefore use one strictly increasing sequence per (instance, incarnation) across all packet
 * kinds, and bump the incarnation before the uint32 sequence would wrap.
 *
 * Bounded memory: at most `maxSenders` entries (LRU by acceptance). An evicted sender's next packet starts a
 * fresh record, so a replay of its packets is then only stopped by the timestamp window: keep `maxSenders`
 * well above the number of peers (only key holders can create entries).
 */
export class ReplayGuard {
  readonly windowMs: number;
  readonly maxSenders: number;
  /** Map iteration order is insertion order: re-inserting on accept keeps the oldest first (LRU). */
  readonly #senders = new Map<string, SenderMark>();

  constructor(options: ReplayGuardOptions = {}) {
    const windowMs = options.windowMs ?? DEFAULT_REPLAY_WINDOW_MS;
    const maxSenders = options.maxSenders ?? DEFAULT_MAX_SENDERS;
    if (!Number.isFinite(windowMs) || windowMs <= 0) {
      throw new RangeError(`replay windowMs: expected a positive number of ms, got ${String(windowMs)}`);
    }
    if (!Number.isInteger(maxSenders) || maxSenders < 1) {
      throw new RangeError(`replay maxSenders: expected a positive integer, got ${String(maxSenders)}`);
    }
    this.windowMs = windowMs;
    this.maxSenders = maxSenders;
  }

  /** Checks `p` against the sender's record at wall-clock time `now` (ms); on success records it. */
  accept(p: Stamp, now: number): ReplayVerdict {
    if (!(Math.abs(p.timestamp - now) <= this.windowMs)) return { ok: false, reason: 'stale-timestamp' };
    const id = senderKey(p.instanceKey, p.nodeId);
    const mark = this.#senders.get(id);
    if (mark) {
      if (p.incarnation < mark.incarnation) return { ok: false, reason: 'replay' };
      if (p.incarnation === mark.incarnation && p.sequence <= mark.sequence) return { ok: false, reason: 'replay' };
      this.#senders.delete(id);
    } else if (this.#senders.size >= this.maxSenders) {
      const oldest = this.#senders.keys().next().value;
      if (oldest !== undefined) this.#senders.delete(oldest);
    }
    this.#senders.set(id, { incarnation: p.incarnation, sequence: p.sequence });
    return { ok: true };
  }

  /** The record of one sender, if tracked. */
  get(instanceKey: number, nodeId: string): SenderMark | undefined {
    const mark = this.#senders.get(senderKey(instanceKey, nodeId));
    return mark ? { ...mark } : undefined;
  }

  /** Forgets one sender (e.g. removed from the configuration). */
  forget(instanceKey: number, nodeId: string): void {
    this.#senders.delete(senderKey(instanceKey, nodeId));
  }

  /** Number of senders tracked. */
  get size(): number {
    return this.#senders.size;
  }
}

function senderKey(instanceKey: number, nodeId: string): string {
  return `${instanceKey}/${nodeId}`;
}
