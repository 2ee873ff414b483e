/**
 * The Hetzner providers against the simulator: floating IP moves (assign moves, unassign only from
 * the holder), locked answers waited out, 429 waits for RateLimit-Reset, auth errors naming the token
 * reference (never the value), pagination, metadata, failed actions, and alias IPs that keep a
 * server's other aliases and never sit on two servers.
 */
import t from 'tap';
import { CloudApiError } from '../../src/cloud/provider.js';
import { hetznerErrorKind } from '../../src/hetzner/errors.js';
import { matchesLabels, parseLabelSelector } from '../../src/hetzner/label-selector.js';
import { hetznerMetadataUrl } from '../../src/hetzner/metadata.js';
import { HetznerAliasIpProvider, HetznerFloatingIpProvider } from '../../src/hetzner/provider.js';
import { FIP_ID, LB1, LB2, LB3, READONLY_TOKEN, TOKEN, VIP, admin, hetznerClient, hetznerSim } from './lib/sim.js';

const errorOf = (p: Promise<unknown>): Promise<unknown> => p.then(() => undefined, (e: unknown) => e);

t.test('floating IP: assign moves it, detach unassigns only from the holder, history from the cloud side', async (t) => {
  const sim = await hetznerSim(t);
  const p = new HetznerFloatingIpProvider(hetznerClient(t, sim), VIP, { serverId: LB1 });
  t.equal(p.holderMode, 'single');
  t.equal(p.describe(), `Hetzner floating IP ${VIP}`);
  t.same(await p.holders(), []);
  await p.attach(LB1);
  t.same(await p.holders(), [LB1]);
  await p.attach(LB2);
  t.same(await p.holders(), [LB2], 'one assign moved it');
  const before = sim.requests().length;
  await p.detach(LB1);
  t.same(await p.holders(), [LB2], 'detaching a non-holder leaves the holder alone');
  t.notOk(sim.requests().slice(before).some((r) => r.call === 'unassign-floating-ip'), 'and sends no unassign');
  await p.detach(LB2);
  t.same(await p.holders(), []);
  const tl = sim.history.timeline(VIP);
  t.same(tl.intervals.map((i) => i.holders), [[], [LB1], [LB2], []]);
  t.equal(tl.maxMultiHolderMs, 0);
  t.equal(await p.self(), LB1, 'serverId configured: no metadata call');
});

t.test('a locked floating IP is waited out; a 429 waits for RateLimit-Reset; 5xx retried', async (t) => {
  const sim = await hetznerSim(t, { actionDelayMs: 400 });
  const retries: Array<{ code?: string; delayMs?: number }> = [];
  // retries that outlast the 400 ms action however the backoff's randomness falls (4 x 20 ms did not always)
  const client = hetznerClient(t, sim, { retry: { retries: 10, minDelayMs: 50, maxDelayMs: 400 }, onRetry: ({ error, delayMs }) => retries.push({ ...(error.code ? { code: error.code } : {}), ...(delayMs !== undefined ? { delayMs } : {}) }) });
  const p = new HetznerFloatingIpProvider(client, VIP, {});
  await p.floatingIp();
  const running = await client.assignFloatingIp(FIP_ID, 1003);
  t.equal(running.status, 'running');
  await p.attach(LB1);
  const assigns = sim.requests().filter((r) => r.call === 'assign-floating-ip');
  const locked = assigns.filter((r) => r.status === 423);
  t.ok(locked.length > 0, `the assign met the lock ${locked.length} time(s)`);
  t.same(retries, [], 'a locked assign is re-tried by the provider at its poll interval, not by the HTTP layer\'s backoff');
  t.same(await p.holders(), [LB1], 'and won after the running action');
  const events = sim.history.events(0, VIP);
  t.same(events.map((e) => e.holders), [[], [LB3], [LB1]]);
  const won = assigns.find((r) => r.status === 201 && r.t > locked.at(-1)!.t)!;
  const freedAt = events[1]!.t;
  // the 400 ms action ended at freedAt: the next try comes within one 250 ms poll (the old backoff waited up to 1.6 s)
  t.ok(won.t - freedAt <= 250 + 250, `assigned ${won.t - freedAt} ms after the running action ended`);

  retries.length = 0;
  sim.faults.add({ kind: 'rate-limit', count: 1, retryAfterSeconds: 1, calls: ['get-floating-ip'] });
  const t0 = Date.now();
  t.same(await p.holders(), [LB1]);
  t.ok(retries[0]?.code === 'rate_limit_exceeded' && retries[0].delayMs! > 0, `waited ${retries[0]?.delayMs} ms from RateLimit-Reset`);
  t.ok(Date.now() - t0 >= retries[0]!.delayMs! - 5);

  sim.faults.add({ kind: 'error', count: 2, status: 503, calls: ['get-floating-ip'] });
  t.same(await p.holders(), [LB1], 'two 503s absorbed');
});

t.test('a locked assign is not sent again once the node no longer wants it (resend aborted): it cannot land on the new MASTER', async (t) => {
  // chaos seed 7 (hetzner): a MASTER for 700 ms kept re-sending its locked assign for 7 s after it became
  // BACKUP, through two other nodes' actions, and took the floating IP from the new MASTER once the lock freed
  const sim = await hetznerSim(t, { actionDelayMs: 1000 });
  const client = hetznerClient(t, sim);
  const p = new HetznerFloatingIpProvider(client, VIP, {});
  await p.floatingIp();
  await client.assignFloatingIp(FIP_ID, 1003);
  const stopped = new AbortController();
  const attach = errorOf(p.attach(LB1, { resend: stopped.signal }));
  const assigns = (): number => sim.requests().filter((r) => r.call === 'assign-floating-ip').length;
  const deadline = Date.now() + 5000;
  while (!sim.requests().some((r) => r.call === 'assign-floating-ip' && r.status === 423)) {
    if (Date.now() > deadline) throw new Error('the assign never met the lock');
    await new Promise((r) => setTimeout(r, 20));
  }
  stopped.abort(new Error('left MASTER'));
  const sent = assigns();
  t.ok((await attach) instanceof Error, 'attach gives up');
  while (sim.changes.lockedBy(`floating_ip:${FIP_ID}`)) {
    if (Date.now() > deadline) throw new Error('the running action never ended');
    await new Promise((r) => setTimeout(r, 20));
  }
  t.equal(assigns(), sent, 'no assign sent after the abort');
  t.same(await p.holders(), [LB3], 'the other node keeps the address once the lock frees');
});

t.test('a detach that meets another node\'s running assign does not take the address from it', async (t) => {
  const sim = await hetznerSim(t, { actionDelayMs: 400 });
  await admin(sim, 'PATCH', 'floating_ips/vip', { server: 'lb1' });
  const client = hetznerClient(t, sim);
  const old = new HetznerFloatingIpProvider(client, VIP, {});
  await old.floatingIp();
  const moving = await client.assignFloatingIp(FIP_ID, Number(LB2)); // the new MASTER's assign, running
  t.equal(moving.status, 'running');
  await old.detach(LB1); // the old MASTER stopping: the API still lists it
  t.ok(sim.requests().some((r) => r.call === 'unassign-floating-ip' && r.status === 423), 'its unassign met the lock');
  t.same(await old.holders(), [LB2], 'after the lock the holder is read again: lb2 keeps it');
  t.notOk(sim.history.events(0, VIP).some((e) => e.cause === 'unassign-floating-ip'), 'no unassign was applied');
});

t.test('auth errors name the token reference, never the token; read-only tokens read but cannot move', async (t) => {
  const sim = await hetznerSim(t);
  const bad = new HetznerFloatingIpProvider(hetznerClient(t, sim, { token: `${TOKEN}-wrong`, tokenRef: 'file:/etc/ipwarden/hcloud-token' }), VIP, {});
  const err = await errorOf(bad.holders());
  t.ok(err instanceof CloudApiError);
  t.match(err, { kind: 'auth', status: 401, code: 'unauthorized' });
  t.match((err as Error).message, 'the API token from file:/etc/ipwarden/hcloud-token was refused');
  t.notMatch((err as Error).message, TOKEN);
  t.equal(sim.requests().filter((r) => r.status === 401).length, 1, 'not retried');

  const ro = new HetznerFloatingIpProvider(hetznerClient(t, sim, { token: READONLY_TOKEN }), VIP, {});
  t.same(await ro.holders(), [], 'a read-only token reads');
  const roErr = await errorOf(ro.attach(LB1));
  t.match(roErr, { kind: 'auth', status: 403, code: 'token_readonly' });
  t.match((roErr as Error).message, /token from env:HCLOUD_TOKEN is read-only/);
  t.equal(sim.world.floatingIps.get(FIP_ID)!.server, null);
});

t.test('a missing address, a failed action, metadata', async (t) => {
  const sim = await hetznerSim(t);
  const client = hetznerClient(t, sim);
  const missing = await errorOf(new HetznerFloatingIpProvider(client, '203.0.113.9', {}).holders());
  t.match(missing, { kind: 'not-found', message: /no floating IP 203\.0\.113\.9 in this project/ });

  sim.faults.add({ kind: 'fail-change', count: 1, calls: ['assign-floating-ip'], message: 'server is in another location' });
  const p = new HetznerFloatingIpProvider(client, VIP, { metadataUrl: sim.metadataUrl('lb2') });
  const failed = await errorOf(p.attach(LB1));
  t.match(failed, { kind: 'invalid', code: 'action_failed', message: /assign floating IP 198\.51\.100\.50 to server 1001: action \d+ \(assign_floating_ip\) failed: action_failed: server is in another location/ });
  t.same(await p.holders(), []);

  t.equal(await p.self(), LB2, 'this server from the metadata service');
  const byName = await fetch(`${sim.url}/_meta/lb3/hetzner/v1/metadata/private-networks`);
  t.match(await byName.text(), /- ip: 10\.0\.1\.13\n  alias_ips: \[\]\n  interface_num: 1\n  network_id: 4711\n  network_name: lb-net/);
  const none = new HetznerFloatingIpProvider(client, VIP, { metadataUrl: `${sim.url}/hetzner/v1/metadata/` });
  t.match(await errorOf(none.self()), { kind: 'not-found', message: /answered HTTP 404 .*set serverId: or metadataUrl:/ }, 'loopback is no server');
  t.equal(hetznerMetadataUrl('http://h/hetzner/v1/metadata', 'hostname').href, 'http://h/hetzner/v1/metadata/hostname');
  t.equal(hetznerMetadataUrl('http://h/hetzner/v1/metadata/instance-id', 'hostname').href, 'http://h/hetzner/v1/metadata/hostname');
  t.throws(() => hetznerMetadataUrl('ftp://h/', 'hostname'), /must be http/);
});

t.test('pagination: the address is found on page 3; servers by label selector', async (t) => {
  const floatingIps = Array.from({ length: 120 }, (_, i) => ({ ip: `203.0.113.${i + 1}`, name: `ip${i}` }));
  const sim = await hetznerSim(t, { seed: { servers: [{ name: 'a', publicIpv4: '198.51.100.7', labels: { role: 'lb', env: 'prod' } }, { name: 'b', publicIpv4: '198.51.100.8', labels: { role: 'lb' } }], floatingIps } });
  const client = hetznerClient(t, sim);
  const found = await client.floatingIpByAddress('203.0.113.110');
  t.equal(found?.name, 'ip109');
  t.equal(sim.requests().filter((r) => r.call === 'list-floating-ips').length, 3, '50 per page');
  const page = (await (await fetch(`${sim.endpoint}/floating_ips?page=2&per_page=50`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { meta: { pagination: unknown } };
  t.same(page.meta.pagination, { page: 2, per_page: 50, previous_page: 1, next_page: 3, last_page: 3, total_entries: 120 });
  t.same((await client.listServers('role=lb,env!=prod')).map((s) => s.name), ['b']);
  t.same((await client.listServers('env')).map((s) => s.name), ['a']);
  const bad = await fetch(`${sim.endpoint}/servers?label_selector=${encodeURIComponent('role in (a')}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  t.equal(bad.status, 400);
  t.match(await bad.json(), { error: { code: 'invalid_input', details: { fields: [{ name: 'label_selector' }] } } });
  const res = await fetch(`${sim.endpoint}/servers`, { headers: { authorization: `Bearer ${TOKEN}` } });
  t.match(res.headers.get('ratelimit-limit'), '3600');
  t.ok(Number(res.headers.get('ratelimit-reset')) > Date.now() / 1000 - 1, 'RateLimit-Reset is a unix time');
});

t.test('alias IP mode: keeps the other aliases, moves without two holders, refuses a taken address', async (t) => {
  const seed = {
    networks: [{ id: 4711, name: 'lb-net', ipRange: '10.0.0.0/16' }],
    servers: [
      { id: 1001, name: 'lb1', publicIpv4: '198.51.100.11', privateNet: [{ network: 'lb-net', ip: '10.0.1.11', aliasIps: ['10.0.2.99'] }] },
      { id: 1002, name: 'lb2', publicIpv4: '198.51.100.12', privateNet: [{ network: 4711, ip: '10.0.1.12' }] },
      { id: 1003, name: 'lb3', publicIpv4: '198.51.100.13' },
    ],
  };
  const sim = await hetznerSim(t, { seed });
  const client = hetznerClient(t, sim);
  const vip = '10.0.9.1';
  const p = new HetznerAliasIpProvider(client, vip, { serverId: LB1 }, 'lb-net');
  t.equal(p.describe(), 'Hetzner alias IP 10.0.9.1 on network lb-net');
  t.same(await p.holders(), []);
  await p.attach(LB1);
  t.same(sim.world.servers.get(1001)!.privateNet[0]!.aliasIps, ['10.0.2.99', vip], 'the other alias IP is kept');
  t.same(await p.holders(), [LB1]);
  await p.attach(LB2);
  t.same(await p.holders(), [LB2]);
  t.same(sim.world.servers.get(1001)!.privateNet[0]!.aliasIps, ['10.0.2.99'], 'removed from lb1, its own alias kept');
  t.equal(sim.history.timeline(vip).maxMultiHolderMs, 0, 'never on two servers');
  t.same(sim.history.timeline('10.0.2.99').holders, [LB1]);

  const taken = await errorOf(client.changeAliasIps(1001, 4711, [vip]));
  t.match(taken, { kind: 'invalid', status: 422, code: 'ip_not_available' }, 'the simulator refuses a second holder');
  t.match(await errorOf(p.attach(LB3)), { kind: 'invalid', message: /server 1003 is not attached to network lb-net \(4711\)/ });
  t.match(await errorOf(new HetznerAliasIpProvider(client, vip, {}, 'nope').holders()), { kind: 'not-found', message: /no network named "nope"/ });
  const byId = new HetznerAliasIpProvider(client, vip, {}, '4711');
  t.same(await byId.holders(), [LB2], 'network by id');
  await byId.detach(LB2);
  t.same(await p.holders(), []);
  t.same(sim.world.servers.get(1002)!.privateNet[0]!.aliasIps, []);
});

t.test('pure pieces: label selectors, error kinds, CIDR', async (t) => {
  const sel = parseLabelSelector('role=lb, env in (prod,staging),!legacy,tier!=db,zone');
  t.same(sel.map((r) => r.op), ['eq', 'in', 'absent', 'neq', 'exists']);
  t.ok(matchesLabels(sel, { role: 'lb', env: 'prod', zone: 'a' }));
  t.notOk(matchesLabels(sel, { role: 'lb', env: 'prod', zone: 'a', legacy: '' }));
  t.notOk(matchesLabels(sel, { role: 'lb', env: 'dev', zone: 'a' }));
  t.notOk(matchesLabels(sel, { role: 'lb', env: 'prod', zone: 'a', tier: 'db' }));
  t.ok(matchesLabels(parseLabelSelector('role==lb,env notin (dev)'), { role: 'lb' }));
  t.throws(() => parseLabelSelector(''), /empty/);
  t.throws(() => parseLabelSelector('role=lb,,x'), /empty requirement/);
  t.throws(() => parseLabelSelector('ro le=lb'), /cannot parse "ro le=lb"/);
  t.throws(() => parseLabelSelector('role=l b'), /cannot parse|not a label value/);
  t.equal(hetznerErrorKind(423, 'locked'), 'conflict');
  t.equal(hetznerErrorKind(409, 'conflict'), 'conflict');
  t.equal(hetznerErrorKind(429, 'rate_limit_exceeded'), 'rate-limited');
  t.equal(hetznerErrorKind(403, 'token_readonly'), 'auth');
  t.equal(hetznerErrorKind(503, 'unavailable'), 'retryable');
  t.equal(hetznerErrorKind(422, 'service_error'), 'invalid');
  t.equal(hetznerErrorKind(404, 'not_found'), 'not-found');
});

t.test('admin API: labels, drift, state', async (t) => {
  const sim = await hetznerSim(t);
  t.match(await admin(sim, 'PATCH', 'servers/lb3', { labels: { role: 'web' } }), { status: 200, json: { server: { labels: { role: 'web' } } } });
  t.match(await admin(sim, 'PATCH', 'floating_ips/198.51.100.50', { server: 'lb2' }), { status: 200, json: { floating_ip: { server: 1002 } } });
  t.match(sim.history.events(0, VIP).at(-1), { holders: [LB2], cause: 'admin' });
  t.match(await admin(sim, 'PATCH', 'servers/nope', {}), { status: 404 });
  t.match(await admin(sim, 'PATCH', 'floating_ips/vip', { server: 'nope' }), { status: 400, json: { error: /no server "nope"/ } });
  t.match(await admin(sim, 'GET', 'state'), { json: { servers: [{ name: 'lb1' }, {}, {}, {}], floatingIps: [{ server: 1002 }], actionDelayMs: 50 } });
  await admin(sim, 'POST', 'reset');
  t.equal(sim.world.floatingIps.get(FIP_ID)!.server, null, 'reset: the seed again');
  t.same(sim.world.servers.get(1003)!.labels, { role: 'lb' });
});
