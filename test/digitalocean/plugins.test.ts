/**
 * The digitalocean-reserved-ip action and the digitalocean-tag discovery against the simulator:
 * config keys and defaults (the rc-file contract), transitions (MASTER assigns, a yielding MASTER
 * leaves the move to the new one, FAULT releases, startupGrace), doctor's anchor-IP and listener
 * checks, peers by tag.
 */
import t, { type Test } from 'tap';
import { resolveSecret } from '../../src/config/secret.js';
import { silentLogger } from '../../src/log.js';
import { FAILOVER_FIRST_TIMEOUT_MS } from '../../src/cloud/http.js';
import type { DigitalOceanReservedIpProvider } from '../../src/digitalocean/provider.js';
import type { ApiCallSample, PluginEnvironment, TransitionEvent, InstanceState } from '../../src/plugins/api.js';
import action, { listeningIpv4 } from '../../plugins/digitalocean-reserved-ip/index.js';
import discovery, { dropletsToPeers } from '../../plugins/digitalocean-tag/index.js';
import {
  DEFAULT_SIM_TOKEN,
  LAB_RESERVED_IP,
  startDigitalOceanSimulator,
  type RunningDigitalOceanSimulator,
} from '../../src/digitalocean/simulator/index.js';

const envOf = (env: NodeJS.ProcessEnv): PluginEnvironment => ({ baseDir: '/', resolveSecret: (ref, where) => resolveSecret(ref, where, { baseDir: '/', env }) });
const TOKEN_ENV = { DIGITALOCEAN_TOKEN: DEFAULT_SIM_TOKEN };

async function sim(t: Test, actionDelayMs = 100): Promise<RunningDigitalOceanSimulator> {
  const s = await startDigitalOceanSimulator({ actionDelayMs });
  t.teardown(() => s.close());
  return s;
}

function parse(raw: Record<string, unknown>, env: NodeJS.ProcessEnv = TOKEN_ENV) {
  return action.parseConfig(raw, envOf(env));
}

t.test('action config: defaults and errors naming the key', async (t) => {
  const r = parse({ endpoint: 'http://127.0.0.1:1' });
  t.ok(r.ok);
  if (!r.ok) return;
  t.same(r.config, {
    connection: { endpoint: 'http://127.0.0.1:1', token: DEFAULT_SIM_TOKEN, tokenRef: 'env:DIGITALOCEAN_TOKEN' },
    release: true,
    onApiUnreachable: 'hold',
    reconcileMs: 30_000,
    startupGraceMs: 10_000,
  });
  const d = parse({ dropletId: 42, metadataUrl: 'http://127.0.0.1:2', reconcile: '0s' }, { DIGITALOCEAN_ACCESS_TOKEN: 'x' });
  t.match(d, { ok: true, config: { dropletId: '42', metadataUrl: 'http://127.0.0.1:2', reconcileMs: 0, connection: { tokenRef: 'env:DIGITALOCEAN_ACCESS_TOKEN', endpoint: 'https://api.digitalocean.com' } } });
  t.match(parse({ dropletId: 'lb1' }), { ok: false, issues: [{ path: ['dropletId'], message: /droplet id/ }] });
  t.match(parse({ strategy: 'all-healthy' }), { ok: false, issues: [{ path: ['strategy'], message: /one droplet at most/ }] });
  t.match(parse({ zone: 'x' }), { ok: false, issues: [{ path: ['zone'], message: /unknown key/ }] });
  t.match(parse({}, {}), { ok: false, issues: [{ path: ['token'], message: /DIGITALOCEAN_TOKEN or DIGITALOCEAN_ACCESS_TOKEN/ }] });
  t.throws(() => parse({ token: 'env:DO_TOKEN' }), /token: environment variable DO_TOKEN is not set/);
});

function event(from: InstanceState, to: InstanceState): TransitionEvent {
  return { instance: { name: 'vip', address: LAB_RESERVED_IP }, node: { id: 'lb' }, from, to, priority: 100, reason: 'test', signal: new AbortController().signal };
}

async function node(t: Test, s: RunningDigitalOceanSimulator, droplet: number, extra: Record<string, unknown> = {}, samples?: ApiCallSample[]) {
  const r = parse({ endpoint: s.url, metadataUrl: `${s.url}/_meta/${droplet}`, reconcile: '0s', startupGrace: '0s', ...extra });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  const h = await action.create({ config: r.config, log: silentLogger, instance: { name: 'vip', address: LAB_RESERVED_IP }, node: { id: `lb${droplet}` }, ...(samples ? { onApiCall: (x: ApiCallSample) => samples.push(x) } : {}) });
  t.teardown(() => h.close?.());
  return h;
}

const holder = (s: RunningDigitalOceanSimulator) => s.world.reservedIps.get(LAB_RESERVED_IP)!.dropletId;

t.test('transitions: MASTER assigns, the new MASTER moves it, FAULT releases', async (t) => {
  const s = await sim(t);
  const samples: ApiCallSample[] = [];
  const a = await node(t, s, 3001, {}, samples);
  const b = await node(t, s, 3002);
  await a.onBackup!(event('INIT', 'BACKUP'));
  t.equal(s.requests().filter((r) => r.method === 'POST').length, 0, 'a BACKUP that holds nothing sends no change');
  await a.onMaster!(event('BACKUP', 'MASTER'));
  t.equal(holder(s), 3001, 'assigned when the MASTER hook resolves');
  t.ok(samples.some((x) => x.call === 'reserved-ip-action' && x.status === 201), 'API calls reported for ipwarden_api_* metrics');
  t.ok(samples.some((x) => x.call === 'get-action' && x.status === 200));
  t.same([1, 2, 3].map((n) => (a as typeof a & { provider: DigitalOceanReservedIpProvider }).provider.client.http.attemptTimeoutMs(n)), [FAILOVER_FIRST_TIMEOUT_MS, 4_000, 5_000], 'a hung call is re-sent after 2 s, then 4 s, then the 5 s timeout');
  await a.onBackup!(event('MASTER', 'BACKUP'));
  t.equal(holder(s), 3001, 'a yielding MASTER leaves the IP for the new MASTER to move');
  await b.onMaster!(event('BACKUP', 'MASTER'));
  t.equal(holder(s), 3002);
  t.same(s.history.events().map((e) => e.holders), [[], ['3001'], ['3002']], 'never unheld between the two');
  await b.onFault!(event('MASTER', 'FAULT'));
  t.equal(holder(s), null, 'FAULT releases');
  await b.onMaster!(event('FAULT', 'MASTER'));
  await a.onStop!(event('BACKUP', 'STOP'));
  t.equal(holder(s), 3002, "a STOP on a node that does not hold it leaves the holder's IP alone");
});

t.test('startupGrace: a BACKUP at start releases only after the grace', async (t) => {
  const s = await sim(t, 0);
  s.world.reservedIps.get(LAB_RESERVED_IP)!.dropletId = 3001;
  const a = await node(t, s, 3001, { startupGrace: '300ms' });
  const start = Date.now();
  await a.onBackup!(event('INIT', 'BACKUP'));
  t.equal(holder(s), 3001, 'kept during the grace');
  const deadline = Date.now() + 5_000;
  while (holder(s) !== null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.equal(holder(s), null, 'released after it');
  t.ok(Date.now() - start >= 290, `not before (${Date.now() - start} ms)`);
});

t.test('a wrong token fails the MASTER hook with the reference named', async (t) => {
  const s = await sim(t);
  const r = parse({ endpoint: s.url, dropletId: 3001, reconcile: '0s', onApiUnreachable: 'release' }, { DIGITALOCEAN_TOKEN: 'dop_v1_nope_nope' });
  if (!r.ok) throw new Error('parse');
  const h = await action.create({ config: r.config, log: silentLogger, instance: { name: 'vip', address: LAB_RESERVED_IP }, node: { id: 'x' } });
  t.teardown(() => h.close?.());
  const err = await h.onMaster!(event('BACKUP', 'MASTER')).then(() => undefined, (e: unknown) => e);
  t.match(err, { kind: 'auth', message: /env:DIGITALOCEAN_TOKEN/ });
  t.notMatch((err as Error).message, /nope_nope/);
});

t.test('doctor: token, reserved IP, droplet, anchor IP from metadata, listeners', async (t) => {
  const s = await sim(t);
  const r = parse({ endpoint: s.url, metadataUrl: `${s.url}/_meta/3001` });
  if (!r.ok) throw new Error('parse');
  const found = await action.doctor!({ config: r.config, log: silentLogger, instance: { name: 'vip', address: LAB_RESERVED_IP }, node: { id: 'x' }, signal: AbortSignal.timeout(10_000) });
  const by = (item: string) => found.find((f) => f.item === item);
  t.match(by('DigitalOcean API token'), { ok: true, detail: /env:DIGITALOCEAN_TOKEN/ });
  t.match(by(`reserved IP ${LAB_RESERVED_IP}`), { ok: true, detail: /held by nobody/ });
  t.match(by('this droplet'), { ok: true, detail: /3001 \(lb1\) from the metadata service: active/ });
  t.match(by('anchor IP'), { ok: false, detail: /10\.20\.0\.11 is not on any local interface/, fix: /ip addr add 10\.20\.0\.11/ }, 'read from /metadata/v1/interfaces/public/0/anchor_ipv4/address');
  t.ok(s.requests().some((q) => q.path === '/_meta/3001/metadata/v1/interfaces/public/0/anchor_ipv4/address'));

  const bad = parse({ endpoint: s.url, metadataUrl: `${s.url}/_meta/3001` }, { DIGITALOCEAN_TOKEN: 'dop_v1_bad_bad' });
  if (!bad.ok) throw new Error('parse');
  const f2 = await action.doctor!({ config: bad.config, log: silentLogger, instance: { name: 'vip', address: LAB_RESERVED_IP }, node: { id: 'x' }, signal: AbortSignal.timeout(10_000) });
  t.match(f2, [{ ok: false, item: 'DigitalOcean API token', detail: /refused the API token from env:DIGITALOCEAN_TOKEN/ }]);

  const tcp = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 6400710C:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0',
    '   1: 00000000:01BB 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0',
    '   2: 0100007F:1F90 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 100 0 0 10 0',
  ].join('\n');
  t.same(listeningIpv4(tcp), [{ address: '12.113.0.100', port: 80 }, { address: '0.0.0.0', port: 443 }], 'LISTEN sockets only, little-endian addresses');
});

t.test('digitalocean-tag: active droplets with the tag, this one left out', async (t) => {
  const s = await sim(t);
  s.world.addDroplet({ name: 'lb9', tags: ['lb'], publicIp: '203.0.113.19', privateIp: '10.110.0.19', status: 'off' });
  for (let i = 0; i < 250; i++) s.world.addDroplet({ name: `other${i}`, tags: ['other'], publicIp: '198.51.100.7' });
  const p = discovery.parseConfig({ tag: 'lb', endpoint: s.url }, envOf(TOKEN_ENV));
  if (!p.ok) throw new Error(JSON.stringify(p.issues));
  t.equal(p.config.network, 'private');
  const src = await discovery.create({ config: p.config, log: silentLogger, instance: { name: 'vip', address: LAB_RESERVED_IP }, node: { id: '3001', bind: { host: '0.0.0.0', port: 12345 } } });
  t.teardown(() => src.close?.());
  t.same(await src.discover(new AbortController().signal), [
    { host: '10.110.0.12', id: 'lb2 (3002)' },
    { host: '10.110.0.13', id: 'lb3 (3003)' },
  ]);
  const pub = discovery.parseConfig({ tag: 'lb', endpoint: s.url, network: 'public', port: 5555, dropletId: '3002' }, envOf(TOKEN_ENV));
  if (!pub.ok) throw new Error('parse');
  const src2 = await discovery.create({ config: pub.config, log: silentLogger, instance: { name: 'vip', address: LAB_RESERVED_IP }, node: { id: 'lb2', bind: { host: '0.0.0.0', port: 12345 } } });
  t.teardown(() => src2.close?.());
  t.same((await src2.discover(new AbortController().signal)).map((x) => `${x.host}:${x.port}`), ['203.0.113.11:5555', '203.0.113.13:5555']);
  t.ok(s.requests().every((r) => r.call !== 'list-droplets' || r.path === '/v2/droplets'));
  t.match(discovery.parseConfig({ tag: 'a b' }, envOf(TOKEN_ENV)), { ok: false, issues: [{ path: ['tag'] }] });
  t.match(discovery.parseConfig({}, envOf(TOKEN_ENV)), { ok: false, issues: [{ path: ['tag'] }] });
  t.same(dropletsToPeers([{ id: '1', name: 'a', status: 'active', tags: [] }], 'private', { addresses: new Set() }), [], 'no private address: skipped');
});
