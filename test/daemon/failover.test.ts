/**
 * Process level: real daemons (child processes) on loopback addresses, real UDP, real signals.
 * Bounds are asserted loosely here; the benchmark measures them precisely.
 */
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { LocalCluster, sleep, type LabNode } from '../../src/lab/local-cluster.js';

const INTERVAL = 100;
const DEAD_RATIO = 3;
const BUDGET = DEAD_RATIO * INTERVAL + 150; // the loose bound for tests

async function stableMaster(c: LocalCluster, expect?: string): Promise<LabNode> {
  const id = await c.waitFor('a stable single MASTER', 10_000, async () => {
    const m = await c.masters();
    if (m.length !== 1 || (expect && m[0] !== expect)) return undefined;
    await sleep(3 * INTERVAL);
    const again = await c.masters();
    return again.length === 1 && again[0] === m[0] ? m[0] : undefined;
  });
  return c.nodes.find((n) => n.id === id)!;
}

/** Samples every node's state until stopped; records instants with more than one MASTER. */
function sampler(c: LocalCluster) {
  let running = true;
  const doubles: string[][] = [];
  let samples = 0;
  const done = (async () => {
    while (running) {
      const m = await c.masters();
      samples++;
      if (m.length > 1) doubles.push(m);
      await sleep(5);
    }
  })();
  return {
    async stop() {
      running = false;
      await done;
      return { doubles, samples };
    },
  };
}

async function lastTransition(c: LocalCluster, n: LabNode) {
  return (await c.status(n))?.instances[0]?.lastTransition;
}

for (const preempt of [true, false]) {
  t.test(`kill -9 the master, 3 daemons on loopback (preempt ${preempt ? 'on' : 'off'})`, async (t) => {
    const c = new LocalCluster({ nodes: 3, intervalMs: INTERVAL, deadRatio: DEAD_RATIO, preempt });
    t.teardown(() => c.destroy());
    await c.prepare();
    // lab1 first: with preempt off, whoever ends its hold-off first keeps the IP
    await c.start(c.nodes[0]!);
    await Promise.all(c.nodes.slice(1).map((n) => c.start(n)));
    const first = await stableMaster(c, 'lab1');
    t.equal(first.id, 'lab1', 'the highest priority holds the IP');

    const s = sampler(c);
    const killedAt = Date.now();
    await c.kill(first, 'SIGKILL');
    const second = await stableMaster(c);
    const { doubles, samples } = await s.stop();
    t.equal(second.id, 'lab2', 'the best backup takes over');
    const tr = await lastTransition(c, second);
    t.ok(tr, 'transition recorded');
    const took = tr!.at - killedAt;
    t.ok(took <= BUDGET, `new MASTER ${took} ms after SIGKILL (bound ${BUDGET} ms)`);
    t.match(tr!.reason, /lab1/, `reason names the dead master: ${tr!.reason}`);
    t.same(doubles, [], `no sample with two MASTERs (${samples} samples)`);
    t.same(await c.masters(), ['lab2'], 'exactly one MASTER');

    await c.start(first);
    if (preempt) {
      await stableMaster(c, 'lab1');
      t.same(await c.masters(), ['lab1'], 'old master takes the IP back (preempt on)');
      t.match((await lastTransition(c, first))!.reason, /preempting lab2/);
    } else {
      await sleep(DEAD_RATIO * INTERVAL * 4);
      t.same(await c.masters(), ['lab2'], 'old master rejoins as BACKUP (preempt off)');
      const st = await c.status(first);
      t.equal(st?.instances[0]?.state, 'BACKUP');
      t.equal(st?.instances[0]?.master, 'lab2');
    }
  });
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
