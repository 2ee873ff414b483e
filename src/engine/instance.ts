/**
 * The election state machine of one instance (one shared IP). Deterministic: time, packets
 * and check results come in through `handle`, decisions come out as effects; the shell
 * calls `handle({type:'tick'})` at `nextWakeup()`. Tested with a fake clock.
 *
 * Rules (the contract, also in ipwarden(8)):
 * - Rank: higher effective priority wins; equal priority: the node id that sorts first wins.
 * - Fan-out: the MASTER advertises every interval to every peer. A backup advertises to every
 *   peer once per fan-out period (every interval when the interval is 1 s or longer, else every
 *   ceil(1 s / interval) intervals) and, in between, only the best-ranked backup sends its advert,
 *   to the master alone: that keeps the crash fast path (its advert to a dead daemon bounces) while
 *   the steady-state traffic grows with N, not N^2. While no master is known, and on every change
 *   of state or priority, a node advertises to everyone at once; so does a node during its hold-off
 *   after start, and a node answers an advert from a peer it did not know (or thought dead) with its
 *   own, so nodes started together learn each other at once. A backup peer is declared dead
 *   after deadRatio fan-out periods, a master after deadRatio intervals.
 * - A fresh node listens for deadRatio x interval before it claims anything (hold-off), and
 *   never preempts during it.
 * - Host loss, the timing argument. L: when this backup last heard the master (or, if later, when
 *   a live peer vouches in its adverts that it did); I = the master's interval; D = deadRatio x I;
 *   T = D - I/2, the probed dead time; W = confirmWindow (min(50 ms, I/2)); S = rank step = W +
 *   max(20 ms, I/4); r = rank among the live backups (the best is 0). A backup takes over at
 *   L + T + r x S if nothing is heard from the master by then and none of the probeCount probes it
 *   sends over the W before that instant is answered; the unanswered probes declare the master dead
 *   (a silence without probes, e.g. an exoip peer, still waits L + D):
 *   - which adverts can count: the master advertises every I from L, never early, so the last advert
 *     that can arrive before a deadline at L + D is the one due at L + D - I (the one due at L + D
 *     lands after it). Waiting to L + D bought nothing but half an interval of slack for that advert
 *     to come late; at T = D - I/2 it keeps half an interval, and the probes start only once it is
 *     due (T - W >= D - I while W <= I/2, the default): the same adverts and the same probes
 *     decide, half an interval sooner.
 *   - rank 0 pays no extra step: it acts at L + T, the master still counting as alive until its
 *     probes go unanswered.
 *   - rank r >= 1 acts S after rank r - 1 for the same L, so the gap a better backup's takeover advert
 *     has to land in is what it was; a MASTER claim heard from another node after the master's last
 *     advert means a better backup took over: nothing to probe, and a confirmation that hears one
 *     ends without a takeover (the old master is still declared dead). A lower rank acts first only
 *     if it missed adverts the better one heard (its L earlier, under loss); the two MASTERs then
 *     meet and it yields (preempt) or the better one stays BACKUP (no preempt).
 *   - loss: a false takeover at rank 0 needs every master advert due by L + D - I lost (at deadRatio
 *     3 the two due at L + I and L + 2I) and all probeCount (12) probe round trips lost: at 20 % loss
 *     each way 0.2^2 x 0.36^12 = 1.9e-7 per advert slot, as when it acted at L + D (T moved, the
 *     adverts and probes that can stop it did not).
 *   - what it costs: a master whose adverts stall (a paused process) is taken over after a stall of
 *     T - I past its due advert, 150 ms at 100 ms adverts (keepalived: 3 I + skew - I, 261 ms at
 *     priority 100), 1.5 s at 1 s adverts.
 * - Confirmed gone at once, no probes: a goodbye advert (priority 0 / STOP) or ECONNREFUSED
 *   from the master's host (its daemon died).
 * - MASTER hearing another MASTER: yields if outranked, else re-asserts (advert + reassert).
 * - A MASTER that yields flags its adverts `leftMaster` for deadRatio x its fan-out period (the first
 *   one goes to the new master at once): a separation shorter than the MASTER's dead time for its
 *   backups (about 0.6-3 s at 200 ms adverts) lets a backup take over, move the address and yield
 *   when the link heals, all before the MASTER heard one of its MASTER adverts or declared it dead.
 *   A MASTER that did not see that peer as MASTER within that window re-asserts on the flag (its
 *   actions re-check the address, which the other side may have moved to itself) instead of leaving
 *   the address where the peer put it until the next reconcile.
 */
import { applyFitnessInput, basePriority, fitnessView, initialFitness, verdict, type Fitness, type FitnessVerdict } from './fitness.js';
import type {
  AdvertView,
  Effect,
  EngineConfig,
  EngineInput,
  EngineSnapshot,
  InstanceState,
  PeerRef,
  PeerView,
  TransitionCause,
} from './types.js';
import type { Packet } from '../protocol/types.js';
import { formatDuration } from '../util/duration.js';

interface PeerRecord {
  id: string;
  address: PeerRef;
  state: InstanceState;
  priority: number;
  intervalMs: number;
  incarnation: number;
  lastSeen: number;
  alive: boolean;
  /** exoip peer: no state on the wire; its state is implied by rank. */
  stateless: boolean;
  master?: { id: string; heardAgoMs: number; receivedAt: number };
  /** When a packet of it last said MASTER (undefined: never). */
  masterSeenAt?: number;
}

/** Why the master is considered gone, and since when. */
interface MasterLoss {
  /** Engine time from which the master-down wait counts (its last advert, or startup). */
  since: number;
  /** Goodbye or ECONNREFUSED: no wait, no probes. */
  confirmed: boolean;
  /** The master we lost (to probe it); undefined at startup. */
  masterId?: string;
  masterAddress?: PeerRef;
  why: string;
  /**
   * How much later than us a better-ranked backup may learn the same thing. A goodbye or FAULT
   * advert reaches every backup at once (0); "port unreachable" only answers each backup's own next
   * advert, so a better backup may learn it up to one interval later: lower ranks wait that too.
   */
  spreadMs?: number;
}

/** Probes to a silent master, sent over the confirmation window that ends at the takeover instant. */
interface Confirmation {
  masterId: string;
  masterAddress: PeerRef;
  startedAt: number;
  /** The takeover instant, unless the master answers (or is heard) before. */
  endsAt: number;
  spacing: number;
  nonces: Set<number>;
  sent: number;
  nextProbeAt: number;
}

/**
 * Probes per confirmation. 12, not the 10 of the time when the probes followed the dead time: the
 * confirmation now ends at the deadline, before the master's advert due at that instant could still
 * count, and two more round trips (0.36^2 = 0.13 < 0.2 at 20 % loss each way) buy that advert back.
 */
export const DEFAULT_PROBE_COUNT = 12;

/** A backup advertises to every peer at least this often (when its interval is shorter). */
export const BACKUP_FANOUT_MS = 1000;

/** How many advert intervals apart a backup's adverts to every peer are (1 at intervals >= 1 s). */
export function fanoutRounds(intervalMs: number): number {
  return Math.max(1, Math.ceil(BACKUP_FANOUT_MS / Math.max(1, intervalMs)));
}

/** The parts of a packet the engine's view decides (the shells add ids, counters and the nonce). */
export function packetView(view: AdvertView, kind: Packet['kind'], goodbye = false): Pick<Packet, 'priority' | 'state' | 'intervalMs' | 'master' | 'leftMaster'> {
  const advert = kind === 'advert' && !goodbye;
  return {
    priority: goodbye ? 0 : view.priority,
    state: goodbye ? 'STOP' : view.state,
    intervalMs: view.intervalMs,
    ...(view.master && advert ? { master: view.master } : {}),
    ...(view.leftMaster && advert ? { leftMaster: true as const } : {}),
  };
}

export function outranks(a: { priority: number; id: string }, b: { priority: number; id: string }): boolean {
  return a.priority > b.priority || (a.priority === b.priority && a.id < b.id);
}

export class InstanceEngine {
  readonly config: Required<EngineConfig>;
  private state: InstanceState = 'INIT';
  private since = 0;
  private startedAt = 0;
  private fitness: Fitness;
  private health: FitnessVerdict = { priority: 0, fault: false, reason: '' };
  /** confirmWindowMs was given (else it follows the interval, also on reconfigure). */
  private readonly confirmGiven: boolean;
  private peers = new Map<string, PeerRecord>();
  private nextAdvertAt = Infinity;
  private loss: MasterLoss | undefined;
  private confirming: Confirmation | undefined;
  /** The most recent sighting of a silent master that a live peer vouched for (engine clock). */
  private vouched: { masterId: string; at: number } | undefined;
  private preemptSince: number | undefined;
  private lastReassertAt = -Infinity;
  private lastReturnReassertAt = -Infinity;
  private lastLeftMasterReassertAt = -Infinity;
  /** When this node last yielded MASTER to a better master (its adverts say so for a while). */
  private yieldedAt = -Infinity;
  private nonceSeq = 0;
  /** Periodic adverts sent so far (selects the fan-out rounds of a backup). */
  private advertRound = 0;
  private lastTransition: EngineSnapshot['lastTransition'];

  constructor(config: EngineConfig) {
    const confirm = config.confirmWindowMs ?? Math.min(50, Math.floor(config.intervalMs / 2));
    this.config = { probeCount: DEFAULT_PROBE_COUNT, ...config, confirmWindowMs: confirm };
    this.confirmGiven = config.confirmWindowMs !== undefined;
    this.fitness = initialFitness(config.priority);
    this.recomputeHealth();
  }

  /** Applies a reloaded config's priority, preemption and timer settings without losing state. */
  reconfigure(now: number, change: Partial<Pick<EngineConfig, 'priority' | 'preempt' | 'preemptDelayMs' | 'intervalMs' | 'deadRatio'>>): Effect[] {
    Object.assign(this.config, change);
    if (!this.confirmGiven) this.config.confirmWindowMs = Math.min(50, Math.floor(this.config.intervalMs / 2));
    this.fitness = { ...this.fitness, priority: this.config.priority };
    this.recomputeHealth();
    return this.handle({ type: 'tick', now });
  }

  /** Master down time before skew. */
  get masterDownMs(): number {
    return this.config.deadRatio * this.config.intervalMs;
  }

  /**
   * How much sooner than the dead time a silence confirmed by unanswered probes ends: half the
   * master's interval (`intervalMs`: the longer of its and ours, as for its dead time). The last
   * master advert that can still count is the one due (deadRatio - 1) intervals after L (the next
   * one is due at L + D, after any deadline at L + D); waiting past half an interval after it bought
   * nothing but time for a late one, and the probes cover it.
   */
  #probedEarlyMs(intervalMs = this.config.intervalMs): number {
    return Math.floor(Math.max(intervalMs, this.config.intervalMs) / 2);
  }

  /** The best backup's wait after the master's last advert when its probes go unanswered (D - interval/2). */
  get probedDownMs(): number {
    return this.masterDownMs - this.#probedEarlyMs();
  }

  /**
   * Skew per rank step, W + max(20 ms, interval/4): the gap between ranks of when the confirmation
   * followed the dead time, kept now that every rank confirms before its deadline, so a better
   * backup's takeover advert (its timer late on a loaded host) still has that long to land.
   */
  get skewStepMs(): number {
    return this.config.confirmWindowMs + Math.max(20, Math.floor(this.config.intervalMs / 4));
  }

  get currentState(): InstanceState {
    return this.state;
  }

  handle(input: EngineInput): Effect[] {
    const fx: Effect[] = [];
    const now = input.now;
    if (this.state === 'STOP' && input.type !== 'tick') return fx;
    const priorityBefore = this.health.priority;
    switch (input.type) {
      case 'start':
        this.start(now, fx);
        break;
      case 'tick':
        break;
      case 'packet':
        // a packet that changes nothing the rules look at (the same live peer, same state and
        // priority, no loss being handled) only refreshes the peer record: timers do the rest
        if (!this.onPacket(now, input.from, input.packet, input.stateless ?? false, fx)) return fx;
        break;
      case 'unreachable':
        this.onUnreachable(now, input.from, fx);
        break;
      case 'checks':
      case 'maintenance':
      case 'fault':
      case 'nudge':
        this.fitness = applyFitnessInput(this.fitness, input)!;
        this.recomputeHealth();
        if (input.type === 'nudge') fx.push({ type: 'log', level: 'info', msg: `priority nudged to ${this.health.priority}`, data: { basePriority: this.basePriority } });
        break;
      case 'stop':
        this.stop(now, fx);
        return fx;
    }
    if (this.state !== 'STOP' && this.state !== 'INIT') {
      const before = fx.length;
      this.evaluate(now, fx);
      // peers rank us by priority: tell them at once when it changed (unless evaluate just did)
      if (this.health.priority !== priorityBefore && !fx.slice(before).some((e) => e.type === 'advert' && e.to === 'all')) {
        fx.push({ type: 'advert', to: 'all' });
      }
    }
    return fx;
  }

  /** When the shell must call handle({type:'tick'}) next (engine clock), or Infinity. */
  nextWakeup(): number {
    if (this.state === 'STOP' || this.state === 'INIT') return Infinity;
    let t = this.nextAdvertAt;
    for (const p of this.peers.values()) if (p.alive) t = Math.min(t, p.lastSeen + this.peerDeadMs(p));
    if (this.state === 'BACKUP') {
      if (this.confirming) t = Math.min(t, this.confirming.nextProbeAt, this.confirming.endsAt);
      else {
        const take = this.takeoverAt();
        if (take !== undefined) t = Math.min(t, take.probesFrom);
      }
      if (this.preemptSince !== undefined) t = Math.min(t, Math.max(this.preemptSince + this.config.preemptDelayMs, this.holdOffUntil));
    }
    return t;
  }

  /** What this node advertises right now. */
  advertView(now: number): AdvertView {
    const view: AdvertView = { state: this.state, priority: this.health.priority, intervalMs: this.config.intervalMs };
    const master = this.state !== 'MASTER' ? this.liveMaster() : undefined;
    if (master) view.master = { id: master.id, heardAgoMs: Math.max(0, Math.round(now - master.lastSeen)) };
    if (this.state !== 'MASTER' && now - this.yieldedAt < this.leftMasterWindowMs()) view.leftMaster = true;
    return view;
  }

  snapshot(now: number): EngineSnapshot {
    const master = this.state === 'MASTER' ? this.config.nodeId : this.liveMaster()?.id;
    const peers: PeerView[] = [...this.peers.values()].map((p) => ({
      id: p.id,
      address: p.address,
      state: this.peerState(p),
      priority: p.priority,
      alive: p.alive,
      lastSeenAgoMs: Math.max(0, now - p.lastSeen),
      intervalMs: p.intervalMs,
      incarnation: p.incarnation,
      ...(p.master ? { master: { id: p.master.id, heardAgoMs: p.master.heardAgoMs } } : {}),
    }));
    const snap: EngineSnapshot = {
      instance: this.config.instance,
      nodeId: this.config.nodeId,
      state: this.state,
      ...fitnessView(this.fitness),
      since: this.since,
      peers,
      masterDownMs: this.masterDownMs,
    };
    if (master) snap.master = master;
    if (this.lastTransition) snap.lastTransition = this.lastTransition;
    // only once the master is lost or being probed: a live master's deadline moves with every advert
    const take = this.state !== 'BACKUP' ? undefined : this.confirming ? this.confirming.endsAt : this.loss ? this.takeoverAt()?.at : undefined;
    if (take !== undefined && Number.isFinite(take)) snap.takeoverAt = take;
    return snap;
  }

  // ------------------------------------------------------------------ inputs

  private get basePriority(): number {
    return basePriority(this.fitness);
  }

  private get holdOffUntil(): number {
    return this.startedAt + this.masterDownMs;
  }

  private recomputeHealth(): void {
    this.health = verdict(this.fitness);
  }

  private start(now: number, fx: Effect[]): void {
    this.startedAt = now;
    this.loss = { since: now, confirmed: false, why: 'startup' };
    this.transition(now, this.health.fault ? 'FAULT' : 'BACKUP', this.health.fault ? this.health.reason : 'startup', fx, this.health.fault ? (this.health.cause ?? 'fault') : 'startup');
    this.nextAdvertAt = now; // advertise at once so peers learn about us
  }

  /**
   * Shutting down: a goodbye advert (priority 0) lets the best live backup take over at once. A MASTER
   * that knows such a successor stops with cause 'handover', so the actions can leave a single-holder
   * cloud address for the successor's attach to move instead of releasing it first (no unheld window);
   * with no live eligible peer the cause is 'shutdown' and the address is released as before.
   */
  private stop(now: number, fx: Effect[]): void {
    if (this.state !== 'INIT') fx.push({ type: 'advert', to: 'all', goodbye: true });
    this.confirming = undefined;
    const successor = this.state === 'MASTER' ? this.bestEligible() : undefined;
    if (successor) this.transition(now, 'STOP', `shutting down; ${successor.id} (priority ${successor.priority}) takes over`, fx, 'handover');
    else this.transition(now, 'STOP', 'shutting down', fx, 'shutdown');
  }

  /** The live peer that becomes master when this node leaves, if any. */
  private bestEligible(): { id: string; priority: number } | undefined {
    let best: { id: string; priority: number } | undefined;
    for (const p of this.eligible()) if (!best || outranks(p, best)) best = p;
    return best;
  }

  /** Records a packet; false when nothing the election rules look at changed (no evaluation needed). */
  private onPacket(now: number, from: PeerRef, pkt: Packet, stateless: boolean, fx: Effect[]): boolean {
    if (pkt.nodeId === this.config.nodeId) {
      fx.push({ type: 'log', level: 'warn', msg: `received a packet carrying our own node id "${pkt.nodeId}" from ${from}: node ids must be unique` });
      return false;
    }
    const busy = this.loss !== undefined || this.confirming !== undefined || this.preemptSince !== undefined;
    if (pkt.kind === 'probe') {
      fx.push({ type: 'probe-reply', to: from, nonce: pkt.nonce });
      // a probe also tells us the sender is alive; fall through to record it
    }
    let peer = this.peers.get(pkt.nodeId);
    const wasAlive = peer?.alive ?? false;
    /** A known peer heard again without a restart in between: we were apart (partition, loss). */
    const returned = peer !== undefined && !wasAlive && peer.incarnation === pkt.incarnation;
    const goodbye = pkt.kind === 'advert' && (pkt.priority === 0 || pkt.state === 'STOP');
    if (!peer) {
      peer = {
        id: pkt.nodeId,
        address: from,
        state: pkt.state,
        priority: pkt.priority,
        intervalMs: pkt.intervalMs,
        incarnation: pkt.incarnation,
        lastSeen: now,
        alive: true,
        stateless,
      };
      this.peers.set(pkt.nodeId, peer);
      fx.push({ type: 'log', level: 'info', msg: `peer ${pkt.nodeId} seen at ${from}`, data: { peer: pkt.nodeId, priority: pkt.priority, state: pkt.state } });
    }
    const wasMaster = this.isMaster(peer);
    const unchanged =
      wasAlive && !goodbye && peer.state === pkt.state && peer.priority === pkt.priority && peer.stateless === stateless && peer.address === from;
    peer.address = from;
    peer.lastSeen = now;
    peer.incarnation = pkt.incarnation;
    peer.stateless = stateless;
    peer.state = pkt.state;
    peer.priority = pkt.priority;
    peer.intervalMs = pkt.intervalMs || peer.intervalMs;
    if (pkt.kind === 'advert') {
      if (pkt.master) peer.master = { ...pkt.master, receivedAt: now };
      else delete peer.master;
    }
    peer.alive = !goodbye;
    if (!wasAlive && peer.alive) {
      fx.push({ type: 'log', level: 'debug', msg: `peer ${peer.id} alive`, data: { peer: peer.id } });
      // a peer we did not know (or thought dead) may not know us either, e.g. it missed our
      // start-up adverts while its socket was not open yet: tell it now rather than at our next fan-out
      if (this.state !== 'INIT' && pkt.kind === 'advert') fx.push({ type: 'advert', to: from });
      // while we were apart it may have been MASTER on its side and moved external state (the EIP)
      // to itself, then yielded on hearing us before we heard its MASTER adverts: re-claim it
      // (at most once per backup dead time: under heavy loss backups are declared dead and come back)
      const period = this.config.intervalMs * fanoutRounds(this.config.intervalMs);
      if (returned && !goodbye && this.state === 'MASTER' && now - this.lastReturnReassertAt >= this.config.deadRatio * period) {
        this.lastReturnReassertAt = now;
        this.lastReassertAt = now;
        fx.push({ type: 'reassert', reason: `peer ${peer.id} is back after a separation (it may have held the address meanwhile)`, priority: this.health.priority });
      }
    }

    // it held MASTER while we did not see it (a short separation): re-check what it may have moved.
    // Not when we saw its MASTER adverts within the flag's window (a preemption: we knew)
    const window = this.leftMasterWindowMs();
    const sawItMaster = peer.masterSeenAt !== undefined && now - peer.masterSeenAt <= window;
    if (pkt.state === 'MASTER' && !goodbye) peer.masterSeenAt = now;
    if (pkt.kind === 'advert' && pkt.leftMaster && !goodbye && this.state === 'MASTER' && !sawItMaster && now - this.lastLeftMasterReassertAt >= window) {
      this.lastLeftMasterReassertAt = now;
      this.lastReassertAt = now;
      fx.push({ type: 'reassert', reason: `peer ${peer.id} held MASTER unseen by us and yielded (it may have moved the address)`, priority: this.health.priority });
    }

    if (this.confirming?.masterId === pkt.nodeId) {
      // routine while it was not yet declared dead (a lost advert or two): debug only
      fx.push({ type: 'log', level: wasAlive ? 'debug' : 'info', msg: `master ${peer.id} answered (${pkt.kind}); staying BACKUP` });
      this.confirming = undefined;
      if (this.loss?.masterId === pkt.nodeId) this.loss = undefined;
    }

    if (goodbye) fx.push({ type: 'log', level: 'info', msg: `peer ${peer.id} left (goodbye)` });
    if (wasMaster && !this.isMaster(peer) && this.state !== 'MASTER') {
      // the master resigned (goodbye, FAULT, maintenance): no need to wait for silence
      const why = goodbye ? `master ${peer.id} said goodbye` : `master ${peer.id} is now ${peer.state}`;
      this.loss = { since: now, confirmed: true, masterId: peer.id, masterAddress: from, why };
      this.confirming = undefined;
    }
    if (goodbye) return true;

    if (this.state === 'MASTER' && this.isMaster(peer)) {
      if (outranks(peer, { priority: this.health.priority, id: this.config.nodeId })) {
        this.loss = undefined;
        this.yieldedAt = now;
        this.transition(now, 'BACKUP', `yielding to master ${peer.id} prio ${peer.priority} (ours ${this.health.priority})`, fx, 'yield');
        // tell it at once that we held MASTER (the advert says BACKUP + leftMaster): it may not know
        fx.push({ type: 'advert', to: from });
      } else if (now - this.lastReassertAt >= this.config.intervalMs) {
        this.lastReassertAt = now;
        fx.push({ type: 'advert', to: 'all' });
        fx.push({ type: 'reassert', reason: `${peer.id} also claims MASTER with lower prio ${peer.priority}`, priority: this.health.priority });
      } else {
        fx.push({ type: 'advert', to: from });
      }
      return true;
    }
    return !unchanged || busy;
  }

  private onUnreachable(now: number, from: PeerRef, fx: Effect[]): void {
    for (const peer of this.peers.values()) {
      if (peer.address !== from || !peer.alive) continue;
      const wasMaster = this.isMaster(peer) || this.loss?.masterId === peer.id;
      peer.alive = false;
      fx.push({ type: 'peer-dead', peer: { id: peer.id, address: peer.address }, reason: `peer ${peer.id} unreachable: its port is closed (daemon down)` });
      if (wasMaster && this.state !== 'MASTER') {
        this.loss = {
          since: now,
          confirmed: true,
          masterId: peer.id,
          masterAddress: from,
          why: `master ${peer.id} daemon down (port unreachable)`,
          spreadMs: this.config.intervalMs,
        };
        this.confirming = undefined;
      }
    }
  }

  // ------------------------------------------------------------------ evaluation

  /** Silence after which a peer is dead: deadRatio of its advert period (a backup's is its fan-out period). */
  private peerDeadMs(p: PeerRecord): number {
    const interval = Math.max(p.intervalMs, this.config.intervalMs);
    const period = p.stateless || p.state === 'MASTER' ? interval : interval * fanoutRounds(interval);
    return this.config.deadRatio * period;
  }

  /** exoip peers carry no state: the best-ranked live node is taken as their master. */
  private peerState(p: PeerRecord): InstanceState {
    if (!p.stateless) return p.state;
    if (!p.alive) return 'BACKUP';
    if (!this.health.fault && this.state !== 'STOP' && outranks({ id: this.config.nodeId, priority: this.health.priority }, p)) return 'BACKUP';
    for (const q of this.eligible()) if (q !== p && outranks(q, p)) return 'BACKUP';
    return 'MASTER';
  }

  private isMaster(p: PeerRecord): boolean {
    return p.alive && this.peerState(p) === 'MASTER';
  }

  /** How long a node's adverts say it yielded MASTER: deadRatio fan-out periods (every rank sends some). */
  private leftMasterWindowMs(): number {
    return this.config.deadRatio * this.config.intervalMs * fanoutRounds(this.config.intervalMs);
  }

  /** The best live peer claiming MASTER (there should be one). */
  private liveMaster(): PeerRecord | undefined {
    let best: PeerRecord | undefined;
    for (const p of this.peers.values()) if (this.isMaster(p) && (!best || outranks(p, best))) best = p;
    return best;
  }

  /** Live nodes that may become master (self excluded), with priorities. */
  private eligible(): { id: string; priority: number }[] {
    const out: { id: string; priority: number }[] = [];
    for (const p of this.peers.values()) {
      if (p.alive && p.priority > 0 && (p.stateless || (p.state !== 'FAULT' && p.state !== 'STOP'))) out.push(p);
    }
    return out;
  }

  /** How many live candidates outrank this node, excluding the (lost or silent) master. */
  private rank(masterId: string | undefined): number {
    const me = { id: this.config.nodeId, priority: this.health.priority };
    let r = 0;
    for (const p of this.eligible()) if (p.id !== masterId && outranks(p, me)) r++;
    return r;
  }

  /**
   * The master silence this backup is timing: the recorded loss, or else the live master's silence
   * since its last packet (so that the probes can overlap the end of its dead time). `deadAt`: when
   * that live master is declared dead (the takeover cannot come before).
   */
  private silence(): { loss: MasterLoss; deadAt: number; earlyMs: number } | undefined {
    if (this.loss) {
      const lost = this.loss.masterId === undefined ? undefined : this.peers.get(this.loss.masterId);
      return { loss: this.loss, deadAt: -Infinity, earlyMs: this.#probedEarlyMs(lost?.intervalMs) };
    }
    const m = this.liveMaster();
    if (!m || m.stateless) return undefined;
    // another node claims MASTER and was heard since (a better backup took over from it before we
    // declared it dead): nothing to probe; its dead time hands the view over to that MASTER
    for (const p of this.peers.values()) if (p !== m && p.lastSeen > m.lastSeen && this.isMaster(p)) return undefined;
    return {
      loss: { since: m.lastSeen, confirmed: false, masterId: m.id, masterAddress: m.address, why: `master ${m.id} silent` },
      deadAt: m.lastSeen + this.peerDeadMs(m),
      earlyMs: this.#probedEarlyMs(m.intervalMs),
    };
  }

  /** A silence other peers may vouch against (the master may just be unheard by us). */
  private vouchable(loss: MasterLoss): loss is MasterLoss & { masterId: string } {
    return !loss.confirmed && loss.masterId !== undefined;
  }

  /** A silence to confirm with probes before taking over. */
  private needsProbes(loss: MasterLoss): loss is MasterLoss & { masterId: string; masterAddress: PeerRef } {
    return this.vouchable(loss) && loss.masterAddress !== undefined && this.config.probeCount > 0 && !this.peers.get(loss.masterId)?.stateless;
  }

  /**
   * When this backup takes over if nothing is heard (`at`), and when its probes start (`probesFrom`,
   * one confirmation window earlier when the silence needs probes, else `at`). The silence counts
   * from the most recent sighting of the master, ours or one a live peer vouched for; plus the dead
   * time (half an interval less when probes confirm it), plus the rank's skew (none for the best backup).
   */
  private takeoverAt(): { at: number; probesFrom: number; loss: MasterLoss } | undefined {
    if (this.health.fault) return undefined;
    const s = this.silence();
    if (!s) return undefined;
    const l = s.loss;
    const probes = this.needsProbes(l);
    const early = probes ? s.earlyMs : 0;
    const wait = l.confirmed ? 0 : Math.max(0, this.masterDownMs - early);
    const since = this.vouchable(l) && this.vouched?.masterId === l.masterId ? Math.max(l.since, this.vouched.at) : l.since;
    const at = Math.max(since + wait + this.rank(l.masterId) * (this.skewStepMs + (l.spreadMs ?? 0)), s.deadAt - early);
    return { at, probesFrom: probes ? at - this.config.confirmWindowMs : at, loss: l };
  }

  private evaluate(now: number, fx: Effect[]): void {
    // 1. peers that went silent
    for (const p of this.peers.values()) {
      // (the same sum as in nextWakeup and takeoverAt: a tick at that instant finds the peer dead)
      if (p.alive && now >= p.lastSeen + this.peerDeadMs(p)) {
        const wasMaster = this.isMaster(p);
        p.alive = false;
        fx.push({ type: 'peer-dead', peer: { id: p.id, address: p.address }, reason: `peer ${p.id} dead after ${formatDuration(now - p.lastSeen)}` });
        if (wasMaster && this.state !== 'MASTER' && this.loss === undefined) {
          this.loss = { since: p.lastSeen, confirmed: false, masterId: p.id, masterAddress: p.address, why: `master ${p.id} silent` };
        }
      }
    }
    // 2. state rules
    if (this.health.fault) {
      if (this.state !== 'FAULT') this.transition(now, 'FAULT', this.health.reason, fx, this.health.cause ?? 'fault');
    } else if (this.state === 'FAULT') {
      // listen-through: we kept hearing adverts while in FAULT, so the timers stay meaningful
      const master = this.liveMaster();
      this.loss = master ? undefined : { since: Math.min(now, Math.max(this.since, now - this.masterDownMs)), confirmed: false, why: 'recovered from FAULT with no live master' };
      this.transition(now, 'BACKUP', 'checks pass again', fx, 'recovered');
      this.evaluateBackup(now, fx);
    } else if (this.state === 'BACKUP') {
      this.evaluateBackup(now, fx);
    }
    // 3. periodic advert
    if (now >= this.nextAdvertAt) {
      const to = this.periodicAdvertTarget(now);
      if (to !== undefined) fx.push({ type: 'advert', to });
      this.nextAdvertAt = now + this.config.intervalMs;
    }
  }

  /** Who gets this round's periodic advert (see "Fan-out" at the top); undefined: nobody. */
  private periodicAdvertTarget(now: number): 'all' | PeerRef | undefined {
    const round = this.advertRound++;
    if (this.state === 'MASTER') return 'all';
    if (now <= this.holdOffUntil) return 'all'; // just started: make sure every peer learns about us
    const master = this.liveMaster();
    if (!master || round % fanoutRounds(this.config.intervalMs) === 0) return 'all';
    for (const p of this.peers.values()) if (p.stateless) return 'all'; // exoip peers expect every interval
    return this.isBestBackup(master) ? master.address : undefined;
  }

  /** No live candidate other than `master` outranks this node. */
  private isBestBackup(master: PeerRecord): boolean {
    if (this.health.fault) return false;
    const me = { id: this.config.nodeId, priority: this.health.priority };
    for (const p of this.eligible()) if (p.id !== master.id && outranks(p, me)) return false;
    return true;
  }

  private evaluateBackup(now: number, fx: Effect[]): void {
    const me = { id: this.config.nodeId, priority: this.health.priority };
    const master = this.liveMaster();
    if (master) {
      // a live master: forget any loss, maybe preempt it
      this.loss = undefined;
      if (this.confirming?.masterId !== master.id) this.confirming = undefined;
      // preemption needs a strictly higher priority: the id tie-break never unseats a master
      if (this.config.preempt && me.priority > master.priority) {
        this.preemptSince ??= now;
        if (now >= this.preemptSince + this.config.preemptDelayMs && now >= this.holdOffUntil) {
          this.becomeMaster(now, `preempting ${master.id} prio ${master.priority} (ours ${me.priority})`, fx, 'preempt');
          return;
        }
      } else {
        this.preemptSince = undefined;
      }
      // it may have gone silent: the best backup probes it before its dead time ends (below)
    } else {
      this.preemptSince = undefined;
      // no master known and no loss recorded (e.g. master left while we were in FAULT): start counting now
      this.loss ??= { since: now, confirmed: false, why: 'no live master' };
    }
    if (this.confirming) {
      this.continueConfirmation(now, fx);
      return;
    }
    let take = this.takeoverAt();
    if (take === undefined || now < take.probesFrom) return;
    const loss = take.loss;
    if (this.vouchable(loss)) {
      // vouching: a live peer that heard the master after we did moves the start of the silence
      const sighting = this.freshestSighting(loss.masterId);
      const known = this.vouched?.masterId === loss.masterId ? this.vouched.at : -Infinity;
      if (sighting !== undefined && sighting > Math.max(loss.since, known)) {
        this.vouched = { masterId: loss.masterId, at: sighting };
        take = this.takeoverAt()!;
        if (now < take.probesFrom) {
          fx.push({ type: 'log', level: 'debug', msg: `peers still hear master ${loss.masterId} (${formatDuration(now - sighting)} ago): waiting` });
          return;
        }
      }
    }
    if (this.needsProbes(loss)) {
      // the probes go out over the window that ends at the takeover instant (at least half a
      // window when this tick came late), so that an unanswered confirmation acts at the deadline
      const endsAt = Math.max(take.at, now + this.config.confirmWindowMs / 2);
      this.confirming = {
        masterId: loss.masterId,
        masterAddress: loss.masterAddress,
        startedAt: now,
        endsAt,
        spacing: (endsAt - now) / this.config.probeCount,
        nonces: new Set(),
        sent: 0,
        nextProbeAt: now,
      };
      this.continueConfirmation(now, fx);
      return;
    }
    if (!master && now >= take.at) this.becomeMaster(now, this.takeoverReason(now), fx);
  }

  private continueConfirmation(now: number, fx: Effect[]): void {
    const c = this.confirming!;
    while (c.sent < this.config.probeCount && now >= c.nextProbeAt) {
      const nonce = (this.nonceSeq = (this.nonceSeq + 1) >>> 0) || (this.nonceSeq = 1);
      c.nonces.add(nonce);
      c.sent++;
      c.nextProbeAt = c.startedAt + c.sent * c.spacing;
      fx.push({ type: 'probe', to: c.masterAddress, nonce });
    }
    if (now < c.endsAt) return;
    this.confirming = undefined;
    if (!this.loss) {
      // the probes ended half an interval before the master's dead time: they declare it dead
      const m = this.peers.get(c.masterId);
      if (m?.alive) {
        m.alive = false;
        fx.push({ type: 'peer-dead', peer: { id: m.id, address: m.address }, reason: `peer ${m.id} dead after ${formatDuration(now - m.lastSeen)}, ${c.sent} probes unanswered` });
      }
      // a better backup may have taken over meanwhile (its MASTER adverts came while the old master still counted)
      if (this.liveMaster()) return;
      this.loss = { since: m?.lastSeen ?? c.startedAt, confirmed: false, masterId: c.masterId, masterAddress: c.masterAddress, why: `master ${c.masterId} silent` };
    }
    this.becomeMaster(now, `${this.takeoverReason(now)}, ${c.sent} probes unanswered`, fx);
  }

  private takeoverReason(now: number): string {
    const l = this.loss!;
    if (l.masterId === undefined) return l.why === 'startup' ? `no master heard within ${formatDuration(now - l.since)} of startup` : l.why;
    if (l.confirmed) return l.why;
    return `peer ${l.masterId} dead after ${formatDuration(now - l.since)}`;
  }

  private takeoverCause(): TransitionCause {
    const l = this.loss;
    if (!l || l.masterId === undefined) return 'no-master';
    return l.confirmed ? 'master-left' : 'master-dead';
  }

  /** When (our clock) a live peer last heard `masterId`, as vouched in its adverts; the most recent. */
  private freshestSighting(masterId: string): number | undefined {
    let best: number | undefined;
    for (const p of this.peers.values()) {
      if (!p.alive || p.id === masterId || !p.master || p.master.id !== masterId) continue;
      const at = p.master.receivedAt - p.master.heardAgoMs;
      if (best === undefined || at > best) best = at;
    }
    return best;
  }

  private becomeMaster(now: number, reason: string, fx: Effect[], cause: TransitionCause = this.takeoverCause()): void {
    this.loss = undefined;
    this.confirming = undefined;
    this.vouched = undefined;
    this.preemptSince = undefined;
    this.transition(now, 'MASTER', reason, fx, cause);
    fx.push({ type: 'advert', to: 'all' });
    this.nextAdvertAt = now + this.config.intervalMs;
  }

  private transition(now: number, to: InstanceState, reason: string, fx: Effect[], cause: TransitionCause): void {
    const from = this.state;
    if (from === to) return;
    this.state = to;
    this.since = now;
    this.lastTransition = { from, to, reason, at: now };
    if (to !== 'BACKUP') this.confirming = undefined;
    fx.push({ type: 'transition', from, to, reason, cause, priority: this.health.priority });
    // every state change is news to every peer (BACKUP after INIT is sent by the first periodic advert)
    if (from !== 'INIT' && to !== 'MASTER' && to !== 'STOP') fx.push({ type: 'advert', to: 'all' });
  }
}
