/**
 * One load run: a fresh 3-member etcd, the fleet on it, the steady-state window, then the SIGKILL
 * of daemon lab1 (the preferred holder of instances/N shared IPs) and the window after it.
 * etcd's load comes from its own /metrics (all members summed) and from the daemons' TCP counters.
 */
import type { EtcdCluster } from '../../test/lib/etcd-cluster.js';
import { sleep } from '../../src/lab/local-cluster.js';
import { measure, type ProcessUsage } from '../lib/resources.js';
import { DEFAULT_RAFT, deadMembers, startEtcd } from './etcd-raft.js';
import { scrapeAll, windowRates, type EtcdWindow } from './etcd-metrics.js';
import { Fleet, convergence, memberships, transitionsSince, waitConverged, type FleetLayout } from './fleet.js';
import { socketSnapshot, wireRates, type WireRates } from './wire.js';

export interface LoadWindow {
  etcd: EtcdWindow;
  /** Highest 1-second rates within the window (etcd scraped every second). */
  peak: { requestsPerS: number; proposalsPerS: number };
  wire: WireRates;
  /** Per running daemon, over the window. */
  daemons: ProcessUsage[];
  /** State changes (all nodes, all instances) during the window. */
  transitions: number;
}

export interface BurstWindow extends LoadWindow {
  victim: string;
  /** Memberships of the killed daemon. */
  victimMemberships: number;
  /** Instances the killed daemon held. */
  held: number;
  /** Of those, how many have another candidate (can fail over). */
  movable: number;
  /** SIGKILL -> new MASTER transition, ms, per instance that failed over within the window. */
  failoverMs: number[];
  /** Samples (every 500 ms until all moved) with two MASTERs for one instance. */
  doubleMasters: number;
}

export interface LoadResult {
  layout: FleetLayout;
  memberships: number;
  /** Instances per daemon. */
  perNode: number[];
  /** Start of the daemons -> every instance settled, ms. */
  convergeMs?: number;
  steady?: LoadWindow;
  burst?: BurstWindow;
  error?: string;
}

export interface LoadOptions {
  layout: FleetLayout;
  seconds: number;
  burstSeconds: number;
  log: (line: string) => void;
  /** Registers cleanup (Ctrl-C); returns the function that unregisters it. */
  track: (name: string, fn: () => Promise<void>) => () => void;
}

/** Scrapes etcd every second until `untilMs` (performance.now()); returns the highest 1-second rates. */
async function peaks(etcd: EtcdCluster, untilMs: number): Promise<LoadWindow['peak']> {
  const members = etcd.members.map((m) => ({ name: m.name, clientPort: m.clientPort }));
  const peak = { requestsPerS: 0, proposalsPerS: 0 };
  let prev = await scrapeAll(members);
  while (performance.now() + 1000 <= untilMs) {
    await sleep(Math.max(0, prev[0]!.at + 1000 - performance.now()));
    const next = await scrapeAll(members);
    const w = windowRates(prev, next);
    peak.requestsPerS = Math.max(peak.requestsPerS, w.requestsPerS);
    peak.proposalsPerS = Math.max(peak.proposalsPerS, w.proposalsPerS);
    prev = next;
  }
  return peak;
}

async function snapshotAll(etcd: EtcdCluster, fleet: Fleet) {
  const dead = deadMembers(etcd);
  if (dead.length) throw new Error(`etcd members ${dead.join(', ')} ended from outside during the run`);
  const [metrics, sockets] = await Promise.all([
    scrapeAll(etcd.members.map((m) => ({ name: m.name, clientPort: m.clientPort }))),
    socketSnapshot(fleet.pids(), etcd.members.map((m) => m.clientPort)),
  ]);
  return { metrics, sockets, at: performance.now() };
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const { layout, log } = o;
  const result: LoadResult = { layout, memberships: memberships(layout), perNode: [] };
  let untrackEtcd = () => {};
  const etcd = await startEtcd(DEFAULT_RAFT, (c) => (untrackEtcd = o.track('etcd (load)', () => c.destroy())));
  const fleet = new Fleet(layout, { endpoints: etcd.clientUrls(), prefix: '/ipwarden-bench' });
  const untrackFleet = o.track('fleet', () => fleet.destroy());
  try {
    await fleet.prepare();
    result.perNode = fleet.nodes.map((n) => fleet.instancesOf(n.index).length);
    log(`  load K=${layout.candidates}: ${layout.nodes} daemons × ${result.perNode[0]} instances (${result.memberships} memberships), etcd ${etcd.clientUrls().join(' ')}`);
    const t0 = Date.now();
    await Promise.all(fleet.nodes.map((n) => fleet.start(n)));
    await waitConverged(fleet, 120_000 + 20 * layout.ttlMs);
    result.convergeMs = Date.now() - t0;
    log(`  converged in ${result.convergeMs} ms; settling ${(2 * layout.ttlMs) / 1000} s`);
    await sleep(2 * layout.ttlMs);

    // steady state
    const wallStart = Date.now();
    const a = await snapshotAll(etcd, fleet);
    const [daemons, steadyPeak] = await Promise.all([measure(fleet.pids().map((p) => [p]), o.seconds), peaks(etcd, performance.now() + o.seconds * 1000)]);
    const b = await snapshotAll(etcd, fleet);
    const steadyStatuses = await fleet.statuses();
    result.steady = {
      etcd: windowRates(a.metrics, b.metrics),
      peak: steadyPeak,
      wire: wireRates(a.sockets, b.sockets, (b.at - a.at) / 1000),
      daemons,
      transitions: transitionsSince(steadyStatuses, wallStart),
    };
    const s = result.steady.etcd;
    log(`  steady ${s.seconds.toFixed(1)} s: ${s.requestsPerS.toFixed(0)} req/s, ${s.rpcsPerS.toFixed(0)} RPCs/s, etcd counts ${(s.clientBytesInPerS / 1024).toFixed(1)} KiB/s in ${(s.clientBytesOutPerS / 1024).toFixed(1)} KiB/s out, wire ${(result.steady.wire.bytesToEtcdPerS / 1024).toFixed(1)}/${(result.steady.wire.bytesFromEtcdPerS / 1024).toFixed(1)} KiB/s, etcd CPU ${s.cpuPercent.toFixed(1)} %, ${result.steady.transitions} transitions`);

    // failover burst: SIGKILL lab1
    const victim = fleet.nodes[0]!;
    const heldPlan = fleet.plan.filter((p) => p.members[0]!.node === victim.index);
    const movable = heldPlan.filter((p) => p.members.length > 1);
    const c = await snapshotAll(etcd, fleet);
    const burstStart = Date.now();
    const killedAt = Date.now();
    await fleet.kill(victim, 'SIGKILL');
    const down = new Set([victim.index]);
    const failoverMs = new Map<string, number>();
    let doubleMasters = 0;
    const until = performance.now() + o.burstSeconds * 1000;
    const polling = (async () => {
      while (performance.now() < until && failoverMs.size < movable.length) {
        const statuses = await fleet.statuses();
        doubleMasters += convergence(fleet.plan, statuses, down).doubleMasters;
        for (const p of movable) {
          const next = p.members[1]!;
          const st = statuses.get(next.node)?.instances.find((i) => i.instance === p.name);
          const tr = st?.lastTransition;
          if (st?.state === 'MASTER' && tr && tr.to === 'MASTER' && tr.at >= killedAt) failoverMs.set(p.name, tr.at - killedAt);
        }
        await sleep(500);
      }
    })();
    const [burstDaemons, burstPeak] = await Promise.all([measure(fleet.pids().map((p) => [p]), Math.max(0.1, (until - performance.now()) / 1000)), peaks(etcd, until), polling]);
    const d = await snapshotAll(etcd, fleet);
    const burstStatuses = await fleet.statuses();
    result.burst = {
      victim: victim.id,
      victimMemberships: fleet.instancesOf(victim.index).length,
      held: heldPlan.length,
      movable: movable.length,
      failoverMs: [...failoverMs.values()].sort((x, y) => x - y),
      doubleMasters,
      etcd: windowRates(c.metrics, d.metrics),
      peak: burstPeak,
      wire: wireRates(c.sockets, d.sockets, (d.at - c.at) / 1000),
      daemons: burstDaemons,
      transitions: transitionsSince(burstStatuses, burstStart),
    };
    const bu = result.burst;
    log(`  burst ${bu.etcd.seconds.toFixed(1)} s after SIGKILL of ${bu.victim} (held ${bu.held}): ${bu.failoverMs.length}/${bu.movable} moved, ${bu.etcd.requestsPerS.toFixed(0)} req/s, ${bu.etcd.proposalsPerS.toFixed(1)} proposals/s`);
  } catch (err) {
    result.error = (err as Error).message;
    log(`  load K=${layout.candidates} failed: ${result.error}`);
  } finally {
    await fleet.destroy();
    untrackFleet();
    await etcd.destroy();
    untrackEtcd();
  }
  return result;
}
