/**
 * The etcd load phase: N ipwarden daemons on loopback sharing many shared IPs, each IP its own
 * instance on the etcd backend, each instance run by K of the daemons ("candidates"). Instance i
 * prefers daemon i mod N (priority 200), then the next ones (190, 180, ...), so every daemon holds
 * instances/N leaderships in the steady state. No checks, no actions: the election traffic alone.
 *
 * A (daemon, instance) pair is a "membership": it has its own lease, candidate key, keepalives and
 * reads, so etcd's load scales with instances × candidates, not with instances.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { controlRequest } from '../../src/daemon/control.js';
import type { DaemonStatus } from '../../src/daemon/daemon.js';
import { LocalCluster, sleep, type LabNode } from '../../src/lab/local-cluster.js';

export interface FleetLayout {
  nodes: number;
  instances: number;
  /** Daemons per instance (1..nodes). */
  candidates: number;
  ttlMs: number;
}

export interface FleetInstance {
  name: string;
  address: string;
  /** Node indexes running it, best first, with their priorities. */
  members: { node: number; priority: number }[];
}

/** The i-th shared address: 198.51.100.1..254, then 203.0.113.1..254 (documentation ranges). */
export function instanceAddress(i: number): string {
  if (i < 254) return `198.51.100.${i + 1}`;
  if (i < 508) return `203.0.113.${i - 253}`;
  throw new Error(`instance ${i}: only 508 documentation addresses`);
}

/** Which daemons run which instance, with which priority (pure). */
export function planFleet(l: FleetLayout): FleetInstance[] {
  const width = String(l.instances).length;
  return Array.from({ length: l.instances }, (_, i) => ({
    name: `vip${String(i + 1).padStart(width, '0')}`,
    address: instanceAddress(i),
    members: Array.from({ length: l.candidates }, (_, j) => ({ node: (i + j) % l.nodes, priority: 200 - 10 * j })),
  }));
}

/** Memberships (daemon × instance pairs) of a layout. */
export function memberships(l: FleetLayout): number {
  return l.instances * l.candidates;
}

/** LocalCluster whose daemons each run their share of the fleet's instances. */
export class Fleet extends LocalCluster {
  readonly plan: FleetInstance[];

  constructor(
    readonly layout: FleetLayout,
    private readonly election: { endpoints: string[]; prefix: string },
  ) {
    super({ nodes: layout.nodes, intervalMs: 1000, firstHost: 101, logLevel: 'warn' });
    this.plan = planFleet(layout);
  }

  /** Instances of one node. */
  instancesOf(index: number): FleetInstance[] {
    return this.plan.filter((p) => p.members.some((m) => m.node === index));
  }

  override writeConfig(n: LabNode, override: Record<string, unknown> = {}): void {
    const instances: Record<string, unknown> = {};
    for (const inst of this.instancesOf(n.index)) {
      const me = inst.members.find((m) => m.node === n.index)!;
      instances[inst.name] = { address: inst.address, priority: me.priority, preempt: true, ...override };
    }
    const config = {
      node: { id: n.id, bind: `${n.address}:${this.port}`, control: n.control },
      secret: `file:${this.secretFile}`,
      log: { level: this.opts.logLevel ?? 'warn', format: 'json' },
      stateFile: join(this.dir, `${n.id}.state.json`),
      election: { backend: 'etcd', endpoints: this.election.endpoints, prefix: this.election.prefix, ttl: `${this.layout.ttlMs / 1000}s` },
      instances,
    };
    writeFileSync(n.configFile, JSON.stringify(config, null, 2));
  }

  pids(): number[] {
    return this.nodes.map((n) => n.process?.pid).filter((p): p is number => p !== undefined);
  }

  /** Full status of every running node (a big answer: 5 s deadline). */
  async statuses(): Promise<Map<number, DaemonStatus>> {
    const out = new Map<number, DaemonStatus>();
    await Promise.all(
      this.nodes.map(async (n) => {
        if (!n.process) return;
        try {
          out.set(n.index, (await controlRequest(n.control, { cmd: 'status' }, 5000)) as DaemonStatus);
        } catch {
          /* busy or gone: next round */
        }
      }),
    );
    return out;
  }
}

/** How far the fleet is from "every instance held by its best running member, followed by the others". */
export interface Convergence {
  settled: number;
  total: number;
  /** Instances with more than one MASTER right now. */
  doubleMasters: number;
}

export function convergence(plan: FleetInstance[], statuses: Map<number, DaemonStatus>, down: Set<number> = new Set()): Convergence {
  const byNode = new Map<number, Map<string, DaemonStatus['instances'][number]>>();
  for (const [i, st] of statuses) byNode.set(i, new Map(st.instances.map((x) => [x.instance, x])));
  let settled = 0;
  let doubleMasters = 0;
  for (const inst of plan) {
    const alive = inst.members.filter((m) => !down.has(m.node));
    const best = alive[0];
    const states = alive.map((m) => byNode.get(m.node)?.get(inst.name));
    if (states.filter((s) => s?.state === 'MASTER').length > 1) doubleMasters++;
    if (!best) continue;
    const bestId = `lab${best.node + 1}`;
    if (states[0]?.state === 'MASTER' && states.slice(1).every((s) => s?.state === 'BACKUP' && s.master === bestId)) settled++;
  }
  return { settled, total: plan.filter((p) => p.members.some((m) => !down.has(m.node))).length, doubleMasters };
}

/** Polls until every instance is settled (see convergence). */
export async function waitConverged(fleet: Fleet, timeoutMs: number, down: Set<number> = new Set(), everyMs = 1000): Promise<{ waitedMs: number; last: Convergence }> {
  const started = Date.now();
  let last: Convergence = { settled: 0, total: fleet.plan.length, doubleMasters: 0 };
  while (Date.now() - started < timeoutMs) {
    last = convergence(fleet.plan, await fleet.statuses(), down);
    if (last.settled === last.total && last.doubleMasters === 0) return { waitedMs: Date.now() - started, last };
    await sleep(everyMs);
  }
  throw new Error(`fleet not converged within ${timeoutMs} ms: ${last.settled}/${last.total} instances settled, ${last.doubleMasters} with two MASTERs`);
}

/** Transitions each node's instances made since `since` (wall clock), from one status pass. */
export function transitionsSince(statuses: Map<number, DaemonStatus>, since: number): number {
  let n = 0;
  for (const st of statuses.values()) for (const i of st.instances) if (i.lastTransition && i.lastTransition.at >= since) n++;
  return n;
}
