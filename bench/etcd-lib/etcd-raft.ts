/**
 * A 3-member etcd on loopback (test/lib/etcd-cluster.ts) with chosen raft timers. EtcdCluster
 * always passes etcd's defaults (heartbeat 100 ms, election timeout 1 s); etcd grants at least
 * ceil(1.5 × election timeout) as a lease TTL, i.e. 2 s, so a 1 s TTL needs shorter raft timers.
 * For those, the members are started through a small `etcd` wrapper placed first in PATH that
 * appends the wanted `--heartbeat-interval`/`--election-timeout` (etcd takes the last value of a
 * repeated flag). The wrapper only lives while the members start.
 */
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { ETCD_ELECTION_TIMEOUT_MS, ETCD_HEARTBEAT_MS, EtcdCluster } from '../../test/lib/etcd-cluster.js';

/** etcd's raft timers. */
export interface RaftTimers {
  heartbeatMs: number;
  electionMs: number;
}

/** etcd's defaults (what an operator gets without tuning). */
export const DEFAULT_RAFT: RaftTimers = { heartbeatMs: ETCD_HEARTBEAT_MS, electionMs: ETCD_ELECTION_TIMEOUT_MS };
/** Short enough for etcd to grant a 1 s lease (minimum TTL = ceil(1.5 × 0.5 s) = 1 s). */
export const FAST_RAFT: RaftTimers = { heartbeatMs: 50, electionMs: 500 };

/** The smallest lease TTL etcd grants with these timers, ms (etcd: ceil(3/2 × election ticks × heartbeat) in whole seconds). */
export function minLeaseTtlMs(raft: RaftTimers): number {
  const ticks = Math.round(raft.electionMs / raft.heartbeatMs);
  return Math.ceil((Math.floor((3 * ticks) / 2) * raft.heartbeatMs) / 1000) * 1000;
}

export function raftLabel(raft: RaftTimers): string {
  return `heartbeat ${raft.heartbeatMs} ms, election ${raft.electionMs} ms`;
}

/** The etcd binary the members would run (PATH plus /usr/sbin, /usr/bin as EtcdCluster does). */
function findEtcd(): string {
  for (const dir of [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/bin']) {
    if (!dir) continue;
    const candidate = join(dir, 'etcd');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      /* next */
    }
  }
  throw new Error('etcd not found in PATH (Debian: apt-get install etcd-server)');
}

/** Runs `fn` (which starts etcd members) with the raft timers applied through the PATH wrapper. */
async function withRaftTimers<T>(raft: RaftTimers, fn: () => Promise<T>): Promise<T> {
  if (raft.heartbeatMs === ETCD_HEARTBEAT_MS && raft.electionMs === ETCD_ELECTION_TIMEOUT_MS) return fn();
  const real = findEtcd();
  const shim = mkdtempSync(join(tmpdir(), 'ipwarden-bench-etcd-shim-'));
  const path = process.env.PATH;
  try {
    writeFileSync(
      join(shim, 'etcd'),
      `#!/bin/sh\nexec ${JSON.stringify(real)} "$@" --heartbeat-interval ${raft.heartbeatMs} --election-timeout ${raft.electionMs}\n`,
      { mode: 0o755 },
    );
    process.env.PATH = `${shim}${delimiter}${path ?? ''}`;
    return await fn();
  } finally {
    if (path === undefined) delete process.env.PATH;
    else process.env.PATH = path;
    rmSync(shim, { recursive: true, force: true });
  }
}

/**
 * Starts a 3-member etcd with these raft timers; the caller destroys it. `created` sees the
 * cluster before any member starts (register its cleanup there: Ctrl-C may come during start).
 */
export async function startEtcd(raft: RaftTimers, created: (c: EtcdCluster) => void = () => undefined, members = 3): Promise<EtcdCluster> {
  const cluster = new EtcdCluster({ members });
  created(cluster);
  try {
    await withRaftTimers(raft, () => cluster.start());
  } catch (err) {
    await cluster.destroy();
    throw err;
  }
  return cluster;
}

/** Members whose process ended although nobody here stopped them (e.g. killed from outside), as "m1 (SIGKILL)". */
export function deadMembers(cluster: EtcdCluster): string[] {
  return cluster.members
    .filter((m) => m.process && (m.process.exitCode !== null || m.process.signalCode !== null))
    .map((m) => `${m.name} (${m.process!.signalCode ?? `exit ${m.process!.exitCode}`})`);
}

/** Restarts dead members from their data dirs with the same raft timers; returns what was dead. */
export async function reviveEtcd(cluster: EtcdCluster, raft: RaftTimers): Promise<string[]> {
  const dead = deadMembers(cluster);
  if (!dead.length) return [];
  const members = cluster.members.filter((m) => m.process && (m.process.exitCode !== null || m.process.signalCode !== null));
  for (const m of members) m.process = undefined;
  await withRaftTimers(raft, () => cluster.restart(members));
  return dead;
}
