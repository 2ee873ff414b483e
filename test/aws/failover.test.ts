/**
 * Three real daemons (child processes on loopback) with the aws-eip action against the AWS simulator
 * in this process, each taking its credentials from another link of the standard chain:
 *   lab1: the environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY),
 *   lab2: a shared credentials file with AWS_PROFILE (+ AWS_CONFIG_FILE for the region),
 *   lab3: the instance role from IMDSv2 (and its instance id from IMDSv2 too).
 * kill -9 the MASTER: the Elastic IP moves to the new MASTER in one AssociateAddress (never on two
 * instances, never unheld); then the API fails (503) during the next failover: the new MASTER holds
 * and converges once the API is back.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { LocalCluster, sleep, type LabNode } from '../../src/lab/local-cluster.js';
import { startAwsSimulator } from '../../src/aws/simulator/server.js';
import { instanceIdOf, SIM_ACCESS_KEY_ID, SIM_SECRET_ACCESS_KEY } from '../../src/aws/simulator/world.js';

const INTERVAL = 400;
/** A daemon's log, printed when it does not come up (the lab removes its directory afterwards). */
const logOf = (f: string): string => readFileSync(f, 'utf8');
const EIP = '203.0.113.10';

t.test('3 daemons, SIGKILL of the MASTER, API down during failover; credentials from env, shared file, instance role', async (t) => {
  const sim = await startAwsSimulator();
  const baseEnv: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_')));
  let cluster: LocalCluster | undefined;
  const envs: NodeJS.ProcessEnv[] = [];
  cluster = new LocalCluster({
    nodes: 3,
    intervalMs: INTERVAL,
    deadRatio: 3,
    preempt: true,
    firstHost: 71,
    sharedAddress: EIP,
    instanceExtras: (i) => ({
      actions: [
        {
          plugin: 'aws-eip',
          endpoint: sim.url,
          metadataUrl: sim.metadataUrl(instanceIdOf(i + 1)),
          ...(i < 2 ? { instanceId: instanceIdOf(i + 1) } : {}),
          reconcile: '2s',
        },
      ],
    }),
    spawner: (i, argv, fd) => spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', fd, fd], env: envs[i] }),
  });
  t.teardown(async () => {
    await cluster!.destroy();
    await sim.close();
  });
  const dir = cluster.dir;
  writeFileSync(join(dir, 'aws-credentials'), `[ha]\naws_access_key_id = ${SIM_ACCESS_KEY_ID}\naws_secret_access_key = ${SIM_SECRET_ACCESS_KEY}\n`);
  writeFileSync(join(dir, 'aws-config'), `[profile ha]\nregion = ${sim.region}\n`);
  const none = join(dir, 'none');
  envs.push(
    { ...baseEnv, AWS_REGION: sim.region, AWS_ACCESS_KEY_ID: SIM_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: SIM_SECRET_ACCESS_KEY, AWS_SHARED_CREDENTIALS_FILE: none, AWS_CONFIG_FILE: none },
    { ...baseEnv, AWS_PROFILE: 'ha', AWS_SHARED_CREDENTIALS_FILE: join(dir, 'aws-credentials'), AWS_CONFIG_FILE: join(dir, 'aws-config') },
    { ...baseEnv, AWS_SHARED_CREDENTIALS_FILE: none, AWS_CONFIG_FILE: none },
  );
  await cluster.prepare();
  await cluster.start(cluster.nodes[0]!).catch((err: unknown) => {
    t.comment(logOf(cluster!.nodes[0]!.logFile));
    throw err;
  });
  await Promise.all(cluster.nodes.slice(1).map((n) => cluster!.start(n)));
  const [lab1, lab2, lab3] = cluster.nodes as [LabNode, LabNode, LabNode];
  const holder = (): string | undefined => {
    const a = sim.world().addresses.find((x) => x.publicIp === EIP)!;
    return a.association ? sim.world().interfaces.find((e) => e.networkInterfaceId === a.association!.networkInterfaceId)?.instanceId : undefined;
  };
  const held = (n: number, ms: number) => cluster!.waitFor(`${EIP} on ${instanceIdOf(n)}`, ms, async () => (holder() === instanceIdOf(n) ? true : undefined));
  const onlyMaster = (id: string) => cluster!.waitFor(`${id} the only MASTER`, 10_000, async () => ((await cluster!.masters()).join() === id ? true : undefined));

  await onlyMaster('lab1');
  await held(1, 10_000);
  t.pass('lab1 (credentials from the environment) holds the Elastic IP');

  const killedAt = Date.now();
  await cluster.kill(lab1, 'SIGKILL');
  await onlyMaster('lab2');
  await held(2, 10_000);
  await sleep(INTERVAL * 2);
  t.equal(holder(), instanceIdOf(2), 'lab2 (shared credentials file, AWS_PROFILE) holds it');
  const tl = sim.history.timeline(EIP, killedAt);
  t.equal(tl.maxMultiHolderMs, 0, 'never on two instances');
  t.equal(tl.maxUnheldMs, 0, 'never unheld: AssociateAddress AllowReassociation moved it in one call');
  t.notOk(sim.history.events(killedAt, EIP).some((e) => e.holders.includes(instanceIdOf(3))), 'the other backup never took it');
  t.ok(sim.requests(killedAt).filter((r) => r.call === 'associate-address').length >= 1);

  const fault = sim.faults.add({ kind: 'error', status: 503, message: 'simulated outage' });
  const outageAt = Date.now();
  await cluster.kill(lab2, 'SIGKILL');
  await onlyMaster('lab3');
  while (Date.now() - outageAt < 3000) await sleep(100);
  t.ok(sim.requests(outageAt).some((r) => r.status === 503), 'the new MASTER\'s calls failed during the outage');
  t.equal(holder(), instanceIdOf(2), 'meanwhile the Elastic IP stays where it was');
  sim.faults.remove(fault.id);
  await held(3, 15_000);
  t.pass('lab3 (instance role from IMDSv2, instance id from IMDSv2) took it once the API was back');
  // lab3 is the only node without a configured instance id: its token (PUT) comes with its startup read
  t.ok(sim.requests().some((r) => r.call === 'metadata' && r.method === 'PUT'), 'IMDSv2 token fetched');
  t.notOk(sim.requests().some((r) => r.call === 'metadata' && r.method === 'GET' && r.status === 401), 'no metadata GET was refused: every one carried a token');
  void lab3;
});
