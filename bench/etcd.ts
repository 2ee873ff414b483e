/**
 * `npm run bench:etcd`: the etcd election backend's SIGKILL failover time against the heartbeat
 * backend at comparable timers, and the load it puts on etcd (requests/s, bytes/s) for a fleet of
 * shared IPs, so operators can size their etcd. Writes the raw results (JSON) and ETCD-RESULTS.md.
 * Everything runs on loopback; Ctrl-C stops every process it started and removes its temp dirs.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { CLI_ENTRY } from '../src/lab/local-cluster.js';
import type { EtcdCluster } from '../test/lib/etcd-cluster.js';
import { parseEtcdBenchArgs, USAGE, type EtcdBenchArgs } from './etcd-lib/args.js';
import { raftLabel, reviveEtcd, startEtcd, type RaftTimers } from './etcd-lib/etcd-raft.js';
import { runLoad } from './etcd-lib/load.js';
import { renderEtcdReport } from './etcd-lib/report.js';
import type { EtcdBenchResults } from './etcd-lib/results.js';
import { loadAverage, machineInfo } from './lib/machine.js';
import { createScenario, recover, runFailoverTrial, scenarioById, startScenario, type ScenarioCluster } from './etcd-lib/scenarios.js';

const started = Date.now();
const log = (line: string): void => {
  process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(5)}s] ${line}\n`);
};

/** Everything to tear down on exit or Ctrl-C, newest first. */
const cleanups = new Map<number, { name: string; fn: () => Promise<void> }>();
let cleanupSeq = 0;
function track(name: string, fn: () => Promise<void>): () => void {
  const id = ++cleanupSeq;
  cleanups.set(id, { name, fn });
  return () => cleanups.delete(id);
}
async function cleanupAll(): Promise<void> {
  for (const [id, c] of [...cleanups].reverse()) {
    cleanups.delete(id);
    await c.fn().catch((err: Error) => log(`cleanup ${c.name}: ${err.message}`));
  }
}

/** Last resort on Ctrl-C: SIGKILL this process's own children (by parent pid) that a cleanup missed. */
function killOwnChildren(): number {
  let killed = 0;
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid) {
        process.kill(Number(pid), 'SIGKILL');
        killed++;
      }
    } catch {
      /* gone */
    }
  }
  return killed;
}

function firstLine(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).split('\n')[0]!.trim();
  } catch {
    return `${cmd} (version unknown)`;
  }
}

function machine(): EtcdBenchResults['meta']['machine'] {
  return { ...machineInfo(), etcd: firstLine('etcd', ['--version']) };
}

/** Other benchmarks, test runs, keepalived or etcd already running (the machine is shared). */
function concurrentWork(): string[] {
  const kinds = new Map<string, number>();
  const patterns: [RegExp, string][] = [
    [/dist\/bench\/run\.js/, 'npm run bench (ipwarden vs keepalived)'],
    [/(^|\/)tap(\s|$)|\/tap\/dist/, 'tap test run'],
    [/(^|\/)keepalived\s/, 'keepalived'],
    [/(^|\/)etcd\s/, 'etcd'],
    [/cli\/main\.js run /, 'ipwarden daemon'],
  ];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    if (Number(pid) === process.pid) continue;
    let cmd: string;
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
    } catch {
      continue;
    }
    for (const [re, kind] of patterns) {
      if (re.test(cmd)) {
        kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
        break;
      }
    }
  }
  return [...kinds].map(([k, n]) => `${n} × ${k}`);
}

function save(args: EtcdBenchArgs, r: EtcdBenchResults): void {
  mkdirSync(dirname(args.json), { recursive: true });
  writeFileSync(args.json, `${JSON.stringify(r, null, 1)}\n`);
}

function render(args: EtcdBenchArgs, r: EtcdBenchResults): void {
  const notesFile = args.notes ?? (existsSync('bench/etcd-lib/notes.md') ? 'bench/etcd-lib/notes.md' : undefined);
  const notes = notesFile ? readFileSync(notesFile, 'utf8') : undefined;
  mkdirSync(dirname(args.out), { recursive: true });
  writeFileSync(args.out, renderEtcdReport(r, notes ? { notes } : {}));
  log(`wrote ${args.out}${args.reportOnly ? '' : ` and ${args.json}`}`);
}

async function failoverPhase(args: EtcdBenchArgs, r: EtcdBenchResults, stopped: () => boolean): Promise<void> {
  const scenarios = args.scenarios.map((id) => scenarioById(id)!);
  const etcds = new Map<string, EtcdCluster>();
  const clusters: ScenarioCluster[] = [];
  const untrack: (() => void)[] = [];
  try {
    const rafts = new Map<string, RaftTimers>();
    for (const s of scenarios) if (s.raft) rafts.set(raftLabel(s.raft), s.raft);
    for (const [label, raft] of rafts) {
      log(`starting etcd (${label})`);
      await startEtcd(raft, (e) => {
        etcds.set(label, e);
        untrack.push(track(`etcd ${label}`, () => e.destroy()));
      });
    }
    for (const [i, s] of scenarios.entries()) {
      const e = s.raft ? etcds.get(raftLabel(s.raft)) : undefined;
      log(`starting ${s.id}: ${s.title}`);
      const sc = createScenario(s, 11 + 3 * i, e ? { endpoints: e.clientUrls(), prefix: `/ipwarden-bench-${s.id}` } : undefined);
      clusters.push(sc);
      untrack.push(track(`cluster ${s.id}`, () => sc.cluster.destroy()));
      await startScenario(sc);
    }
    for (let run = 1; run <= args.runs && !stopped(); run++) {
      for (const fault of args.faults) {
        const line: string[] = [];
        for (const sc of clusters) {
          if (stopped()) break;
          try {
            const raft = sc.scenario.raft;
            const e = raft ? etcds.get(raftLabel(raft)) : undefined;
            if (e && raft) {
              const dead = await reviveEtcd(e, raft);
              if (dead.length) {
                const what = `run ${run}: etcd (${raftLabel(raft)}) members ${dead.join(', ')} ended from outside; restarted them`;
                log(`  !! ${what}`);
                r.meta.errors.push(what);
              }
            }
            const t = await runFailoverTrial(sc, fault, run);
            r.failover.push(t);
            line.push(`${sc.scenario.id} ${t.electedMs ?? `miss (${t.error})`}`);
          } catch (err) {
            const message = (err as Error).message;
            r.failover.push({ scenario: sc.scenario.id, fault, run, doubleMasters: 0, samples: 0, settleMs: 0, offsetMs: 0, error: message });
            line.push(`${sc.scenario.id} error`);
            log(`  ${sc.scenario.id} ${fault} run ${run}: ${message}`);
            await recover(sc).catch((e: Error) => log(`  recover ${sc.scenario.id}: ${e.message}`));
          }
        }
        log(`run ${run}/${args.runs} ${fault}: ${line.join(', ')} (ms)`);
      }
      save(args, r);
    }
  } finally {
    for (const sc of clusters) await sc.cluster.destroy();
    for (const e of etcds.values()) await e.destroy();
    for (const u of untrack) u();
  }
}

async function main(): Promise<void> {
  let args: EtcdBenchArgs;
  try {
    args = parseEtcdBenchArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench:etcd: ${(err as Error).message} (--help for usage)\n`);
    process.exit(2);
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (args.reportOnly) {
    const r = JSON.parse(readFileSync(args.reportOnly, 'utf8')) as EtcdBenchResults;
    render(args, r);
    return;
  }
  for (const [bin, pkg] of [['etcd', 'etcd-server'], ['etcdctl', 'etcd-client'], ['ss', 'iproute2']] as const) {
    try {
      execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore', env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` } });
    } catch {
      process.stderr.write(`bench:etcd: ${bin} not found (Debian: apt-get install ${pkg})\n`);
      process.exit(2);
    }
  }
  if (!existsSync(CLI_ENTRY)) {
    process.stderr.write(`bench:etcd: ${CLI_ENTRY} missing: run npm run build first\n`);
    process.exit(2);
  }

  const r: EtcdBenchResults = {
    meta: {
      date: new Date().toISOString(),
      command: `npm run bench:etcd${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
      machine: machine(),
      concurrent: concurrentWork(),
      runs: args.runs,
      quick: args.quick,
      scenarios: args.phases.includes('failover') ? args.scenarios : [],
      faults: args.phases.includes('failover') ? args.faults : [],
      loadSeconds: args.loadSeconds,
      burstSeconds: args.burstSeconds,
      errors: [],
    },
    failover: [],
    load: [],
  };
  if (args.loadFrom) {
    const earlier = JSON.parse(readFileSync(args.loadFrom, 'utf8')) as EtcdBenchResults;
    r.load = earlier.load;
    r.meta.loadSeconds = earlier.meta.loadSeconds;
    r.meta.burstSeconds = earlier.meta.burstSeconds;
    r.meta.loadFrom = { date: earlier.meta.loadFrom?.date ?? earlier.meta.date, command: earlier.meta.loadFrom?.command ?? earlier.meta.command, machine: earlier.meta.loadFrom?.machine ?? earlier.meta.machine, concurrent: earlier.meta.loadFrom?.concurrent ?? earlier.meta.concurrent };
  }
  let aborted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (aborted) return;
    aborted = true;
    log(`${signal}: stopping every process and removing temp dirs`);
    r.meta.aborted = true;
    void (async () => {
      await cleanupAll();
      // a step in flight may have started a process after the first pass
      await new Promise((res) => setTimeout(res, 500));
      await cleanupAll();
      const stray = killOwnChildren();
      if (stray) log(`killed ${stray} stray child process(es)`);
    })().finally(() => {
      save(args, r);
      log(`partial results kept in ${args.json}`);
      process.exit(130);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  if (r.meta.concurrent.length) log(`machine shared with: ${r.meta.concurrent.join('; ')}`);

  try {
    if (args.phases.includes('failover')) {
      log(`failover: N=${args.runs}, scenarios ${args.scenarios.join(', ')}, faults ${args.faults.join(', ')}`);
      try {
        await failoverPhase(args, r, () => aborted);
      } catch (err) {
        if (aborted) return;
        log(`!! failover: ${(err as Error).stack ?? String(err)}`);
        r.meta.errors.push(`failover: ${(err as Error).message}`);
      }
    }
    if (args.phases.includes('load')) {
      for (const candidates of args.candidates) {
        if (aborted) return;
        log(`load: ${args.nodes} daemons, ${args.instances} instances, ${candidates} per instance, ttl ${args.loadTtlMs / 1000} s, ${args.loadSeconds} s + ${args.burstSeconds} s`);
        const res = await runLoad({
          layout: { nodes: args.nodes, instances: args.instances, candidates, ttlMs: args.loadTtlMs },
          seconds: args.loadSeconds,
          burstSeconds: args.burstSeconds,
          log,
          track,
        });
        if (aborted) return;
        r.load.push(res);
        if (res.error) r.meta.errors.push(`load K=${candidates}: ${res.error}`);
        save(args, r);
      }
    }
    if (aborted) return;
    r.meta.machine.loadAfter = loadAverage();
    r.meta.durationS = (Date.now() - started) / 1000;
    save(args, r);
    render(args, r);
  } finally {
    if (!aborted) await cleanupAll();
  }
}

void main().catch(async (err: Error) => {
  log(`bench:etcd failed: ${err.stack ?? err.message}`);
  await cleanupAll();
  process.exit(1);
});
