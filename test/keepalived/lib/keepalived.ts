/**
 * Real keepalived 2.2 nodes for tests: one per lab namespace (test/lib/netns.ts), VRRPv3, unicast peers,
 * fast adverts, run in the foreground (-n -l -D -G -P) with pid files of its own.
 */
import { mkdirSync, writeFileSync, readFileSync, readdirSync, existsSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import type { Lab, LabHost } from '../../lib/netns.js';
import { quoteForKeepalivedConf } from '../../../src/util/argv.js';

export interface VrrpInstanceSpec {
  name: string;
  /** Initial state keyword (BACKUP for both: the priority decides). */
  state?: 'MASTER' | 'BACKUP';
  priority: number;
  routerId: number;
  /** keepalived's own VIP (VRRPv3 needs one), e.g. "198.51.100.100/32". */
  vip: string;
  /** Advert interval in seconds (VRRPv3: 0.01..40.95). */
  advertInt?: number;
  /** Script strings as ipwarden's config holds them (quoted for keepalived.conf here). */
  notify?: string;
  notifyMaster?: string;
  notifyBackup?: string;
  notifyFault?: string;
  notifyStop?: string;
  nopreempt?: boolean;
  /** A file keepalived tracks with weight 0: a non-zero number in it puts the instance in FAULT. */
  trackFile?: string;
}

export interface KeepalivedSpec {
  host: LabHost;
  peers: LabHost[];
  instances: VrrpInstanceSpec[];
  /** global_defs notify_fifo PATH. */
  fifo?: string;
}

/** keepalived.conf text for one node. */
export function keepalivedConf(spec: KeepalivedSpec): string {
  const lines = ['global_defs {', `  router_id ${spec.host.name}`, '  vrrp_version 3', '  script_user root'];
  if (spec.fifo) lines.push(`  notify_fifo ${spec.fifo}`);
  lines.push('}', '');
  for (const inst of spec.instances) {
    if (inst.trackFile) lines.push(`track_file tf_${inst.name} {`, `  file ${inst.trackFile}`, '  weight 0', '}', '');
  }
  for (const inst of spec.instances) {
    lines.push(`vrrp_instance ${inst.name} {`);
    lines.push(`  state ${inst.state ?? 'BACKUP'}`, '  interface e0', `  virtual_router_id ${inst.routerId}`, `  priority ${inst.priority}`);
    lines.push(`  advert_int ${inst.advertInt ?? 0.1}`);
    if (inst.nopreempt) lines.push('  nopreempt');
    lines.push(`  unicast_src_ip ${spec.host.address}`, '  unicast_peer {', ...spec.peers.map((p) => `    ${p.address}`), '  }');
    lines.push('  virtual_ipaddress {', `    ${inst.vip} dev e0`, '  }');
    if (inst.trackFile) lines.push('  track_file {', `    tf_${inst.name}`, '  }');
    const scripts: [string, string | undefined][] = [
      ['notify', inst.notify],
      ['notify_master', inst.notifyMaster],
      ['notify_backup', inst.notifyBackup],
      ['notify_fault', inst.notifyFault],
      ['notify_stop', inst.notifyStop],
    ];
    for (const [kw, s] of scripts) if (s !== undefined) lines.push(`  ${kw} ${quoteForKeepalivedConf(s)} root`);
    lines.push('}', '');
  }
  return `${lines.join('\n')}\n`;
}

export interface RunningKeepalived {
  host: LabHost;
  conf: string;
  proc: ChildProcess;
  /** Everything keepalived logged (stdout+stderr). */
  output(): string;
  /** SIGTERM (keepalived sends STOP notifies) or SIGKILL; waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** A crash: SIGKILL to the VRRP child and the parent at once (no STOP notifies, no restart). */
  crash(): Promise<void>;
}

/** Starts keepalived in the host's namespace with files under `dir`. */
export function startKeepalived(lab: Lab, spec: KeepalivedSpec, dir: string): RunningKeepalived {
  mkdirSync(dir, { recursive: true });
  const conf = join(dir, `keepalived-${spec.host.name}.conf`);
  writeFileSync(conf, keepalivedConf(spec));
  const pid = (n: string) => join(dir, `${spec.host.name}-${n}.pid`);
  const proc = lab.spawn(spec.host, ['keepalived', '-n', '-l', '-D', '-G', '-P', '-f', conf, '-p', pid('main'), '-r', pid('vrrp'), '-c', pid('checkers')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout?.on('data', (d) => (out += String(d)));
  proc.stderr?.on('data', (d) => (out += String(d)));
  return {
    host: spec.host,
    conf,
    proc,
    output: () => out,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = once(proc, 'exit');
      // `ip netns exec` execs keepalived: the child pid is keepalived's parent process.
      proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), 8000);
      await exited;
      clearTimeout(timer);
    },
    async crash() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = once(proc, 'exit');
      const child = Number(readFileSync(pid('vrrp'), 'utf8').trim());
      process.kill(child, 'SIGKILL');
      proc.kill('SIGKILL');
      await exited;
      // keepalived refuses to start ("daemon is already running") while the VRRP child of its pid file
      // still exists: wait until it is reaped, not just killed (a restart right after raced it)
      const deadline = Date.now() + 10_000;
      while (existsSync(`/proc/${child}`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    },
  };
}

/** A script that records its argv: each run writes one new file `<dir>/<seq>.<pid>` with $0 and its arguments, NUL-terminated. */
export function writeArgvLogger(path: string): string {
  writeFileSync(
    path,
    [
      '#!/bin/sh',
      '# usage: argv-logger DIR [ARGS...]: records "$0" DIR ARGS... into a new file in DIR',
      'dir="$1"',
      'tmp="$dir/.tmp.$$"',
      'printf \'%s\\0\' "$0" "$@" > "$tmp"',
      'mv "$tmp" "$dir/$(date +%s%N).$$"',
      '',
    ].join('\n'),
  );
  chmodSync(path, 0o755);
  return path;
}

/** The records an argv logger wrote into `dir`, oldest first: each the argv array ($0 first). */
export function readArgvRecords(dir: string): string[][] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => !f.startsWith('.'))
    .sort((a, b) => Number(a.split('.')[0]) - Number(b.split('.')[0]))
    .map((f) => readFileSync(join(dir, f), 'utf8').split('\0').slice(0, -1));
}

/** Polls `fn` every 25 ms until it returns a truthy value or `ms` pass; returns the last value. */
export async function waitFor<T>(fn: () => T | Promise<T>, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v || Date.now() >= deadline) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
}
