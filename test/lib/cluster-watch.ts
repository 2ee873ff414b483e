/**
 * Watching a LocalCluster's election (a stable single MASTER, instants with two MASTERs) and the
 * three-node kill -9 failover scenario, run with daemons from dist/ (test/daemon/failover.test.ts)
 * and from the single executable (test/package/executable.test.ts).
 */
import type { Test } from 'tap';
import { LocalCluster, sleep, type LabNode } from '../../src/lab/local-cluster.js';

/** Waits until one node is MASTER (`expect` if given) and still is `settleMs` later. */
export async function stableMaster(c: LocalCluster, opts: { expect?: string; settleMs: number; timeoutMs?: number }): Promise<LabNode> {
  const { expect, settleMs, timeoutMs = 10_000 } = opts;
  const id = await c.waitFor(`a stable single MASTER${expect ? ` (${expect})` : ''}`, timeoutMs, async () => {
    const m = await c.masters();
    if (m.length !== 1 || (expect && m[0] !== expect)) return undefined;
    await sleep(settleMs);
    const again = await c.masters();
    return again.length === 1 && again[0] === m[0] ? m[0] : undefined;
  });
  return c.nodes.find((n) => n.id === id)!;
}

/** Samples every node's state until stopped; records instants with more than one MASTER. */
export function doubleMasterSampler(c: LocalCluster, everyMs = 5) {
  let running = true;
  const doubles: string[][] = [];
  let samples = 0;
  const done = (async () => {
    while (running) {
      const m = await c.masters();
      samples++;
      if (m.length > 1) doubles.push(m);
      await sleep(everyMs);
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

export interface KillFailoverOptions {
  preempt: boolean;
  intervalMs: number;
  deadRatio: number;
  /** The takeover bound asserted (ms after SIGKILL). */
  budgetMs: number;
  /** How ipwarden is started (LocalClusterOptions.command); default node + dist/. */
  command?: string[];
}

/**
 * 3 daemons on loopback: lab1 (highest priority) is MASTER; kill -9 it; lab2 takes over within
 * the budget naming lab1, never two MASTERs; lab1 restarts and takes the IP back (preempt) or
 * rejoins as BACKUP.
 */
export async function killMasterFailover(t: Test, o: KillFailoverOptions): Promise<void> {
  const settle = { settleMs: 3 * o.intervalMs };
  const lastTransition = async (n: LabNode) => (await c.status(n))?.instances[0]?.lastTransition;
  const c = new LocalCluster({ nodes: 3, intervalMs: o.intervalMs, deadRatio: o.deadRatio, preempt: o.preempt, command: o.command });
  t.teardown(() => c.destroy());
  await c.prepare();
  // lab1 first: with preempt off, whoever ends its hold-off first keeps the IP
  await c.start(c.nodes[0]!);
  await Promise.all(c.nodes.slice(1).map((n) => c.start(n)));
  const first = await stableMaster(c, { expect: 'lab1', ...settle });
  t.equal(first.id, 'lab1', 'the highest priority holds the IP');

  const s = doubleMasterSampler(c);
  const killedAt = Date.now();
  await c.kill(first, 'SIGKILL');
  const second = await stableMaster(c, settle);
  const { doubles, samples } = await s.stop();
  t.equal(second.id, 'lab2', 'the best backup takes over');
  const tr = await lastTransition(second);
  t.ok(tr, 'transition recorded');
  const took = tr!.at - killedAt;
  t.ok(took <= o.budgetMs, `new MASTER ${took} ms after SIGKILL (bound ${o.budgetMs} ms)`);
  t.match(tr!.reason, /lab1/, `reason names the dead master: ${tr!.reason}`);
  t.same(doubles, [], `no sample with two MASTERs (${samples} samples)`);
  t.same(await c.masters(), ['lab2'], 'exactly one MASTER');

  await c.start(first);
  if (o.preempt) {
    await stableMaster(c, { expect: 'lab1', ...settle });
    t.same(await c.masters(), ['lab1'], 'old master takes the IP back (preempt on)');
    t.match((await lastTransition(first))!.reason, /preempting lab2/);
  } else {
    await sleep(o.deadRatio * o.intervalMs * 4);
    t.same(await c.masters(), ['lab2'], 'old master rejoins as BACKUP (preempt off)');
    const st = await c.status(first);
    t.equal(st?.instances[0]?.state, 'BACKUP');
    t.equal(st?.instances[0]?.master, 'lab2');
  }
}
