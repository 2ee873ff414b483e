/**
 * The daemon: one heartbeat transport, one control socket, one InstanceRunner per instance.
 * Lifecycle: start() -> (reload(...))* -> stop(). Signals are wired by the CLI (run command).
 */
import type { Logger } from '../log.js';
import type { HeartbeatKey } from '../protocol/advert.js';
import type { Endpoint } from '../config/endpoint.js';
import { HeartbeatTransport, endpointKey, type TransportCounters, type WireProtocol } from './transport.js';
import { InstanceRunner, type InstanceSettings, type InstanceStatus, type TransitionRecord } from './instance-runner.js';
import { ControlServer } from './control.js';
import type { Metrics } from './metrics.js';
import { readPersistentState, writePersistentState } from './state-file.js';
import { electionIdentity } from '../election/config.js';

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

export interface DaemonStatus {
  node: { id: string; pid: number; version: string; startedAt: string; bind: string; protocol: WireProtocol; configFile?: string };
  instances: InstanceStatus[];
  counters: TransportCounters;
}

/** Changing these restarts an instance (goodbye + new election); everything else reloads in place. */
const RESTART_KEYS = ['address', 'intervalMs', 'deadRatio'] as const;

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
  /** Extra control commands (maintenance, switchover... added by later features). */
  readonly commands = new Map<string, (req: Record<string, unknown>) => Promise<unknown>>();

  constructor(
    settings: DaemonSettings,
    private readonly log: Logger,
    private readonly meta: { version: string; configFile?: string; onTransition?: (instance: string, t: TransitionRecord) => void } = { version: '0' },
  ) {
    this.settings = settings;
    this.transport = this.makeTransport(settings);
    this.commands.set('ping', async () => 'pong');
    this.commands.set('status', async () => this.status());
    this.commands.set('maintenance', async (req) => this.setMaintenance(req.on === true, typeof req.instance === 'string' ? req.instance : undefined, req.force === true));
    this.commands.set('switchover', async (req) => this.switchover(String(req.to ?? ''), typeof req.instance === 'string' ? req.instance : undefined, Number(req.timeoutMs ?? 10_000)));
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

  async start(): Promise<void> {
    if (this.settings.stateFile) {
      const state = readPersistentState(this.settings.stateFile, this.log);
      this.maintenance = new Set(state.maintenance);
    }
    await this.transport.open();
    if (this.settings.metrics) {
      // loaded only when configured: prom-client costs RSS in every daemon that does not export metrics
      const { Metrics } = await import('./metrics.js');
      this.metrics = new Metrics(() => this.status());
      try {
        await this.metrics.listen(this.settings.metrics, this.log);
      } catch (err) {
        this.transport.close();
        throw err;
      }
    }
    this.transport.setPeers(this.allPeers(this.settings.instances));
    if (this.settings.control) {
      this.control = new ControlServer(this.settings.control, (req) => this.dispatch(req), this.log);
      try {
        await this.control.open();
      } catch (err) {
        this.transport.close();
        throw err;
      }
    }
    for (const inst of this.settings.instances) await this.startInstance(inst);
    this.log.info(
      {
        bind: endpointKey(this.transport.boundAddress),
        instances: this.settings.instances.map((i) => ({ name: i.name, address: i.address, priority: i.priority, masterDownMs: i.deadRatio * i.intervalMs })),
        event: 'started',
      },
      `ipwarden ${this.meta.version} started: ${this.settings.instances.length} instance(s), master-down ${this.settings.instances.map((i) => `${i.name}=${i.deadRatio * i.intervalMs}ms`).join(' ')}`,
    );
  }

  private async startInstance(inst: InstanceSettings): Promise<void> {
    const r = new InstanceRunner(inst, this.settings.nodeId, this.transport, this.log, {
      onTransition: (name, t) => {
        this.metrics?.onTransition(name, t);
        this.meta.onTransition?.(name, t);
      },
      onCheckResult: (name, c) => this.metrics?.onCheckResult(name, c),
      onActionOutcome: (name, o) => this.metrics?.onActionOutcome(name, o),
      onApiCall: (sample) => this.metrics?.onApiCall(sample),
      onPeersChanged: () => this.transport.setPeers(this.allPeers(this.settings.instances)),
    });
    this.runners.set(inst.name, r);
    this.instanceIndex = undefined;
    await r.start(this.maintenance.has(inst.name));
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
        bind: endpointKey(this.transport.boundAddress),
        protocol: this.settings.protocol,
        ...(this.meta.configFile ? { configFile: this.meta.configFile } : {}),
      },
      instances: [...this.runners.values()].map((r) => r.status()),
      counters: structuredClone(this.transport.counters),
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
   * Applies a new, already validated config. Instances whose address or timers changed are
   * restarted (goodbye, then a fresh election); the others keep their state and get the new
   * priority, preemption, peers, checks and actions.
   */
  async reload(next: DaemonSettings): Promise<void> {
    if (endpointKey(next.bind) !== endpointKey(this.settings.bind) || next.protocol !== this.settings.protocol || next.nodeId !== this.settings.nodeId) {
      this.log.warn('node.bind, node.id and protocol changes need a restart: keeping the old values');
      next = { ...next, bind: this.settings.bind, protocol: this.settings.protocol, nodeId: this.settings.nodeId };
    }
    this.transport.updateKeys(next.keys);
    this.transport.setPeers(this.allPeers(next.instances));
    const wanted = new Map(next.instances.map((i) => [i.name, i]));
    for (const [name, r] of this.runners) {
      const n = wanted.get(name);
      if (!n || RESTART_KEYS.some((k) => n[k] !== r.settings[k]) || electionIdentity(n.election) !== electionIdentity(r.settings.election)) {
        await r.stop();
        this.runners.delete(name);
        this.instanceIndex = undefined;
        this.log.info({ instance: name }, n ? 'instance restarted (address, timers or election changed)' : 'instance removed');
      }
    }
    for (const inst of next.instances) {
      const r = this.runners.get(inst.name);
      if (r) await r.reconfigure(inst);
      else await this.startInstance(inst);
    }
    this.settings = next;
    this.log.info({ event: 'reloaded' }, 'configuration reloaded');
  }

  /** Graceful stop: goodbye adverts, STOP actions, sockets closed. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await Promise.all([...this.runners.values()].map((r) => r.stop()));
      // let the goodbye datagrams leave before closing the sockets
      await new Promise((r) => setTimeout(r, 20));
      this.transport.close();
      await this.control?.close();
      await this.metrics?.close();
      this.log.info({ event: 'stopped' }, 'ipwarden stopped');
    })();
    return this.stopping;
  }
}

function allPeers(instances: readonly InstanceSettings[], discovered: readonly Endpoint[] = []): Endpoint[] {
  const seen = new Map<string, Endpoint>();
  for (const i of instances) for (const p of i.peers) seen.set(endpointKey(p), p);
  for (const p of discovered) seen.set(endpointKey(p), p);
  return [...seen.values()];
}
