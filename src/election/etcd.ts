/**
 * The etcd election backend of one instance (imperative shell): the same inputs as the heartbeat
 * engine (start, checks, nudges, maintenance, stop) and the same transitions out (INIT, BACKUP,
 * MASTER, FAULT, STOP with reason and cause), but mastership is a key in etcd:
 *
 *   <prefix>/<instance>/leader              value: node id; under the holder's lease; created with
 *                                           a transaction that requires create_revision == 0
 *   <prefix>/<instance>/candidates/<node>   value: {"priority":150,"preempt":true,"preemptDelayMs":0};
 *                                           under the node's lease; present while its checks pass
 *
 * One lease per node and instance carries both keys. Timers, from the lease TTL (ttl):
 * a keepalive every ttl/4 (answers awaited up to ttl/2, overlapping); step down after ttl/2
 * without an acknowledged renewal, measured from when that renewal was sent, so the holder has
 * stopped acting (BACKUP actions started) at least ttl/2 before etcd can expire its lease and
 * let another node claim the key; re-read the keys every ttl/2 and on every watch event.
 *
 * With election.heartbeat the nodes also exchange adverts over the heartbeat transport
 * (etcd-peers.ts): a backup with proof that the MASTER's daemon died on a live host revokes its
 * lease (crash fast path), and onEtcdLoss hold-if-peers-agree lets a MASTER keep acting through
 * an etcd outage while every peer agrees.
 *
 * The decisions are in etcd-policy.ts and etcd-peers.ts; this file does the etcd calls, the timers and the
 * transitions. Transitions carry the fencing token: the etcd revision at which this node wrote
 * the leader key for its current term.
 */
import type { Etcd3, Watcher } from 'etcd3';
import type { Logger } from '../log.js';
import type { ElectionBackend, ElectionChange, ElectionTransition } from './backend.js';
import { applyFitnessInput, basePriority, fitnessView, initialFitness, verdict, type Fitness, type FitnessVerdict } from '../engine/fitness.js';
import type { EngineInput, EngineSnapshot, InstanceState, PeerView, TransitionCause } from '../engine/types.js';
import { formatDuration } from '../util/duration.js';
import type { EtcdElectionSettings } from './config.js';
import { acquireEtcd, describeEtcdError, type EtcdConnection, type EtcdErrorKind } from './etcd-client.js';
import { EtcdPolicy, type CandidateRecord, type Decision, type EtcdView, type Role, type SelfView } from './etcd-policy.js';
import { LeaseKeeper, withTimeout, type LeaseInfo } from './lease-keeper.js';
import { EtcdPeerTable, regainWaitMs, reportsEtcdOk, type EtcdPeer, type HoldVerdict } from './etcd-peers.js';
import { instancePeerKeys } from './heartbeat.js';
import type { HeartbeatTransport } from '../daemon/transport.js';
import type { Endpoint } from '../config/endpoint.js';
import type { EtcdReport, Packet } from '../protocol/types.js';

/** The timers of an etcd election, all derived from the lease TTL (documented in ipwarden(8)). */
export interface EtcdTimers {
  ttlMs: number;
  /** Keepalive period. */
  renewMs: number;
  /** A MASTER without an acknowledged renewal for this long steps down (< ttl). */
  stepDownMs: number;
  /** Deadline of one etcd call (reads, candidate and leader key writes). */
  callTimeoutMs: number;
  /** How long the answer to a keepalive is awaited (a late answer still counts from its send time). */
  keepaliveTimeoutMs: number;
  /** Pause after a failed renewal before the next attempt. */
  retryMs: number;
  /** Re-read period of the instance's keys (watch events also trigger a read). */
  resyncMs: number;
  /** Wait per better-ranked candidate before claiming a vacant key. */
  skewMs: number;
  /** Wait after registering before the first claim (nodes started together all register first). */
  holdOffMs: number;
}

export function etcdTimers(ttlMs: number): EtcdTimers {
  const renewMs = Math.round(ttlMs / 4);
  return {
    ttlMs,
    renewMs,
    stepDownMs: Math.round(ttlMs / 2),
    callTimeoutMs: Math.max(250, renewMs),
    keepaliveTimeoutMs: Math.round(ttlMs / 2),
    retryMs: Math.max(50, Math.min(250, Math.round(ttlMs / 16))),
    resyncMs: Math.round(ttlMs / 2),
    skewMs: renewMs,
    holdOffMs: Math.round(ttlMs / 2),
  };
}

/** A state change, as the instance runner turns it into actions. */
export type { ElectionTransition } from './backend.js';

/** What `status` shows of the etcd election (InstanceStatus.election). */
export interface ElectionStatus {
  backend: 'etcd';
  endpoints: string[];
  /** This instance's keys: <prefix>/<instance>/. */
  keyPrefix: string;
  /** What this node is doing about the leader key. */
  role: Role;
  /** Lease id as etcdctl shows it (hex); absent while none is granted. */
  lease?: string;
  ttlMs: number;
  grantedTtlMs?: number;
  /** Lower bound of the lease's remaining life on the server. */
  leaseRemainingMs?: number;
  /** MASTER: time left before stepping down unless a renewal is acknowledged. */
  stepDownInMs?: number;
  lastRenewalAgoMs?: number;
  lastRenewalLatencyMs?: number;
  renewIntervalMs: number;
  stepDownAfterMs: number;
  /** The leader key as last read: holder and revision. */
  leader?: { node: string; revision: string };
  /** This node's current term (MASTER). */
  fencingToken?: string;
  /** Whether the last etcd calls succeeded. */
  connected: boolean;
  onEtcdLoss: 'release' | 'hold-if-peers-agree';
  /** MASTER holding past its step-down deadline because every peer agrees (hold-if-peers-agree): why. */
  holding?: string;
  /** election.heartbeat: the peers heard over the heartbeat channel and their etcd reports. */
  heartbeat?: { intervalMs: number; deadRatio: number; etcdOk: boolean; peers: { id: string; address: string; state: InstanceState; alive: boolean; lastSeenAgoMs: number; etcdOk?: boolean; leader?: string; token?: string }[] };
  error?: { kind: EtcdErrorKind; message: string; sinceAgoMs: number; failures: number };
}

export interface EtcdElectionOptions {
  instance: string;
  nodeId: string;
  settings: EtcdElectionSettings;
  priority: number;
  preempt: boolean;
  preemptDelayMs: number;
  log: Logger;
  /** Runs the transition's actions; settles when they are done (a holder releases the key after). */
  onTransition(t: ElectionTransition): Promise<void>;
  /** election.heartbeat: the heartbeat side channel. */
  heartbeat?: EtcdHeartbeatOptions;
}

/** The heartbeat side channel of an etcd-elected instance (election.heartbeat: true). */
export interface EtcdHeartbeatOptions {
  transport: Pick<HeartbeatTransport, 'sendToAll' | 'send' | 'peerKeys'>;
  instanceKey: number;
  /** The shared address (the transport signs per instance address). */
  address: string;
  intervalMs: number;
  deadRatio: number;
  /** The instance's peers: configured and discovered. */
  peers(): readonly Endpoint[];
}

const monotonic = (): number => performance.now();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

/** One episode of failing etcd calls (until a call succeeds again). */
interface Failure {
  /** The most specific problem seen in the episode (status shows it). */
  kind: EtcdErrorKind;
  message: string;
  since: number;
  failures: number;
  /** Kinds already logged in this episode (each is logged once). */
  logged: Set<EtcdErrorKind>;
}

/** How much an error kind tells the operator: a TLS or auth failure also shows up as timeouts. */
const SPECIFICITY: Record<EtcdErrorKind, number> = { auth: 5, permission: 5, tls: 5, lease: 3, other: 2, unreachable: 1 };

export class EtcdElection implements ElectionBackend {
  readonly kind = 'etcd';
  readonly timers: EtcdTimers;
  private state: InstanceState = 'INIT';
  private since = monotonic();
  private lastTransition: EngineSnapshot['lastTransition'];
  private settings: { priority: number; preempt: boolean; preemptDelayMs: number };
  private fitness: Fitness;
  private health: FitnessVerdict = { priority: 0, fault: false, reason: '' };
  private readonly policy: EtcdPolicy;
  private conn: EtcdConnection | undefined;
  private keeper: LeaseKeeper | undefined;
  private watcher: Watcher | undefined;
  /** The candidate key as written: with which lease and value, registered since. */
  private registered: { lease: string; value: string; since: number } | undefined;
  private view: EtcdView | undefined;
  private viewAt = 0;
  private token: bigint | undefined;
  private tickTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private ticking = false;
  private again = false;
  private releaseReady = true;
  private stopping: Promise<void> | undefined;
  private failure: Failure | undefined;
  /** election.heartbeat: peers heard, adverts timer, what we last advertised about etcd. */
  private side: { table: EtcdPeerTable; opts: EtcdHeartbeatOptions; timer?: NodeJS.Timeout; flipTimer?: NodeJS.Timeout; lastOk: boolean } | undefined;
  /** hold-if-peers-agree: when our etcd report last turned ok (no campaign for regainWaitMs after). */
  private regainedAt: number | undefined;
  /** The hold reason last logged (once per outage). */
  private holdLogged: string | undefined;
  private readonly log: Logger;
  private readonly leaderKey: string;
  private readonly candidateKey: string;
  readonly keyPrefix: string;

  constructor(private readonly opts: EtcdElectionOptions) {
    this.timers = etcdTimers(opts.settings.ttlMs);
    this.settings = { priority: opts.priority, preempt: opts.preempt, preemptDelayMs: opts.preemptDelayMs };
    this.policy = new EtcdPolicy({ skewMs: this.timers.skewMs, holdOffMs: this.timers.holdOffMs, resumeMarginMs: this.timers.renewMs });
    this.log = opts.log.child({ election: 'etcd' });
    this.keyPrefix = `${opts.settings.prefix}/${opts.instance}/`;
    this.leaderKey = `${this.keyPrefix}leader`;
    this.candidateKey = `${this.keyPrefix}candidates/${opts.nodeId}`;
    this.fitness = initialFitness(opts.priority);
    this.recomputeHealth();
    if (opts.heartbeat) {
      const h = opts.heartbeat;
      this.side = { table: new EtcdPeerTable(this.sideTimers(h.intervalMs, h.deadRatio)), opts: h, lastOk: false };
    }
  }

  private sideTimers(intervalMs: number, deadRatio: number) {
    return { intervalMs, deadRatio, renewMs: this.timers.renewMs, stepDownMs: this.timers.stepDownMs };
  }

  get currentState(): InstanceState {
    return this.state;
  }

  /** How long a dead MASTER can keep the key: the lease TTL. */
  get masterDownMs(): number {
    return this.keeper?.lease?.grantedTtlMs ?? this.timers.ttlMs;
  }

  /** The heartbeat engine's inputs; packets and unreachable peers do not concern etcd instances. */
  handle(input: EngineInput): void {
    if (this.state === 'STOP') return;
    switch (input.type) {
      case 'start':
        this.start();
        break;
      case 'checks':
      case 'nudge':
      case 'maintenance':
      case 'fault':
        this.fitness = applyFitnessInput(this.fitness, input)!;
        this.onHealth();
        if (input.type === 'nudge') this.log.info({ basePriority: this.basePriority }, `priority nudged to ${this.health.priority}`);
        break;
      case 'stop':
        void this.stop();
        break;
      case 'tick':
        this.wake();
        break;
      case 'packet':
        this.onAdvert(input.from, input.packet);
        break;
      case 'unreachable':
        this.onUnreachable(input.from);
        break;
    }
  }

  /** A reload: new priority or preemption settings, the election goes on. */
  reconfigure(change: ElectionChange): void {
    this.settings = { priority: change.priority, preempt: change.preempt, preemptDelayMs: change.preemptDelayMs };
    const side = this.side;
    if (side && (change.intervalMs !== undefined || change.deadRatio !== undefined)) {
      side.opts = { ...side.opts, intervalMs: change.intervalMs ?? side.opts.intervalMs, deadRatio: change.deadRatio ?? side.opts.deadRatio };
      side.table.reconfigure(this.sideTimers(side.opts.intervalMs, side.opts.deadRatio));
      if (this.state !== 'INIT' && !this.stopping) this.armAdverts();
    }
    this.fitness = { ...this.fitness, priority: change.priority };
    this.onHealth();
  }

  // ------------------------------------------------------------------ lifecycle

  private start(): void {
    if (this.state !== 'INIT') return;
    const t = this.timers;
    this.conn = acquireEtcd(this.opts.settings, { callTimeoutMs: t.callTimeoutMs, skipMs: t.renewMs });
    const keeper = new LeaseKeeper(this.conn.client, { ttlMs: t.ttlMs, renewMs: t.renewMs, answerTimeoutMs: t.keepaliveTimeoutMs, retryMs: t.retryMs });
    this.keeper = keeper;
    keeper.on('granted', (lease) => this.onGranted(lease));
    keeper.on('renewed', () => this.onRenewed());
    keeper.on('lost', (id) => this.onLeaseLost(id));
    keeper.on('failed', (err) => {
      this.fail(err, 'lease renewal');
      this.checkDeadline();
    });
    this.startWatch(this.conn.client);
    if (this.health.fault) void this.transition('FAULT', this.health.reason, this.health.cause ?? 'fault');
    else void this.transition('BACKUP', 'startup', 'startup');
    this.log.info(
      { endpoints: this.opts.settings.endpoints, keyPrefix: this.keyPrefix, ttlMs: t.ttlMs, renewMs: t.renewMs, stepDownMs: t.stepDownMs },
      `etcd election: keys ${this.keyPrefix}, lease TTL ${formatDuration(t.ttlMs)}, renew every ${formatDuration(t.renewMs)}, step down after ${formatDuration(t.stepDownMs)} without renewal`,
    );
    keeper.start();
    this.armAdverts();
    this.wake();
  }

  private startWatch(client: Etcd3): void {
    const w = client.watch().prefix(this.keyPrefix).watcher();
    w.on('data', () => this.wake());
    w.on('connected', () => this.wake());
    w.on('disconnected', () => undefined);
    w.on('error', (err) => this.log.debug({ err: describeEtcdError(err, this.opts.settings).message }, 'etcd watch error (the keys are still re-read periodically)'));
    this.watcher = w;
  }

  /**
   * Graceful stop (SIGTERM): STOP actions (waiting at most the step-down time for them), then
   * the lease is revoked, which deletes the leader and candidate keys at once: the next node
   * takes over without waiting for the TTL. Idempotent.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      clearTimeout(this.tickTimer);
      clearTimeout(this.deadlineTimer);
      const wasMaster = this.state === 'MASTER';
      const token = wasMaster ? this.token : undefined;
      this.policy.role = 'backup';
      if (this.side) {
        clearTimeout(this.side.timer);
        clearTimeout(this.side.flipTimer);
        // goodbye: the peers mark us gone (no port-unreachable proof to act on when the socket closes)
        if (this.state !== 'INIT') this.advertise('all', true);
      }
      if (this.state !== 'INIT') {
        const done = this.transition('STOP', 'shutting down', 'shutdown', token);
        if (wasMaster) await Promise.race([done, sleep(this.timers.stepDownMs)]);
      } else {
        this.state = 'STOP';
      }
      const w = this.watcher;
      this.watcher = undefined;
      if (w) await withTimeout(w.cancel(), this.timers.callTimeoutMs, 'watch cancel').catch(() => undefined);
      const lease = this.keeper?.lease;
      try {
        await this.keeper?.revoke();
        if (lease) this.log.info({ lease: hexLease(lease.id), event: 'lease-revoked' }, `lease ${hexLease(lease.id)} revoked: leader and candidate keys deleted`);
      } catch (err) {
        this.log.warn({ err: describeEtcdError(err, this.opts.settings).message }, `could not revoke the lease: it expires within ${formatDuration(this.masterDownMs)}`);
      }
      this.conn?.release();
    })();
    return this.stopping;
  }

  // ------------------------------------------------------------------ health

  private get basePriority(): number {
    return basePriority(this.fitness);
  }

  private recomputeHealth(): void {
    this.health = verdict(this.fitness);
  }

  private onHealth(): void {
    this.recomputeHealth();
    if (this.state === 'INIT' || this.state === 'STOP') return;
    const cause = this.health.cause ?? 'fault';
    if (this.health.fault && this.state !== 'FAULT') {
      if (this.state === 'MASTER') void this.resign('FAULT', this.health.reason, cause);
      else {
        if (this.policy.role === 'suspended') {
          // we may still hold the key from before the step-down: it must go
          this.policy.role = 'releasing';
          this.releaseReady = true;
        }
        void this.transition('FAULT', this.health.reason, cause);
      }
    } else if (!this.health.fault && this.state === 'FAULT') {
      void this.transition('BACKUP', 'checks pass again', 'recovered');
    }
    this.wake();
  }

  // ------------------------------------------------------------------ lease events

  private onGranted(lease: LeaseInfo): void {
    this.ok();
    if (lease.grantedTtlMs !== this.timers.ttlMs) {
      this.log.warn({ asked: this.timers.ttlMs, granted: lease.grantedTtlMs }, `etcd granted a ${formatDuration(lease.grantedTtlMs)} lease for the ${formatDuration(this.timers.ttlMs)} asked (its minimum TTL): failover takes that long`);
    }
    this.log.info({ lease: hexLease(lease.id), event: 'lease-granted' }, `lease ${hexLease(lease.id)} granted (TTL ${formatDuration(lease.grantedTtlMs)})`);
    // our etcd report turns ok now (and, under hold-if-peers-agree, the wait before a campaign starts)
    this.reportChanged();
    this.wake();
  }

  private onRenewed(): void {
    const wasFailing = this.failure !== undefined;
    this.ok();
    this.reportChanged();
    this.armDeadline();
    if (wasFailing || this.policy.role === 'suspended' || this.holdLogged !== undefined) this.wake();
  }

  private onLeaseLost(id: string): void {
    this.log.warn({ lease: hexLease(id), event: 'lease-lost' }, `lease ${hexLease(id)} expired or was revoked in etcd: its keys are gone; requesting a new one`);
    this.registered = undefined;
    this.checkDeadline();
    if (this.policy.role !== 'master') this.policy.role = 'backup';
    this.wake();
  }

  private self(): SelfView {
    const lease = this.keeper?.lease;
    const healthy = !this.health.fault && (this.state === 'BACKUP' || this.state === 'MASTER');
    return {
      id: this.opts.nodeId,
      healthy,
      priority: this.health.priority,
      ...(lease ? { leaseId: lease.id, validUntil: lease.validFrom + this.timers.stepDownMs, renewedAt: lease.validFrom } : {}),
      ...(this.registered && lease && this.registered.lease === lease.id ? { registeredAt: this.registered.since } : {}),
      ...(this.holdVerdict()?.hold ? { holding: true } : {}),
      ...(this.regainedAt !== undefined && this.side ? { campaignFrom: this.regainedAt + regainWaitMs(this.sideTimers(this.side.opts.intervalMs, this.side.opts.deadRatio)) } : {}),
      ...(this.side && this.opts.settings.onEtcdLoss === 'hold-if-peers-agree' ? { campaignWaitMs: regainWaitMs(this.sideTimers(this.side.opts.intervalMs, this.side.opts.deadRatio)) } : {}),
    };
  }

  /**
   * hold-if-peers-agree, for a MASTER at or past its step-down deadline with its lease not known
   * lost: the peers' verdict (undefined: the policy does not apply now).
   */
  private holdVerdict(now = monotonic()): HoldVerdict | undefined {
    const side = this.side;
    const lease = this.keeper?.lease;
    if (!side || this.opts.settings.onEtcdLoss !== 'hold-if-peers-agree' || this.policy.role !== 'master' || !lease) return undefined;
    const deadline = lease.validFrom + this.timers.stepDownMs;
    if (now < deadline) return undefined;
    return side.table.holdVerdict(now, { id: this.opts.nodeId, token: this.token, deadline }, this.peerKeys());
  }

  private peerKeys(): string[] {
    return this.side ? instancePeerKeys(this.side.opts.transport, this.side.opts.peers()) : [];
  }

  /** The step-down deadline, checked on its own timer so no etcd call can delay it. */
  private armDeadline(): void {
    clearTimeout(this.deadlineTimer);
    if (this.policy.role !== 'master') return;
    const now = monotonic();
    const hold = this.holdVerdict(now);
    const until = hold?.hold ? hold.recheckAt : this.self().validUntil;
    const delay = until === undefined ? 0 : Math.max(0, until - now);
    this.deadlineTimer = setTimeout(() => this.checkDeadline(), Math.ceil(delay));
  }

  private checkDeadline(): void {
    const now = monotonic();
    const hold = this.holdVerdict(now);
    if (this.policy.mustStepDown(now, this.self())) {
      this.stepDown('cannot renew the etcd lease: stepping down before it can expire');
      return;
    }
    if (hold?.hold && !hold.pending && this.holdLogged === undefined) {
      this.holdLogged = hold.reason;
      this.log.warn({ event: 'etcd-loss-hold', fencingToken: String(this.token) }, `cannot renew the etcd lease; holding MASTER (onEtcdLoss hold-if-peers-agree): ${hold.reason}`);
    } else if (!hold && this.holdLogged !== undefined) {
      this.holdLogged = undefined;
      this.log.info({ event: 'etcd-loss-hold-end' }, 'etcd renews our lease again: no longer holding on the peers\' agreement');
    }
    this.armDeadline();
  }

  // ------------------------------------------------------------------ heartbeat side channel

  /** What our adverts say about etcd: renewals fine, and the leader key as we know it. */
  private report(now = monotonic()): EtcdReport {
    const ok = reportsEtcdOk(now, this.keeper?.lease?.validFrom, this.timers.renewMs);
    if (this.state === 'MASTER' && this.token !== undefined) return { ok, leader: this.opts.nodeId, token: this.token };
    const leader = this.view?.leader;
    return leader ? { ok, leader: leader.node, token: leader.revision } : { ok, token: 0n };
  }

  private advertise(to: string, goodbye = false): void {
    const side = this.side;
    if (!side) return;
    const packet = {
      kind: 'advert' as const,
      instanceKey: side.opts.instanceKey,
      nodeId: this.opts.nodeId,
      priority: goodbye ? 0 : this.health.priority,
      state: goodbye ? ('STOP' as const) : this.state,
      intervalMs: side.opts.intervalMs,
      nonce: 0,
      etcd: this.report(),
    };
    if (to === 'all') side.opts.transport.sendToAll(this.peerKeys(), packet, side.opts.address);
    else side.opts.transport.send(to, packet, side.opts.address);
  }

  /** Adverts every interval (each also notices our etcd report turning). */
  private armAdverts(): void {
    const side = this.side;
    if (!side) return;
    clearTimeout(side.timer);
    const loop = () => {
      if (this.stopping) return;
      this.reportChanged(false);
      this.advertise('all');
      side.timer = setTimeout(loop, side.opts.intervalMs);
    };
    loop();
  }

  /**
   * Our etcd report may have turned: advertise at once when it did (a holder's peers must hear a
   * regained etcd without waiting for the next interval), note a regain (no campaign for a while
   * under hold-if-peers-agree), and time the turn to false (renewal half a period overdue).
   */
  private reportChanged(send = true): void {
    const side = this.side;
    if (!side) return;
    const now = monotonic();
    const ok = reportsEtcdOk(now, this.keeper?.lease?.validFrom, this.timers.renewMs);
    if (ok !== side.lastOk) {
      side.lastOk = ok;
      if (ok && this.opts.settings.onEtcdLoss === 'hold-if-peers-agree') this.regainedAt = now;
      if (send) this.advertise('all');
    }
    clearTimeout(side.flipTimer);
    const validFrom = this.keeper?.lease?.validFrom;
    if (ok && validFrom !== undefined) {
      side.flipTimer = setTimeout(() => this.reportChanged(), Math.ceil(validFrom + 1.5 * this.timers.renewMs - now) + 1);
    }
  }

  private onAdvert(from: string, packet: Packet): void {
    const side = this.side;
    if (!side || this.state === 'INIT') return;
    const known = side.table.list(monotonic()).some((p) => p.id === packet.nodeId && p.alive);
    if (!side.table.heard(monotonic(), from, packet)) return;
    // a peer we did not know (or thought gone): our advert at once, so both sides know each other
    if (!known && packet.priority > 0 && packet.state !== 'STOP') this.advertise(from);
    if (this.policy.role === 'master') this.checkDeadline();
  }

  /**
   * ICMP port unreachable from a peer's heartbeat port: a peer heard alive there has a dead daemon
   * on a live host. If it holds the leader key, revoke its lease: the crash fast path.
   */
  private onUnreachable(from: string): void {
    const side = this.side;
    if (!side || this.state === 'INIT') return;
    for (const peer of side.table.unreachable(monotonic(), from)) {
      this.log.warn({ peer: peer.id, event: 'peer-dead' }, `peer ${peer.id} unreachable: its heartbeat port is closed (daemon down, host up)`);
      if (this.policy.role !== 'master' && this.view?.leader?.node === peer.id) void this.revokeDead(peer);
    }
  }

  /** Reads the leader key; if it still names `peer`, revokes the lease it is under. */
  private async revokeDead(peer: EtcdPeer): Promise<void> {
    const client = this.conn?.client;
    if (!client || this.stopping) return;
    try {
      const res = await client.kv.range({ key: Buffer.from(this.leaderKey) });
      const kv = res.kvs[0];
      if (!kv || kv.value.toString() !== peer.id) {
        this.log.debug({ peer: peer.id }, `the leader key no longer names ${peer.id}: nothing to revoke`);
        return;
      }
      const lease = String(kv.lease);
      if (lease === '0' || lease === this.keeper?.lease?.id) return;
      await client.leaseClient.leaseRevoke({ ID: lease });
      this.ok();
      this.log.warn(
        { peer: peer.id, lease: hexLease(lease), event: 'dead-master-revoked' },
        `master ${peer.id}'s daemon is down (its heartbeat port answers ICMP port unreachable) while its host is up: revoked its lease ${hexLease(lease)}, electing a new master now`,
      );
      this.wake();
    } catch (err) {
      if (/lease not found/i.test(String((err as Error)?.message))) return; // expired meanwhile: the same outcome
      this.fail(err, "revoking a dead master's lease");
    }
  }

  // ------------------------------------------------------------------ transitions

  private transition(to: InstanceState, reason: string, cause: TransitionCause, fencingToken?: bigint): Promise<void> {
    const from = this.state;
    if (from === to) return Promise.resolve();
    this.state = to;
    this.since = monotonic();
    this.lastTransition = { from, to, reason, at: this.since };
    if (to !== 'MASTER') clearTimeout(this.deadlineTimer);
    // the peers hear a change of state at once (STOP: the goodbye in stop())
    if (to !== 'STOP') this.advertise('all');
    return this.opts.onTransition({ from, to, reason, cause, priority: this.health.priority, ...(fencingToken !== undefined ? { fencingToken } : {}) }).catch((err) => {
      this.log.error({ err: (err as Error).message }, 'transition actions failed');
    });
  }

  /** Involuntary: no renewal in time. BACKUP actions now; the key is kept (we may resume). */
  private stepDown(reason: string): void {
    if (this.policy.role !== 'master') return;
    const hold = this.holdVerdict();
    if (hold && !hold.hold) reason += ` (onEtcdLoss hold-if-peers-agree: ${hold.reason})`;
    this.holdLogged = undefined;
    this.policy.suspend(monotonic());
    const lease = this.keeper?.lease;
    const info = lease ? ` (last renewal ${formatDuration(monotonic() - lease.validFrom)} ago, TTL ${formatDuration(lease.grantedTtlMs)})` : ' (lease lost)';
    this.log.warn({ event: 'step-down', fencingToken: String(this.token) }, `${reason}${info}`);
    void this.transition('BACKUP', reason + info, 'lease-lost', this.token);
  }

  /** Voluntary (fault, maintenance, yield): actions first (bounded wait), then the key goes. */
  private async resign(to: 'BACKUP' | 'FAULT', reason: string, cause: TransitionCause): Promise<void> {
    this.policy.role = 'releasing';
    this.releaseReady = false;
    const done = this.transition(to, reason, cause, this.token);
    await Promise.race([done, sleep(this.timers.stepDownMs)]);
    this.releaseReady = true;
    if (this.policy.role === 'releasing') await this.release();
  }

  // ------------------------------------------------------------------ the election loop

  /** Runs the loop soon (coalesced). */
  private wake(): void {
    if (this.stopping || this.state === 'INIT') return;
    if (this.ticking) {
      this.again = true;
      return;
    }
    clearTimeout(this.tickTimer);
    this.tickTimer = setTimeout(() => void this.tick(), 0);
  }

  private async tick(): Promise<void> {
    if (this.ticking || this.stopping) return;
    this.ticking = true;
    try {
      do {
        this.again = false;
        await this.tickOnce();
      } while (this.again && !this.stopping);
    } catch (err) {
      this.log.error({ err: (err as Error).stack }, 'etcd election loop error');
    } finally {
      this.ticking = false;
      if (!this.stopping) {
        const next = Math.min(monotonic() + this.timers.resyncMs, this.policy.nextWakeup(this.self()));
        clearTimeout(this.tickTimer);
        this.tickTimer = setTimeout(() => void this.tick(), Math.max(0, Math.ceil(next - monotonic())));
      }
    }
  }

  private async tickOnce(): Promise<void> {
    const client = this.conn!.client;
    await this.syncCandidate(client);
    let view: EtcdView | undefined;
    try {
      view = await this.read(client);
      this.view = view;
      this.viewAt = monotonic();
      this.ok();
    } catch (err) {
      this.fail(err, 'read');
    }
    if (this.stopping) return;
    const d = this.policy.decide(monotonic(), this.self(), view);
    await this.apply(d, client);
  }

  private async apply(d: Decision, client: Etcd3): Promise<void> {
    switch (d.kind) {
      case 'none':
        return;
      case 'step-down':
        this.stepDown(d.reason);
        return;
      case 'lost':
        this.policy.role = 'backup';
        this.log.warn({ event: 'leader-key-lost' }, d.reason);
        void this.transition('BACKUP', d.reason, 'lease-lost', this.token);
        return;
      case 'yield':
        void this.resign('BACKUP', d.reason, 'yield');
        return;
      case 'campaign':
        await this.claim(client, false, d.reason, d.cause);
        return;
      case 'resume':
        await this.claim(client, true, d.reason, d.cause);
        return;
      case 'release':
        if (this.releaseReady) await this.release();
        return;
    }
  }

  /** Writes our candidate key when it is missing or stale, deletes it when we may not hold. */
  private async syncCandidate(client: Etcd3): Promise<void> {
    const lease = this.keeper?.lease;
    const wanted = !this.health.fault && (this.state === 'BACKUP' || this.state === 'MASTER') && lease !== undefined;
    try {
      if (wanted) {
        const value = JSON.stringify({ priority: this.health.priority, preempt: this.settings.preempt, preemptDelayMs: this.settings.preemptDelayMs });
        if (this.registered?.lease === lease.id && this.registered.value === value) return;
        await client.kv.put({ key: Buffer.from(this.candidateKey), value: Buffer.from(value), lease: lease.id });
        const since = this.registered?.lease === lease.id ? this.registered.since : monotonic();
        this.registered = { lease: lease.id, value, since };
        this.log.debug({ candidate: this.candidateKey, value }, 'candidate registered');
      } else if (this.registered) {
        await client.kv.deleteRange({ key: Buffer.from(this.candidateKey) });
        this.registered = undefined;
        this.log.debug({ candidate: this.candidateKey }, 'candidate withdrawn');
      }
    } catch (err) {
      this.fail(err, 'candidate registration');
      if (/lease not found/i.test(String((err as Error)?.message))) this.keeper?.poke();
    }
  }

  /** One read of the leader and candidate keys. */
  private async read(client: Etcd3): Promise<EtcdView> {
    const res = await client.kv.range({ key: Buffer.from(this.keyPrefix), range_end: Buffer.from(prefixEnd(this.keyPrefix)) });
    const view: EtcdView = { candidates: [] };
    const candidates = `${this.keyPrefix}candidates/`;
    for (const kv of res.kvs) {
      const key = kv.key.toString();
      if (key === this.leaderKey) {
        view.leader = { node: kv.value.toString(), lease: String(kv.lease), revision: BigInt(kv.mod_revision) };
      } else if (key.startsWith(candidates)) {
        const c = parseCandidate(key.slice(candidates.length), kv.value.toString());
        if (c) view.candidates.push(c);
        else this.log.debug({ key }, 'ignoring a malformed candidate key');
      }
    }
    return view;
  }

  /**
   * Claims the leader key: a vacant one (create_revision == 0), or (resume) the one we still
   * hold under our lease. MASTER only if the claim succeeded while our lease is valid and we
   * are still healthy.
   */
  private async claim(client: Etcd3, resume: boolean, reason: string, cause: TransitionCause): Promise<void> {
    const lease = this.keeper?.lease;
    if (!lease) return;
    const key = Buffer.from(this.leaderKey);
    const node = Buffer.from(this.opts.nodeId);
    const compare = resume
      ? [
          { key, target: 'Value' as const, value: node, result: 'Equal' as const },
          { key, target: 'Lease' as const, lease: lease.id, result: 'Equal' as const },
        ]
      : [{ key, target: 'Create' as const, create_revision: 0, result: 'Equal' as const }];
    let res;
    try {
      res = await client.kv.txn({ compare, success: [{ request_put: { key, value: node, lease: lease.id } }], failure: [] });
      this.ok();
    } catch (err) {
      this.fail(err, resume ? 'leader key re-claim' : 'leader key claim');
      if (/lease not found/i.test(String((err as Error)?.message))) this.keeper?.poke();
      return;
    }
    if (!res.succeeded) {
      this.log.debug(resume ? 'leader key changed before we could re-claim it' : 'another node claimed the leader key first');
      this.again = true;
      return;
    }
    const token = BigInt(res.header.revision);
    const self = this.self();
    if (this.stopping || !self.healthy) {
      this.policy.role = 'releasing';
      this.releaseReady = true;
      this.again = true;
      return;
    }
    const now = monotonic();
    if (self.validUntil === undefined || now >= self.validUntil || self.leaseId !== lease.id) {
      this.policy.suspend(now);
      this.again = true;
      return;
    }
    if (resume && cause === 'recovered' && !this.policy.mayResume(now, self)) {
      // the re-claim took so long that the renewal it was based on is nearly used up: acting now
      // would mean stepping down again at once; wait for the next renewal (it wakes the loop)
      this.log.debug('re-claimed the leader key but the last renewal is too old to resume on; waiting for the next one');
      return;
    }
    this.token = token;
    this.policy.role = 'master';
    this.log.info({ event: 'leader-claimed', fencingToken: String(token), lease: hexLease(lease.id) }, `${resume ? 're-claimed' : 'claimed'} ${this.leaderKey} at revision ${token}`);
    this.armDeadline();
    void this.transition('MASTER', reason, cause, token);
  }

  /** Deletes our leader key (only if it is still ours). */
  private async release(): Promise<void> {
    const lease = this.keeper?.lease;
    const client = this.conn?.client;
    if (!client) return;
    const key = Buffer.from(this.leaderKey);
    try {
      const compare = [
        { key, target: 'Value' as const, value: Buffer.from(this.opts.nodeId), result: 'Equal' as const },
        ...(lease ? [{ key, target: 'Lease' as const, lease: lease.id, result: 'Equal' as const }] : []),
      ];
      const res = await client.kv.txn({ compare, success: [{ request_delete_range: { key } }], failure: [] });
      this.ok();
      if (this.policy.role === 'releasing') this.policy.role = 'backup';
      if (res.succeeded) this.log.info({ event: 'leader-released' }, `released ${this.leaderKey}`);
      this.wake();
    } catch (err) {
      this.fail(err, 'leader key release');
    }
  }

  // ------------------------------------------------------------------ errors

  /**
   * Records a failed etcd call. Each kind of problem is logged once per episode (until a call
   * succeeds again), the rest at debug; timeouts and other unspecific failures only once they
   * last a renewal interval (a loaded host or etcd recovers), TLS and auth failures at once.
   */
  private fail(err: unknown, during: string): void {
    const f = describeEtcdError(err, this.opts.settings);
    const episode = (this.failure ??= { kind: f.kind, message: f.message, since: monotonic(), failures: 0, logged: new Set() });
    episode.failures++;
    if (SPECIFICITY[f.kind] >= SPECIFICITY[episode.kind]) {
      episode.kind = f.kind;
      episode.message = f.message;
    }
    const specific = SPECIFICITY[f.kind] >= SPECIFICITY.tls;
    const young = monotonic() - episode.since < this.timers.renewMs;
    if (episode.logged.has(f.kind) || (!specific && (young || SPECIFICITY[episode.kind] > SPECIFICITY[f.kind]))) {
      this.log.debug({ during, err: f.message }, 'etcd call failed');
      return;
    }
    episode.logged.add(f.kind);
    this.log.error({ during, kind: f.kind, event: 'etcd-error' }, f.message);
  }

  private ok(): void {
    const f = this.failure;
    if (!f || this.keeper?.inTrouble) return;
    this.failure = undefined;
    this.log.info({ failures: f.failures, event: 'etcd-ok' }, `etcd reachable again after ${formatDuration(monotonic() - f.since)} (${f.failures} failed call(s))`);
  }

  // ------------------------------------------------------------------ status

  /** The engine's snapshot shape (engine clock = performance.now()), from what etcd said last. */
  snapshot(now = monotonic()): EngineSnapshot {
    const leader = this.view?.leader;
    const master = this.state === 'MASTER' ? this.opts.nodeId : leader && leader.node !== this.opts.nodeId ? leader.node : undefined;
    const peers: PeerView[] = (this.view?.candidates ?? [])
      .filter((c) => c.id !== this.opts.nodeId)
      .map((c) => ({
        id: c.id,
        address: 'etcd',
        state: leader?.node === c.id ? 'MASTER' : 'BACKUP',
        priority: c.priority,
        alive: true,
        lastSeenAgoMs: Math.max(0, now - this.viewAt),
        intervalMs: this.timers.resyncMs,
        incarnation: 0,
      }));
    const snap: EngineSnapshot = {
      instance: this.opts.instance,
      nodeId: this.opts.nodeId,
      state: this.state,
      ...fitnessView(this.fitness),
      since: this.since,
      peers,
      masterDownMs: this.masterDownMs,
    };
    if (master) snap.master = master;
    if (this.lastTransition) snap.lastTransition = this.lastTransition;
    return snap;
  }

  status(now = monotonic()): ElectionStatus {
    const lease = this.keeper?.lease;
    const leader = this.view?.leader;
    const st: ElectionStatus = {
      backend: 'etcd',
      endpoints: [...this.opts.settings.endpoints],
      keyPrefix: this.keyPrefix,
      role: this.policy.role,
      ttlMs: this.timers.ttlMs,
      renewIntervalMs: this.timers.renewMs,
      stepDownAfterMs: this.timers.stepDownMs,
      connected: this.failure === undefined && lease !== undefined,
      onEtcdLoss: this.opts.settings.onEtcdLoss,
    };
    const hold = this.holdVerdict(now);
    if (hold?.hold) st.holding = hold.reason;
    if (this.side) {
      st.heartbeat = {
        intervalMs: this.side.opts.intervalMs,
        deadRatio: this.side.opts.deadRatio,
        etcdOk: reportsEtcdOk(now, lease?.validFrom, this.timers.renewMs),
        peers: this.side.table.list(now).map((p) => ({
          id: p.id,
          address: p.address,
          state: p.state,
          alive: p.alive,
          lastSeenAgoMs: p.lastSeenAgoMs,
          ...(p.etcd ? { etcdOk: p.etcd.ok, ...(p.etcd.leader ? { leader: p.etcd.leader, token: String(p.etcd.token) } : {}) } : {}),
        })),
      };
    }
    if (lease) {
      st.lease = hexLease(lease.id);
      st.grantedTtlMs = lease.grantedTtlMs;
      st.leaseRemainingMs = Math.max(0, Math.round(lease.validFrom + lease.grantedTtlMs - now));
      st.lastRenewalAgoMs = Math.round(now - lease.validFrom);
      st.lastRenewalLatencyMs = Math.round(lease.lastLatencyMs * 10) / 10;
      if (this.state === 'MASTER') st.stepDownInMs = Math.max(0, Math.round(lease.validFrom + this.timers.stepDownMs - now));
    }
    if (leader) st.leader = { node: leader.node, revision: String(leader.revision) };
    if (this.state === 'MASTER' && this.token !== undefined) st.fencingToken = String(this.token);
    if (this.failure) {
      st.error = { kind: this.failure.kind, message: this.failure.message, sinceAgoMs: Math.round(now - this.failure.since), failures: this.failure.failures };
    }
    return st;
  }
}

/** etcdctl shows lease ids in hex. */
export function hexLease(id: string): string {
  try {
    return BigInt(id).toString(16);
  } catch {
    return id;
  }
}

/** The end of a prefix range: the prefix with its last byte incremented ("/a/" -> "/a0"). */
function prefixEnd(prefix: string): string {
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}

function parseCandidate(id: string, value: string): CandidateRecord | undefined {
  if (!id) return undefined;
  try {
    const v = JSON.parse(value) as Record<string, unknown>;
    if (typeof v.priority !== 'number') return undefined;
    return {
      id,
      priority: v.priority,
      preempt: v.preempt !== false,
      preemptDelayMs: typeof v.preemptDelayMs === 'number' ? v.preemptDelayMs : 0,
    };
  } catch {
    return undefined;
  }
}
