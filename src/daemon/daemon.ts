/**
 * The daemon: one heartbeat transport, one control socket, one InstanceRunner per instance.
 * Lifecycle: start() -> (reload(...))* -> stop(). Signals are wired by the CLI (run command).
 */
import type { Logger } from '../log.js';
import type { HeartbeatKey } from '../protocol/advert.js';
import type { Endpoint } from '../config/endpoint.js';
import { formatEndpoint } from '../config/endpoint.js';
import { HeartbeatTransport, type TransportCounters, type WireProtocol } from './transport.js';
import { InstanceRunner, systemShellClock, type InstanceSettings, type InstanceStatus, type PreparedReload, type ShellClock, type TransitionRecord } from './instance-runner.js';
import { ControlServer } from './control.js';
import type { Metrics } from './metrics.js';
import { readPersistentState, writePersistentState } from './state-file.js';
import { LoopLagMonitor, type EventLoopStatus } from './loop-lag.js';
import { describePlan, planReload, type ReloadPlan } from './reload-plan.js';
import { ActionCreateError } from '../plugins/action-runner.js';
import { formatPath } from '../config/issues.js';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';

export interface DaemonSettings {
  nodeId: string;
  bind: Endpoint;
  /** Control socket path; undefined = none. */
  control?: string;
  keys: HeartbeatKey[];
  protocol: WireProtocol;
  replayWindowMs: number;
  instances: InstanceSettings[];
  /** Prometheus endpoint; undefined = off. */
  metrics?: Endpoint;
  /** Persistent state (maintenance mode); undefined = not persisted. */
  stateFile?: string;
}

/** The outcome of the last reload (`status`). */
export interface ReloadOutcome {
  /** ISO time. */
  at: string;
  ok: boolean;
  /** Why it was refused (the running config stays). */
  error?: string;
  /** sha256 of the file read (first 16 hex digits), when it could be read. */
  configHash?: string;
  /** What it changed ("web: check f changed"; "nothing changed"). */
  changes?: string;
}

export interface DaemonStatus {
  node: { id: string; pid: number; version: string; startedAt: string; bind: string; protocol: WireProtocol; configFile?: string };
  instances: InstanceStatus[];
  counters: TransportCounters;
  lastReload?: ReloadOutcome;
  /** This daemon's event-loop delay and stalls (src/daemon/loop-lag.ts); absent before start. */
  eventLoop?: EventLoopStatus;
}

/** A new config read for a reload (the CLI's loader: file, plugins, secrets). */
export interface LoadedConfig {
  settings: DaemonSettings;
  warnings?: string[];
}

/** A reload refused: the running config stays. */
export class ReloadError extends Error {
  override name = 'ReloadError';
}

export class Daemon {
  private transport: HeartbeatTransport;
  private control: ControlServer | undefined;
  private readonly runners = new Map<string, InstanceRunner>();
  /** Instance key -> address, for the transport's per-datagram lookup (rebuilt when runners change). */
  private instanceIndex: Map<number, string> | undefined;
  private readonly startedAt = new Date();
  private settings: DaemonSettings;
  private stopping: Promise<void> | undefined;
  private metrics: Metrics | undefined;
  /** Instances in maintenance (persisted in stateFile). */
  private maintenance = new Set<string>();
  /** Event-loop lag; a stall names the in-process checks that ran during it. */
  private readonly loopLag: LoopLagMonitor;
  private loopLagStarted = false;
  /** Extra control commands (maintenance, switchover... added by later features). */
  readonly commands = new Map<string, (req: Record<string, unknown>) => Promise<unknown>>();

  constructor(
    settings: DaemonSettings,
    private readonly log: Logger,
    private readonly meta: {
      version: string;
      configFile?: string;
      onTransition?: (instance: string, t: TransitionRecord) => void;
      /** Reads the config again (SIGHUP, `ipwarden reload`); without it the daemon cannot reload from file. */
      loadConfig?: () => Promise<LoadedConfig>;
      /** Clock and timers of the instance shells (tests: a fake pair). */
      shell?: ShellClock;
    } = { version: '0' },
  ) {
    this.settings = settings;
    this.transport = this.makeTransport(settings);
    this.loopLag = new LoopLagMonitor(log, (since) => [...this.runners.values()].flatMap((r) => r.inProcessChecksActiveSince(since)));
    this.commands.set('ping', async () => 'pong');
    this.commands.set('status', async () => this.status());
    this.commands.set('maintenance', async (req) => this.setMaintenance(req.on === true, typeof req.instance === 'string' ? req.instance : undefined, req.force === true));
    this.commands.set('switchover', async (req) => this.switchover(String(req.to ?? ''), typeof req.instance === 'string' ? req.instance : undefined, Number(req.timeoutMs ?? 10_000)));
    this.commands.set('reload', async () => {
      const r = await this.reloadFromFile();
      if (!r.ok) throw new Error(r.error);
      return r;
    });
  }

  private makeTransport(s: DaemonSettings): HeartbeatTransport {
    const t = new HeartbeatTransport({
      bind: s.bind,
      keys: s.keys,
      protocol: s.protocol,
      replayWindowMs: s.replayWindowMs,
      log: this.log,
      nodeId: s.nodeId,
      instances: () => (this.instanceIndex ??= new Map([...this.runners.values()].map((r) => [r.key, r.settings.address]))),
    });
    t.on('packet', (inbound) => {
      for (const r of this.runners.values()) if (r.key === inbound.packet.instanceKey) r.onPacket(inbound);
    });
    t.on('unreachable', (peer) => {
      for (const r of this.runners.values()) r.onUnreachable(peer);
    });
    t.on('rejected', (reason, from) => this.log.debug({ reason, from }, 'heartbeat dropped'));
    return t;
  }

  get boundAddress(): Endpoint {
    return this.transport.boundAddress;
  }

  /**
   * Opens the sockets and starts every instance. When something fails (a socket, an action's
   * create()), what was started is stopped again (STOP actions, sockets closed) and the error
   * is thrown: the process can exit.
   */
  start(): Promise<void> {
    return this.serially(async () => {
      try {
        await this.doStart();
      } catch (err) {
        this.stopRequested = true;
        await this.doStop().catch((e: Error) => this.log.error({ err: e.message }, 'stopping after a failed start'));
        throw err;
      }
    });
  }

  private async doStart(): Promise<void> {
    this.loopLag.start();
    this.loopLagStarted = true;
    if (this.settings.stateFile) {
      const state = readPersistentState(this.settings.stateFile, this.log);
      this.maintenance = new Set(state.maintenance);
    }
    // etcd-elected instances exchange no heartbeats (unless election.heartbeat): no socket unless an instance needs it
    if (usesHeartbeat(this.settings.instances)) await this.openTransport();
    if (this.settings.metrics) {
      // loaded only when configured: prom-client costs RSS in every daemon that does not export metrics
      const { Metrics } = await import('./metrics.js');
      this.metrics = new Metrics(() => this.status());
      await this.metrics.listen(this.settings.metrics, this.log);
    }
    this.transport.setPeers(this.allPeers(this.settings.instances));
    if (this.settings.control) {
      const control = new ControlServer(this.settings.control, (req) => this.dispatch(req), this.log);
      await control.open();
      this.control = control;
    }
    for (const inst of this.settings.instances) {
      try {
        await this.startInstance(this.makeRunner(inst));
      } catch (err) {
        throw new Error(`instance ${inst.name} failed to start: ${errorPath(inst, err)}`);
      }
    }
    this.log.info(
      {
        bind: formatEndpoint(this.transport.boundAddress),
        instances: this.settings.instances.map((i) => ({ name: i.name, address: i.address, priority: i.priority, masterDownMs: i.deadRatio * i.intervalMs })),
        event: 'started',
      },
      `ipwarden ${this.meta.version} started: ${this.settings.instances.length} instance(s), master-down ${this.settings.instances.map((i) => `${i.name}=${i.deadRatio * i.intervalMs}ms`).join(' ')}`,
    );
  }

  private makeRunner(inst: InstanceSettings): InstanceRunner {
    return new InstanceRunner(inst, this.settings.nodeId, this.transport, this.log, {
      onTransition: (name, t) => {
        this.metrics?.onTransition(name, t);
        this.meta.onTransition?.(name, t);
      },
      onCheckResult: (name, c) => this.metrics?.onCheckResult(name, c),
      onActionOutcome: (name, o) => this.metrics?.onActionOutcome(name, o),
      onApiCall: (sample) => this.metrics?.onApiCall(sample),
      onPeersChanged: () => this.transport.setPeers(this.allPeers(this.settings.instances)),
    }, this.meta.shell ?? systemShellClock);
  }

  private async startInstance(r: InstanceRunner): Promise<void> {
    this.runners.set(r.settings.name, r);
    this.instanceIndex = undefined;
    await r.start(this.maintenance.has(r.settings.name));
  }

  private transportOpen = false;

  private async openTransport(): Promise<void> {
    if (this.transportOpen) return;
    await this.transport.open();
    this.transportOpen = true;
  }

  /** Start, reloads and stop run one at a time, in the order asked. */
  private serial: Promise<unknown> = Promise.resolve();
  private stopRequested = false;
  private lastReload: ReloadOutcome | undefined;

  private serially<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.serial.then(fn);
    this.serial = run.catch(() => undefined);
    return run;
  }

  private async dispatch(req: Record<string, unknown>): Promise<unknown> {
    const fn = this.commands.get(String(req.cmd));
    if (!fn) throw new Error(`unknown control command "${String(req.cmd)}"`);
    return fn(req);
  }

  status(): DaemonStatus {
    return {
      node: {
        id: this.settings.nodeId,
        pid: process.pid,
        version: this.meta.version,
        startedAt: this.startedAt.toISOString(),
        bind: formatEndpoint(this.transport.boundAddress),
        protocol: this.settings.protocol,
        ...(this.meta.configFile ? { configFile: this.meta.configFile } : {}),
      },
      instances: [...this.runners.values()].map((r) => r.status()),
      counters: structuredClone(this.transport.counters),
      ...(this.lastReload ? { lastReload: { ...this.lastReload } } : {}),
      ...(this.loopLagStarted ? { eventLoop: this.loopLag.status() } : {}),
    };
  }

  private targets(instance: string | undefined): InstanceRunner[] {
    if (instance === undefined) return [...this.runners.values()];
    const r = this.runners.get(instance);
    if (!r) throw new Error(`no instance "${instance}" (have: ${[...this.runners.keys()].join(', ')})`);
    return [r];
  }

  /**
   * Maintenance on: the instance advertises FAULT ("maintenance mode") so a backup takes over at
   * once, and stays drained across restarts (stateFile). Refused when no healthy peer could take
   * over, unless forced.
   */
  async setMaintenance(on: boolean, instance?: string, force = false): Promise<{ instances: string[]; on: boolean }> {
    const runners = this.targets(instance);
    if (on && !force) {
      for (const r of runners) {
        const st = r.status();
        const healthy = st.peers.filter((p) => p.alive && (p.state === 'BACKUP' || p.state === 'MASTER') && p.priority > 0);
        if (st.state === 'MASTER' && healthy.length === 0) {
          throw new Error(`refusing maintenance for ${st.instance}: no healthy peer could take the IP over (use --force to drain anyway)`);
        }
      }
    }
    for (const r of runners) {
      if (on) this.maintenance.add(r.settings.name);
      else this.maintenance.delete(r.settings.name);
      r.setMaintenance(on);
    }
    this.persist();
    this.log.info({ event: 'maintenance', on, instances: runners.map((r) => r.settings.name) }, `maintenance ${on ? 'on' : 'off'}`);
    return { instances: runners.map((r) => r.settings.name), on };
  }

  /**
   * Planned move of a MASTER instance to `to`: refused unless `to` is a live, healthy backup that
   * ranks first among the backups (it is the one that takes over). This node is drained
   * (maintenance, persisted) and the call resolves when `to` is MASTER, with the measured time.
   */
  async switchover(to: string, instance: string | undefined, timeoutMs: number): Promise<{ instance: string; to: string; tookMs: number }> {
    const runners = this.targets(instance);
    if (runners.length !== 1) throw new Error(`several instances (${runners.map((r) => r.settings.name).join(', ')}): name one with --instance`);
    const r = runners[0]!;
    const st = r.status();
    if (!to) throw new Error('switchover needs --to NODE');
    if (st.state !== 'MASTER') throw new Error(`refusing switchover of ${st.instance}: this node is ${st.state}, run it on the MASTER (${st.master ?? 'none known'})`);
    const target = st.peers.find((p) => p.id === to);
    if (!target) throw new Error(`refusing switchover: no peer "${to}" known for ${st.instance} (peers: ${st.peers.map((p) => p.id).join(', ') || 'none'})`);
    if (!target.alive || target.state !== 'BACKUP') throw new Error(`refusing switchover: ${to} is ${target.alive ? target.state : 'not alive'}, not a healthy BACKUP`);
    const better = st.peers.filter((p) => p.alive && p.state === 'BACKUP' && p.id !== to && (p.priority > target.priority || (p.priority === target.priority && p.id < to)));
    if (better.length) {
      throw new Error(`refusing switchover: ${better.map((p) => `${p.id} (prio ${p.priority})`).join(', ')} would take over before ${to} (prio ${target.priority}); drain them or change priorities`);
    }
    const started = performance.now();
    await this.setMaintenance(true, st.instance, true);
    const deadline = started + timeoutMs;
    while (performance.now() < deadline) {
      const now = r.status();
      if (now.master === to) return { instance: st.instance, to, tookMs: Math.round(performance.now() - started) };
      await new Promise((res) => setTimeout(res, 5));
    }
    throw new Error(`switchover: ${to} did not become MASTER within ${timeoutMs} ms (this node stays in maintenance; \`ipwarden maintenance off\` to undo)`);
  }

  private persist(): void {
    if (this.settings.stateFile) writePersistentState(this.settings.stateFile, { maintenance: [...this.maintenance].sort() }, this.log);
  }

  /** SIGUSR1 / SIGUSR2. */
  nudge(delta: number): void {
    for (const r of this.runners.values()) r.nudge(delta);
  }

  /** Static peers of `instances` plus the peers the running instances discovered. */
  private allPeers(instances: readonly InstanceSettings[]): Endpoint[] {
    return allPeers(instances, [...this.runners.values()].flatMap((r) => r.peerEndpoints()));
  }

  runner(name: string): InstanceRunner | undefined {
    return this.runners.get(name);
  }

  /**
   * SIGHUP and `ipwarden reload`: reads the config again and applies it (all or nothing). The
   * outcome is logged (event "reloaded" or "reload-rejected", one line naming the path at fault)
   * and kept for `status` (lastReload).
   */
  reloadFromFile(): Promise<ReloadOutcome> {
    return this.serially(async () => {
      const at = new Date().toISOString();
      let hash: string | undefined;
      try {
        if (!this.meta.loadConfig) throw new ReloadError('this daemon was started without a config file to reload');
        if (this.stopRequested) throw new ReloadError('the daemon is stopping');
        if (this.meta.configFile) hash = await fileHash(this.meta.configFile);
        const loaded = await this.meta.loadConfig();
        for (const w of loaded.warnings ?? []) this.log.warn({ event: 'config-warning' }, w);
        const plan = await this.applyReload(loaded.settings);
        this.lastReload = { at, ok: true, ...(hash ? { configHash: hash } : {}), changes: describePlan(plan) };
      } catch (err) {
        const error = (err as Error).message;
        this.lastReload = { at, ok: false, error, ...(hash ? { configHash: hash } : {}) };
        this.log.error({ event: 'reload-rejected', err: error, ...(hash ? { configHash: hash } : {}) }, `reload refused, the running config stays: ${error}`);
      }
      return { ...this.lastReload };
    });
  }

  /**
   * Applies a new, already validated config (all or nothing, see src/daemon/reload-plan.ts for
   * what changes how). Throws ReloadError, leaving everything as it was, when a new plugin
   * instance cannot be created.
   */
  reload(next: DaemonSettings): Promise<ReloadPlan> {
    return this.serially(async () => {
      if (this.stopRequested) throw new ReloadError('the daemon is stopping');
      return this.applyReload(next);
    });
  }

  private async applyReload(next: DaemonSettings): Promise<ReloadPlan> {
    const plan = planReload(this.settings, next);
    if (plan.needRestart.length) {
      this.log.warn({ keys: plan.needRestart }, `${plan.needRestart.join(', ')}: changes need a restart; keeping the running values`);
      const s = this.settings;
      next = { ...next, nodeId: s.nodeId, bind: s.bind, protocol: s.protocol, control: s.control, stateFile: s.stateFile, ...(s.metrics ? { metrics: s.metrics } : {}) };
      if (!s.metrics) delete next.metrics;
    }
    const wanted = new Map(next.instances.map((i) => [i.name, i]));
    // 1. prepare: every new plugin instance is created before anything changes
    const prepared = new Map<string, PreparedReload>();
    const fresh = new Map<string, InstanceRunner>();
    const undo = async () => {
      for (const [name, p] of prepared) await this.runners.get(name)?.discardReload(p);
      for (const r of fresh.values()) await r.discard();
    };
    for (const p of plan.instances) {
      const inst = wanted.get(p.name);
      try {
        if (p.change === 'in-place' && inst) prepared.set(p.name, await this.runners.get(p.name)!.prepareReload(inst, p));
        else if ((p.change === 'added' || p.change === 'replaced') && inst) {
          const r = this.makeRunner(inst);
          fresh.set(p.name, r);
          await r.prepare();
        }
      } catch (err) {
        await undo();
        throw new ReloadError(inst ? errorPath(inst, err) : (err as Error).message);
      }
      if (this.stopRequested) {
        await undo();
        throw new ReloadError('the daemon is stopping');
      }
    }
    // the first heartbeat instance of an etcd-only daemon: its socket (the port may be taken)
    if (usesHeartbeat(next.instances)) {
      try {
        await this.openTransport();
      } catch (err) {
        await undo();
        throw new ReloadError((err as Error).message);
      }
    }
    // 2. apply
    if (plan.keys) this.transport.updateKeys(next.keys);
    for (const p of plan.instances) {
      if (p.change !== 'removed' && p.change !== 'replaced') continue;
      const r = this.runners.get(p.name);
      this.runners.delete(p.name);
      this.instanceIndex = undefined;
      await r?.stop();
    }
    this.settings = next;
    this.transport.setPeers(this.allPeers(next.instances));
    for (const p of plan.instances) {
      const pr = prepared.get(p.name);
      if (pr) await this.runners.get(p.name)!.commitReload(pr);
      const r = fresh.get(p.name);
      if (r) await this.startInstance(r);
    }
    this.transport.setPeers(this.allPeers(next.instances));
    this.log.info({ event: 'reloaded', changes: describePlan(plan) }, `configuration reloaded: ${describePlan(plan)}`);
    return plan;
  }

  /** Graceful stop: goodbye adverts, STOP actions, sockets closed. Idempotent. */
  stop(): Promise<void> {
    // a reload in progress finishes first (or gives up at its next step: stopRequested); queued ones are refused
    this.stopRequested = true;
    this.stopping ??= this.serially(() => this.doStop());
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    await Promise.all([...this.runners.values()].map((r) => r.stop()));
    // let the goodbye datagrams leave before closing the sockets
    await new Promise((r) => setTimeout(r, 20));
    this.transport.close();
    await this.control?.close();
    await this.metrics?.close();
    this.loopLag.stop();
    this.log.info({ event: 'stopped' }, 'ipwarden stopped');
  }
}

function allPeers(instances: readonly InstanceSettings[], discovered: readonly Endpoint[] = []): Endpoint[] {
  const seen = new Map<string, Endpoint>();
  for (const i of instances) for (const p of i.peers) seen.set(formatEndpoint(p), p);
  for (const p of discovered) seen.set(formatEndpoint(p), p);
  return [...seen.values()];
}

/** True when an instance sends heartbeats (the heartbeat engine, or etcd with election.heartbeat): it needs the UDP socket. */
function usesHeartbeat(instances: readonly InstanceSettings[]): boolean {
  return instances.some((i) => !i.election || i.election.heartbeat);
}

/** "instances.web.actions[0] (eip): create failed: ..." for an action's create() failure; the message otherwise. */
function errorPath(inst: InstanceSettings, err: unknown): string {
  if (err instanceof ActionCreateError) {
    const i = inst.actions.findIndex((a) => a.name === err.action);
    return `${formatPath(['instances', inst.name, 'actions', i])} (${err.message})`;
  }
  return (err as Error)?.message ?? String(err);
}

/** sha256 of a file, first 16 hex digits (undefined when unreadable). */
async function fileHash(path: string): Promise<string | undefined> {
  return readFile(path).then(
    (b) => createHash('sha256').update(b).digest('hex').slice(0, 16),
    () => undefined,
  );
}
