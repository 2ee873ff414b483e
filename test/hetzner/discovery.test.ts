/**
 * hetzner-label discovery: the plugin through the daemon's discovery runner against the simulator
 * (servers gain and lose the label, stop, self excluded, private or public addresses, a failed
 * refresh keeps the last good list), and real daemons that only know each other through the label.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import plugin, { serversToPeers } from '../../plugins/hetzner-label/index.js';
import { DiscoveryRunner } from '../../src/daemon/discovery.js';
import { createLogger } from '../../src/log.js';
import { formatEndpoint } from '../../src/config/endpoint.js';
import { SecretError } from '../../src/config/secret.js';
import { LocalCluster } from '../../src/lab/local-cluster.js';
import type { RunningHetznerSimulator } from '../../src/hetzner/simulator/index.js';
import { TOKEN, admin, hetznerSim } from './lib/sim.js';

const silent = createLogger({ level: 'silent' });
const env = (vars: Record<string, string>) => ({
  baseDir: '/',
  resolveSecret: (ref: string, at: string) => {
    const name = ref.replace(/^env:/, '');
    const v = vars[name];
    if (v === undefined) throw new SecretError(`discovery.${at}: environment variable ${name} is not set`);
    return v;
  },
});

function seed(addresses: string[]) {
  return {
    networks: [{ id: 7, name: 'lb-net', ipRange: '10.0.0.0/16' }],
    servers: addresses.map((ip, i) => ({ id: 101 + i, name: `n${i + 1}`, publicIpv4: ip, labels: { role: 'lb' }, privateNet: [{ network: 'lb-net', ip: `10.0.1.${i + 1}` }] })),
  };
}

function configFor(sim: RunningHetznerSimulator, extra: Record<string, unknown> = {}) {
  const r = plugin.parseConfig({ selector: 'role=lb', endpoint: sim.endpoint, ...extra }, env({ HCLOUD_TOKEN: TOKEN }));
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.config;
}

t.test('config: selector required and parsed, network, token reference, HCLOUD_ENDPOINT', async (t) => {
  const missing = plugin.parseConfig({}, env({ HCLOUD_TOKEN: 'x' }));
  t.same(missing.ok ? [] : missing.issues.map((i) => i.path.join('.')), ['selector']);
  const badSel = plugin.parseConfig({ selector: 'role in (lb' }, env({ HCLOUD_TOKEN: 'x' }));
  t.match(badSel.ok ? [] : badSel.issues, [{ path: ['selector'], message: /label selector/ }]);
  const badNet = plugin.parseConfig({ selector: 'role=lb', network: 'vpc' }, env({ HCLOUD_TOKEN: 'x' }));
  t.match(badNet.ok ? [] : badNet.issues, [{ path: ['network'], message: /private or public/ }]);
  t.throws(() => plugin.parseConfig({ selector: 'role=lb' }, env({})), /environment variable HCLOUD_TOKEN is not set/);
  const ok = plugin.parseConfig({ selector: 'role=lb', serverId: 42 }, env({ HCLOUD_TOKEN: 'x' }));
  t.match(ok.ok && ok.config, { network: 'private', serverId: '42', connection: { endpoint: 'https://api.hetzner.cloud/v1', tokenRef: 'env:HCLOUD_TOKEN' } });
  const saved = process.env.HCLOUD_ENDPOINT;
  process.env.HCLOUD_ENDPOINT = 'http://127.0.0.1:9/v1/';
  t.teardown(() => (saved === undefined ? delete process.env.HCLOUD_ENDPOINT : (process.env.HCLOUD_ENDPOINT = saved)));
  const fromEnv = plugin.parseConfig({ selector: 'role=lb' }, env({ HCLOUD_TOKEN: 'x' }));
  t.match(fromEnv.ok && fromEnv.config.connection, { endpoint: 'http://127.0.0.1:9/v1' }, '$HCLOUD_ENDPOINT honoured');
});

t.test('servers -> peers (pure): network choice, self excluded by id and address, stopped skipped, sorted', async (t) => {
  const s = (id: number, pub: string, priv: string | undefined, status: 'running' | 'off' = 'running') => ({
    id,
    name: `s${id}`,
    status,
    public_net: { ipv4: { ip: pub }, floating_ips: [] },
    private_net: priv ? [{ network: 1, ip: priv, alias_ips: [] }] : [],
    labels: {},
  });
  const servers = [s(3, '198.51.100.13', '10.0.0.13'), s(1, '198.51.100.2', '10.0.0.2'), s(2, '198.51.100.12', undefined), s(4, '198.51.100.14', '10.0.0.14', 'off')];
  t.same(serversToPeers(servers, 'private', { addresses: new Set() }).map((p) => p.host), ['10.0.0.2', '10.0.0.13']);
  t.same(serversToPeers(servers, 'public', { serverId: '1', addresses: new Set(['198.51.100.12']) }, 4000).map((p) => `${p.host}:${p.port} ${p.id}`), ['198.51.100.13:4000 s3 (3)']);
});

t.test('the runner follows the label: gain, lose, stop; a failed refresh keeps the last good list', async (t) => {
  const sim = await hetznerSim(t, { seed: seed(['127.0.0.71', '127.0.0.72', '127.0.0.73']) });
  const runner = new DiscoveryRunner(
    { plugin: plugin.name, impl: plugin, config: configFor(sim, { network: 'public', serverId: 101 }), refreshMs: 60_000 },
    { instance: { name: 'vip', address: '198.51.100.50' }, node: { id: 'n1', bind: { host: '0.0.0.0', port: 5000 } }, log: silent, retryMinMs: 50 },
  );
  t.teardown(() => runner.stop());
  const changes: string[][] = [];
  runner.on('change', (peers) => changes.push(peers.map(formatEndpoint)));
  await runner.start(5_000);
  const peers = () => runner.peers.map(formatEndpoint);
  t.same(peers(), ['127.0.0.72:5000', '127.0.0.73:5000'], 'labelled servers by public IP, self (serverId) excluded');
  t.ok(sim.requests().some((r) => r.call === 'list-servers' && r.status === 200));

  await admin(sim, 'PATCH', 'servers/n2', { labels: { role: 'web' } });
  await admin(sim, 'PATCH', 'servers/n3', { status: 'off' });
  await runner.refresh();
  t.same(peers(), [], 'label removed / server off: gone');
  await admin(sim, 'PATCH', 'servers/n2', { labels: { role: 'lb', env: 'prod' } });
  await admin(sim, 'PATCH', 'servers/n3', { status: 'running' });
  await runner.refresh();
  t.same(peers(), ['127.0.0.72:5000', '127.0.0.73:5000'], 'back');
  t.equal(changes.length, 3, 'one change event per change');

  const fault = sim.faults.add({ kind: 'error', status: 503, calls: ['list-servers'] });
  await runner.refresh();
  t.same(peers(), ['127.0.0.72:5000', '127.0.0.73:5000'], 'failed refresh: last good list kept');
  t.match(runner.status(), { failures: 1, lastError: /503/ });
  sim.faults.remove(fault.id);
  await runner.refresh();
  t.match(runner.status(), { failures: 0 });

  const priv = new DiscoveryRunner(
    { plugin: plugin.name, impl: plugin, config: configFor(sim, { selector: 'role=lb,env=prod' }), refreshMs: 60_000 },
    { instance: { name: 'vip', address: '198.51.100.50' }, node: { id: 'n1', bind: { host: '0.0.0.0', port: 5000 } }, log: silent },
  );
  t.teardown(() => priv.stop());
  await priv.start(5_000);
  t.same(priv.peers.map(formatEndpoint), ['10.0.1.2:5000'], 'network: private (the default) gives the private IP');
});

t.test('daemons that know each other only through the label elect one MASTER and follow label changes', async (t) => {
  const addresses = ['127.0.0.91', '127.0.0.92', '127.0.0.93'];
  const sim = await hetznerSim(t, { seed: seed(addresses) });
  await admin(sim, 'PATCH', 'servers/n3', { labels: { role: 'spare' } }); // n3 starts without the label
  let tokenFile = '';
  const cluster = new LocalCluster({
    nodes: 3,
    intervalMs: 200,
    deadRatio: 3,
    addresses,
    // the daemons are plain built JS: without tap's loaders (NODE_OPTIONS) they start in a fraction of the time
    spawner: (_i, argv, fd) => spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', fd, fd], env: { ...process.env, NODE_OPTIONS: '' } }),
    instanceExtras: () => ({
      peers: [],
      discovery: { plugin: 'hetzner-label', selector: 'role=lb', network: 'public', refresh: '1s', endpoint: sim.endpoint, token: `file:${tokenFile}` },
    }),
  });
  t.teardown(() => cluster.destroy());
  tokenFile = join(cluster.dir, 'hcloud-token');
  writeFileSync(tokenFile, TOKEN);
  await cluster.prepare();
  for (const n of cluster.nodes) await cluster.start(n);
  const discovered = async (i: number) => (await cluster.status(cluster.nodes[i]!))?.instances[0]?.discovery?.peers ?? [];
  const port = cluster.port;
  await cluster.waitFor('lab1 the only MASTER among the labelled servers, lab3 alone', 10_000, async () => ((await cluster.masters()).join() === 'lab1,lab3' ? true : undefined));
  t.same(await discovered(0), [`127.0.0.92:${port}`], 'lab1 found lab2 (itself excluded by address)');

  await admin(sim, 'PATCH', 'servers/n3', { labels: { role: 'lb' } });
  await cluster.waitFor('lab3 gains the label and yields', 10_000, async () => ((await cluster.masters()).join() === 'lab1' ? true : undefined));
  t.same(await discovered(0), [`127.0.0.92:${port}`, `127.0.0.93:${port}`], 'lab1 discovered lab3');
});
