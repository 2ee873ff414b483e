/**
 * The etcd cluster of a chaos campaign with `--election etcd`: one etcd-server member (Debian's etcd)
 * in each of the first three lab namespaces, beside that node's daemon, as a real deployment co-locates
 * them: a link cut of a node cuts its member too. Members listen on the host's own address (client 2379,
 * peer 2380; every namespace has its own ports), keep their data in /dev/shm (etcd fsyncs every write)
 * and use etcd's default raft timers (heartbeat 100 ms, election 1 s). The campaign kills and restarts
 * members (same data dir) and partitions a node from the others' members.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Lab } from '../../test/lib/netns.js';

export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;

export interface ChaosEtcdMember {
  name: string;
  /** Lab host index it runs in. */
  host: number;
  address: string;
  dataDir: string;
  logFile: string;
  process?: ChildProcess;
}

export class ChaosEtcd {
  readonly dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'ipwarden-chaos-etcd-'));
  readonly members: ChaosEtcdMember[];

  constructor(
    private readonly lab: Lab,
    size = 3,
  ) {
    if (lab.hosts.length < size) throw new Error(`chaos: --election etcd needs at least ${size} nodes (one etcd member each)`);
    this.members = lab.hosts.slice(0, size).map((h) => ({ name: `m${h.index + 1}`, host: h.index, address: h.address, dataDir: join(this.dir, `m${h.index + 1}`), logFile: join(this.dir, `m${h.index + 1}.log`) }));
  }

  /** Client URLs (the daemons' `election.endpoints`). */
  endpoints(): string[] {
    return this.members.map((m) => `http://${m.address}:${ETCD_CLIENT_PORT}`);
  }

  async start(): Promise<void> {
    for (const m of this.members) this.spawn(m);
    await this.healthy(this.members, 30_000);
  }

  private spawn(m: ChaosEtcdMember): void {
    const initial = this.members.map((x) => `${x.name}=http://${x.address}:${ETCD_PEER_PORT}`).join(',');
    const client = `http://${m.address}:${ETCD_CLIENT_PORT}`;
    const fd = openSync(m.logFile, 'a');
    // prettier-ignore
    m.process = this.lab.spawn(m.host, [
      'etcd',
      '--name', m.name,
      '--data-dir', m.dataDir,
      '--listen-client-urls', client,
      '--advertise-client-urls', client,
      '--listen-peer-urls', `http://${m.address}:${ETCD_PEER_PORT}`,
      '--initial-advertise-peer-urls', `http://${m.address}:${ETCD_PEER_PORT}`,
      '--initial-cluster', initial,
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', `ipwarden-chaos-${process.pid}`,
      // etcd 3.5's default, off in Debian's 3.4: a member that was killed or cut off does not force a
      // leader election with its inflated term when it returns (ipwarden(8) advises it too)
      '--pre-vote',
      '--logger', 'zap',
      '--log-level', 'warn',
    ], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
  }

  /** Resolves once `etcdctl endpoint health` answers for `members` (from the root namespace, over the bridge). */
  async healthy(members: ChaosEtcdMember[], timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const endpoints = members.map((m) => `http://${m.address}:${ETCD_CLIENT_PORT}`).join(',');
    for (;;) {
      const err = await new Promise<Error | null>((resolve) =>
        execFile('etcdctl', ['--endpoints', endpoints, '--dial-timeout', '1s', '--command-timeout', '2s', 'endpoint', 'health'], { env: { ...process.env, ETCDCTL_API: '3' }, timeout: 5000 }, (e) => resolve(e)),
      );
      if (!err) return;
      if (Date.now() > deadline) throw new Error(`etcd members ${members.map((m) => m.name).join(', ')} not healthy within ${timeoutMs} ms: ${err.message.split('\n')[0]}`);
      await sleep(200);
    }
  }

  /** SIGKILLs member `m` and waits for its exit. */
  async kill(m: ChaosEtcdMember): Promise<void> {
    const child = m.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGKILL');
    await gone;
    m.process = undefined;
  }

  /** Restarts a killed member from its data dir; resolves once it answers. */
  async restart(m: ChaosEtcdMember): Promise<void> {
    if (!m.process) this.spawn(m);
    await this.healthy([m], 30_000);
  }

  async destroy(): Promise<void> {
    await Promise.all(this.members.map((m) => this.kill(m)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
