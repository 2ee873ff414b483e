/**
 * exoscale-security-group discovery: the plugin through the daemon's discovery runner against the
 * simulator (members join and leave, self excluded, a failed refresh keeps the last good list),
 * and real daemons that only know each other through the security group.
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import plugin, { membersToPeers } from '../../plugins/exoscale-security-group/index.js';
import { DiscoveryRunner, toEndpoints } from '../../src/daemon/discovery.js';
import { createLogger } from '../../src/log.js';
import { formatEndpoint } from '../../src/config/endpoint.js';
import { SecretError } from '../../src/config/secret.js';
import { LocalCluster, sleep } from '../../src/lab/local-cluster.js';
import type { RunningSimulator } from '../../src/exoscale/simulator/index.js';
import { KEY, SECRET, withSim } from '../exoscale/lib/sim.js';

const silent = createLogger({ level: 'silent' });
const env = (vars: Record<string, string>) => ({ baseDir: '/', resolveSecret: (ref: string, at: string) => {
  const name = ref.replace(/^env:/, '');
  const v = vars[name];
  if (v === undefined) throw new SecretError(`discovery.${at}: environment variable ${name} is not set`);
  return v;
} });

function world(addresses: string[]) {
  return {
    securityGroups: [{ name: 'lb' }, { name: 'other' }],
    instances: addresses.map((ip, i) => ({ name: `n${i + 1}`, publicIp: ip, state: 'running' as const, securityGroups: ['lb'] })),
    elasticIps: [{ ip: '198.51.100.50' }],
  };
}

function configFor(sim: RunningSimulator, extra: Record<string, unknown> = {}) {
  const r = plugin.parseConfig({ securityGroup: 'lb', zone: sim.zone, endpoint: sim.endpoint, ...extra }, env({ EXOSCALE_API_KEY: KEY, EXOSCALE_API_SECRET: SECRET }));
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.config;
}

t.test('config: defaults, required keys, missing credentials', async (t) => {
  const bad = plugin.parseConfig({ zone: 'ch-gva-2' }, env({}));
  t.same(bad.ok ? [] : bad.issues.map((i) => i.path.join('.')), ['securityGroup']);
  const typo = plugin.parseConfig({ securityGroup: 'lb', zone: 'ch-gva-2', prot: 1 }, env({ EXOSCALE_API_KEY: 'k', EXOSCALE_API_SECRET: 's' }));
  t.notOk(typo.ok);
  t.throws(() => plugin.parseConfig({ securityGroup: 'lb', zone: 'ch-gva-2' }, env({})), /environment variable EXOSCALE_API_KEY is not set/);
  const ok = plugin.parseConfig({ securityGroup: 'lb', zone: 'ch-gva-2' }, env({ EXOSCALE_API_KEY: 'k', EXOSCALE_API_SECRET: 's' }));
  t.ok(ok.ok && ok.config.connection.endpoint === 'https://api-ch-gva-2.exoscale.com/v2', 'zone endpoint by default');
});

t.test('members -> peers (pure): self excluded by id and by address, sorted, ports', async (t) => {
  const members = [
    { id: 'B', name: 'b', 'public-ip': '198.51.100.12' },
    { id: 'A', name: 'a', 'public-ip': '198.51.100.2' },
    { id: 'C', 'public-ip': '198.51.100.13' },
    { id: 'D', name: 'no-ip' },
  ];
  t.same(
    membersToPeers(members, { instanceId: 'c', addresses: new Set(['198.51.100.12']) }, 4000).map((p) => `${p.host}:${p.port}`),
    ['198.51.100.2:4000'],
  );
  t.same(toEndpoints([{ host: '198.51.100.2' }, { host: 'lb1' }, { host: '198.51.100.2' }], 12345), {
    endpoints: [{ host: '198.51.100.2', port: 12345 }],
    rejected: ['lb1:12345'],
  });
});

t.test('the runner follows the group: join, leave, stop; a failed refresh keeps the last good list', async (t) => {
  const sim = await withSim(t, world(['127.0.0.71', '127.0.0.72', '127.0.0.73']));
  const self = sim.state.findInstance('n1')!;
  const runner = new DiscoveryRunner(
    { plugin: plugin.name, impl: plugin, config: configFor(sim), refreshMs: 60_000 },
    { instance: { name: 'eip', address: '198.51.100.50' }, node: { id: self.id, bind: { host: '0.0.0.0', port: 5000 } }, log: silent, retryMinMs: 50 },
  );
  t.teardown(() => runner.stop());
  const changes: string[][] = [];
  runner.on('change', (peers) => changes.push(peers.map(formatEndpoint)));
  await runner.start(5_000);
  const peers = () => runner.peers.map(formatEndpoint);
  t.same(peers(), ['127.0.0.72:5000', '127.0.0.73:5000'], 'members, self (by instance id) excluded, bind port');

  sim.state.addInstance({ name: 'n4', publicIp: '127.0.0.74', state: 'running', securityGroups: ['lb'] });
  sim.state.addInstance({ name: 'n5', publicIp: '127.0.0.75', state: 'running', securityGroups: ['other'] });
  await runner.refresh();
  t.same(peers(), ['127.0.0.72:5000', '127.0.0.73:5000', '127.0.0.74:5000'], 'a new member joins; a non-member does not');

  sim.state.updateInstance('n2', { securityGroups: ['other'] });
  sim.state.updateInstance('n3', { state: 'stopped' });
  await runner.refresh();
  t.same(peers(), ['127.0.0.74:5000'], 'left the group / stopped: gone');
  t.equal(changes.length, 3, 'one change event per change');

  // 501 is not retried by the client: the refresh fails at once
  const fault = sim.state.faults.add({ kind: 'error', status: 501, calls: ['list-instances'] });
  await runner.refresh();
  t.same(peers(), ['127.0.0.74:5000'], 'failed refresh: last good list kept');
  t.match(runner.status(), { failures: 1, lastError: /501 not implemented/ });
  sim.state.faults.remove(fault.id);
  await runner.refresh();
  t.match(runner.status(), { failures: 0, peers: ['127.0.0.74:5000'] });
  t.equal(runner.status().lastError, undefined);
});

t.test('daemons that know each other only through the security group elect one MASTER; leaving the group makes a node a stranger', async (t) => {
  const addresses = ['127.0.0.81', '127.0.0.82', '127.0.0.83'];
  const sim = await withSim(t, world(addresses));
  sim.state.updateInstance('n3', { securityGroups: ['other'] }); // n3 starts outside the group
  let keyFile = '';
  let secretFile = '';
  const cluster = new LocalCluster({
    nodes: 3,
    intervalMs: 200,
    deadRatio: 3,
    addresses,
    instanceExtras: () => ({
      peers: [],
      discovery: { plugin: 'exoscale-security-group', securityGroup: 'lb', refresh: '1s', zone: sim.zone, endpoint: sim.endpoint, apiKey: `file:${keyFile}`, apiSecret: `file:${secretFile}` },
    }),
  });
  t.teardown(() => cluster.destroy());
  keyFile = join(cluster.dir, 'k');
  secretFile = join(cluster.dir, 's');
  writeFileSync(keyFile, KEY);
  writeFileSync(secretFile, SECRET);
  await cluster.prepare();
  await cluster.startAll();
  const discovered = async (i: number) => (await cluster.status(cluster.nodes[i]!))?.instances[0]?.discovery?.peers ?? [];
  const port = cluster.port;

  await cluster.waitFor('lab1 the only MASTER among the members, lab3 alone', 10_000, async () => {
    const m = await cluster.masters();
    return m.join() === 'lab1,lab3' ? true : undefined;
  });
  t.same(await discovered(0), [`127.0.0.82:${port}`], 'lab1 found lab2 (itself excluded by address)');
  t.same(await discovered(2), [`127.0.0.81:${port}`, `127.0.0.82:${port}`], 'lab3 lists the members, but they do not list it: it hears nobody, MASTER of its own');

  sim.state.updateInstance('n3', { securityGroups: ['lb'] });
  await cluster.waitFor('lab3 joins and yields', 10_000, async () => ((await cluster.masters()).join() === 'lab1' ? true : undefined));
  t.same(await discovered(2), [`127.0.0.81:${port}`, `127.0.0.82:${port}`], 'lab3 discovered both');
  t.same(await discovered(0), [`127.0.0.82:${port}`, `127.0.0.83:${port}`], 'and they discovered lab3');

  sim.state.updateInstance('n1', { securityGroups: ['other'] }); // the master leaves the group
  await cluster.waitFor('lab2 MASTER among the remaining members', 10_000, async () => {
    const m = await cluster.masters();
    return m.includes('lab2') && !m.includes('lab3') ? true : undefined;
  });
  t.same(await discovered(1), [`127.0.0.83:${port}`], 'lab1 is no longer a peer of lab2');
  const st = await cluster.status(cluster.nodes[1]!);
  const lab1 = st?.instances[0]?.peers.find((p) => p.id === 'lab1');
  t.equal(lab1?.alive ?? false, false, 'its heartbeats are dropped, so it is dead to lab2');
  await sleep(10);
});
