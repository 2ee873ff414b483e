// @ts-check
/**
 * `npm run package:figures`: the single executable against the install from files (node +
 * dist/src/cli/main.js with node_modules, which is what `npm install -g` puts behind the
 * `ipwarden` command): file size, start-up time of `ipwarden --version` and `ipwarden status`
 * (N runs one after the other: wall clock and CPU time), and a daemon's RSS.
 * Needs `npm run build` and the executable (built here if missing or stale).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ROOT, cachedExecutable } from './executable.mjs';
import { debPath } from './deb.mjs';

const RUNS = Number(process.env.RUNS ?? 20);
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
if (!existsSync(CLI)) throw new Error('dist/ is missing: npm run build first');
const { LocalCluster, sleep } = await import(join(ROOT, 'dist', 'src', 'lab', 'local-cluster.js'));

const exe = await cachedExecutable();
const ways = { executable: [exe], 'node + dist/': [process.execPath, CLI] };

/**
 * Wall clock and CPU time (user + system, from GNU time) of N runs: on a busy machine the CPU
 * time says more than the wall clock, which includes waiting for a core.
 * @param {string[]} argv
 */
function timeRuns(argv) {
  const wall = [];
  const cpu = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const r = spawnSync('/usr/bin/time', ['-f', 'cpu %U %S', ...argv], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
    wall.push(performance.now() - t0);
    if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
    const m = /^cpu ([\d.]+) ([\d.]+)$/m.exec(r.stderr);
    cpu.push((Number(m?.[1]) + Number(m?.[2])) * 1000);
  }
  const med = (/** @type {number[]} */ xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]?.toFixed(0);
  return `wall median ${med(wall)} ms (min ${Math.min(...wall).toFixed(0)}), CPU median ${med(cpu)} ms`;
}

/** RSS of a daemon started the given way: MASTER of a 2-node lab (its peer down), after 3 s. */
async function daemonRss(/** @type {string[]} */ command) {
  const c = new LocalCluster({ nodes: 2, intervalMs: 1000, firstHost: 61, command });
  try {
    await c.prepare();
    await c.start(c.nodes[0]);
    await c.waitFor('MASTER', 15_000, async () => ((await c.masters()).length === 1 ? true : undefined));
    await sleep(3000);
    const status = readFileSync(`/proc/${c.nodes[0].process.pid}/status`, 'utf8');
    return `${(Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) / 1024).toFixed(1)} MiB`;
  } finally {
    await c.destroy();
  }
}

/** `ipwarden status` against a running daemon, each way. */
async function statusTimes() {
  const c = new LocalCluster({ nodes: 2, intervalMs: 1000, firstHost: 64 });
  try {
    await c.prepare();
    await c.start(c.nodes[0]);
    /** @type {Record<string, string>} */
    const out = {};
    for (const [way, argv] of Object.entries(ways)) out[way] = timeRuns([...argv, 'status', '--control', c.nodes[0].control]);
    return out;
  } finally {
    await c.destroy();
  }
}

const mb = (/** @type {string} */ f) => `${(statSync(f).size / 1024 / 1024).toFixed(1)} MiB`;
console.log(`machine: ${cpus().length} x ${cpus()[0]?.model}, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}, node ${process.version}, ${RUNS} runs each`);
console.log(`size: executable ${mb(exe)}${existsSync(debPath()) ? `, .deb ${mb(debPath())}` : ''}; node itself ${mb(process.execPath)}`);
for (const [way, argv] of Object.entries(ways)) console.log(`ipwarden --version  ${way.padEnd(13)} ${timeRuns([...argv, '--version'])}`);
const status = await statusTimes();
for (const [way, line] of Object.entries(status)) console.log(`ipwarden status     ${way.padEnd(13)} ${line}`);
for (const [way, argv] of Object.entries(ways)) console.log(`daemon RSS          ${way.padEnd(13)} ${await daemonRss(argv)}`);
