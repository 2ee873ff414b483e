/**
 * Three real daemons (child processes on loopback) with the exoscale-eip action, against the API
 * simulator running in this process: kill -9 the master and the Elastic IP ends on the new master
 * alone, never on two instances for longer than one interval; the same with the API failing (503)
 * for 3 s during the failover; a graceful stop hands it over.
 */
import t, { type Test } from 'tap';
import { LocalCluster, sleep, type LabNode } from '../../src/lab/local-cluster.js';
import { LAB_EIP, measureMove, startEipLab, type EipLab } from '../../src/lab/exoscale-lab.js';

const INTERVAL = 400;

async function setup(t: Test): Promise<{ cluster: LocalCluster; lab: EipLab }> {
  let lab: EipLab | undefined;
  const cluster = new LocalCluster({ nodes: 3, intervalMs: INTERVAL, deadRatio: 3, preempt: true, firstHost: 61, instanceExtras: (i) => lab!.instanceExtras(i) });
  t.teardown(async () => {
    await cluster.destroy();
    await lab?.close();
  });
  lab = await startEipLab({ nodes: 3, dir: cluster.dir, operationDelayMs: 40 });
  await cluster.prepare();
  // lab1 first so it wins the first election; the others join as backups
  await cluster.start(cluster.nodes[0]!);
  await Promise.all(cluster.nodes.slice(1).map((n) => cluster.start(n)));
  return { cluster, lab };
}

async function eipOn(cluster: LocalCluster, lab: EipLab, n: LabNode, timeoutMs: number): Promise<void> {
  const id = lab.instanceIds[n.index]!;
  await cluster.waitFor(`${LAB_EIP} on ${n.id} alone`, timeoutMs, async () => (lab.holders().join() === id ? true : undefined));
}

async function singleMaster(cluster: LocalCluster, expect: string, timeoutMs = 10_000): Promise<void> {
  await cluster.waitFor(`${expect} the only MASTER`, timeoutMs, async () => ((await cluster.masters()).join() === expect ? true : undefined));
}

t.test('kill -9 the master: the EIP ends on the new master alone, never on two instances for more than one interval', async (t) => {
  const { cluster, lab } = await setup(t);
  const [lab1, lab2] = cluster.nodes as [LabNode, LabNode, LabNode];
  await singleMaster(cluster, 'lab1');
  await eipOn(cluster, lab, lab1, 10_000);
  t.pass('the first MASTER holds the EIP');

  const killedAt = Date.now();
  await cluster.kill(lab1, 'SIGKILL');
  await singleMaster(cluster, 'lab2');
  await eipOn(cluster, lab, lab2, 10_000);
  await sleep(INTERVAL * 2); // nothing may move it afterwards
  const m = measureMove(lab, killedAt, lab.instanceIds[1]!, lab.instanceIds[0]!);
  t.same(m.holders, [lab.instanceIds[1]], 'exactly one holder: the new master');
  t.ok(m.attachedAfterMs !== undefined && m.detachedAfterMs !== undefined && m.attachedAfterMs <= m.detachedAfterMs, `make-before-break: attached after ${m.attachedAfterMs} ms, old master detached after ${m.detachedAfterMs} ms`);
  t.ok(m.maxMultiHolderMs <= INTERVAL, `on two instances for at most ${m.maxMultiHolderMs} ms (one interval: ${INTERVAL} ms)`);
  t.equal(m.maxUnheldMs, 0, 'never unheld');
  t.notOk(lab.sim.state.events().some((e) => e.type === 'attach' && e.instance === lab.instanceIds[2]), 'the other backup never attached it');

  // graceful stop of the new master: handed over; lab3 attaches, then fences the stopping node (make-before-break)
  const stoppedAt = Date.now();
  await cluster.kill(lab2, 'SIGTERM');
  const lab3 = cluster.nodes[2]!;
  await singleMaster(cluster, 'lab3');
  await eipOn(cluster, lab, lab3, 10_000);
  const g = measureMove(lab, stoppedAt, lab.instanceIds[2]!, lab.instanceIds[1]!);
  t.ok(g.detachedAfterMs !== undefined, `off the stopping master after ${g.detachedAfterMs} ms`);
  t.equal(g.maxUnheldMs, 0, 'a stopping master with a live successor hands over: never unheld');
  t.ok(g.maxMultiHolderMs <= INTERVAL, `hand-over: on two instances for at most ${g.maxMultiHolderMs} ms`);
});

t.test('API down (503 for 3 s) during the failover: still converges on the new master', async (t) => {
  const { cluster, lab } = await setup(t);
  const [lab1, lab2] = cluster.nodes as [LabNode, LabNode, LabNode];
  await singleMaster(cluster, 'lab1');
  await eipOn(cluster, lab, lab1, 10_000);

  const fault = lab.sim.state.faults.add({ kind: 'error', status: 503, message: 'simulated outage' });
  const killedAt = Date.now();
  await cluster.kill(lab1, 'SIGKILL');
  await singleMaster(cluster, 'lab2');
  await sleep(3_000 - (Date.now() - killedAt));
  const failed = lab.sim.state.requests().filter((r) => r.t >= killedAt && r.status === 503).length;
  t.ok(failed > 0, `the new master's calls failed during the outage (${failed} answered 503)`);
  t.same(lab.holders(), [lab.instanceIds[0]], 'meanwhile the EIP stays where it was (nothing half-done)');
  lab.sim.state.faults.remove(fault.id);
  const back = Date.now();
  await eipOn(cluster, lab, lab2, 20_000);
  t.pass(`converged ${Date.now() - back} ms after the API came back`);
  await sleep(INTERVAL * 2);
  const m = measureMove(lab, killedAt, lab.instanceIds[1]!, lab.instanceIds[0]!);
  t.same(m.holders, [lab.instanceIds[1]], 'exactly one holder: the new master');
  t.ok(m.maxMultiHolderMs <= INTERVAL, `on two instances for at most ${m.maxMultiHolderMs} ms`);
  t.same(await cluster.masters(), ['lab2'], 'lab2 held MASTER through the outage (onApiUnreachable: hold)');
});
