/**
 * The shell around one instance's engine: feeds it packets, check results and timer ticks,
 * carries out its effects (adverts, probes, transitions -> actions), and owns its checks and
 * actions. All clocks and sockets are here; all decisions are in the engine.
 */
import type { Logger } from '../log.js';
import type { EngineConfig, EngineInput, EngineSnapshot, InstanceState, TransitionCause } from '../engine/types.js';
import { instanceKey } from '../protocol/instance-key.js';
import { formatEndpoint } from '../config/endpoint.js';
import type { HeartbeatTransport, Inbound } from './transport.js';
import { CheckRunner, type CheckSnapshot, type ScheduledCheck } from '../plugins/check-runner.js';
import { systemClock, systemTimers, type Clock, type Timers } from '../util/clock.js';
import { ActionRunner, type ActionOutcome, type PreparedActions, type ScheduledAction } from '../plugins/action-runner.js';
import type { InstancePlan } from './reload-plan.js';
import type { Endpoint } from '../config/endpoint.js';
import type { ApiCallSample } from '../plugins/api.js';
import { DiscoveryRunner, type DiscoveryStatus, type ScheduledDiscovery } from './discovery.js';
import { EtcdElection, type ElectionStatus } from '../election/etcd.js';
import { HeartbeatElection } from '../election/heartbeat.js';
import type { ElectionBackend, ElectionTransition } from '../election/backend.js';
import type { EtcdElectionSettings } from '../election/config.js';

export interface InstanceSettings {
  name: string;
  address: string;
  priority: number;
  intervalMs: number;
  deadRatio: number;
  preempt: boolean;
  preemptDelayMs: number;
  peers: Endpoint[];
  checks: ScheduledCheck[];
  actions: ScheduledAction[];
  /** Peers found at runtime, combined with `peers`. */
  discovery?: ScheduledDiscovery;
  /** Elected through etcd instead of the heartbeat engine (election.backend etcd). */
  election?: EtcdElectionSettings;
}

/** How long an instance start waits for its first peer discovery (so the hold-off knows its peers). */
export const FIRST_DISCOVERY_WAIT_MS = 10_000;

export interface TransitionRecord {
  from: InstanceState;
  to: InstanceState;
  reason: string;
  cause: TransitionCause;
  priority: number;
  /** Wall clock ms. */
  at: number;
  /** Fencing token of the term (etcd backend), decimal. */
  fencingToken?: string;
}

/** Everything `status` shows about an instance. */
export interface InstanceStatus extends Omit<EngineSnapshot, 'since' | 'lastTransition' | 'takeoverAt'> {
  address: string;
  /** Wall clock ms since the current state began. */
  since: number;
  lastTransition?: TransitionRecord;
  takeoverAt?: number;
  checks: CheckSnapshot[];
  actions: ActionOutcome[];
  intervalMs: number;
  deadRatio: number;
  preempt: boolean;
  /** Peer discovery, when configured. */
  discovery?: DiscoveryStatus;
  /** The etcd election (backend, lease, renewals), when the instance uses it. */
  election?: ElectionStatus;
}

/** The shell's clock and timers (tests inject a fake pair; default: the process's). */
export interface ShellClock {
  clock: Clock;
  timers: Timers;
}

export const systemShellClock: ShellClock = { clock: systemClock, timers: systemTimers };

export { ENGINE_ERRORS_TO_FAULT } from '../election/heartbeat.js';

/** A failed required action holds the instance in FAULT this many master-down periods, then it competes again. */
export const ACTION_FAULT_HOLD_PERIODS = 2;

/** In-place reload plan of one instance. */
export type InPlacePlan = Extract<InstancePlan, { change: 'unchanged' | 'in-place' }>;

/** What prepareReload created (see InstanceRunner.prepareReload). */
export interface PreparedReload {
  next: InstanceSettings;
  plan: InPlacePlan;
  actions?: PreparedActions;
}

/** Observers (metrics); all optional. */
export interface InstanceRunnerHooks {
  onTransition?(instance: string, t: TransitionRecord): void;
  onCheckResult?(instance: string, c: CheckSnapshot): void;
  onActionOutcome?(instance: string, o: ActionOutcome): void;
  onApiCall?(sample: ApiCallSample): void;
  /** The discovered peer list changed (the daemon updates the transport). */
  onPeersChanged?(instance: string): void;
}

export class InstanceRunner {
  readonly key: number;
  /** Who elects this instance's MASTER: the heartbeat engine or etcd. */
  readonly election: ElectionBackend;
  private checks: CheckRunner;
  private actions: ActionRunner;
  private lastTransition: TransitionRecord | undefined;
  private readonly log: Logger;
  private stopped = false;
  private discovery: DiscoveryRunner | undefined;
  private readonly clock: Clock;
  private readonly timers: Timers;
  /** The tracked timer that lifts a failed required action's FAULT. */
  private actionFaultTimer: unknown;
  /** The last transition the actions were told (a reload's new actions are told it too). */
  private lastEvent: ElectionTransition | undefined;
  private prepared = false;

  constructor(
    public settings: InstanceSettings,
    private readonly nodeId: string,
    private readonly transport: HeartbeatTransport,
    log: Logger,
    private readonly hooks: InstanceRunnerHooks = {},
    shell: ShellClock = systemShellClock,
  ) {
    this.clock = shell.clock;
    this.timers = shell.timers;
    this.log = log.child({ instance: settings.name });
    this.key = instanceKey(settings.address);
    if (settings.election) {
      this.election = new EtcdElection({
        instance: settings.name,
        nodeId,
        settings: settings.election,
        priority: settings.priority,
        preempt: settings.preempt,
        preemptDelayMs: settings.preemptDelayMs,
        log: this.log,
        onTransition: (t) => this.runTransition(t),
        ...(settings.election.heartbeat
          ? {
              heartbeat: {
                transport,
                instanceKey: this.key,
                address: settings.address,
                intervalMs: settings.intervalMs,
                deadRatio: settings.deadRatio,
                peers: () => this.peerEndpoints(),
              },
            }
          : {}),
      });
    } else {
      this.election = new HeartbeatElection({
        engine: this.engineConfig(settings),
        instanceKey: this.key,
        address: settings.address,
        transport,
        clock: this.clock,
        timers: this.timers,
        log: this.log,
        peers: () => ({ own: this.settings.peers, discovered: this.discovery?.peers }),
        onTransition: (t) => void this.runTransition(t),
        onReassert: (e) => void this.actions.transition({ from: 'MASTER', to: 'MASTER', priority: e.priority, reason: e.reason }),
        onPeerDead: (e) => void this.actions.peerDead({ peer: e.peer, state: e.state }),
      });
    }
    this.checks = new CheckRunner(settings.checks, { log: this.log, clock: this.clock, timers: this.timers });
    this.actions = this.makeActions(settings);
  }

  private now(): number {
    return this.clock.monotonic();
  }

  private makeActions(settings: InstanceSettings): ActionRunner {
    return new ActionRunner(settings.actions, {
      instance: { name: settings.name, address: settings.address },
      node: { id: this.nodeId },
      log: this.log,
      onOutcome: (o) => this.hooks.onActionOutcome?.(settings.name, o),
      ...(this.hooks.onApiCall ? { onApiCall: this.hooks.onApiCall } : {}),
      onRequiredFailure: (reason) => this.onRequiredActionFailed(reason),
    });
  }

  /**
   * A required action failed on MASTER: FAULT with a cause of its own (not maintenance: an
   * operator's `maintenance on` is never cleared by it), lifted by a tracked timer after
   * ACTION_FAULT_HOLD_PERIODS master-down periods so the instance competes again (and retries the
   * action if it wins).
   */
  private onRequiredActionFailed(reason: string): void {
    if (this.stopped) return;
    const why = `action ${reason.replace(/^required action /, '')}`;
    this.log.error({ reason: why }, `${why} on MASTER: entering FAULT so a peer can take over`);
    this.feed({ type: 'fault', now: this.now(), source: 'action', reason: why });
    if (this.actionFaultTimer !== undefined) this.timers.clearTimeout(this.actionFaultTimer);
    this.actionFaultTimer = this.timers.setTimeout(() => {
      this.actionFaultTimer = undefined;
      if (!this.stopped) this.feed({ type: 'fault', now: this.now(), source: 'action', reason: undefined });
    }, ACTION_FAULT_HOLD_PERIODS * this.election.masterDownMs);
  }

  /**
   * Reload in place, first half: creates the handlers of changed and added actions (a plugin's
   * create() may fail: nothing running is touched yet). commitReload() applies, discardReload() undoes.
   */
  async prepareReload(next: InstanceSettings, plan: InPlacePlan): Promise<PreparedReload> {
    const kept = new Set(plan.actions.filter((a) => a.change === 'kept').map((a) => a.name));
    const changes = plan.actions.some((a) => a.change !== 'kept');
    return { next, plan, ...(changes ? { actions: await this.actions.prepare(next.actions, kept) } : {}) };
  }

  async discardReload(p: PreparedReload): Promise<void> {
    if (p.actions) await this.actions.discard(p.actions);
  }

  /**
   * Reload in place, second half: the election state stays; priority, preemption, interval,
   * deadRatio, peers and discovery take their new values; checks and actions change as
   * CheckRunner.update and ActionRunner.commit say. A transition follows only when the election
   * under the new values demands it.
   */
  async commitReload(p: PreparedReload): Promise<void> {
    const { next, plan } = p;
    this.settings = next;
    if (plan.checks.some((c) => c.change !== 'kept')) {
      this.checks.update(next.checks, new Set(plan.checks.filter((c) => c.change === 'kept').map((c) => c.name)));
    }
    if (plan.settings.includes('discovery')) {
      const previous = this.discovery;
      await this.startDiscovery(next.discovery, previous?.peers ?? []);
      await previous?.stop();
      this.hooks.onPeersChanged?.(this.settings.name);
    }
    const change = { priority: next.priority, preempt: next.preempt, preemptDelayMs: next.preemptDelayMs };
    this.election.reconfigure({ ...change, intervalMs: next.intervalMs, deadRatio: next.deadRatio });
    this.feedChecks();
    if (p.actions) {
      const state = this.election.currentState;
      const last = this.lastEvent;
      const changed = plan.actions.filter((a) => a.change === 'changed' || a.change === 'added').map((a) => `${a.name} ${a.change}`);
      await this.actions.commit(
        p.actions,
        state === 'INIT'
          ? undefined
          : {
              from: state,
              to: state,
              priority: this.election.snapshot(this.now()).effectivePriority,
              reason: `reload: action ${changed.join(', ')}`,
              ...(last?.to === state && last.fencingToken !== undefined ? { fencingToken: last.fencingToken } : {}),
            },
      );
    }
  }

  private engineConfig(s: InstanceSettings): EngineConfig {
    return {
      instance: s.name,
      nodeId: this.nodeId,
      priority: s.priority,
      intervalMs: s.intervalMs,
      deadRatio: s.deadRatio,
      preempt: s.preempt,
      preemptDelayMs: s.preemptDelayMs,
    };
  }

  /** Creates the action handlers (a plugin's create() may fail); start() does it when not done. */
  async prepare(): Promise<void> {
    if (this.prepared) return;
    await this.actions.init();
    this.prepared = true;
  }

  /** Closes what prepare() created, for an instance that will not start (a refused reload). */
  async discard(): Promise<void> {
    this.stopped = true;
    await this.actions.close();
  }

  /** `maintenance`: start drained (persisted maintenance mode). */
  async start(maintenance = false): Promise<void> {
    await this.prepare();
    await this.startDiscovery(this.settings.discovery, []);
    if (this.stopped) return;
    this.watchChecks();
    if (maintenance) this.election.handle({ type: 'maintenance', now: this.now(), on: true });
    this.feed({ type: 'start', now: this.now() });
    this.feedChecks();
  }

  /** Starts discovery (waiting a bounded time for its first answer); undefined spec = none. */
  private async startDiscovery(spec: ScheduledDiscovery | undefined, initial: Endpoint[]): Promise<void> {
    this.discovery = undefined;
    if (!spec) return;
    const d = new DiscoveryRunner(spec, {
      instance: { name: this.settings.name, address: this.settings.address },
      node: { id: this.nodeId, bind: this.transport.boundAddress },
      log: this.log,
      initial,
    });
    d.on('change', () => {
      if (this.discovery === d) this.hooks.onPeersChanged?.(this.settings.name);
    });
    this.discovery = d;
    await d.start(FIRST_DISCOVERY_WAIT_MS);
  }

  /** This instance's in-process checks whose code ran since a monotonic time (who blocked the event loop). */
  inProcessChecksActiveSince(sinceMonotonic: number): string[] {
    return this.checks.inProcessActiveSince(sinceMonotonic);
  }

  /** Static peers plus discovered ones (deduplicated). */
  peerEndpoints(): Endpoint[] {
    const all = new Map<string, Endpoint>();
    for (const p of [...this.settings.peers, ...(this.discovery?.peers ?? [])]) all.set(formatEndpoint(p), p);
    return [...all.values()];
  }

  private watchChecks(): void {
    this.checks.on('change', () => this.feedChecks());
    this.checks.on('result', (c) => this.hooks.onCheckResult?.(this.settings.name, c));
    this.checks.start();
  }

  private feedChecks(): void {
    const checks = this.checks.snapshot().map((c) => ({ name: c.name, state: c.state, weight: c.weight, reverse: c.reverse }));
    this.feed({ type: 'checks', now: this.now(), checks });
  }

  onPacket(inbound: Inbound): void {
    this.feed({ type: 'packet', now: this.now(), from: inbound.peer, packet: inbound.packet, stateless: inbound.stateless });
  }

  onUnreachable(peer: string): void {
    this.feed({ type: 'unreachable', now: this.now(), from: peer });
  }

  setMaintenance(on: boolean): void {
    this.feed({ type: 'maintenance', now: this.now(), on });
  }

  nudge(delta: number): void {
    this.feed({ type: 'nudge', now: this.now(), delta });
  }

  /** Graceful stop: goodbye advert, STOP actions. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.feed({ type: 'stop', now: this.now() });
    this.stopped = true;
    if (this.actionFaultTimer !== undefined) this.timers.clearTimeout(this.actionFaultTimer);
    await this.election.stop();
    this.checks.stop();
    await this.actions.close();
    await this.discovery?.stop();
  }

  status(): InstanceStatus {
    const t = this.now();
    const snap = this.election.snapshot(t);
    const wallNow = this.clock.now();
    const wall = (engineMs: number) => wallNow - (t - engineMs);
    const { since, lastTransition: _lt, takeoverAt, ...rest } = snap;
    return {
      ...rest,
      address: this.settings.address,
      since: wall(since),
      ...(this.lastTransition ? { lastTransition: this.lastTransition } : {}),
      ...(takeoverAt !== undefined ? { takeoverAt: wall(takeoverAt) } : {}),
      checks: this.checks.snapshot(),
      actions: this.actions.snapshot(),
      intervalMs: this.settings.intervalMs,
      deadRatio: this.settings.deadRatio,
      preempt: this.settings.preempt,
      ...(this.discovery ? { discovery: this.discovery.status() } : {}),
      ...(this.election instanceof EtcdElection ? { election: this.election.status(t) } : {}),
    };
  }

  /** The single entry point into the election. */
  private feed(input: EngineInput): void {
    this.election.handle(input);
  }

  /** Records, logs and runs the actions of a transition (engine or etcd); settles when the actions are done. */
  private runTransition(e: ElectionTransition): Promise<void> {
    this.lastEvent = e;
    const token = e.fencingToken !== undefined ? { fencingToken: String(e.fencingToken) } : {};
    const rec: TransitionRecord = { from: e.from, to: e.to, reason: e.reason, cause: e.cause, priority: e.priority, at: this.clock.now(), ...token };
    this.lastTransition = rec;
    const level = e.to === 'FAULT' ? 'warn' : 'info';
    this.log[level]({ from: e.from, to: e.to, reason: e.reason, priority: e.priority, ...token, event: 'transition' }, `${e.from} -> ${e.to}: ${e.reason}`);
    this.hooks.onTransition?.(this.settings.name, rec);
    return this.actions.transition({
      from: e.from,
      to: e.to,
      priority: e.priority,
      reason: e.reason,
      cause: e.cause,
      ...(e.fencingToken !== undefined ? { fencingToken: e.fencingToken } : {}),
    });
  }
}


