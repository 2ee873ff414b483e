/**
 * ipwarden on a 3-host lab: real daemons (LocalCluster) inside the hosts' namespaces, each with the
 * ip-alias action (the address on e0, like keepalived's virtual_ipaddress), the cloud's action
 * (exoscale-eip by default, against the API simulator on the lab bridge; any cloud of
 * bench/lib/clouds.ts with `cloud`), and a `file` check (weight 0: a failed check = FAULT).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Lab } from '../../test/lib/netns.js';
import { LocalCluster } from '../../src/lab/local-cluster.js';
import type { EipLab } from '../../src/lab/exoscale-lab.js';
import { startBenchCloud, type BenchCloud } from './clouds.js';
import { AddressMonitor } from './ip-monitor.js';
import { priorityOf, type Tool, type Transition } from './tool.js';

export interface ToolOptions {
  lab: Lab;
  intervalMs: number;
  /** The simulator's attach/detach operation time. */
  apiDelayMs: number;
  /** Health check period (both tools use the same; keepalived's minimum is 1 s). */
  checkIntervalMs: number;
  /** The shared address the tool puts on the MASTER's e0 (in the lab's subnet). */
  vip: string;
  /** Extra keys of each node's cloud action (e.g. reconcile for the chaos campaign). */
  eipAction?: Record<string, unknown>;
  /**
   * Starts the cloud for the tool's temporary directory (default: Exoscale's simulator on the lab's
   * bridge address, the address `vip`, operation time apiDelayMs).
   */
  cloud?: (dir: string) => Promise<BenchCloud>;
}

/** The default cloud: Exoscale's simulator listening on the lab's bridge address. */
export function exoscaleOnBridge(opts: ToolOptions): (dir: string) => Promise<BenchCloud> {
  if (!opts.lab.bridgeAddress) throw new Error('the default (Exoscale) cloud needs a lab with bridgeAddress: pass `cloud` otherwise');
  const reach = { host: opts.lab.bridgeAddress };
  return (dir) => startBenchCloud('exoscale', { nodes: opts.lab.hosts.length, dir, opTimeMs: opts.apiDelayMs, address: opts.vip, reach, ...(opts.eipAction ? { action: opts.eipAction } : {}) });
}

export async function startIpwarden(opts: ToolOptions): Promise<IpwardenTool> {
  const { lab } = opts;
  const { vip } = opts;
  let cloud: BenchCloud | undefined;
  const cluster: LocalCluster = new LocalCluster({
    nodes: lab.hosts.length,
    intervalMs: opts.intervalMs,
    deadRatio: 3,
    preempt: true,
    sharedAddress: vip,
    port: 12345,
    addresses: lab.hosts.map((h) => h.address),
    logLevel: 'info',
    instanceExtras: (i): Record<string, unknown> => ({
      priority: priorityOf(i),
      checks: [
        {
          plugin: 'file',
          path: join(cluster.dir, `health-${i}`),
          interval: `${opts.checkIntervalMs}ms`,
          fall: 1,
          rise: 1,
          weight: 0,
          initialState: 'ok',
        },
      ],
      // ip-alias first: the local address does not wait for the API.
      actions: [{ plugin: 'ip-alias', device: 'e0' }, ...(cloud ? [cloud.action(i)] : [])],
    }),
    spawner: (i, argv, fd) => lab.spawn(i, argv, { stdio: ['ignore', fd, fd] }),
  });
  const tool = new IpwardenTool(lab, opts.intervalMs, cluster, new AddressMonitor(lab, vip));
  try {
    cloud = await (opts.cloud ?? exoscaleOnBridge(opts))(cluster.dir);
    tool.cloudLab = cloud;
    await cluster.prepare();
    for (let i = 0; i < lab.hosts.length; i++) writeFileSync(join(cluster.dir, `health-${i}`), '0\n');
    await tool.vip.start();
    return tool;
  } catch (error) {
    await tool.close();
    throw error;
  }
}

export class IpwardenTool implements Tool {
  readonly name = 'ipwarden' as const;
  readonly resetsEip = false;
  cloudLab: BenchCloud | undefined;
  readonly #exits = new Map<number, Promise<void>>();

  constructor(
    readonly lab: Lab,
    readonly intervalMs: number,
    readonly cluster: LocalCluster,
    readonly vip: AddressMonitor,
  ) {}

  get cloud(): BenchCloud {
    return this.cloudLab!;
  }

  /** The Exoscale lab (the chaos campaign's view); only with the Exoscale cloud. */
  get eip(): EipLab {
    const lab = this.cloudLab?.eipLab;
    if (!lab) throw new Error(`ipwarden tool: no Exoscale lab (cloud ${this.cloudLab?.cloud ?? 'not started'})`);
    return lab;
  }

  get dir(): string {
    return this.cluster.dir;
  }

  async start(i: number): Promise<void> {
    const n = this.cluster.nodes[i]!;
    await this.cluster.start(n);
    const child = n.process!;
    this.#exits.set(i, new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', () => r()))));
  }

  running(i: number): boolean {
    const p = this.cluster.nodes[i]!.process;
    return p !== undefined && p.exitCode === null && p.signalCode === null;
  }

  signal(i: number, sig: 'SIGKILL' | 'SIGTERM'): void {
    this.cluster.nodes[i]!.process?.kill(sig);
  }

  async exited(i: number): Promise<void> {
    await this.#exits.get(i);
    this.cluster.nodes[i]!.process = undefined;
  }

  setHealth(i: number, ok: boolean): Promise<void> {
    return writeFile(join(this.cluster.dir, `health-${i}`), ok ? '0\n' : '1\n');
  }

  async states(): Promise<(string | undefined)[]> {
    const s = await this.cluster.states();
    return this.cluster.nodes.map((n) => (this.running(n.index) ? s.get(n.id)?.state : undefined));
  }

  /** The lines of node i's log so far (none when it has no log yet). */
  logLines(i: number): string[] {
    try {
      return readFileSync(this.cluster.nodes[i]!.logFile, 'utf8').split('\n');
    } catch {
      return [];
    }
  }

  transitions(): Transition[] {
    const out: Transition[] = [];
    for (const n of this.cluster.nodes) {
      for (const line of this.logLines(n.index)) {
        if (!line.includes('"transition"')) continue;
        try {
          const rec = JSON.parse(line) as { event?: string; to?: string; time?: number | string };
          const t = typeof rec.time === 'string' ? Date.parse(rec.time) : rec.time;
          if (rec.event === 'transition' && rec.to && t !== undefined && Number.isFinite(t)) out.push({ node: n.index, to: rec.to, t });
        } catch {
          // a partly written last line
        }
      }
    }
    return out.sort((a, b) => a.t - b.t);
  }

  pids(i: number): number[] {
    const pid = this.cluster.nodes[i]!.process?.pid;
    return pid === undefined ? [] : [pid];
  }

  async close(): Promise<void> {
    this.vip.stop();
    await this.cluster.stopAll().catch(() => undefined);
    await this.cluster.destroy();
    await this.cloudLab?.close();
  }
}
