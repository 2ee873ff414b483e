/**
 * Process level: real daemons (child processes) on loopback addresses, real UDP, real signals.
 * Bounds are asserted loosely here; the benchmark measures them precisely.
 */
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { LocalCluster, sleep, type LabNode } from '../../src/lab/local-cluster.js';
import { killMasterFailover, stableMaster as stableMasterIn } from '../lib/cluster-watch.js';

const INTERVAL = 100;
const DEAD_RATIO = 3;
const BUDGET = DEAD_RATIO * INTERVAL + 150; // the loose bound for tests

function stableMaster(c: LocalCluster, expect?: string): Promise<LabNode> {
  return stableMasterIn(c, { expect, settleMs: 3 * INTERVAL });
}

async function lastTransition(c: LocalCluster, n: LabNode) {
  return (await c.status(n))?.instances[0]?.lastTransition;
}

for (const preempt of [true, false]) {
  t.test(`kill -9 the master, 3 daemons on loopback (preempt ${preempt ? 'on' : 'off'})`, (t) =>
    killMasterFailover(t, { preempt, intervalMs: INTERVAL, deadRatio: DEAD_RATIO, budgetMs: BUDGET }),
  );
}

t.test('SIGTERM hands over at once (goodbye) and exits 0', async (t) => {
  const c = new LocalCluster({ nodes: 2, intervalMs: 1000, deadRatio: DEAD_RATIO });
  t.teardown(() => c.destroy());
  await c.prepare();
  await c.startAll();
  const first = await c.waitFor('lab1 MASTER', 15_000, async () => ((await c.masters()).join() === 'lab1' ? true : undefined));
  t.ok(first);
  const child = c.nodes[0]!.process!;
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const stoppedAt = Date.now();
  child.kill('SIGTERM');
  t.equal(await exit, 0, 'exit code 0');
  c.nodes[0]!.process = undefined;
  await c.waitFor('lab2 MASTER', 3000, async () => ((await c.masters()).join() === 'lab2' ? true : undefined), 5);
  const tr = await lastTransition(c, c.nodes[1]!);
  const took = tr!.at - stoppedAt;
  t.ok(took < 500, `hand-over in ${took} ms at a 1 s interval (no dead timer)`);
  t.match(tr!.reason, /goodbye/);
  const log = readFileSync(c.nodes[0]!.logFile, 'utf8');
  t.match(log, /"to":"STOP"/, 'STOP transition logged');
});

t.test('SIGHUP: a broken config is rejected and the running one kept; a valid one is applied in place', async (t) => {
  const c = new LocalCluster({ nodes: 2, intervalMs: INTERVAL, deadRatio: DEAD_RATIO });
  t.teardown(() => c.destroy());
  await c.prepare();
  await c.startAll();
  await stableMaster(c, 'lab1');
  const n = c.nodes[1]!;
  const good = readFileSync(n.configFile, 'utf8');
  writeFileSync(n.configFile, good.replace('"interval": "100ms"', '"interval": "fast"'));
  n.process!.kill('SIGHUP');
  await c.waitFor('reload rejected in the log', 5000, async () => (/reload-rejected/.test(readFileSync(n.logFile, 'utf8')) ? true : undefined));
  const log = readFileSync(n.logFile, 'utf8');
  t.match(log, /instances\.lab\.interval: expected a duration like \\"1s\\", got \\"fast\\"/, 'the error names the field');
  const st = await c.status(n);
  t.equal(st?.instances[0]?.state, 'BACKUP', 'still running with the old config');
  t.equal(st?.instances[0]?.intervalMs, INTERVAL);

  // a valid change: priority 100 -> 200 makes lab2 preempt, without a restart of the instance
  writeFileSync(n.configFile, good.replace('"priority": 100', '"priority": 200'));
  n.process!.kill('SIGHUP');
  await stableMaster(c, 'lab2');
  const after = await c.status(n);
  t.equal(after?.instances[0]?.basePriority, 200);
  t.match(after?.instances[0]?.lastTransition?.reason ?? '', /preempting lab1/, 'kept its state and preempted');
});

t.test('SIGUSR2 lowers and SIGUSR1 raises the priority (draining without restart)', async (t) => {
  const c = new LocalCluster({ nodes: 2, intervalMs: INTERVAL, deadRatio: DEAD_RATIO });
  t.teardown(() => c.destroy());
  await c.prepare();
  c.writeConfig(c.nodes[0]!, { priority: 101 });
  await c.start(c.nodes[0]!);
  await c.start(c.nodes[1]!);
  await stableMaster(c, 'lab1');
  const n = c.nodes[0]!;
  // standard signals are not queued: send one, wait until it took effect, then the next
  const nudge = async (sig: NodeJS.Signals, expect: number) => {
    n.process!.kill(sig);
    await c.waitFor(`base priority ${expect}`, 5000, async () => ((await c.status(n))?.instances[0]?.basePriority === expect ? true : undefined), 5);
  };
  await nudge('SIGUSR2', 100);
  await nudge('SIGUSR2', 99); // below lab2's 100
  await stableMaster(c, 'lab2');
  t.equal((await c.status(n))?.instances[0]?.basePriority, 99);
  await nudge('SIGUSR1', 100);
  await nudge('SIGUSR1', 101);
  await stableMaster(c, 'lab1');
  t.equal((await c.status(n))?.instances[0]?.basePriority, 101);
});
