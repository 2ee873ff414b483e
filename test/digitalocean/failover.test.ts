/**
 * Three real daemons (child processes on loopback) with the digitalocean-reserved-ip action against the
 * DigitalOcean simulator in this process, actions taking 3 s as on DigitalOcean: kill -9 the master and
 * the reserved IP moves to the new master with one assign (never unheld, never on the other backup);
 * the API failing (503) during the failover; a read-only token fails loudly, naming its reference.
 */
import t, { type Test } from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalCluster, sleep, type LabNode } from '../../src/lab/local-cluster.js';
import {
  DEFAULT_SIM_READONLY_TOKEN,
  DEFAULT_SIM_TOKEN,
  LAB_RESERVED_IP,
  startDigitalOceanSimulator,
  type RunningDigitalOceanSimulator,
} from '../../src/digitalocean/simulator/index.js';

const INTERVAL = 400;
const ACTION_MS = 3_000;
const DROPLETS = ['3001', '3002', '3003'];

interface Lab {
  cluster: LocalCluster;
  sim: RunningDigitalOceanSimulator;
  tokenFile: string;
}

async function setup(t: Test, token = DEFAULT_SIM_TOKEN, firstHost = 91, startAll = true): Promise<Lab> {
  const sim = await startDigitalOceanSimulator({ actionDelayMs: ACTION_MS });
  let tokenFile = '';
  const cluster = new LocalCluster({
    nodes: 3,
    intervalMs: INTERVAL,
    deadRatio: 3,
    preempt: true,
    firstHost,
    sharedAddress: LAB_RESERVED_IP,
    instanceExtras: (i) => ({
      actions: [{ plugin: 'digitalocean-reserved-ip', endpoint: sim.url, token: `file:${tokenFile}`, dropletId: DROPLETS[i], reconcile: '5s', startupGrace: '0s' }],
    }),
  });
  t.teardown(async () => {
    await cluster.destroy();
    await sim.close();
  });
  tokenFile = join(cluster.dir, 'do-token');
  writeFileSync(tokenFile, token, { mode: 0o600 });
  await cluster.prepare();
  await cluster.start(cluster.nodes[0]!);
  if (startAll) for (const n of cluster.nodes.slice(1)) await cluster.start(n);
  return { cluster, sim, tokenFile };
}

const holder = (sim: RunningDigitalOceanSimulator): string | null => {
  const d = sim.world.reservedIps.get(LAB_RESERVED_IP)!.dropletId;
  return d === null ? null : String(d);
};

async function ipOn(lab: Lab, droplet: string, timeoutMs: number): Promise<void> {
  await lab.cluster.waitFor(`${LAB_RESERVED_IP} on droplet ${droplet}`, timeoutMs, async () => (holder(lab.sim) === droplet ? true : undefined));
}

async function singleMaster(cluster: LocalCluster, expect: string, timeoutMs = 10_000): Promise<void> {
  await cluster.waitFor(`${expect} the only MASTER`, timeoutMs, async () => ((await cluster.masters()).join() === expect ? true : undefined));
}

t.test('kill -9 the master: one assign moves the reserved IP to the new master; never unheld', async (t) => {
  const lab = await setup(t);
  const [lab1, lab2] = lab.cluster.nodes as [LabNode, LabNode, LabNode];
  await singleMaster(lab.cluster, 'lab1');
  await ipOn(lab, '3001', ACTION_MS + 10_000);
  t.pass('the first MASTER holds the reserved IP');

  const killedAt = Date.now();
  await lab.cluster.kill(lab1, 'SIGKILL');
  await singleMaster(lab.cluster, 'lab2');
  const masterAfter = Date.now() - killedAt;
  await ipOn(lab, '3002', ACTION_MS + 10_000);
  const movedAfter = Date.now() - killedAt;
  t.ok(movedAfter >= ACTION_MS, `moved ${movedAfter} ms after the kill (MASTER after ${masterAfter} ms + the ${ACTION_MS} ms action)`);
  await sleep(INTERVAL * 3);
  const tl = lab.sim.history.timeline(LAB_RESERVED_IP, killedAt);
  t.same(tl.holders, ['3002'], 'held by the new master');
  t.equal(tl.maxUnheldMs, 0, 'never unheld: the assign moved it');
  t.notOk(lab.sim.history.events().some((e) => e.holders.includes('3003')), 'the other backup never had it');
  const assigns = lab.sim.requests(killedAt).filter((r) => r.call === 'reserved-ip-action' && r.status === 201);
  t.equal(assigns.length, 1, 'one action for the failover');
});

t.test('API down (503) during the failover: the new master holds on and converges when it is back', async (t) => {
  const lab = await setup(t, DEFAULT_SIM_TOKEN, 101);
  const [lab1] = lab.cluster.nodes as [LabNode, LabNode, LabNode];
  await singleMaster(lab.cluster, 'lab1');
  await ipOn(lab, '3001', ACTION_MS + 10_000);

  const fault = lab.sim.faults.add({ kind: 'error', status: 503, message: 'simulated outage' });
  const killedAt = Date.now();
  await lab.cluster.kill(lab1, 'SIGKILL');
  await singleMaster(lab.cluster, 'lab2');
  await lab.cluster.waitFor('a failed call of the new master', 10_000, async () => (lab.sim.requests(killedAt).some((r) => r.status === 503) ? true : undefined));
  await sleep(Math.max(0, 3_000 - (Date.now() - killedAt)));
  t.equal(holder(lab.sim), '3001', 'meanwhile the IP stays where it was');
  lab.sim.faults.remove(fault.id);
  const back = Date.now();
  await ipOn(lab, '3002', ACTION_MS + 30_000);
  t.pass(`converged ${Date.now() - back} ms after the API came back`);
  t.same(await lab.cluster.masters(), ['lab2'], 'lab2 held MASTER through the outage (onApiUnreachable: hold)');
  t.equal(lab.sim.history.timeline(LAB_RESERVED_IP, killedAt).maxUnheldMs, 0, 'never unheld');
});

t.test('a read-only token: the MASTER cannot assign and says which token reference to fix', async (t) => {
  // one daemon is enough: alone, it becomes MASTER and tries to assign
  const lab = await setup(t, DEFAULT_SIM_READONLY_TOKEN, 111, false);
  await singleMaster(lab.cluster, 'lab1');
  const log = () => readFileSync(lab.cluster.nodes[0]!.logFile, 'utf8');
  await lab.cluster.waitFor('the auth error in the log', 15_000, async () => (log().includes(`token from file:${lab.tokenFile}`) ? true : undefined));
  t.match(log(), /may not do POST \/v2\/reserved_ips\/203\.0\.113\.100\/actions .*read-only/);
  t.notOk(log().includes(DEFAULT_SIM_READONLY_TOKEN), 'the token never appears in the log');
  t.equal(holder(lab.sim), null, 'nothing assigned');
  t.ok(lab.sim.requests().some((r) => r.call === 'reserved-ip-action' && r.status === 403), 'the API refused the assign (403)');
});
