/**
 * Three real daemons (child processes on loopback) with the hetzner-floating-ip action, against the
 * Hetzner simulator in this process with 2 s actions (the order of Hetzner's real assign time):
 * kill -9 the MASTER and the floating IP ends on the new MASTER, reaching it within one action of
 * its election; the API down (503) during the failover; a read-only token.
 */
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { LocalCluster, sleep, type LabNode } from '../../src/lab/local-cluster.js';
import { startHetznerLab, type HetznerLab } from '../../src/hetzner/lab.js';
import { READONLY_TOKEN, VIP } from './lib/sim.js';

const INTERVAL = 400;
const ACTION_MS = 2_000;
/** Scheduling slack on a loaded 2-core CI machine: action polling (250 ms) plus timer/process delays. */
const SLACK_MS = 1_000;

async function setup(t: Test, action: Record<string, unknown> = {}, token?: string): Promise<{ cluster: LocalCluster; lab: HetznerLab }> {
  let lab: HetznerLab | undefined;
  const cluster = new LocalCluster({
    nodes: 3,
    intervalMs: INTERVAL,
    deadRatio: 3,
    preempt: true,
    firstHost: 161,
    instanceExtras: (i) => lab!.instanceExtras(i),
    // the daemons are plain built JS: without tap's loaders (NODE_OPTIONS) they start in a fraction of the time
    spawner: (_i, argv, fd) => spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', fd, fd], env: { ...process.env, NODE_OPTIONS: '' } }),
  });
  t.teardown(async () => {
    await cluster.destroy();
    await lab?.close();
  });
  lab = await startHetznerLab({ nodes: 3, dir: cluster.dir, operationDelayMs: ACTION_MS, action: { reconcile: '30s', ...action } });
  if (token) writeFileSync(lab.tokenFile, token);
  await cluster.prepare();
  // one after the other: lab1 wins the first election, and a loaded machine starts one daemon at a time faster
  for (const n of cluster.nodes) await cluster.start(n);
  return { cluster, lab };
}

const holder = (lab: HetznerLab) => lab.holders().join();

/**
 * The holder changes recorded after `mark` (a count from `changeMark`). Counting, not a timestamp:
 * the change a test just waited for can carry the same millisecond as the fault that follows it.
 */
const changeMark = (lab: HetznerLab): number => lab.sim.history.events(0, VIP).length;
const changesSince = (lab: HetznerLab, mark: number): string[][] => lab.sim.history.events(0, VIP).slice(mark).map((e) => e.holders);

async function singleMaster(cluster: LocalCluster, expect: string, timeoutMs = 15_000): Promise<number> {
  await cluster.waitFor(`${expect} the only MASTER`, timeoutMs, async () => ((await cluster.masters()).join() === expect ? true : undefined), 25);
  return Date.now();
}

t.test('kill -9 the MASTER: the floating IP ends on the new MASTER within one action of its election', async (t) => {
  const { cluster, lab } = await setup(t);
  const [lab1, lab2] = cluster.nodes as [LabNode, LabNode, LabNode];
  await singleMaster(cluster, 'lab1');
  await cluster.waitFor('the floating IP on lab1', 15_000, async () => (holder(lab) === lab.targets[0] ? true : undefined));

  const beforeKill = changeMark(lab);
  const killedAt = Date.now();
  await cluster.kill(lab1, 'SIGKILL');
  const electedAt = await singleMaster(cluster, 'lab2');
  await cluster.waitFor('the floating IP on lab2', 15_000, async () => (holder(lab) === lab.targets[1] ? true : undefined));
  await sleep(INTERVAL * 2); // nothing may move it afterwards
  const m = lab.measureMove(killedAt, lab.targets[1]!, lab.targets[0]);
  t.same(m.holders, [lab.targets[1]], 'on the new MASTER');
  const onOldAfterElection = killedAt + m.attachedAfterMs! - electedAt;
  t.ok(onOldAfterElection <= ACTION_MS + SLACK_MS, `on a node that is not MASTER for ${onOldAfterElection} ms after the election (one action: ${ACTION_MS} ms)`);
  t.equal(m.maxUnheldMs, 0, 'never unheld (one assign moves it)');
  t.same(changesSince(lab, beforeKill), [[lab.targets[1]]], 'exactly one change: lab2; the other backup never took it');
  t.pass(lab.describeMove(m, lab.targets[1]!, lab.targets[0], 'the kill'));

  // graceful stop of the new master: lab3 takes it over with one assign, never unheld (hand-over)
  const beforeStop = changeMark(lab);
  const stoppedAt = Date.now();
  await cluster.kill(lab2, 'SIGTERM');
  await singleMaster(cluster, 'lab3');
  await cluster.waitFor('the floating IP on lab3', 15_000, async () => (holder(lab) === lab.targets[2] ? true : undefined));
  t.equal(lab.sim.history.timeline(VIP, stoppedAt).maxUnheldMs, 0, 'a stopping master with a live successor hands over: never unheld');
  t.same(changesSince(lab, beforeStop), [[lab.targets[2]]], 'one change: the successor\'s assign moved it');
  t.notOk(lab.sim.requests(stoppedAt).some((r) => r.call === 'unassign-floating-ip'), 'the stopping master sent no unassign');

  // the last node stops: nobody to hand over to, it releases
  const beforeLast = changeMark(lab);
  await cluster.kill(cluster.nodes[2]!, 'SIGTERM');
  await cluster.waitFor('the floating IP released', 15_000, async () => (holder(lab) === '' ? true : undefined));
  t.same(changesSince(lab, beforeLast), [[]], 'the last node stopping released it');
});

t.test('API down (503 for 3 s) during the failover: the new MASTER holds and converges', async (t) => {
  const { cluster, lab } = await setup(t);
  await singleMaster(cluster, 'lab1');
  await cluster.waitFor('the floating IP on lab1', 15_000, async () => (holder(lab) === lab.targets[0] ? true : undefined));
  const fault = lab.sim.faults.add({ kind: 'error', status: 503, message: 'simulated outage' });
  const killedAt = Date.now();
  await cluster.kill(cluster.nodes[0]!, 'SIGKILL');
  await singleMaster(cluster, 'lab2');
  await sleep(Math.max(0, 3_000 - (Date.now() - killedAt)));
  const failed = lab.sim.requests(killedAt).filter((r) => r.status === 503).length;
  t.ok(failed > 0, `the new master's calls failed during the outage (${failed} answered 503)`);
  t.same(lab.holders(), [lab.targets[0]], 'meanwhile the floating IP stays where it was');
  lab.sim.faults.remove(fault.id);
  const back = Date.now();
  await cluster.waitFor('the floating IP on lab2', 30_000, async () => (holder(lab) === lab.targets[1] ? true : undefined));
  t.pass(`converged ${Date.now() - back} ms after the API came back`);
  t.same(await cluster.masters(), ['lab2'], 'lab2 held MASTER through the outage (onApiUnreachable: hold)');
});

t.test('a read-only token: one clear error naming the token reference, the address never moves', async (t) => {
  const { cluster, lab } = await setup(t, {}, READONLY_TOKEN);
  await singleMaster(cluster, 'lab1');
  const log = () => readFileSync(cluster.nodes[0]!.logFile, 'utf8');
  await cluster.waitFor('the read-only error in lab1\'s log', 15_000, async () => (/is read-only \(403 token_readonly\)/.test(log()) ? true : undefined));
  t.match(log(), `the API token from file:${lab.tokenFile} is read-only (403 token_readonly)`);
  t.notOk(log().includes(READONLY_TOKEN), 'the token never appears in the log');
  t.same(lab.holders(), [], 'nothing moved');
  t.equal(lab.sim.requests().filter((r) => r.status === 403).length >= 1, true);
});
