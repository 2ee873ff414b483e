/**
 * keepalived 2.2.7 (Debian) on a 3-host lab, configured like ipwarden: VRRPv3, unicast peers, the
 * address on e0 (virtual_ipaddress), a vrrp_script testing a file (weight 0: failure = FAULT), and a
 * notify script per state that stamps the time it fires and, on MASTER, moves the floating address in
 * the cloud's simulator the way a keepalived user would: the command of bench/lib/clouds.ts (the
 * cloud's official CLI where Debian ships one: hcloud, aws; curl for DigitalOcean; a one-shot
 * `ipwarden eip attach --exclusive` for Exoscale).
 */
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Lab } from '../../test/lib/netns.js';
import { sleep } from '../../src/lab/local-cluster.js';
import type { BenchCloud } from './clouds.js';
import { AddressMonitor } from './ip-monitor.js';
import { priorityOf, type Tool, type Transition } from './tool.js';
import { exoscaleOnBridge, type ToolOptions } from './ipwarden-tool.js';

const KEEPALIVED = '/usr/sbin/keepalived';

/** keepalived.conf for node i (pure). */
export function keepalivedConf(p: {
  index: number;
  address: string;
  peers: string[];
  vip: string;
  intervalMs: number;
  checkIntervalMs: number;
  healthFile: string;
  notify: string;
}): string {
  const advert = (p.intervalMs / 1000).toFixed(2).replace(/\.?0+$/, '');
  return `global_defs {
  router_id bench-h${p.index}
  script_user root
  vrrp_version 3
}
vrrp_script health {
  script "/usr/bin/grep -qx 0 ${p.healthFile}"
  interval ${Math.max(1, Math.round(p.checkIntervalMs / 1000))}
  timeout 1
  fall 1
  rise 1
  weight 0
}
vrrp_instance VI_1 {
  state BACKUP
  interface e0
  virtual_router_id 51
  priority ${priorityOf(p.index)}
  advert_int ${advert}
  unicast_src_ip ${p.address}
  unicast_peer {
${p.peers.map((a) => `    ${a}`).join('\n')}
  }
  virtual_ipaddress {
    ${p.vip}/32 dev e0
  }
  track_script {
    health
  }
  notify_master "${p.notify} MASTER ${p.index}"
  notify_backup "${p.notify} BACKUP ${p.index}"
  notify_fault "${p.notify} FAULT ${p.index}"
}
`;
}

interface KNode {
  index: number;
  conf: string;
  pid: string;
  vrrpPid: string;
  log: string;
  notifyLog: string;
  health: string;
  process?: ChildProcess;
  exit?: Promise<void>;
}

export async function startKeepalived(opts: ToolOptions): Promise<KeepalivedTool> {
  const { lab } = opts;
  const dir = mkdtempSync(join(tmpdir(), 'ipwarden-bench-ka-'));
  const { vip } = opts;
  const tool = new KeepalivedTool(lab, opts.intervalMs, dir, new AddressMonitor(lab, vip));
  try {
    const cloud = await (opts.cloud ?? exoscaleOnBridge(opts))(dir);
    tool.cloudLab = cloud;
    const notify = join(dir, 'notify.sh');
    writeFileSync(
      notify,
      `#!/bin/sh
# $1 = state, $2 = node index. Stamp first (the measured "fired" time), then act like a user's script.
echo "$(date +%s%N) $1" >> ${dir}/notify-$2
if [ "$1" = MASTER ]; then
  case "$2" in
${lab.hosts.map((_, i) => `    ${i}) ${cloud.notifyCommand(i)} \\\n      >> ${dir}/notify-$2.api.log 2>&1 ;;`).join('\n')}
  esac
  echo "$(date +%s%N) ATTACHED-$?" >> ${dir}/notify-$2
fi
`,
      { mode: 0o755 },
    );
    lab.hosts.forEach((h, i) => {
      const node: KNode = {
        index: i,
        conf: join(dir, `keepalived-${i}.conf`),
        pid: join(dir, `keepalived-${i}.pid`),
        vrrpPid: join(dir, `vrrp-${i}.pid`),
        log: join(dir, `keepalived-${i}.log`),
        notifyLog: join(dir, `notify-${i}`),
        health: join(dir, `health-${i}`),
      };
      writeFileSync(node.health, '0\n');
      writeFileSync(
        node.conf,
        keepalivedConf({
          index: i,
          address: h.address,
          peers: lab.hosts.filter((p) => p !== h).map((p) => p.address),
          vip,
          intervalMs: opts.intervalMs,
          checkIntervalMs: opts.checkIntervalMs,
          healthFile: node.health,
          notify: `${notify}`,
        }),
      );
      tool.nodes.push(node);
    });
    await tool.vip.start();
    return tool;
  } catch (error) {
    await tool.close();
    throw error;
  }
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export class KeepalivedTool implements Tool {
  readonly name = 'keepalived' as const;
  readonly resetsEip = true;
  readonly nodes: KNode[] = [];
  cloudLab: BenchCloud | undefined;

  constructor(
    readonly lab: Lab,
    readonly intervalMs: number,
    readonly dir: string,
    readonly vip: AddressMonitor,
  ) {}

  get cloud(): BenchCloud {
    return this.cloudLab!;
  }

  async start(i: number): Promise<void> {
    const n = this.nodes[i]!;
    for (const f of [n.pid, n.vrrpPid]) rmSync(f, { force: true });
    const fd = openSync(n.log, 'a');
    const child = this.lab.spawn(i, [KEEPALIVED, '-n', '-l', '-D', '-P', '-f', n.conf, '-p', n.pid, '-r', n.vrrpPid, '-c', join(this.dir, `checkers-${i}.pid`)], {
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    n.process = child;
    n.exit = new Promise((r) => child.once('exit', () => r()));
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`keepalived h${i} exited with code ${child.exitCode} (log: ${n.log})`);
      if (alive(readPid(n.vrrpPid))) return;
      await sleep(20);
    }
    throw new Error(`keepalived h${i}: no VRRP process within 10 s (log: ${n.log})`);
  }

  running(i: number): boolean {
    const p = this.nodes[i]!.process;
    return p !== undefined && p.exitCode === null && p.signalCode === null;
  }

  signal(i: number, sig: 'SIGKILL' | 'SIGTERM'): void {
    const n = this.nodes[i]!;
    if (sig === 'SIGKILL') {
      // The VRRP child first: killed, it sends nothing. Then the parent, before it can respawn it.
      for (const pid of [readPid(n.vrrpPid), n.process?.pid]) {
        if (pid !== undefined) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone
          }
        }
      }
    } else n.process?.kill(sig);
  }

  async exited(i: number): Promise<void> {
    const n = this.nodes[i]!;
    await n.exit;
    // the VRRP child too (after a SIGTERM it leaves first; after SIGKILL it was killed directly)
    const vrrp = readPid(n.vrrpPid);
    for (let k = 0; k < 250 && alive(vrrp) && !isZombie(vrrp!); k++) await sleep(20);
    n.process = undefined;
  }

  setHealth(i: number, ok: boolean): Promise<void> {
    return writeFile(this.nodes[i]!.health, ok ? '0\n' : '1\n');
  }

  async states(): Promise<(string | undefined)[]> {
    const all = this.transitions();
    return this.nodes.map((n) => (this.running(n.index) ? all.filter((t) => t.node === n.index).at(-1)?.to : undefined));
  }

  /** Notify script stamps (state lines only; ATTACHED-n lines are in eipScriptDone). */
  transitions(): Transition[] {
    return this.#lines()
      .filter((l) => !l.to.startsWith('ATTACHED'))
      .sort((a, b) => a.t - b.t);
  }

  /** True when no MASTER notify of node i is still running its attach. */
  eipScriptIdle(i: number): boolean {
    const mine = this.#lines().filter((l) => l.node === i);
    const masters = mine.filter((l) => l.to === 'MASTER').length;
    const done = mine.filter((l) => l.to.startsWith('ATTACHED')).length;
    return done >= masters;
  }

  #lines(): Transition[] {
    const out: Transition[] = [];
    for (const n of this.nodes) {
      if (!existsSync(n.notifyLog)) continue;
      for (const line of readFileSync(n.notifyLog, 'utf8').split('\n')) {
        const m = /^(\d{13,})\s+(\S+)/.exec(line);
        if (m) out.push({ node: n.index, to: m[2]!, t: Number(BigInt(m[1]!) / 1000n) / 1000 });
      }
    }
    return out;
  }

  pids(i: number): number[] {
    const n = this.nodes[i]!;
    return [n.process?.pid, readPid(n.vrrpPid)].filter((p): p is number => p !== undefined && alive(p));
  }

  async close(): Promise<void> {
    this.vip.stop();
    for (const n of this.nodes) {
      if (this.running(n.index)) this.signal(n.index, 'SIGTERM');
    }
    await Promise.race([Promise.all(this.nodes.map((n) => n.exit)), sleep(3000)]);
    await this.cloudLab?.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function isZombie(pid: number): boolean {
  try {
    return / Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\)/, ''));
  } catch {
    return true;
  }
}
