/**
 * Failover of 3 ipwarden daemons on loopback: the etcd backend at a lease TTL against the
 * heartbeat backend at comparable timers (deadRatio × interval = TTL). Priorities 150/100/50,
 * preempt on: lab1 is the MASTER of every steady state, lab2 takes over when lab1 fails.
 *
 * Faults: SIGKILL (the daemon dies, its host lives: its UDP port answers ICMP port unreachable,
 * which the heartbeat engine takes as "master left", and etcd with heartbeats as proof to revoke
 * the dead master's lease: the crash fast path), and SIGSTOP (the daemon freezes: no adverts,
 * no renewals, no ICMP, like a hung or cut-off host; it is SIGKILLed and restarted afterwards).
 *
 * Measured: the fault -> the new MASTER's own transition time (status lastTransition.at), both
 * on this machine's wall clock.
 */
import { controlRequest } from '../../src/daemon/control.js';
import type { DaemonStatus } from '../../src/daemon/daemon.js';
import { LocalCluster, sleep, type LabNode } from '../../src/lab/local-cluster.js';
import { DEFAULT_RAFT, FAST_RAFT, type RaftTimers } from './etcd-raft.js';

export const FAULTS = ['sigkill', 'sigstop'] as const;
export type Fault = (typeof FAULTS)[number];

export type FailoverScenarioId = 'etcd-3s' | 'heartbeat-1s' | 'etcd-1s' | 'heartbeat-333ms' | 'etcd-1s-default-raft' | 'etcd-3s-fast' | 'etcd-1s-fast';

export interface FailoverScenario {
  id: FailoverScenarioId;
  title: string;
  backend: 'etcd' | 'heartbeat';
  /** etcd: lease TTL asked for, ms. */
  ttlMs?: number;
  /** etcd: the raft timers of the etcd cluster it runs on. */
  raft?: RaftTimers;
  /** etcd: also exchange heartbeats (election.heartbeat: the crash fast path). */
  heartbeat?: boolean;
  /** Heartbeat advert interval (etcd instances: only with `heartbeat`). */
  intervalMs: number;
  deadRatio: number;
  /** The nominal detection time: the TTL (etcd) or deadRatio × interval (heartbeat). */
  nominalMs: number;
  /** The timer a trial must not lock to: the renewal period (etcd: ttl/4) or the advert interval. */
  phaseMs: number;
}

/** In the order the trials alternate (pairs of comparable timers). */
export const FAILOVER_SCENARIOS: readonly FailoverScenario[] = [
  { id: 'etcd-3s', title: 'etcd, ttl 3s', backend: 'etcd', ttlMs: 3000, raft: DEFAULT_RAFT, intervalMs: 1000, deadRatio: 3, nominalMs: 3000, phaseMs: 750 },
  { id: 'heartbeat-1s', title: 'heartbeat, interval 1s × deadRatio 3', backend: 'heartbeat', intervalMs: 1000, deadRatio: 3, nominalMs: 3000, phaseMs: 1000 },
  { id: 'etcd-1s', title: 'etcd, ttl 1s (etcd raft 50/500 ms)', backend: 'etcd', ttlMs: 1000, raft: FAST_RAFT, intervalMs: 1000, deadRatio: 3, nominalMs: 1000, phaseMs: 250 },
  { id: 'heartbeat-333ms', title: 'heartbeat, interval 333ms × deadRatio 3', backend: 'heartbeat', intervalMs: 333, deadRatio: 3, nominalMs: 999, phaseMs: 333 },
  { id: 'etcd-1s-default-raft', title: 'etcd, ttl 1s asked, etcd default raft (100/1000 ms)', backend: 'etcd', ttlMs: 1000, raft: DEFAULT_RAFT, intervalMs: 1000, deadRatio: 3, nominalMs: 1000, phaseMs: 250 },
  // the crash fast path: etcd plus heartbeats; phase over the advert interval (detection is the next advert)
  { id: 'etcd-3s-fast', title: 'etcd, ttl 3s + heartbeats 1s × 3 (crash fast path)', backend: 'etcd', ttlMs: 3000, raft: DEFAULT_RAFT, heartbeat: true, intervalMs: 1000, deadRatio: 3, nominalMs: 3000, phaseMs: 1000 },
  { id: 'etcd-1s-fast', title: 'etcd, ttl 1s (etcd raft 50/500 ms) + heartbeats 333ms × 3 (crash fast path)', backend: 'etcd', ttlMs: 1000, raft: FAST_RAFT, heartbeat: true, intervalMs: 333, deadRatio: 3, nominalMs: 1000, phaseMs: 333 },
];

export function scenarioById(id: string): FailoverScenario | undefined {
  return FAILOVER_SCENARIOS.find((s) => s.id === id);
}

export interface FailoverTrial {
  scenario: FailoverScenarioId;
  fault: Fault;
  run: number;
  /** Fault -> new MASTER transition, ms (absent: no new MASTER in time, see error). */
  electedMs?: number;
  newMaster?: string;
  cause?: string;
  /** Fault -> MASTER transition of lab2, the best remaining node, once it holds (= electedMs unless another node took over first). */
  bestMs?: number;
  /** The MASTERs seen after the fault, in order (more than one: a lower-priority node took over first). */
  masters?: string[];
  /** Samples (every 20 ms, from the fault until lab2 is the settled MASTER) that showed more than one MASTER. */
  doubleMasters: number;
  samples: number;
  /** Waiting for the steady state before the trial, ms. */
  settleMs: number;
  /** Random wait within phaseMs before the kill, ms. */
  offsetMs: number;
  /** etcd: the TTL etcd granted to lab1's lease. */
  grantedTtlMs?: number;
  error?: string;
}

/** A 3-node cluster of one scenario. */
export interface ScenarioCluster {
  scenario: FailoverScenario;
  cluster: LocalCluster;
}

/** One scenario's cluster, configured, nothing started (register its cleanup, then startScenario). */
export function createScenario(s: FailoverScenario, firstHost: number, etcd?: { endpoints: string[]; prefix: string }): ScenarioCluster {
  if (s.backend === 'etcd' && !etcd) throw new Error(`${s.id}: needs an etcd cluster`);
  const election =
    s.backend === 'etcd' ? { backend: 'etcd', endpoints: etcd!.endpoints, prefix: etcd!.prefix, ttl: `${s.ttlMs! / 1000}s`, ...(s.heartbeat ? { heartbeat: true } : {}) } : undefined;
  const cluster = new LocalCluster({
    nodes: 3,
    intervalMs: s.intervalMs,
    deadRatio: s.deadRatio,
    preempt: true,
    firstHost,
    logLevel: 'info',
    ...(election ? { extras: { election } } : {}),
  });
  return { scenario: s, cluster };
}

/** Starts the daemons (lab1 first, so it is the first MASTER) and waits for the steady state. */
export async function startScenario(sc: ScenarioCluster): Promise<void> {
  const { cluster } = sc;
  await cluster.prepare();
  await cluster.start(cluster.nodes[0]!);
  await Promise.all(cluster.nodes.slice(1).map((n) => cluster.start(n)));
  await waitSteady(sc, 30_000);
}

async function statusOf(n: LabNode): Promise<DaemonStatus | undefined> {
  if (!n.process) return undefined;
  try {
    return (await controlRequest(n.control, { cmd: 'status' }, 2000)) as DaemonStatus;
  } catch {
    return undefined;
  }
}

/**
 * lab1 MASTER, the others BACKUP and following lab1, unchanged for 2 × phaseMs + 500 ms.
 * Returns the wait and lab1's status.
 */
export async function waitSteady(sc: ScenarioCluster, timeoutMs: number): Promise<{ waitedMs: number; master: DaemonStatus }> {
  const { cluster } = sc;
  const hold = 2 * sc.scenario.phaseMs + 500;
  const started = Date.now();
  let goodSince: number | undefined;
  let last = 'no status yet';
  while (Date.now() - started < timeoutMs) {
    const statuses = await Promise.all(cluster.nodes.map((n) => statusOf(n)));
    const insts = statuses.map((st) => st?.instances[0]);
    const ok =
      insts[0]?.state === 'MASTER' &&
      insts.slice(1).every((i) => i?.state === 'BACKUP' && i.master === 'lab1') &&
      (sc.scenario.backend === 'heartbeat' || insts.every((i) => i?.election?.connected === true));
    last = insts.map((i, k) => `lab${k + 1} ${i ? `${i.state}${i.master ? ` (master ${i.master})` : ''}` : 'down'}`).join(', ');
    if (ok) {
      goodSince ??= Date.now();
      if (Date.now() - goodSince >= hold) return { waitedMs: goodSince - started, master: statuses[0]! };
    } else {
      goodSince = undefined;
    }
    await sleep(50);
  }
  throw new Error(`${sc.scenario.id}: no steady state (lab1 MASTER, others BACKUP) within ${timeoutMs} ms: ${last}`);
}

/** Every node running again (after a failed trial). */
export async function recover(sc: ScenarioCluster): Promise<void> {
  for (const n of sc.cluster.nodes) if (!n.process) await sc.cluster.start(n);
}

/** One trial: steady state, random phase, SIGKILL or SIGSTOP lab1, wait for the new MASTER, (kill and) restart lab1. */
export async function runFailoverTrial(sc: ScenarioCluster, fault: Fault, run: number): Promise<FailoverTrial> {
  const s = sc.scenario;
  const c = sc.cluster;
  const [victim, ...rest] = c.nodes as [LabNode, ...LabNode[]];
  const steady = await waitSteady(sc, 30_000 + 10 * s.nominalMs);
  const trial: FailoverTrial = { scenario: s.id, fault, run, doubleMasters: 0, samples: 0, settleMs: steady.waitedMs, offsetMs: 0 };
  const granted = steady.master.instances[0]?.election?.grantedTtlMs;
  if (granted !== undefined) trial.grantedTtlMs = granted;
  trial.offsetMs = Math.round(Math.random() * s.phaseMs);
  await sleep(trial.offsetMs);
  const killedAt = Date.now();
  if (fault === 'sigkill') await c.kill(victim, 'SIGKILL');
  else victim.process!.kill('SIGSTOP');
  const deadline = killedAt + 3 * Math.max(s.nominalMs, granted ?? 0) + 5000;
  const hold = 2 * s.phaseMs + 500;
  const best = rest[0]!;
  const sequence: string[] = [];
  let bestSince: number | undefined;
  try {
    for (;;) {
      const statuses = await Promise.all(rest.map((n) => statusOf(n)));
      trial.samples++;
      const insts = statuses.map((st) => st?.instances[0]);
      const masters = insts.filter((i) => i?.state === 'MASTER');
      if (masters.length > 1) trial.doubleMasters++;
      const only = masters.length === 1 ? masters[0]! : undefined;
      const tr = only?.lastTransition;
      if (only && tr && tr.to === 'MASTER' && tr.at >= killedAt) {
        if (sequence.at(-1) !== only.nodeId) sequence.push(only.nodeId);
        if (trial.electedMs === undefined) {
          trial.electedMs = tr.at - killedAt;
          trial.newMaster = only.nodeId;
          trial.cause = tr.cause;
        }
      }
      // then: the best remaining node (lab2) MASTER, the others following it, for `hold`
      const settled = only?.nodeId === best.id && insts.every((i) => i && (i.nodeId === best.id || (i.state === 'BACKUP' && i.master === best.id)));
      if (settled && only?.lastTransition && only.lastTransition.at >= killedAt) {
        trial.bestMs = only.lastTransition.at - killedAt;
        bestSince ??= Date.now();
        if (Date.now() - bestSince >= hold) break;
      } else {
        bestSince = undefined;
      }
      if (Date.now() > deadline) {
        if (trial.electedMs === undefined) trial.error = `no new MASTER within ${deadline - killedAt} ms`;
        else if (bestSince === undefined) trial.error = `${best.id} not the settled MASTER within ${deadline - killedAt} ms (masters: ${sequence.join(' -> ')})`;
        break;
      }
      await sleep(20);
    }
    trial.masters = sequence;
  } finally {
    await c.kill(victim, 'SIGKILL');
    await c.start(victim);
  }
  return trial;
}
