/**
 * The shell around one instance's engine: feeds it packets, check results and timer ticks,
 * carries out its effects (adverts, probes, transitions -> actions), and owns its checks and
 * actions. All clocks and sockets are here; all decisions are in the engine.
 */
import type { Logger } from '../log.js';
import { InstanceEngine } from '../engine/instance.js';
import type { Effect, EngineConfig, EngineInput, EngineSnapshot, InstanceState, TransitionCause } from '../engine/types.js';
import { instanceKey } from '../protocol/instance-key.js';
import { endpointKey, type HeartbeatTransport, type Inbound } from './transport.js';
import { CheckRunner, type CheckSnapshot, type Clock, type ScheduledCheck, type Timers } from '../plugins/check-runner.js';
import { ActionRunner, type ActionOutcome, type PreparedActions, type ScheduledAction } from '../plugins/action-runner.js';
import type { InstancePlan } from './reload-plan.js';
import type { Endpoint } from '../config/endpoint.js';
import type { ApiCallSample } from '../plugins/api.js';
import { DiscoveryRunner, type DiscoveryStatus, type ScheduledDiscovery } from './discovery.js';
import { EtcdElection, type ElectionStatus, type ElectionTransition } from '../election/etcd.js';
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

export const systemShellClock: ShellClock = {
  clock: { now: () => Date.now(), monotonic: () => performance.now() },
  timers: { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) },
};

/** Engine errors in a row after which the instance goes to FAULT ("engine error: ..."). */
export const ENGINE_ERRORS_TO_FAULT = 3;

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
  readonly engine: InstanceEngine;
  private timer: unknown;
  /** Engine time the pending timer fires at (Infinity: none pending). */
  private armedAt = Infinity;
  /** This instance's peers as transport keys, cached against the transport's and our peer lists. */
  private targets: { transportVersion: number; own: Endpoint[]; discovered: readonly Endpoint[] | undefined; keys: string[] } | undefined;
  private checks: CheckRunner;
  private actions: ActionRunner;
  private lastTransition: TransitionRecord | undefined;
  private readonly log: Logger;
  private stopped = false;
  private discovery: DiscoveryRunner | undefined;
  /** Set when the instance is elected through etcd: it then replaces the engine. */
  private readonly election: EtcdElection | undefined;
  private readonly clock: Clock;
  private readonly timers: Timers;
  /** Engine exceptions in a row, and when the last one happened (engine clock). */
  private engineErrors = { count: 0, lastAt: -Infinity, faulted: false };
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
    this.engine = new InstanceEngine(this.engineConfig(settings));
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
    }, ACTION_FAULT_HOLD_PERIODS * (this.election ?? this.engine).masterDownMs);
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
    if (this.election) this.election.reconfigure(change);
    else {
      const effects = this.engine.reconfigure(this.now(), { ...change, intervalMs: next.intervalMs, deadRatio: next.deadRatio });
      for (const e of effects) this.apply(e);
      // a shorter interval: the pending timer may be too late
      this.armedAt = Infinity;
      if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
      this.timer = undefined;
      if (!this.stopped) this.arm();
    }
    this.feedChecks();
    if (p.actions) {
      const state = this.election ? this.election.currentState : this.engine.currentState;
      const last = this.lastEvent;
      const changed = plan.actions.filter((a) => a.change === 'changed' || a.change === 'added').map((a) => `${a.name} ${a.change}`);
      await this.actions.commit(
        p.actions,
        state === 'INIT'
          ? undefined
          : {
              from: state,
              to: state,
              priority: (this.election ?? this.engine).snapshot(this.now()).effectivePriority,
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
    if (maintenance) (this.election ?? this.engine).handle({ type: 'maintenance', now: this.now(), on: true });
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

  /** Static peers plus discovered ones (deduplicated). */
  peerEndpoints(): Endpoint[] {
    const all = new Map<string, Endpoint>();
    for (const p of [...this.settings.peers, ...(this.discovery?.peers ?? [])]) all.set(endpointKey(p), p);
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
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    if (this.actionFaultTimer !== undefined) this.timers.clearTimeout(this.actionFaultTimer);
    this.armedAt = Infinity;
    await this.election?.stop();
    this.checks.stop();
    await this.actions.close();
    await this.discovery?.stop();
  }

  status(): InstanceStatus {
    const t = this.now();
    const snap = this.election ? this.election.snapshot(t) : this.engine.snapshot(t);
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
      ...(this.election ? { election: this.election.status(t) } : {}),
    };
  }

  /** The single entry point into the engine; carries out its effects and re-arms the timer. */
  private feed(input: EngineInput): void {
    if (this.election) {
      this.election.handle(input);
      return;
    }
    let effects: Effect[] = [];
    try {
      effects = this.engine.handle(input);
      this.engineOk(input.now);
    } catch (err) {
      this.engineFailed(err, input.now);
    }
    for (const e of effects) this.apply(e);
    // always re-arm: an exception on a tick must not leave the instance without a wakeup
    if (!this.stopped) this.arm();
  }

  /**
   * An engine exception: logged, the input is ignored. ENGINE_ERRORS_TO_FAULT in a row put the
   * instance in FAULT ("engine error: ..."), lifted after one master-down period without errors.
   */
  private engineFailed(err: unknown, at: number): void {
    const e = this.engineErrors;
    e.count++;
    e.lastAt = at;
    const msg = (err as Error)?.message ?? String(err);
    this.log.error({ err: (err as Error)?.stack ?? msg, consecutive: e.count }, 'engine error (input ignored)');
    if (e.count >= ENGINE_ERRORS_TO_FAULT && !e.faulted) {
      e.faulted = true;
      this.feed({ type: 'fault', now: at, source: 'engine', reason: `engine error: ${msg}` });
    }
  }

  private engineOk(at: number): void {
    const e = this.engineErrors;
    e.count = 0;
    if (e.faulted && at - e.lastAt >= this.engine.masterDownMs) {
      e.faulted = false;
      this.feed({ type: 'fault', now: at, source: 'engine', reason: undefined });
    }
  }

  /**
   * Keeps one timer at the engine's next wakeup. A wakeup that moved later keeps the earlier timer
   * (an early tick is harmless: the engine re-evaluates and asks again), so most packets cost no
   * timer churn.
   */
  private arm(): void {
    const at = this.engine.nextWakeup();
    if (at >= this.armedAt) return;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.armedAt = at;
    if (!Number.isFinite(at)) return;
    // +1 ms: libuv measures timeouts from its cached loop time, which may trail performance.now();
    // a timer that fires a fraction of a millisecond before the deadline is a wasted wakeup
    const delay = Math.max(0, at - this.now());
    this.timer = this.timers.setTimeout(this.onTimer, Math.ceil(delay) + 1);
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.armedAt = Infinity;
    this.feed({ type: 'tick', now: this.now() });
  };

  private send(to: string, kind: 'advert' | 'probe' | 'probe-reply', nonce: number, goodbye = false): void {
    const view = this.engine.advertView(this.now());
    const packet = {
      kind,
      instanceKey: this.key,
      nodeId: this.nodeId,
      priority: goodbye ? 0 : view.priority,
      state: goodbye ? ('STOP' as const) : view.state,
      intervalMs: view.intervalMs,
      nonce,
      ...(view.master && kind === 'advert' && !goodbye ? { master: view.master } : {}),
    };
    if (to === 'all') this.transport.sendToAll(this.peerKeys(), packet, this.settings.address);
    else this.transport.send(to, packet, this.settings.address);
  }

  private peerKeys(): string[] {
    const discovered = this.discovery?.peers;
    const c = this.targets;
    if (c && c.transportVersion === this.transport.peersVersion && c.own === this.settings.peers && c.discovered === discovered) return c.keys;
    const mine = new Set(this.peerEndpoints().map(endpointKey));
    const keys = this.transport.peerKeys().filter((k) => mine.has(k));
    this.targets = { transportVersion: this.transport.peersVersion, own: this.settings.peers, discovered, keys };
    return keys;
  }

  private apply(e: Effect): void {
    switch (e.type) {
      case 'advert':
        this.send(e.to, 'advert', 0, e.goodbye ?? false);
        break;
      case 'probe':
        this.send(e.to, 'probe', e.nonce);
        break;
      case 'probe-reply':
        this.send(e.to, 'probe-reply', e.nonce);
        break;
      case 'transition':
        void this.runTransition(e);
        break;
      case 'reassert':
        this.log.warn({ reason: e.reason, event: 'reassert' }, `re-asserting MASTER: ${e.reason}`);
        void this.actions.transition({ from: 'MASTER', to: 'MASTER', priority: e.priority, reason: e.reason });
        break;
      case 'peer-dead':
        this.log.warn({ peer: e.peer.id, reason: e.reason, event: 'peer-dead' }, e.reason);
        void this.actions.peerDead({ peer: e.peer, state: this.engine.currentState });
        break;
      case 'log':
        this.log[e.level](e.data ?? {}, e.msg);
        break;
    }
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
      ...(e.fencingToken !== undefined ? { fencingToken: e.fencingToken } : {}),
    });
  }
}


