/**
 * The decisions of the etcd election backend, without I/O: who should hold an instance's leader
 * key, when a holder must step down, yield or may resume, and when a backup may campaign.
 * Deterministic: time and what was read from etcd come in as arguments; the shell (etcd.ts)
 * does the etcd calls and runs the actions. Tested with a fake clock.
 *
 * Rules (the contract, also in ipwarden(8)):
 * - Rank: higher effective priority first; equal priority: the node id that sorts first.
 * - Only a healthy node that has registered its candidate key campaigns, and only for a vacant
 *   leader key, and only while its lease is valid (within the step-down deadline).
 * - Vacant key: the best registered candidate campaigns at once; a candidate with `rank` better
 *   ones waits rank x skew (a better one that does not act is skipped). A freshly registered
 *   candidate waits holdOff first, so nodes started together see each other before anyone claims.
 * - A MASTER steps down when its lease has not been renewed for stepDown (< TTL): it stops acting
 *   before etcd can expire the lease and elect another node (fencing by time). With onEtcdLoss
 *   hold-if-peers-agree it keeps acting while the peers agree (etcd-peers.ts: `holding`), and a
 *   node that reaches etcd again does not campaign before `campaignFrom`.
 * - A MASTER yields when a strictly better candidate with preempt on has been registered for that
 *   candidate's preemptDelay (the preempting node's settings, as with heartbeats); with
 *   hold-if-peers-agree, not before campaignWaitMs to a better candidate it skipped when it claimed.
 * - A node that stepped down because it could not renew, and whose lease survived (etcd was
 *   briefly unreachable or lost quorum), resumes: it still holds the key, nobody else could
 *   have been elected, so no other node flaps. It resumes only on a renewal SENT AFTER the
 *   step-down and acknowledged with at least one renewal interval of validity left: a keepalive
 *   that waited out the outage and is answered when quorum returns proves the lease alive but
 *   leaves almost no time before the step-down deadline, and resuming on it made a loaded node
 *   step down again at once and resume again (MASTER -> BACKUP -> MASTER).
 */

/** A registered candidate: `<prefix>/<instance>/candidates/<id>`. */
export interface CandidateRecord {
  id: string;
  /** Effective priority (base priority with check weights and nudges). */
  priority: number;
  /** The candidate's own preemption settings (it is the one that would preempt). */
  preempt: boolean;
  preemptDelayMs: number;
}

/** The leader key `<prefix>/<instance>/leader`. */
export interface LeaderRecord {
  /** Node id (the key's value). */
  node: string;
  /** Lease the key is attached to (decimal string, as etcd returns it). */
  lease: string;
  /** The key's mod revision: the fencing token of the current term. */
  revision: bigint;
}

/** One consistent read of the instance's keys. */
export interface EtcdView {
  leader?: LeaderRecord;
  candidates: CandidateRecord[];
}

/** This node as the policy needs it. */
export interface SelfView {
  id: string;
  healthy: boolean;
  priority: number;
  /** Current lease id; undefined while none is granted. */
  leaseId?: string;
  /** Until when this node may act as holder (last acknowledged renewal + stepDown). */
  validUntil?: number;
  /** Send time of the newest acknowledged grant or renewal (validUntil - stepDown). */
  renewedAt?: number;
  /** When this node's candidate key was confirmed written (with its current priority); undefined = not registered. */
  registeredAt?: number;
  /**
   * onEtcdLoss hold-if-peers-agree: past the step-down deadline, every peer agrees that we keep
   * acting (EtcdPeerTable.holdVerdict). Only counts while the lease is not known lost.
   */
  holding?: boolean;
  /** hold-if-peers-agree: no campaign before this time (we reached etcd again recently). */
  campaignFrom?: number;
  /**
   * hold-if-peers-agree: how long any node may wait before campaigning after it reached etcd again
   * (regainWaitMs). A holder that claimed the key past better candidates does not yield to them for
   * that long: they did not claim it because they were waiting, and yielding to a candidate that
   * cannot claim yet only hands the key to the next lower one, which yields too (a cascade of
   * MASTER -> BACKUP flaps seen once after a step-down).
   */
  campaignWaitMs?: number;
}

/**
 * What this node is doing about the leader key:
 * backup: not holding; master: holding and acting; suspended: stepped down for want of renewals,
 * may still hold the key; releasing: stepped down on purpose (fault, yield), the key must go.
 */
export type Role = 'backup' | 'master' | 'suspended' | 'releasing';

export type TakeoverCause = 'no-master' | 'master-dead' | 'master-left' | 'preempt';

export type Decision =
  | { kind: 'none' }
  /** MASTER whose lease could not be renewed in time: run BACKUP actions now. */
  | { kind: 'step-down'; reason: string }
  /** MASTER whose key is gone or held by another lease (seen in a fresh read). */
  | { kind: 'lost'; reason: string }
  /** MASTER outranked by a preempting candidate: run BACKUP actions, then release the key. */
  | { kind: 'yield'; to: CandidateRecord; reason: string }
  /** Try to create the vacant leader key. */
  | { kind: 'campaign'; cause: TakeoverCause; reason: string }
  /**
   * We hold the key with a valid lease but are not acting: after a step-down for want of
   * renewals ('recovered'), or a claim whose answer was lost. Re-claim it and act again.
   */
  | { kind: 'resume'; cause: TakeoverCause | 'recovered'; reason: string }
  /** Delete our leader key (after a voluntary step-down). */
  | { kind: 'release' };

export interface PolicyTimers {
  /** Wait of a candidate per better-ranked one before it campaigns for a vacant key. */
  skewMs: number;
  /** Wait after registering before the first campaign. */
  holdOffMs: number;
  /**
   * Validity a suspended holder needs left (from its newest acknowledged renewal) to resume:
   * the renewal interval, so the next keepalive is sent and can be answered before the deadline.
   */
  resumeMarginMs: number;
}

/** Rank order: true when `a` ranks before `b`. */
export function outranks(a: { priority: number; id: string }, b: { priority: number; id: string }): boolean {
  return a.priority > b.priority || (a.priority === b.priority && a.id < b.id);
}

export class EtcdPolicy {
  role: Role = 'backup';
  /** When the holder last stepped down for want of renewals (role 'suspended'). */
  private suspendedAt = -Infinity;
  private vacantSince: number | undefined;
  /** Candidates seen outranking us while we hold: id -> first seen (continuously). */
  private betterSince = new Map<string, number>();
  /** The last holder seen (for the takeover cause). */
  private lastLeader: LeaderRecord | undefined;
  private lastCandidates: CandidateRecord[] = [];
  /** Better candidates skipped when we campaigned, not yielded to before `until`. */
  private skipped: { ids: Set<string>; until: number } | undefined;

  constructor(private readonly timers: PolicyTimers) {}

  /**
   * True when the holder's time is up: no acknowledged renewal within the step-down deadline, and
   * no agreement of the peers to hold through the etcd outage (onEtcdLoss hold-if-peers-agree).
   * A lease known lost (no lease id) always ends the term.
   */
  mustStepDown(now: number, self: SelfView): boolean {
    if (this.role !== 'master') return false;
    if (self.leaseId === undefined || self.validUntil === undefined) return true;
    return now >= self.validUntil && self.holding !== true;
  }

  /** Involuntary step-down: the key may still be ours; resume needs a renewal sent after `now`. */
  suspend(now: number): void {
    this.role = 'suspended';
    this.suspendedAt = now;
  }

  /**
   * Whether a suspended holder may act again: a renewal sent after the step-down was acknowledged
   * and leaves at least resumeMarginMs before the step-down deadline (see the rules above).
   */
  mayResume(now: number, self: SelfView): boolean {
    return (
      this.leaseValid(now, self) &&
      self.renewedAt !== undefined &&
      self.renewedAt >= this.suspendedAt &&
      self.validUntil! - now >= this.timers.resumeMarginMs
    );
  }

  /** Whether our lease lets us hold: valid and not about to run out. */
  private leaseValid(now: number, self: SelfView): boolean {
    return self.leaseId !== undefined && self.validUntil !== undefined && now < self.validUntil;
  }

  private isOurs(self: SelfView, leader: LeaderRecord | undefined): boolean {
    return leader !== undefined && leader.node === self.id && leader.lease === self.leaseId;
  }

  /**
   * One decision. `view` is a read made just now, or undefined when the read failed (then only
   * the time rules apply). The caller applies the decision and sets `role` from its outcome.
   */
  decide(now: number, self: SelfView, view: EtcdView | undefined): Decision {
    if (view) this.observe(now, self, view);
    switch (this.role) {
      case 'master':
        return this.decideMaster(now, self, view);
      case 'suspended':
        if (!view) return { kind: 'none' };
        if (!this.isOurs(self, view.leader)) {
          this.role = 'backup';
          return this.decideBackup(now, self, view);
        }
        if (self.healthy && this.mayResume(now, self)) {
          return { kind: 'resume', cause: 'recovered', reason: `etcd renews our lease again and we still hold the leader key (revision ${view.leader!.revision})` };
        }
        return { kind: 'none' };
      case 'releasing':
        if (!view) return { kind: 'none' };
        if (this.isOurs(self, view.leader)) return { kind: 'release' };
        this.role = 'backup';
        return { kind: 'none' };
      case 'backup':
        return view ? this.decideBackup(now, self, view) : { kind: 'none' };
    }
  }

  private observe(now: number, self: SelfView, view: EtcdView): void {
    if (view.leader) {
      this.vacantSince = undefined;
      if (view.leader.node !== self.id) this.lastLeader = view.leader;
    } else {
      this.vacantSince ??= now;
    }
    this.lastCandidates = view.candidates;
    // preemption clocks: only while we hold, only for candidates that keep outranking us
    const me = { id: self.id, priority: self.priority };
    const better = new Set(view.candidates.filter((c) => c.id !== self.id && c.preempt && c.priority > me.priority).map((c) => c.id));
    for (const id of [...this.betterSince.keys()]) if (!better.has(id) || this.role !== 'master') this.betterSince.delete(id);
    if (this.role === 'master') for (const id of better) if (!this.betterSince.has(id)) this.betterSince.set(id, now);
  }

  private decideMaster(now: number, self: SelfView, view: EtcdView | undefined): Decision {
    if (this.mustStepDown(now, self)) {
      return { kind: 'step-down', reason: 'no etcd lease renewal within the step-down deadline: stepping down before the lease can expire' };
    }
    if (!view) return { kind: 'none' };
    if (!this.isOurs(self, view.leader)) {
      const who = view.leader ? `now held by ${view.leader.node}` : 'gone';
      return { kind: 'lost', reason: `the leader key is ${who} (our lease expired or the key was deleted)` };
    }
    let best: CandidateRecord | undefined;
    for (const c of view.candidates) {
      const since = this.betterSince.get(c.id);
      if (since === undefined || now < since + c.preemptDelayMs) continue;
      if (this.skipped?.ids.has(c.id) && now < this.skipped.until) continue;
      if (!best || outranks(c, best)) best = c;
    }
    if (best) return { kind: 'yield', to: best, reason: `yielding to ${best.id} prio ${best.priority} (ours ${self.priority})` };
    return { kind: 'none' };
  }

  private decideBackup(now: number, self: SelfView, view: EtcdView): Decision {
    if (view.leader) {
      if (this.isOurs(self, view.leader) && self.healthy && this.leaseValid(now, self)) {
        const { cause } = this.takeoverCause(self, view, 0);
        return { kind: 'resume', cause, reason: `we hold the leader key (revision ${view.leader.revision}): our claim went through` };
      }
      return { kind: 'none' };
    }
    if (!self.healthy || !this.leaseValid(now, self) || self.registeredAt === undefined) return { kind: 'none' };
    if (now < self.registeredAt + this.timers.holdOffMs) return { kind: 'none' };
    if (self.campaignFrom !== undefined && now < self.campaignFrom) return { kind: 'none' };
    const rank = this.rank(self, view.candidates);
    if (rank > 0 && now < (this.vacantSince ?? now) + rank * this.timers.skewMs) return { kind: 'none' };
    const me = { id: self.id, priority: self.priority };
    this.skipped =
      rank > 0 && self.campaignWaitMs !== undefined
        ? { ids: new Set(view.candidates.filter((c) => c.id !== self.id && outranks(c, me)).map((c) => c.id)), until: now + self.campaignWaitMs }
        : undefined;
    return { kind: 'campaign', ...this.takeoverCause(self, view, rank) };
  }

  /** Registered candidates (self excluded) that rank before us. */
  private rank(self: SelfView, candidates: CandidateRecord[]): number {
    const me = { id: self.id, priority: self.priority };
    return candidates.filter((c) => c.id !== self.id && outranks(c, me)).length;
  }

  private takeoverCause(self: SelfView, view: EtcdView, rank: number): { cause: TakeoverCause; reason: string } {
    const skipped = rank > 0 ? ` (${rank} better candidate(s) did not claim it)` : '';
    const last = this.lastLeader;
    if (!last) return { cause: 'no-master', reason: `no leader in etcd${skipped}` };
    const still = view.candidates.find((c) => c.id === last.node);
    if (still && still.priority < self.priority) {
      return { cause: 'preempt', reason: `preempting ${last.node} prio ${still.priority} (ours ${self.priority})` };
    }
    if (still) return { cause: 'master-left', reason: `leader ${last.node} released the key${skipped}` };
    return { cause: 'master-dead', reason: `leader ${last.node}'s lease ended (crashed, stopped or cut off from etcd)${skipped}` };
  }

  /**
   * The earliest time a decision could change without new input (timers), or Infinity:
   * the step-down deadline, a preemption delay ending, a hold-off or a campaign skew ending.
   */
  nextWakeup(self: SelfView): number {
    let t = Infinity;
    if (this.role === 'master') {
      // holding past the deadline: the shell's deadline timer re-checks the peers' agreement
      if (self.validUntil !== undefined && !self.holding) t = Math.min(t, self.validUntil);
      for (const [id, since] of this.betterSince) {
        const c = this.lastCandidates.find((x) => x.id === id);
        if (c) t = Math.min(t, Math.max(since + c.preemptDelayMs, this.skipped?.ids.has(id) ? this.skipped.until : -Infinity));
      }
    } else if (this.role === 'backup' && this.vacantSince !== undefined && self.registeredAt !== undefined && self.healthy) {
      t = Math.min(t, Math.max(self.registeredAt + this.timers.holdOffMs, this.vacantSince + this.rank(self, this.lastCandidates) * this.timers.skewMs, self.campaignFrom ?? -Infinity));
    }
    return t;
  }

  /** The holder last seen other than us (status). */
  get previousLeader(): LeaderRecord | undefined {
    return this.lastLeader;
  }
}
