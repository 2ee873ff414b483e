/**
 * The heartbeat side channel of an etcd-elected instance (election.heartbeat: true), without I/O:
 * who of the peers is alive, what each says about etcd, and the two decisions built on that.
 * Deterministic: time comes in as arguments; the shell (etcd.ts) sends and receives the adverts.
 * Tested with a fake clock.
 *
 * 1. Crash fast path. A peer heard within deadRatio x interval whose heartbeat port then answers
 *    ICMP "port unreachable" (ECONNREFUSED on our connected socket) has a dead daemon on a live
 *    host: the same proof the heartbeat engine takes for "master gone" (src/engine/instance.ts,
 *    onUnreachable). If it holds the leader key, a backup revokes its lease (the shell reads the
 *    key first: its value must name that node) and the next election runs at once, instead of
 *    after the TTL. A frozen daemon (SIGSTOP, a hung host) keeps its socket open and a partitioned
 *    or dead host sends no port unreachable: no proof, no revocation; those wait for the lease.
 *
 * 2. onEtcdLoss hold-if-peers-agree. A MASTER past its step-down deadline (it cannot renew its
 *    lease) keeps acting while EVERY configured peer is heard within deadRatio x interval, reports
 *    etcdOk false and names this node as the leader with the same fencing token. One peer silent,
 *    reaching etcd or naming another holder or term, and it steps down as with onEtcdLoss release.
 *    Peers report etcdOk false once their own renewal is half a renewal period overdue, so at the
 *    master's deadline a peer may still say true for up to that long: the master waits at most
 *    HOLD_GRACE (one renewal period) past its deadline for the reports to turn, and steps down at
 *    once if anything else disagrees.
 *
 *    Safety: no node can become MASTER without etcd (the leader key is claimed in a transaction). A
 *    peer that reaches etcd again says so at once (etcdOk true), and does not campaign before
 *    deadRatio x interval + the step-down time have passed since (regainWaitMs). The holder keeps
 *    holding after that report for at most (deadRatio - 1) x interval counted from the peer's last
 *    "etcd lost" advert (its own renewal normally comes back meanwhile: etcd is back), or until that
 *    advert is deadRatio x interval old if the report never arrives: either way it has stepped down
 *    before the peer may campaign, and its BACKUP actions had the step-down time to run (advert
 *    delivery assumed well under one interval). The holder's lease itself
 *    cannot expire while etcd has no quorum; when etcd is reachable but not from any node, the
 *    lease may expire, and every node reaching etcd again is held back by the same rule.
 */
import type { EtcdReport, Packet } from '../protocol/types.js';
import type { InstanceState } from '../engine/types.js';

export interface SideChannelTimers {
  intervalMs: number;
  deadRatio: number;
  /** The etcd lease renewal period (ttl/4). */
  renewMs: number;
  /** The step-down time (ttl/2): time the holder's BACKUP actions get. */
  stepDownMs: number;
}

export interface EtcdPeer {
  id: string;
  /** The transport's peer key (address:port) it was heard from. */
  address: string;
  state: InstanceState;
  priority: number;
  lastSeen: number;
  /** Heard within deadRatio x interval (and no port unreachable since). */
  alive: boolean;
  etcd?: EtcdReport;
  /** The last time it was heard reporting etcd lost (ok false), with the leader it named then. */
  lastLost?: { at: number; leader: string | undefined; token: bigint };
}

/** This node as the hold decision needs it. */
export interface HoldSelf {
  id: string;
  /** Our term: the revision at which we wrote the leader key. */
  token: bigint | undefined;
  /** The step-down deadline (last acknowledged renewal + stepDown). */
  deadline: number;
}

export type HoldVerdict =
  | { hold: true; pending: boolean; reason: string; recheckAt: number }
  | { hold: false; reason: string };

/**
 * Whether this node's etcd is fine, as its adverts say: the newest acknowledged renewal was sent
 * less than 1.5 renewal periods ago (a renewal half a period overdue turns it false).
 */
export function reportsEtcdOk(now: number, renewedAt: number | undefined, renewMs: number): boolean {
  return renewedAt !== undefined && now < renewedAt + 1.5 * renewMs;
}

/** How long past its step-down deadline a holder waits for peers whose reports still say etcdOk. */
export function holdGraceMs(t: Pick<SideChannelTimers, 'renewMs'>): number {
  return t.renewMs;
}

/** How long a node that reaches etcd again waits before it may campaign (hold-if-peers-agree). */
export function regainWaitMs(t: SideChannelTimers): number {
  return t.deadRatio * t.intervalMs + t.stepDownMs;
}

/**
 * How long a holder keeps holding after a peer that agreed reports etcd reachable again (the
 * holder's own renewal usually follows within a renewal period): deadRatio x interval - interval,
 * so it has stepped down, with the step-down time and one interval to spare, before that peer may
 * campaign (regainWaitMs after it reached etcd).
 */
export function regainHoldMs(t: Pick<SideChannelTimers, 'intervalMs' | 'deadRatio'>): number {
  return (t.deadRatio - 1) * t.intervalMs;
}

export class EtcdPeerTable {
  private readonly peers = new Map<string, EtcdPeer>();

  constructor(private timers: SideChannelTimers) {}

  reconfigure(timers: SideChannelTimers): void {
    this.timers = timers;
  }

  /** Silence after which a peer is dead, and after which its report no longer counts. */
  get deadMs(): number {
    return this.timers.deadRatio * this.timers.intervalMs;
  }

  /** An authenticated advert from `from` (transport peer key). Returns true when something the decisions read changed. */
  heard(now: number, from: string, p: Packet): boolean {
    if (p.kind !== 'advert') return false;
    const old = this.peers.get(p.nodeId);
    const alive = old ? this.isAlive(old, now) : false;
    const gone = p.priority === 0 || p.state === 'STOP';
    const rec: EtcdPeer = { id: p.nodeId, address: from, state: p.state, priority: p.priority, lastSeen: now, alive: !gone, ...(p.etcd ? { etcd: p.etcd } : {}) };
    const lastLost = p.etcd && !p.etcd.ok ? { at: now, leader: p.etcd.leader, token: p.etcd.token } : old?.lastLost;
    if (lastLost) rec.lastLost = lastLost;
    this.peers.set(p.nodeId, rec);
    return (
      !old ||
      !alive ||
      gone ||
      old.address !== from ||
      old.state !== rec.state ||
      old.etcd?.ok !== rec.etcd?.ok ||
      old.etcd?.leader !== rec.etcd?.leader ||
      old.etcd?.token !== rec.etcd?.token
    );
  }

  private isAlive(p: EtcdPeer, now: number): boolean {
    return p.alive && now - p.lastSeen < this.deadMs;
  }

  /**
   * ICMP port unreachable from `from`: the peers last heard there (and alive until now) have a dead
   * daemon on a live host. Returns them, now marked dead; a peer not heard alive gives no proof.
   */
  unreachable(now: number, from: string): EtcdPeer[] {
    const dead: EtcdPeer[] = [];
    for (const p of this.peers.values()) {
      if (p.address !== from || !this.isAlive(p, now)) continue;
      p.alive = false;
      dead.push(p);
    }
    return dead;
  }

  /**
   * onEtcdLoss hold-if-peers-agree, for a MASTER at or past its step-down deadline: hold (keep
   * acting) or step down. `configured`: the transport keys of the instance's peers (static and
   * discovered); none configured = nobody to agree = step down.
   */
  holdVerdict(now: number, self: HoldSelf, configured: readonly string[]): HoldVerdict {
    if (configured.length === 0) return { hold: false, reason: 'no peers configured to agree' };
    if (self.token === undefined) return { hold: false, reason: 'no term to hold' };
    const byAddress = new Map<string, EtcdPeer>();
    for (const p of this.peers.values()) {
      if (!configured.includes(p.address)) continue;
      const prev = byAddress.get(p.address);
      if (!prev || p.lastSeen > prev.lastSeen) byAddress.set(p.address, p);
    }
    const graceEnds = self.deadline + holdGraceMs(this.timers);
    const regainHold = regainHoldMs(this.timers);
    let recheckAt = Infinity;
    const stillOk: string[] = [];
    const regained: string[] = [];
    const agreeing: string[] = [];
    for (const address of configured) {
      const p = byAddress.get(address);
      if (!p || !this.isAlive(p, now)) {
        const ago = p ? `, last heard ${Math.round(now - p.lastSeen)} ms ago` : ', never heard';
        return { hold: false, reason: `peer ${p?.id ?? address} is silent on the heartbeat channel${ago}` };
      }
      const r = p.etcd;
      if (!r) return { hold: false, reason: `peer ${p.id} sends no etcd report (election.heartbeat off there, or an older version)` };
      if (r.leader !== self.id || r.token !== self.token) {
        const sees = r.leader ? `${r.leader} (term ${r.token})` : 'no leader';
        return { hold: false, reason: `peer ${p.id} sees ${sees}, not us (term ${self.token})` };
      }
      recheckAt = Math.min(recheckAt, p.lastSeen + this.deadMs);
      if (!r.ok) agreeing.push(p.id);
      else if (p.lastLost && p.lastLost.leader === self.id && p.lastLost.token === self.token && now - p.lastLost.at < regainHold) {
        // it agreed a moment ago and reaches etcd again: it waits regainWaitMs before any campaign
        regained.push(p.id);
        recheckAt = Math.min(recheckAt, p.lastLost.at + regainHold);
      } else stillOk.push(p.id);
    }
    if (stillOk.length) {
      // before any peer turned back: the reports may still be turning (renewals just overdue)
      if (regained.length === 0 && now < graceEnds) {
        return { hold: true, pending: true, reason: `waiting for ${stillOk.join(', ')} to report etcd lost too`, recheckAt: Math.min(recheckAt, graceEnds) };
      }
      return { hold: false, reason: `peer ${stillOk.join(', ')} reaches etcd` };
    }
    if (regained.length) {
      return { hold: true, pending: false, reason: `peer ${regained.join(', ')} reaches etcd again and waits before any campaign; holding until our own renewal (at most ${regainHold} ms)`, recheckAt };
    }
    return { hold: true, pending: false, reason: `every peer (${agreeing.join(', ')}) cannot reach etcd either and sees us as MASTER, term ${self.token}`, recheckAt };
  }

  /** Peers as `status` shows them. */
  list(now: number): (EtcdPeer & { lastSeenAgoMs: number })[] {
    return [...this.peers.values()].map((p) => ({ ...p, alive: this.isAlive(p, now), lastSeenAgoMs: Math.max(0, Math.round(now - p.lastSeen)) }));
  }
}
