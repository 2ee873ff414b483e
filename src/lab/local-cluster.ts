/**
 * A cluster of real ipwarden daemons on loopback addresses (127.0.0.11, .12, ...), each a child
 * process with its own rc file and control socket in a temp dir. Used by `ipwarden lab` and by the
 * process-level tests. Traffic stays on 127.0.0.0/8.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync, openSync, closeSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { controlRequest } from '../daemon/control.js';
import type { DaemonStatus } from '../daemon/daemon.js';
import { singleExecutable } from '../util/executable.js';

/** The built CLI entry: next to this file in dist/, or dist/ itself when this runs from source (tests). */
export const CLI_ENTRY = [new URL('../cli/main.js', import.meta.url), new URL('../../dist/src/cli/main.js', import.meta.url)]
  .map((u) => fileURLToPath(u))
  .find((p) => existsSync(p)) ?? fileURLToPath(new URL('../cli/main.js', import.meta.url));

/**
 * How long a started daemon may take to answer on its control socket. Under a second on an idle machine;
 * 2-8 s was seen with the machine at load average 20 on 2 cores, so the bound is generous: it only tells
 * a daemon that never comes up from a slow one.
 */
export const START_DEADLINE_MS = 30_000;

export interface LabNodeSpec {
  id: string;
  address: string;
  priority: number;
}

export interface LocalClusterOptions {
  nodes: number;
  intervalMs: number;
  deadRatio?: number;
  preempt?: boolean;
  /** Shared IP the instance guards (documentation range). */
  sharedAddress?: string;
  /** UDP port all nodes use (default: a free one). */
  port?: number;
  /** First loopback host octet (default 11 -> 127.0.0.11). */
  firstHost?: number;
  /** Extra keys for each instance (checks, actions) by node index. */
  instanceExtras?: (index: number) => Record<string, unknown>;
  /** Extra top-level config keys. */
  extras?: Record<string, unknown>;
  /** Extra top-level config keys by node index (e.g. metrics on one node). */
  nodeExtras?: (index: number) => Record<string, unknown>;
  logLevel?: string;
  /** Node addresses (default 127.0.0.<firstHost + i>); e.g. hosts in network namespaces. */
  addresses?: string[];
  /**
   * The argv prefix that runs ipwarden (default: this executable when it is the single
   * executable, else node with the built CLI); e.g. [dist/pkg/ipwarden-<version>-linux-x64].
   */
  command?: string[];
  /** Starts a node's process (default: a child of this process); e.g. `ip netns exec`. */
  spawner?: (index: number, argv: string[], stdio: number) => ChildProcess;
}

export interface LabNode extends LabNodeSpec {
  index: number;
  configFile: string;
  control: string;
  logFile: string;
  process?: ChildProcess;
}

export class LocalCluster {
  readonly dir: string;
  readonly nodes: LabNode[] = [];
  readonly secretFile: string;
  port = 0;

  constructor(readonly opts: LocalClusterOptions) {
    this.dir = mkdtempSync(join(tmpdir(), 'ipwarden-lab-'));
    this.secretFile = join(this.dir, 'secret');
    writeFileSync(this.secretFile, randomBytes(32).toString('hex'), { mode: 0o600 });
  }

  async prepare(): Promise<void> {
    const first = this.opts.firstHost ?? 11;
    const addresses = this.opts.addresses ?? Array.from({ length: this.opts.nodes }, (_, i) => `127.0.0.${first + i}`);
    this.port = this.opts.port ?? (await freeUdpPort(addresses));
    addresses.forEach((address, i) => {
      const id = `lab${i + 1}`;
      const node: LabNode = {
        id,
        address,
        priority: 150 - i * 50 > 0 ? 150 - i * 50 : 10 + i,
        index: i,
        configFile: join(this.dir, `${id}.json`),
        control: join(this.dir, `${id}.sock`),
        logFile: join(this.dir, `${id}.log`),
      };
      this.nodes.push(node);
    });
    for (const n of this.nodes) this.writeConfig(n);
  }

  writeConfig(n: LabNode, override: Record<string, unknown> = {}): void {
    const top = { ...(this.opts.extras ?? {}), ...(this.opts.nodeExtras?.(n.index) ?? {}) };
    const extras = { ...(this.opts.instanceExtras?.(n.index) ?? {}), ...override };
    const backend = (v: unknown) => (v && typeof v === 'object' ? (v as { backend?: unknown }).backend : undefined);
    // an etcd-elected instance takes no heartbeat keys (interval, deadRatio, peers) unless election.heartbeat is on
    const heartbeat = (v: unknown) => (v && typeof v === 'object' ? (v as { heartbeat?: unknown }).heartbeat : undefined);
    const etcd = (backend(extras.election) ?? backend(top.election)) === 'etcd' && (heartbeat(extras.election) ?? heartbeat(top.election)) !== true;
    const instance = {
      address: this.opts.sharedAddress ?? '198.51.100.50',
      priority: n.priority,
      ...(etcd
        ? {}
        : {
            interval: `${this.opts.intervalMs}ms`,
            deadRatio: this.opts.deadRatio ?? 3,
            peers: this.nodes.filter((p) => p !== n).map((p) => `${p.address}:${this.port}`),
          }),
      preempt: this.opts.preempt ?? true,
      ...extras,
    };
    const config = {
      node: { id: n.id, bind: `${n.address}:${this.port}`, control: n.control },
      ...(etcd ? {} : { secret: `file:${this.secretFile}` }),
      log: { level: this.opts.logLevel ?? 'info', format: 'json' },
      stateFile: join(this.dir, `${n.id}.state.json`),
      ...top,
      instances: { lab: instance },
    };
    writeFileSync(n.configFile, JSON.stringify(config, null, 2));
  }

  /** Starts one node's daemon; resolves when its control socket answers. */
  async start(n: LabNode): Promise<void> {
    const fd = openSync(n.logFile, 'a');
    const argv = [...(this.opts.command ?? ipwardenCommand()), 'run', '--config', n.configFile];
    const child = this.opts.spawner
      ? this.opts.spawner(n.index, argv, fd)
      : spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    n.process = child;
    const deadline = Date.now() + START_DEADLINE_MS;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`${n.id} exited with code ${child.exitCode} (log: ${n.logFile})`);
      try {
        await controlRequest(n.control, { cmd: 'ping' }, 500);
        return;
      } catch {
        await sleep(20);
      }
    }
    throw new Error(`${n.id} did not answer on ${n.control} within ${START_DEADLINE_MS / 1000} s (log: ${n.logFile})`);
  }

  async startAll(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.start(n)));
  }

  /** SIGKILL (daemon crash, host alive). Resolves when the process is gone. */
  async kill(n: LabNode, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = n.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill(signal);
    await gone;
    n.process = undefined;
  }

  async status(n: LabNode): Promise<DaemonStatus | undefined> {
    if (!n.process) return undefined;
    try {
      return (await controlRequest(n.control, { cmd: 'status' }, 1000)) as DaemonStatus;
    } catch {
      return undefined;
    }
  }

  /** Each running node's state of the (single) lab instance. */
  async states(): Promise<Map<string, { state: string; status: DaemonStatus }>> {
    const out = new Map<string, { state: string; status: DaemonStatus }>();
    await Promise.all(
      this.nodes.map(async (n) => {
        const s = await this.status(n);
        const inst = s?.instances[0];
        if (s && inst) out.set(n.id, { state: inst.state, status: s });
      }),
    );
    return out;
  }

  async masters(): Promise<string[]> {
    const states = await this.states();
    return [...states].filter(([, s]) => s.state === 'MASTER').map(([id]) => id).sort();
  }

  /** Polls until `pred` holds (or throws after timeoutMs). */
  async waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, everyMs = 20): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await probe();
      if (v !== undefined) return v;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await sleep(everyMs);
    }
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.kill(n, 'SIGTERM')));
  }

  async destroy(): Promise<void> {
    for (const n of this.nodes) {
      try {
        n.process?.kill('SIGKILL');
      } catch {
        /* gone */
      }
    }
    await sleep(50);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The argv prefix that runs this ipwarden again. */
export function ipwardenCommand(): string[] {
  return singleExecutable() ? [process.execPath] : [process.execPath, CLI_ENTRY];
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A UDP port free on every given address (bounded tries). */
export async function freeUdpPort(addresses: string[]): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 30000);
    const socks: dgram.Socket[] = [];
    let ok = true;
    for (const address of addresses) {
      const s = dgram.createSocket('udp4');
      socks.push(s);
      try {
        await new Promise<void>((resolve, reject) => {
          s.once('error', reject);
          s.bind({ address, port, exclusive: true }, () => resolve());
        });
      } catch {
        ok = false;
        break;
      }
    }
    for (const s of socks) {
      try {
        s.close();
      } catch {
        /* not bound */
      }
    }
    if (ok) return port;
  }
  throw new Error('no free UDP port found on the lab addresses');
}
