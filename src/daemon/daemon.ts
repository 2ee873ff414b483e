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

export interface DaemonSettings {
  nodeId: string;
  bind: Endpoint;
  /** Control socket path; undefined = none. */
  control?: string;
  keys: HeartbeatKey[];
  protocol: WireProtocol;
  replayWindowMs: number;
  instances: InstanceSettings[];
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
  private readonly startedAt = new Date();
  private settings: DaemonSettings;
  private stopping: Promise<void> | undefined;
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
  }

  private makeTransport(s: DaemonSettings): HeartbeatTransport {
    const t = new HeartbeatTransport({
      bind: s.bind,
      keys: s.keys,
      protocol: s.protocol,
      replayWindowMs: s.replayWindowMs,
      log: this.log,
      nodeId: s.nodeId,
      instances: () => new Map([...this.runners.values()].map((r) => [r.key, r.settings.address])),
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
    await this.transport.open();
    this.transport.setPeers(allPeers(this.settings.instances));
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
      onTransition: (name, t) => this.meta.onTransition?.(name, t),
    });
    this.runners.set(inst.name, r);
    await r.start();
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

  /** SIGUSR1 / SIGUSR2. */
  nudge(delta: number): void {
    for (const r of this.runners.values()) r.nudge(delta);
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
    this.transport.setPeers(allPeers(next.instances));
    const wanted = new Map(next.instances.map((i) => [i.name, i]));
    for (const [name, r] of this.runners) {
      const n = wanted.get(name);
      if (!n || RESTART_KEYS.some((k) => n[k] !== r.settings[k])) {
        await r.stop();
        this.runners.delete(name);
        this.log.info({ instance: name }, n ? 'instance restarted (address or timers changed)' : 'instance removed');
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
      this.log.info({ event: 'stopped' }, 'ipwarden stopped');
    })();
    return this.stopping;
  }
}

function allPeers(instances: readonly InstanceSettings[]): Endpoint[] {
  const seen = new Map<string, Endpoint>();
  for (const i of instances) for (const p of i.peers) seen.set(endpointKey(p), p);
  return [...seen.values()];
}
