/**
 * The hetzner-floating-ip action: its rc-file keys (a contract: names and defaults), and its handlers
 * (shared controller + Hetzner provider) against the simulator: MASTER assigns, a second MASTER moves
 * it with one assign, BACKUP/STOP release, startupGrace, drift repaired by reconcile, the API down
 * (hold vs release), a read-only token failing with the token reference named, alias-ip mode.
 */
import t, { type Test } from 'tap';
import plugin from '../../plugins/hetzner-floating-ip/index.js';
import type { ActionHandlers, InstanceState, TransitionEvent } from '../../src/plugins/api.js';
import { SecretError } from '../../src/config/secret.js';
import { createLogger } from '../../src/log.js';
import { FAILOVER_FIRST_TIMEOUT_MS } from '../../src/cloud/http.js';
import { daemonHetznerClientOptions } from '../../src/hetzner/connection.js';
import type { RunningHetznerSimulator } from '../../src/hetzner/simulator/index.js';
import { FIP_ID, LB1, LB2, READONLY_TOKEN, TOKEN, VIP, admin, hetznerSim, until } from './lib/sim.js';

const silent = createLogger({ level: 'silent' });

function env(vars: Record<string, string>) {
  return {
    baseDir: '/',
    resolveSecret: (ref: string, at: string) => {
      const name = ref.replace(/^env:/, '');
      const v = vars[name];
      if (v === undefined) throw new SecretError(`actions[0].${at}: environment variable ${name} is not set`);
      return v;
    },
  };
}

function parse(raw: Record<string, unknown>, vars: Record<string, string> = { HCLOUD_TOKEN: TOKEN }) {
  const r = plugin.parseConfig(raw, env(vars));
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.config;
}

function event(from: InstanceState, to: InstanceState): TransitionEvent {
  return { instance: { name: 'vip', address: VIP }, node: { id: 'n' }, from, to, priority: 100, reason: 'test', signal: new AbortController().signal };
}

async function node(t: Test, sim: RunningHetznerSimulator, server: string, extra: Record<string, unknown> = {}, address = VIP, token = TOKEN) {
  const config = parse({ endpoint: sim.endpoint, metadataUrl: sim.metadataUrl(server), reconcile: '0s', startupGrace: '0s', ...extra }, { HCLOUD_TOKEN: token });
  const h = (await plugin.create({ config, log: silent, instance: { name: 'vip', address }, node: { id: server } })) as ActionHandlers & { controller: { stats: { lastError?: string } } };
  t.teardown(() => h.close?.());
  return h;
}

const holder = (sim: RunningHetznerSimulator) => sim.world.floatingIps.get(FIP_ID)!.server;

t.test('rc-file keys: names, defaults, errors naming the key', async (t) => {
  const saved = process.env.HCLOUD_ENDPOINT;
  delete process.env.HCLOUD_ENDPOINT;
  t.teardown(() => (saved === undefined ? delete process.env.HCLOUD_ENDPOINT : (process.env.HCLOUD_ENDPOINT = saved)));
  t.same(parse({}), {
    connection: { endpoint: 'https://api.hetzner.cloud/v1', token: TOKEN, tokenRef: 'env:HCLOUD_TOKEN' },
    mode: 'floating-ip',
    release: true,
    onApiUnreachable: 'hold',
    reconcileMs: 30_000,
    startupGraceMs: 10_000,
  });
  const daemon = daemonHetznerClientOptions({ endpoint: 'https://api.hetzner.cloud/v1', token: TOKEN, tokenRef: 'env:HCLOUD_TOKEN' }, silent);
  t.match(daemon, { timeoutMs: 5_000, firstTimeoutMs: FAILOVER_FIRST_TIMEOUT_MS }, 'the daemon re-sends a hung call after 2 s (then 4 s, then 5 s)');
  process.env.HCLOUD_ENDPOINT = 'http://127.0.0.1:9/v1';
  t.match(parse({ serverId: 42, metadataUrl: 'http://127.0.0.1:9/hetzner/v1/metadata/' }), { connection: { endpoint: 'http://127.0.0.1:9/v1' }, serverId: '42', metadataUrl: 'http://127.0.0.1:9/hetzner/v1/metadata/' }, '$HCLOUD_ENDPOINT when endpoint: is not set');
  t.match(parse({ endpoint: 'http://127.0.0.1:8/v1/', token: 'env:OTHER' }, { OTHER: 'x' }), { connection: { endpoint: 'http://127.0.0.1:8/v1', tokenRef: 'env:OTHER' } });
  t.match(parse({ mode: 'alias-ip', network: 'lb-net', reconcile: '5s', onApiUnreachable: 'release', release: false }), { mode: 'alias-ip', network: 'lb-net', reconcileMs: 5000, onApiUnreachable: 'release', release: false });
  const issues = (raw: Record<string, unknown>) => {
    const r = plugin.parseConfig(raw, env({ HCLOUD_TOKEN: 'x' }));
    return r.ok ? [] : r.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };
  t.match(issues({ mode: 'alias-ip' }), [/^network: required with mode: alias-ip/]);
  t.match(issues({ network: 'x' }), [/^network: only with mode: alias-ip/]);
  t.match(issues({ serverId: 'lb1' }), [/^serverId: expected a server id/]);
  t.match(issues({ endpoint: 'ftp://x' }), [/^endpoint: expected an http\(s\) URL/]);
  t.match(issues({ reconcile: 'soon' }), [/^reconcile: expected a duration/]);
  t.match(issues({ tokn: 'x' }), [/tokn/]);
  t.throws(() => plugin.parseConfig({}, env({})), /environment variable HCLOUD_TOKEN is not set/);
});

t.test('MASTER assigns; another MASTER moves it with one assign; BACKUP after it lets the new master have it; STOP releases', async (t) => {
  const sim = await hetznerSim(t, { actionDelayMs: 100 });
  const a = await node(t, sim, 'lb1');
  const b = await node(t, sim, 'lb2');
  await a.onMaster!(event('BACKUP', 'MASTER'));
  t.equal(holder(sim), Number(LB1), 'assigned to lb1 (server id from the metadata service)');
  await a.onBackup!(event('MASTER', 'BACKUP'));
  t.equal(holder(sim), Number(LB1), 'a yielding master keeps it for the new one (hand-over: never unheld)');
  const before = sim.requests().length;
  await b.onMaster!(event('BACKUP', 'MASTER'));
  t.equal(holder(sim), Number(LB2), 'moved');
  t.same(sim.requests().slice(before).filter((r) => r.call.endsWith('floating-ip') && r.method === 'POST').map((r) => r.call), ['assign-floating-ip'], 'one assign, no unassign');
  await b.onStop!(event('MASTER', 'STOP'));
  t.equal(holder(sim), null, 'STOP releases (unassign)');
  t.equal(sim.history.timeline(VIP).maxMultiHolderMs, 0);
});

t.test('startupGrace keeps it; reconcile repairs drift; a locked IP is waited out', async (t) => {
  const sim = await hetznerSim(t, { actionDelayMs: 100 });
  await admin(sim, 'PATCH', 'floating_ips/vip', { server: 'lb1' });
  const a = await node(t, sim, 'lb1', { startupGrace: '400ms' });
  await a.onBackup!(event('INIT', 'BACKUP'));
  t.equal(holder(sim), Number(LB1), 'BACKUP at startup keeps it during startupGrace');
  await until('released after the grace', () => holder(sim) === null, 5_000);

  const m = await node(t, sim, 'lb2', { reconcile: '300ms' });
  await m.onMaster!(event('BACKUP', 'MASTER'));
  t.equal(holder(sim), Number(LB2));
  await admin(sim, 'PATCH', 'floating_ips/vip', { server: 'lb1' });
  await until('reconcile moves it back', () => holder(sim) === Number(LB2), 5_000);
  t.match(sim.history.events(0, VIP).map((e) => e.cause), ['seed', 'admin', 'unassign-floating-ip', 'assign-floating-ip', 'admin', 'assign-floating-ip']);

  await admin(sim, 'PATCH', 'config', { changeDelayMs: 500 });
  const c = await node(t, sim, 'lb3');
  const other = await fetch(`${sim.endpoint}/floating_ips/${FIP_ID}/actions/unassign`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });
  t.equal(other.status, 201, 'someone else\'s action is running');
  await c.onMaster!(event('BACKUP', 'MASTER'));
  t.equal(holder(sim), 1003, 'the assign waited for the lock and won');
  t.ok(sim.requests().some((r) => r.call === 'assign-floating-ip' && r.status === 423), 'it met 423 locked first');
});

t.test('API down: hold keeps MASTER (retries in the background), release fails the action', async (t) => {
  const sim = await hetznerSim(t, { actionDelayMs: 50 });
  sim.faults.add({ id: 'down', kind: 'error', status: 503 });
  const hold = await node(t, sim, 'lb1', { onApiUnreachable: 'hold' });
  const t0 = Date.now();
  await hold.onMaster!(event('BACKUP', 'MASTER'));
  t.pass(`hold: onMaster resolved after ${Date.now() - t0} ms without the API`);
  const release = await node(t, sim, 'lb2', { onApiUnreachable: 'release' });
  await t.rejects(release.onMaster!(event('BACKUP', 'MASTER')), { kind: 'retryable', message: /503/ }, 'release: the action fails (required: true gives the instance up)');
  sim.faults.remove('down');
  await until('the held master attaches once the API is back', () => holder(sim) === Number(LB1), 15_000);
});

t.test('a read-only token: one clear error naming the token reference, nothing moved', async (t) => {
  const sim = await hetznerSim(t);
  const ro = await node(t, sim, 'lb1', { token: 'env:HCLOUD_TOKEN' }, VIP, READONLY_TOKEN);
  const err = await ro.onMaster!(event('BACKUP', 'MASTER')).then(() => undefined, (e: unknown) => e);
  t.match(err, { kind: 'auth', message: /the API token from env:HCLOUD_TOKEN is read-only \(403 token_readonly\)/ });
  t.notMatch((err as Error).message, READONLY_TOKEN);
  t.equal(holder(sim), null);
  t.equal(sim.requests().filter((r) => r.status === 403).length, 1, 'not retried');
});

t.test('alias-ip mode: the MASTER holds the alias, the others keep theirs', async (t) => {
  const seed = {
    networks: [{ id: 9, name: 'internal', ipRange: '10.0.0.0/16' }],
    servers: [
      { id: 1001, name: 'lb1', publicIpv4: '198.51.100.11', privateNet: [{ network: 'internal', ip: '10.0.1.11', aliasIps: ['10.0.3.1'] }] },
      { id: 1002, name: 'lb2', publicIpv4: '198.51.100.12', privateNet: [{ network: 'internal', ip: '10.0.1.12' }] },
    ],
  };
  const sim = await hetznerSim(t, { seed });
  const vip = '10.0.9.9';
  const a = await node(t, sim, 'lb1', { mode: 'alias-ip', network: 'internal' }, vip);
  const b = await node(t, sim, 'lb2', { mode: 'alias-ip', network: 9 }, vip);
  await a.onMaster!(event('BACKUP', 'MASTER'));
  t.same(sim.world.servers.get(1001)!.privateNet[0]!.aliasIps, ['10.0.3.1', vip]);
  await a.onBackup!(event('MASTER', 'BACKUP'));
  t.same(sim.world.servers.get(1001)!.privateNet[0]!.aliasIps, ['10.0.3.1', vip], 'a yielding master keeps it for the new one (hand-over)');
  await b.onMaster!(event('BACKUP', 'MASTER'));
  t.same(sim.world.servers.get(1001)!.privateNet[0]!.aliasIps, ['10.0.3.1'], 'moved away, lb1 keeps its own alias');
  t.same(sim.world.servers.get(1002)!.privateNet[0]!.aliasIps, [vip]);
  t.equal(sim.history.timeline(vip).maxMultiHolderMs, 0, 'never on two servers');
  await b.onFault!(event('MASTER', 'FAULT'));
  t.same(sim.history.timeline(vip).holders, [], 'FAULT releases');
  t.same(sim.world.servers.get(1001)!.privateNet[0]!.aliasIps, ['10.0.3.1']);
  t.same(LB1, '1001');
  t.same(LB2, '1002');
});
