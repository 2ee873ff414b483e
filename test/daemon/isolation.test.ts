/**
 * Process level: a third-party check plugin that busy-loops for 5 s on the MASTER runs in its own
 * worker thread (src/plugins/isolation/), so the MASTER keeps sending adverts: the BACKUP never
 * takes over, and the check's result still arrives. Real daemons on loopback, real UDP.
 */
import t from 'tap';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { LocalCluster } from '../../src/lab/local-cluster.js';
import { stableMaster } from '../lib/cluster-watch.js';
import { freePort } from '../lib/checks/lab.js';
import { CLI } from '../lib/env.js';

const INTERVAL = 100;
const DEAD_RATIO = 3; // the BACKUP takes over after 300 ms without adverts
const BUSY_MS = 5000;

const BUSY_PLUGIN = `import { appendFileSync, existsSync } from 'node:fs';
export default {
  kind: 'check',
  name: 'busy-loop',
  description: 'busy-loops (blocks its thread) while a trigger file exists',
  parseConfig: (raw) =>
    typeof raw.trigger === 'string' && typeof raw.ms === 'number'
      ? { ok: true, config: { trigger: raw.trigger, ms: raw.ms } }
      : { ok: false, issues: [{ path: ['trigger'], message: 'required' }] },
  async run({ config }) {
    if (!existsSync(config.trigger)) return { ok: true, detail: 'idle' };
    appendFileSync(config.trigger + '.runs', 'run\\n');
    const started = Date.now();
    while (Date.now() - started < config.ms) {}
    return { ok: true, detail: 'busy-looped ' + config.ms + 'ms' };
  },
};
`;

t.test('a check plugin busy-looping for 5 s on the MASTER causes no failover, and its result arrives', async (t) => {
  const metricsPort = await freePort('127.0.0.11');
  const c: LocalCluster = new LocalCluster({
    nodes: 2,
    intervalMs: INTERVAL,
    deadRatio: DEAD_RATIO,
    nodeExtras: (i) => (i === 0 ? { plugins: [join(c.dir, 'busy-loop.mjs')], metrics: { listen: `127.0.0.11:${metricsPort}` } } : {}),
    instanceExtras: (i): Record<string, unknown> => (i === 0 ? { checks: [{ plugin: 'busy-loop', name: 'busy', trigger: join(c.dir, 'busy.trigger'), ms: BUSY_MS, interval: '200ms', timeout: '15s' }] } : {}),
  });
  t.teardown(() => c.destroy());
  writeFileSync(join(c.dir, 'busy-loop.mjs'), BUSY_PLUGIN);
  await c.prepare();
  await c.startAll();
  const [lab1, lab2] = c.nodes as [(typeof c.nodes)[0], (typeof c.nodes)[0]];
  await stableMaster(c, { expect: 'lab1', settleMs: 3 * INTERVAL });
  const before = await c.status(lab2);
  const lab2Transitions = before!.instances[0]!.lastTransition;

  writeFileSync(join(c.dir, 'busy.trigger'), '');
  const seen = new Set<string>();
  const result = await c.waitFor('the busy check result on lab1', 30_000, async () => {
    const [s1, s2] = await Promise.all([c.status(lab1), c.status(lab2)]);
    seen.add(`lab1 ${s1?.instances[0]?.state ?? 'unreachable'}`);
    seen.add(`lab2 ${s2?.instances[0]?.state ?? 'unreachable'}`);
    const r = s1?.instances[0]?.checks.find((ch) => ch.name === 'busy')?.lastResult;
    return r?.detail.startsWith('busy-looped') ? { result: r, status: s1! } : undefined;
  }, 50);
  t.match(result.result, { ok: true, detail: `busy-looped ${BUSY_MS}ms` }, 'the check result arrived');
  t.ok(result.result.latencyMs >= BUSY_MS, `after ${result.result.latencyMs} ms`);
  t.same([...seen].sort(), ['lab1 MASTER', 'lab2 BACKUP'], 'lab1 stayed MASTER and lab2 BACKUP throughout');
  const after = await c.status(lab2);
  t.same(after!.instances[0]!.lastTransition, lab2Transitions, 'lab2 made no transition');
  t.equal(after!.instances[0]!.master, 'lab1');
  // the MASTER's own loop was free: its status reports the measurement
  t.match(result.status.eventLoop, { p50Ms: Number, p99Ms: Number, maxMs: Number, blocks: Number });
  const metrics = await (await fetch(`http://127.0.0.11:${metricsPort}/metrics`)).text();
  t.match(metrics, /^ipwarden_event_loop_delay_seconds\{stat="p99"\} [\d.e-]+$/m, 'the delay is a metric');
  t.match(metrics, /^ipwarden_event_loop_blocks_total \d+$/m);
  const status = spawnSync(process.execPath, [CLI, 'status', '--control', lab1.control], { encoding: 'utf8' });
  t.equal(status.status, 0, status.stderr);
  t.match(status.stdout, /^event loop: delay p50 \d+ms p99 \S+ max \S+ \(last \S+\)/m, 'and a line of ipwarden status');

  // SIGTERM while the plugin busy-loops in its worker: the daemon says goodbye and exits at once
  const runs = () => readFileSync(join(c.dir, 'busy.trigger.runs'), 'utf8').split('\n').length - 1;
  const busyRuns = runs();
  await c.waitFor('the next busy run', 10_000, async () => (runs() > busyRuns ? true : undefined));
  const child = lab1.process!;
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const stopAt = Date.now();
  child.kill('SIGTERM');
  t.equal(await exit, 0, 'exit code 0');
  lab1.process = undefined;
  const took = Date.now() - stopAt;
  t.ok(took < BUSY_MS / 2, `stopped in ${took} ms while its check's worker was busy for ${BUSY_MS} ms`);
  rmSync(join(c.dir, 'busy.trigger'));
  await c.waitFor('lab2 MASTER after the goodbye', 5000, async () => ((await c.masters()).join() === 'lab2' ? true : undefined));
});
