/**
 * The simulator over raw HTTP: signature checks (unknown key, bad signature, expired,
 * missing), response shapes against the OpenAPI subset, async operations, duplicates
 * modes, error bodies, filters, metadata, the admin API and the event history.
 */
import t, { type Test } from 'tap';
import { createServer } from 'node:net';
import { admin, EIP, EIP_ID, KEY, LB1, LB2, LB3, MISSING, raw, until, WEB1, withSim } from './lib/sim.js';
import { holderHistory } from '../../src/exoscale/simulator/history.js';

// Property names per schema, from exoscale-openapi-subset.json (python-exoscale's openapi.json).
const SCHEMA_PROPS = {
  'elastic-ip': ['addressfamily', 'cidr', 'description', 'healthcheck', 'id', 'ip', 'labels'],
  instance: [
    'anti-affinity-groups', 'application-consistent-snapshot-enabled', 'created-at', 'deploy-target', 'disk-encrypted',
    'disk-size', 'elastic-ips', 'id', 'instance-type', 'ipv6-address', 'labels', 'mac-address', 'manager', 'name',
    'private-networks', 'public-ip', 'public-ip-assignment', 'secureboot-enabled', 'security-groups', 'snapshots',
    'ssh-key', 'ssh-keys', 'state', 'template', 'tpm-enabled', 'user-data',
  ],
  'instance-list-item': [
    'created-at', 'id', 'instance-type', 'ipv6-address', 'labels', 'mac-address', 'manager', 'name', 'private-networks',
    'public-ip', 'public-ip-assignment', 'security-groups', 'ssh-key', 'ssh-keys', 'state', 'template',
  ],
  'security-group': ['description', 'external-sources', 'id', 'name', 'rules'],
  operation: ['id', 'message', 'reason', 'reference', 'state'],
  zone: ['api-endpoint', 'name', 'sos-endpoint'],
} as const;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function conforms(t: Test, obj: Record<string, unknown>, schema: keyof typeof SCHEMA_PROPS, label: string): void {
  const allowed: readonly string[] = SCHEMA_PROPS[schema];
  const extra = Object.keys(obj).filter((k) => !allowed.includes(k));
  t.same(extra, [], `${label}: only ${schema} schema fields`);
}

t.test('authentication', async (t) => {
  const sim = await withSim(t);
  const ok = await raw(sim, { path: '/v2/elastic-ip' });
  t.equal(ok.status, 200);
  t.equal(ok.headers['content-type'], 'application/json');

  const cases: [string, Parameters<typeof raw>[1], string][] = [
    ['unknown key', { path: '/v2/elastic-ip', key: 'EXO000000000000000000000000' }, 'Invalid API key'],
    ['wrong secret', { path: '/v2/elastic-ip', secret: 'not-the-secret' }, 'Invalid request signature'],
    ['expired', { path: '/v2/elastic-ip', expires: Math.floor(Date.now() / 1000) - 5 }, 'Request expired'],
    ['missing', { path: '/v2/elastic-ip', authorization: false }, 'Missing request signature'],
    ['malformed', { path: '/v2/elastic-ip', authorization: 'EXO2-HMAC-SHA256 credential=x' }, 'Invalid request signature'],
    ['other scheme', { path: '/v2/elastic-ip', authorization: 'Bearer token' }, 'Invalid request signature'],
  ];
  for (const [name, req, message] of cases) {
    const res = await raw(sim, req);
    t.equal(res.status, 403, `${name}: 403`);
    t.same(res.json, { message }, `${name}: {"message"} body`);
  }

  // a body signed differently from the one sent
  const body = JSON.stringify({ instance: { id: LB1 } });
  const sig = await raw(sim, { method: 'PUT', path: `/v2/elastic-ip/${EIP_ID}:attach`, body });
  t.equal(sig.status, 200, 'properly signed attach accepted');
  const url = new URL(`${sim.url}/v2/elastic-ip/${EIP_ID}:detach`);
  const { signRequest } = await import('../../src/exoscale/signature.js');
  const header = signRequest({ apiKey: KEY, apiSecret: sim.keys.get(KEY)!, method: 'PUT', url, body, expires: Math.floor(Date.now() / 1000) + 60 });
  const tampered = await raw(sim, { method: 'PUT', path: url.pathname, body: body.replace(LB1, LB2), authorization: header });
  t.equal(tampered.status, 403, 'tampered body refused');

  // strict mode: every single-valued query parameter must be signed
  const signedNoQuery = signRequest({ apiKey: KEY, apiSecret: sim.keys.get(KEY)!, method: 'GET', url: new URL(`${sim.url}/v2/instance`), expires: Math.floor(Date.now() / 1000) + 60 });
  const unsigned = await raw(sim, { path: `/v2/instance?ip-address=${EIP}`, authorization: signedNoQuery });
  t.equal(unsigned.status, 403, 'unsigned query parameter refused');

  // zones are public: no credentials needed, bad credentials still refused
  t.equal((await raw(sim, { path: '/v2/zone', authorization: false })).status, 200);
  t.equal((await raw(sim, { path: '/v2/zone', secret: 'bad' })).status, 403);

  // keys can be added and removed at runtime
  t.equal((await admin(sim, 'POST', '/keys', { key: 'EXOnewkey', secret: 'new-secret' })).status, 201);
  t.equal((await raw(sim, { path: '/v2/elastic-ip', key: 'EXOnewkey', secret: 'new-secret' })).status, 200);
  t.equal((await admin(sim, 'DELETE', '/keys/EXOnewkey')).status, 200);
  t.equal((await raw(sim, { path: '/v2/elastic-ip', key: 'EXOnewkey', secret: 'new-secret' })).status, 403);

  const rejected = sim.state.requests().filter((r) => r.status === 403);
  t.ok(rejected.every((r) => r.fault?.startsWith('auth ')), 'request log names the auth failure');
  t.same([...new Set(sim.state.requests().map((r) => r.caller))], ['127.0.0.1'], 'request log names the caller\'s address');
});

t.test('response shapes follow the OpenAPI subset', async (t) => {
  const sim = await withSim(t);
  sim.state.setHolders(EIP, [LB1]);

  const zones = (await raw(sim, { path: '/v2/zone' })).json;
  t.equal(zones.zones.length, 8);
  for (const z of zones.zones) conforms(t, z, 'zone', `zone ${z.name}`);
  t.equal(zones.zones.find((z: { name: string }) => z.name === 'ch-gva-2')['api-endpoint'], sim.endpoint, 'own zone points at the simulator');

  const eips = (await raw(sim, { path: '/v2/elastic-ip' })).json;
  t.same(Object.keys(eips), ['elastic-ips']);
  const eip = eips['elastic-ips'][0];
  conforms(t, eip, 'elastic-ip', 'list-elastic-ips item');
  t.match(eip, { id: EIP_ID, ip: EIP, addressfamily: 'inet4', cidr: `${EIP}/32` });
  t.notOk('healthcheck' in eip, 'manual EIP has no healthcheck');
  t.same((await raw(sim, { path: `/v2/elastic-ip/${EIP_ID}` })).json, eip, 'get-elastic-ip is the same object');

  const list = (await raw(sim, { path: '/v2/instance' })).json;
  t.equal(list.instances.length, 4);
  for (const i of list.instances) {
    conforms(t, i, 'instance-list-item', `list item ${i.name}`);
    t.notOk('elastic-ips' in i, `list item ${i.name} omits elastic-ips`);
    t.match(i.id, UUID);
    t.ok(i['security-groups'].every((g: object) => Object.keys(g).join() === 'id'), 'references carry only id');
  }
  const inst = (await raw(sim, { path: `/v2/instance/${LB1}` })).json;
  conforms(t, inst, 'instance', 'get-instance');
  t.same(inst['elastic-ips'], [{ id: EIP_ID }]);
  t.match(inst, { id: LB1, name: 'lb1', state: 'running', 'public-ip': '198.51.100.11', 'public-ip-assignment': 'inet4' });
  t.notOk('elastic-ips' in (await raw(sim, { path: `/v2/instance/${LB2}` })).json, 'no elastic-ips field when none attached');

  const groups = (await raw(sim, { path: '/v2/security-group' })).json['security-groups'];
  for (const g of groups) conforms(t, g, 'security-group', `group ${g.name}`);
  const lbGroup = groups.find((g: { name: string }) => g.name === 'load-balancer');
  t.same((await raw(sim, { path: `/v2/security-group/${lbGroup.id}` })).json, lbGroup);
  t.same((await raw(sim, { path: '/v2/security-group?visibility=public' })).json, { 'security-groups': [] });

  const op = (await raw(sim, { method: 'PUT', path: `/v2/elastic-ip/${EIP_ID}:attach`, body: JSON.stringify({ instance: { id: LB2 } }) })).json;
  conforms(t, op, 'operation', 'attach operation');
  t.match(op, { id: UUID, state: 'pending', reference: { id: EIP_ID, link: `/v2/elastic-ip/${EIP_ID}`, command: 'get-elastic-ip' } });
});

t.test('operations: pending, then success and the state change', async (t) => {
  const sim = await withSim(t, { operationDelayMs: 150 });
  const body = JSON.stringify({ instance: { id: LB1 } });
  const started = Date.now();
  const op = (await raw(sim, { method: 'PUT', path: `/v2/elastic-ip/${EIP_ID}:attach`, body })).json;
  t.equal(op.state, 'pending');
  t.same(sim.state.holdersOf(EIP), [], 'nothing changes before the operation completes');
  const poll = (await raw(sim, { path: `/v2/operation/${op.id}` })).json;
  t.equal(poll.state, 'pending');
  await until(async () => (await raw(sim, { path: `/v2/operation/${op.id}` })).json.state !== 'pending');
  t.ok(Date.now() - started >= 140, 'completion honours the operation delay');
  t.equal((await raw(sim, { path: `/v2/operation/${op.id}` })).json.state, 'success');
  t.same(sim.state.holdersOf(EIP), [LB1]);

  // an EIP can be held by several instances; an instance can hold several EIPs
  await admin(sim, 'POST', '/elastic-ips', { ip: '198.51.100.60' });
  sim.state.setConfig({ operationDelayMs: 0 });
  const eip2 = sim.state.findElasticIp('198.51.100.60')!.id;
  await raw(sim, { method: 'PUT', path: `/v2/elastic-ip/${EIP_ID}:attach`, body: JSON.stringify({ instance: { id: LB2 } }) });
  await raw(sim, { method: 'PUT', path: `/v2/elastic-ip/${eip2}:attach`, body });
  await until(() => sim.state.holdersOf(EIP).length === 2 && sim.state.holdersOf(eip2).length === 1);
  t.same(sim.state.holdersOf(EIP).sort(), [LB1, LB2]);
  t.same(new Set(sim.state.elasticIpsOf(LB1)), new Set([EIP_ID, eip2]));

  // detach
  const det = (await raw(sim, { method: 'PUT', path: `/v2/elastic-ip/${EIP_ID}:detach`, body })).json;
  await until(() => sim.state.getOperation(det.id)?.state === 'success');
  t.same(sim.state.holdersOf(EIP), [LB2]);
  t.equal((await raw(sim, { path: `/v2/operation/${MISSING}` })).status, 404);
});

t.test('duplicate attach / detach of a non-attached pair, per mode', async (t) => {
  const sim = await withSim(t, { operationDelayMs: 0 });
  const put = (action: string, id = LB1) =>
    raw(sim, { method: 'PUT', path: `/v2/elastic-ip/${EIP_ID}:${action}`, body: JSON.stringify({ instance: { id } }) });
  const settle = async (opId: string) => {
    await until(() => sim.state.getOperation(opId)?.state !== 'pending');
    return sim.state.getOperation(opId)!;
  };
  sim.state.setHolders(EIP, [LB1]);

  // default: operation-failure
  t.match(await settle((await put('attach')).json.id), { state: 'failure', reason: 'conflict', message: /already attached/ });
  t.match(await settle((await put('detach', LB2)).json.id), { state: 'failure', reason: 'conflict', message: /not attached/ });

  await admin(sim, 'PATCH', '/config', { duplicates: 'http-conflict' });
  const dup = await put('attach');
  t.equal(dup.status, 409);
  t.same(dup.json, { message: 'Instance is already attached to this Elastic IP' });
  t.equal((await put('detach', LB2)).status, 409);

  await admin(sim, 'PATCH', '/config', { duplicates: 'succeed' });
  t.match(await settle((await put('attach')).json.id), { state: 'success' });
  t.match(await settle((await put('detach', LB2)).json.id), { state: 'success' });
  t.same(sim.state.holdersOf(EIP), [LB1], 'no change from idempotent duplicates');
  t.equal((await admin(sim, 'PATCH', '/config', { duplicates: 'maybe' })).status, 400);
});

t.test('error bodies: 400, 404', async (t) => {
  const sim = await withSim(t);
  const put = (path: string, body?: string) => raw(sim, { method: 'PUT', path, ...(body !== undefined ? { body } : {}) });
  const attach = `/v2/elastic-ip/${EIP_ID}:attach`;
  t.same((await raw(sim, { path: `/v2/elastic-ip/${MISSING}` })).json, { message: 'Elastic IP not found' });
  t.equal((await raw(sim, { path: `/v2/elastic-ip/${MISSING}` })).status, 404);
  t.same((await raw(sim, { path: `/v2/instance/${MISSING}` })).json, { message: 'Instance not found' });
  t.same((await raw(sim, { path: `/v2/security-group/${MISSING}` })).json, { message: 'Security Group not found' });
  const missingEip = await put(`/v2/elastic-ip/${MISSING}:attach`, JSON.stringify({ instance: { id: LB1 } }));
  t.equal(missingEip.status, 404);
  const missingInst = await put(attach, JSON.stringify({ instance: { id: MISSING } }));
  t.same([missingInst.status, missingInst.json], [404, { message: 'Instance not found' }]);
  for (const [label, body] of [
    ['no body', undefined],
    ['not JSON', '{nope'],
    ['no instance', '{}'],
    ['no instance.id', '{"instance":{}}'],
    ['instance.id not a UUID', '{"instance":{"id":"lb1"}}'],
  ] as const) {
    const res = await put(attach, body);
    t.equal(res.status, 400, `${label}: 400`);
    t.match(res.json, { message: /Invalid/ }, `${label}: message`);
  }
  t.equal((await raw(sim, { path: '/v2/elastic-ip/not-a-uuid' })).status, 400);
  t.equal((await raw(sim, { path: '/v2/nothing-here' })).status, 404);
  t.equal((await raw(sim, { method: 'DELETE', path: `/v2/instance/${LB1}` })).status, 404, 'unsupported method');
  t.equal((await raw(sim, { path: '/v2/instance?manager-type=bogus' })).status, 400);
  t.same(sim.state.holdersOf(EIP), [], 'nothing attached by refused calls');
});

t.test('instance filters: ip-address (native or elastic), labels, manager', async (t) => {
  const sim = await withSim(t);
  sim.state.setHolders(EIP, [LB2, LB3]);
  const names = async (q: string) =>
    ((await raw(sim, { path: `/v2/instance?${q}` })).json.instances as { name: string }[]).map((i) => i.name).sort();
  t.same(await names(`ip-address=${EIP}`), ['lb2', 'lb3'], 'holders of an EIP');
  t.same(await names('ip-address=198.51.100.21'), ['web1'], 'native public IP');
  t.same(await names('ip-address=203.0.113.99'), []);
  t.same(await names('labels=role%3Dlb'), ['lb1', 'lb2', 'lb3']);
  t.same(await names('labels=role%3Dweb'), ['web1']);
  sim.state.updateInstance('lb1', { labels: { role: 'lb', tier: 'front' } });
  t.same(await names('labels=role%3Dlb%20tier%3Dfront'), ['lb1'], 'space-separated pairs all match');
  sim.state.updateInstance('lb3', { manager: { id: MISSING, type: 'instance-pool' } });
  t.same(await names(`manager-id=${MISSING}&manager-type=instance-pool`), ['lb3']);
});

t.test('metadata: per-instance path and by source address', async (t) => {
  const sim = await withSim(t);
  const text = async (path: string) => {
    const res = await raw(sim, { path, authorization: false });
    return [res.status, res.text] as const;
  };
  t.same(await text(`/_meta/${LB1}/latest/meta-data/instance-id`), [200, LB1]);
  t.same(await text('/_meta/lb2/latest/meta-data/public-ipv4'), [200, '198.51.100.12'], 'instance by name too');
  t.same(await text(`/_meta/${LB1}/1.0/meta-data/availability-zone`), [200, 'ch-gva-2']);
  t.same(await text(`/_meta/${LB1}/latest/meta-data/local-hostname`), [200, 'lb1']);
  const keys = await text(`/_meta/${LB1}/latest/meta-data/`);
  t.equal(keys[0], 200);
  t.ok(keys[1].split('\n').includes('instance-id') && keys[1].split('\n').includes('public-ipv4'), 'key listing');
  t.equal((await text(`/_meta/${LB1}/latest/meta-data/nonsense`))[0], 404);
  t.equal((await text(`/_meta/${MISSING}/latest/meta-data/instance-id`))[0], 404);
  t.equal(sim.metadataUrl('lb1'), `${sim.url}/_meta/${LB1}/latest/meta-data/instance-id`);

  t.equal((await text('/latest/meta-data/instance-id'))[0], 404, 'no instance owns 127.0.0.1 yet');
  await admin(sim, 'POST', '/instances', { name: 'local', publicIp: '127.0.0.1', securityGroups: ['load-balancer'] });
  const local = sim.state.findInstance('local')!;
  t.same(await text('/latest/meta-data/instance-id'), [200, local.id], 'answered by source address');
});

t.test('admin API: world changes, faults, events, history, reset', async (t) => {
  const sim = await withSim(t, { operationDelayMs: 0 });
  const state = (await admin(sim, 'GET', '/state')).json;
  t.equal(state.zone, 'ch-gva-2');
  t.same(state.keys, [KEY], 'keys listed, secrets not');
  t.notMatch(JSON.stringify(state), sim.keys.get(KEY)!, 'no secret in the state dump');
  t.equal(state.instances.length, 4);

  const added = await admin(sim, 'POST', '/instances', { name: 'lb4', publicIp: '198.51.100.14', securityGroups: ['load-balancer', 'new-group'] });
  t.equal(added.status, 201);
  t.same(added.json.securityGroupNames, ['load-balancer', 'new-group'], 'unknown group names are created');
  t.equal((await admin(sim, 'POST', '/instances', { name: 'x', publicIp: 'nope' })).status, 400);
  t.match((await admin(sim, 'POST', '/instances', { nam: 'x' })).json, { error: /instance/ });
  const patched = await admin(sim, 'PATCH', '/instances/lb4', { state: 'stopped', securityGroups: ['default'] });
  t.match(patched.json, { state: 'stopped', securityGroupNames: ['default'] });
  t.equal((await admin(sim, 'PATCH', '/instances/ghost', { state: 'stopped' })).status, 404);

  t.same((await admin(sim, 'PUT', `/elastic-ips/${EIP}/holders`, { instances: ['lb1', 'lb4'] })).json.holders.length, 2);
  await new Promise((r) => setTimeout(r, 30));
  t.equal((await admin(sim, 'DELETE', '/instances/lb4')).status, 200);
  t.same(sim.state.holdersOf(EIP), [LB1], 'removing an instance detaches it');

  const fault = await admin(sim, 'POST', '/faults', { kind: 'error', status: 502, count: 1 });
  t.equal(fault.status, 201);
  t.equal((await admin(sim, 'GET', '/faults')).json.faults.length, 1);
  t.equal((await raw(sim, { path: '/v2/elastic-ip' })).status, 502);
  t.equal((await raw(sim, { path: '/v2/elastic-ip' })).status, 200, 'count exhausted');
  t.same((await admin(sim, 'GET', '/faults')).json.faults, []);
  t.match((await admin(sim, 'POST', '/faults', { kind: 'explode' })).json, { error: /kind/ });
  await admin(sim, 'POST', '/faults', { faults: [{ kind: 'latency', ms: 5 }, { kind: 'hang', id: 'h', calls: ['get-operation'], rate: 0 }] });
  t.equal((await admin(sim, 'DELETE', '/faults/h')).json.faults.length, 1);
  t.equal((await admin(sim, 'DELETE', '/faults/h')).status, 404);
  await admin(sim, 'DELETE', '/faults');
  // a batch is all or none; Exoscale's spellings are aliases of the kit's kinds, listed under the kit's
  const batch = await admin(sim, 'POST', '/faults', { faults: [{ kind: 'stall-operation' }, { kind: 'fail-operation', reason: 'why' }] });
  t.match({ status: batch.status, json: batch.json }, { status: 400, json: { error: /reason/ } });
  t.same((await admin(sim, 'GET', '/faults')).json.faults, [], 'nothing of the refused batch stays');
  t.match((await admin(sim, 'POST', '/faults', { kind: 'fail-operation', state: 'timeout', reason: 'busy' })).json.faults, [{ kind: 'fail-change', state: 'timeout', reason: 'busy' }]);
  t.match((await admin(sim, 'POST', '/faults', { kind: 'latency', state: 'timeout' })).json, { error: /state: only for fail-change/ });
  await admin(sim, 'DELETE', '/faults');
  t.same(sim.state.faults.list(), []);

  const events = (await admin(sim, 'GET', '/events')).json.events as { seq: number; type: string; at: string }[];
  t.ok(events.some((e) => e.type === 'attach') && events.some((e) => e.type === 'detach'));
  t.ok(events.every((e) => !Number.isNaN(Date.parse(e.at))), 'timestamps');
  const last = events[events.length - 1]!.seq;
  t.same((await admin(sim, 'GET', `/events?since=${last}`)).json.events, []);

  const hist = (await admin(sim, 'GET', `/elastic-ips/${EIP}/history`)).json;
  t.same(hist.holders, [LB1]);
  t.ok(hist.maxMultiHolderMs >= 25, 'the 30 ms on two instances is measured');
  t.ok(hist.intervals.some((iv: { holders: string[] }) => iv.holders.length === 2));

  const requests = (await admin(sim, 'GET', '/requests')).json.requests;
  t.same(requests.map((r: { status: number; fault?: string }) => [r.status, r.fault]), [[502, 'error 502'], [200, undefined]], 'API requests logged with faults');
  t.equal((await admin(sim, 'POST', '/reset')).status, 200);
  t.same(sim.state.holdersOf(EIP), [], 'reset restores the seed');
  t.equal(sim.state.instances().length, 4);
  t.equal((await admin(sim, 'GET', '/nothing')).status, 404);
  t.equal((await raw(sim, { method: 'POST', path: '/_sim/faults', body: '{bad', authorization: false })).status, 400);
});

t.test('holder history: overlap and gaps', async (t) => {
  const ev = (t: number, holders: string[]) => ({ t, eip: { id: 'e', ip: '1' }, holders });
  const h = holderHistory([ev(100, ['a']), ev(200, ['a', 'b']), ev(260, ['b']), ev(300, []), ev(450, ['c']), ev(500, ['c', 'a'])], { id: 'e', ip: '1' }, [], 600);
  t.equal(h.maxMultiHolderMs, 100, 'longest overlap: the current one (500..600)');
  t.equal(h.totalMultiHolderMs, 160);
  t.equal(h.maxUnheldMs, 150);
  t.same(h.holders, ['c', 'a']);
  t.same(h.intervals.map((i) => i.holders.length), [1, 2, 1, 0, 1, 2]);
});

t.test('default lab seed and options', async (t) => {
  const sim = await withSim(t);
  t.same(sim.state.instances().map((i) => i.name), ['lb1', 'lb2', 'lb3', 'web1']);
  t.same(sim.state.elasticIps().map((e) => e.ip), [EIP]);
  t.equal(sim.state.findInstance(WEB1)!.name, 'web1');
  const custom = await withSim(t, { zone: 'de-fra-1', instances: [{ name: 'solo', securityGroups: ['lb'] }], eips: [{ ip: '203.0.113.7', holders: ['solo'] }] });
  t.equal(custom.zone, 'de-fra-1');
  t.same(custom.state.instances().map((i) => i.name), ['solo']);
  t.same(custom.state.holdersOf('203.0.113.7'), [custom.state.findInstance('solo')!.id]);
  // port in use is a clear error
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => blocker.close(() => r())));
  const port = (blocker.address() as { port: number }).port;
  await t.rejects(withSim(t, { port }), { code: 'EADDRINUSE' });
});
