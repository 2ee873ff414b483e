/**
 * `npm run chaos`: overlapping faults against real daemons in network namespaces, invariants judged from
 * outside (see bench/chaos-lib/). Prints its seed first; the seed replays the schedule. Exits 1 on a violation.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHAOS_USAGE, parseChaosArgs } from './chaos-lib/args.js';
import { RESULT_FILE, runCampaign, violationContext } from './chaos-lib/campaign.js';
import { renderChaosReport, type StoredCampaign } from './chaos-lib/report.js';
import { loadAverage, machineInfo } from './lib/machine.js';

async function main(): Promise<number> {
  let args;
  try {
    args = parseChaosArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`chaos: ${(err as Error).message}\n${CHAOS_USAGE}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${CHAOS_USAGE}\n`);
    return 0;
  }
  if (args.reportOnly) {
    const runs = readdirSync(args.out)
      .filter((f) => /^chaos-.*\.json$/.test(f))
      .sort()
      .map((f) => JSON.parse(readFileSync(join(args.out, f), 'utf8')) as StoredCampaign);
    const notes = join(args.out, 'notes.md');
    writeFileSync('bench/CHAOS-RESULTS.md', renderChaosReport(runs, existsSync(notes) ? readFileSync(notes, 'utf8') : undefined));
    process.stdout.write(`wrote bench/CHAOS-RESULTS.md from ${runs.length} run(s)\n`);
    return 0;
  }
  const started = Date.now();
  const log = (line: string): void => void process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(5)}s] ${line}\n`);
  process.stdout.write(`chaos: seed ${args.seed}\n`);
  const machine = machineInfo();
  // the commit the run starts from (the daemons it restarts load the build of that moment)
  const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' });
  const result = await runCampaign({
    seed: args.seed,
    durationMs: args.durationMs,
    nodes: args.nodes,
    intervalMs: args.intervalMs,
    deadRatio: 3,
    apiChangeMs: args.apiDelayMs,
    provider: args.provider,
    election: args.election,
    ttlMs: args.ttlMs,
    subnet: args.subnet,
    checkIntervalMs: 500,
    reconcile: '5s',
    slackMs: 1500,
    ...(args.kinds ? { kinds: args.kinds } : {}),
    logDir: join(args.out, `logs-${args.provider}-${args.election}`),
    log,
  });
  const stored: StoredCampaign = { ...result, machine, finishedAt: new Date().toISOString(), loadAfter: loadAverage(), ...(head.status === 0 ? { commit: head.stdout.trim() } : {}) };
  mkdirSync(args.out, { recursive: true });
  writeFileSync(RESULT_FILE(args.out, args.provider, args.election), `${JSON.stringify(stored)}\n`);
  const v = result.verdict;
  process.stdout.write(`chaos: seed ${args.seed}: ${result.executed.length} faults, ${Object.values(v.checks).reduce((a, b) => a + b, 0)} invariant checks, ${v.violations.length} violations; API calls max ${v.maxCallsPerSecond}/s, ${v.callsPerFault} per fault\n`);
  for (const x of v.violations) process.stdout.write(`\nVIOLATION ${x.invariant}: ${x.message}\n${violationContext(result, x.t)}\n`);
  return v.violations.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`chaos: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
