/**
 * ExoscaleClient against the simulator: every call, idempotent helpers (including the
 * duplicate modes and a race with another actor), bad credentials fail once and clearly,
 * not-found, the onCall hook, option validation, and secrets never showing up.
 */
import t from 'tap';
import { Writable } from 'node:stream';
import { inspect } from 'node:util';
import { createLogger } from '../../src/log.js';
import {
  ExoscaleApiError,
  ExoscaleConfigError,
  ExoscaleNotFoundError,
} from '../../src/exoscale/errors.js';
import { ExoscaleClient, defaultEndpoint, type ApiCallEvent } from '../../src/exoscale/client.js';
import { clientFor, EIP, EIP_ID, KEY, LB1, LB2, LB3, MISSING, SECRET, WEB1, withSim } from './lib/sim.js';

t.test('read calls', async (t) => {
  const sim = await withSim(t);
  const c = clientFor(t, sim);
  sim.state.setHolders(EIP, [LB1]);

  const zones = await c.listZones();
  t.ok(zones.some((z) => z.name === 'ch-gva-2'));

  const eips = await c.listElasticIps();
  t.match(eips, [{ id: EIP_ID, ip: EIP }]);
  t.match(await c.getElasticIp(EIP_ID), { id: EIP_ID, ip: EIP, cidr: `${EIP}/32` });
  t.match(await c.findElasticIpByAddress(EIP), { id: EIP_ID });
  t.equal(await c.findElasticIpByAddress('203.0.113.1'), undefined);
  t.match(await c.resolveElasticIp(EIP), { id: EIP_ID }, 'by address');
  t.match(await c.resolveElasticIp(EIP_ID), { ip: EIP }, 'by id');
  const notFound = await c.resolveElasticIp('203.0.113.1').catch((e: unknown) => e);
  t.type(notFound, ExoscaleNotFoundError);
  t.equal((notFound as Error).message, 'exoscale: find elastic-ip 203.0.113.1: no elastic-ip with this address in zone ch-gva-2');

  const all = await c.listInstances();
  t.equal(all.length, 4);
  t.same((await c.listInstances({ labels: { role: 'web' } })).map((i) => i.id), [WEB1], 'labels filtered client-side');
  t.same((await c.instancesHolding(EIP)).map((i) => i.id), [LB1]);
  t.same((await c.listInstances({ ipAddress: '198.51.100.12' })).map((i) => i.id), [LB2]);
  const inst = await c.getInstance(LB1);
  t.same(inst['elastic-ips'], [{ id: EIP_ID }]);
  t.equal(inst['public-ip'], '198.51.100.11');

  const groups = await c.listSecurityGroups();
  const lb = await c.findSecurityGroupByName('load-balancer');
  t.ok(lb && groups.some((g) => g.id === lb.id));
  t.match(await c.getSecurityGroup(lb!.id), { name: 'load-balancer' });
  t.equal(await c.findSecurityGroupByName('nope'), undefined);
});

t.test('peer discovery by security group', async (t) => {
  const sim = await withSim(t);
  const c = clientFor(t, sim);
  const names = async (nameOrId: string, includeStopped = false) =>
    (await c.securityGroupMembers(nameOrId, { includeStopped })).map((i) => i.name).sort();
  t.same(await names('load-balancer'), ['lb1', 'lb2', 'lb3']);
  sim.state.updateInstance('lb3', { state: 'stopped' });
  t.same(await names('load-balancer'), ['lb1', 'lb2'], 'running only');
  t.same(await names('load-balancer', true), ['lb1', 'lb2', 'lb3']);
  sim.state.updateInstance('web1', { securityGroups: ['load-balancer'] });
  t.same(await names(sim.state.findSecurityGroup('load-balancer')!.id), ['lb1', 'lb2', 'web1'], 'by id; membership changes seen');
  await t.rejects(c.securityGroupMembers('nope'), {
    name: 'ExoscaleNotFoundError',
    message: 'exoscale: find security-group nope: no such security-group',
  });
});

t.test('attach / detach / waitOperation', async (t) => {
  const sim = await withSim(t, { operationDelayMs: 60 });
  const c = clientFor(t, sim);
  await c.listElasticIps(); // learns the address of the EIP for messages
  const op = await c.attachElasticIp(EIP_ID, LB1);
  t.equal(op.state, 'pending');
  t.same(sim.state.holdersOf(EIP), []);
  const done = await c.waitOperation(op);
  t.match(done, { id: op.id, state: 'success', reference: { id: EIP_ID } });
  t.same(sim.state.holdersOf(EIP), [LB1]);
  t.match(await c.getOperation(op.id), { state: 'success' });
  const det = await c.detachElasticIp(EIP_ID, LB1);
  t.match(await c.waitOperation(det.id), { state: 'success' }, 'wait by id');
  t.same(sim.state.holdersOf(EIP), []);
  await t.rejects(c.getOperation(MISSING), { status: 404, message: `exoscale: get operation ${MISSING}: 404 not found: Operation not found` });
});

t.test('ensureAttached / ensureDetached are idempotent (every duplicates mode)', async (t) => {
  for (const duplicates of ['operation-failure', 'http-conflict', 'succeed'] as const) {
    await t.test(duplicates, async (t) => {
      const sim = await withSim(t, { duplicates });
      const c = clientFor(t, sim);
      const first = await c.ensureAttached(EIP, LB1);
      t.equal(first.changed, true);
      t.equal(first.operation?.state, 'success');
      const again = await c.ensureAttached(EIP, LB1);
      t.same([again.changed, again.operation], [false, undefined], 'already attached: no call');
      t.same(sim.state.holdersOf(EIP), [LB1]);
      t.equal((await c.ensureDetached(EIP, LB2)).changed, false, 'not attached: success');
      t.equal((await c.ensureDetached(EIP, MISSING)).changed, false, 'missing instance holds nothing');
      t.equal((await c.ensureDetached(EIP_ID, LB1)).changed, true, 'by EIP id');
      t.equal((await c.ensureDetached(EIP, LB1)).changed, false);
      t.same(sim.state.holdersOf(EIP), []);
      const mutations = sim.state.requests().filter((r) => r.method === 'PUT');
      t.equal(mutations.length, 2, 'exactly one attach and one detach were sent');
    });
  }
});

t.test('a racing attach by someone else is still success', async (t) => {
  for (const duplicates of ['operation-failure', 'http-conflict'] as const) {
    await t.test(duplicates, async (t) => {
      const sim = await withSim(t, { duplicates, operationDelayMs: 20 });
      const c = clientFor(t, sim);
      // right after the client checked (not attached), another actor attaches the same pair
      const off = sim.state.onRequest((r) => {
        if (r.call !== 'get-instance') return;
        off();
        sim.state.setHolders(EIP, [LB1]);
      });
      const res = await c.ensureAttached(EIP, LB1);
      t.equal(res.changed, true);
      t.same(sim.state.holdersOf(EIP), [LB1]);
      const put = sim.state.requests().find((r) => r.method === 'PUT')!;
      t.equal(put.status, duplicates === 'http-conflict' ? 409 : 200, 'the server did answer with a conflict');
      if (duplicates === 'operation-failure') {
        t.ok(sim.state.events().some((e) => e.type === 'operation' && e.state === 'failure' && e.detail === 'attach conflict'), 'operation failed with conflict');
      }
    });
  }
});

t.test('ensureAttached on a missing instance fails clearly', async (t) => {
  const sim = await withSim(t);
  const c = clientFor(t, sim);
  const err = await c.ensureAttached(EIP, MISSING).catch((e: unknown) => e);
  t.type(err, ExoscaleApiError);
  t.equal((err as ExoscaleApiError).message, `exoscale: get instance ${MISSING}: 404 not found: Instance not found`);
  t.equal((err as ExoscaleApiError).attempts, 1, '404 is not retried');
  await t.rejects(c.ensureAttached('203.0.113.200', LB1), { name: 'ExoscaleNotFoundError' });
});

t.test('ensureExclusive: make-before-break move', async (t) => {
  const sim = await withSim(t, { operationDelayMs: 30 });
  const c = clientFor(t, sim);
  sim.state.setHolders(EIP, [LB1, LB3]);
  const since = Date.now();
  const res = await c.ensureExclusive(EIP, LB2);
  t.equal(res.attached, true);
  t.same(res.detachedFrom.sort(), [LB1, LB3]);
  t.same(sim.state.holdersOf(EIP), [LB2]);
  const hist = sim.state.history(EIP, since);
  t.equal(hist.maxUnheldMs, 0, 'never unheld during the move');
  t.same(hist.intervals.map((i) => i.holders.includes(LB2)), [false, true, true, true], 'attached first, then the others detached');
  const again = await c.ensureExclusive(EIP, LB2);
  t.same([again.attached, again.detachedFrom], [false, []], 'nothing to do the second time');
});

t.test('bad credentials: one clear, non-retried error', async (t) => {
  const sim = await withSim(t);
  const cases = [
    { label: 'wrong secret', opts: { apiSecret: 'not-the-right-secret' }, message: 'Invalid request signature' },
    { label: 'unknown key', opts: { apiKey: 'EXO000000000000000000000000' }, message: 'Invalid API key' },
    { label: 'clock 20 min slow', opts: { clock: () => Date.now() - 20 * 60_000 }, message: 'Request expired' },
  ];
  for (const { label, opts, message } of cases) {
    const before = sim.state.requests().length;
    const c = clientFor(t, sim, opts);
    const err = await c.listElasticIps().catch((e: unknown) => e);
    t.type(err, ExoscaleApiError, label);
    t.equal((err as Error).message, `exoscale: list elastic-ips: 403 forbidden: ${message}`, label);
    t.match(err, { status: 403, retryable: false, attempts: 1, call: 'list-elastic-ips' });
    t.equal(sim.state.requests().length - before, 1, `${label}: a single request`);
  }
  // a key revoked while running: the attach error names the EIP by the address learnt earlier
  sim.keys.set('EXOrevoked', 'revoked-secret');
  const c = clientFor(t, sim, { apiKey: 'EXOrevoked', apiSecret: 'revoked-secret' });
  await c.listElasticIps();
  sim.keys.delete('EXOrevoked');
  const attach = await c.attachElasticIp(EIP_ID, LB1).catch((e: unknown) => e);
  t.equal(
    (attach as Error).message,
    `exoscale: attach elastic-ip ${EIP} to instance ${LB1}: 403 forbidden: Invalid API key`,
    'attach names the EIP by address once known',
  );
});

t.test('onCall reports every HTTP attempt', async (t) => {
  const sim = await withSim(t, { faults: [{ kind: 'error', status: 503, count: 1, calls: ['get-instance'] }] });
  const events: ApiCallEvent[] = [];
  const c = clientFor(t, sim, {
    onCall: (e) => {
      events.push(e);
      throw new Error('a broken hook must not break calls');
    },
  });
  await c.getInstance(LB1);
  t.equal(events.length, 2);
  t.match(events[0], { call: 'get-instance', method: 'GET', path: `/instance/${LB1}`, attempt: 1, status: 503, error: /503 service unavailable/ });
  t.match(events[1], { call: 'get-instance', attempt: 2, status: 200 });
  t.notOk('error' in events[1]!);
  t.ok(events.every((e) => typeof e.durationMs === 'number' && e.durationMs >= 0));
});

t.test('options and arguments are validated', async (t) => {
  const base = { apiKey: KEY, apiSecret: SECRET, zone: 'ch-gva-2' };
  t.equal(new ExoscaleClient(base).endpoint, 'https://api-ch-gva-2.exoscale.com/v2', 'default endpoint per zone');
  t.equal(defaultEndpoint('de-fra-1'), 'https://api-de-fra-1.exoscale.com/v2');
  t.equal(new ExoscaleClient({ ...base, endpoint: 'http://127.0.0.1:8580/v2/' }).endpoint, 'http://127.0.0.1:8580/v2');
  const bad: [object, RegExp][] = [
    [{ zone: 'geneva' }, /zone "geneva" is not a zone name/],
    [{ apiSecret: '' }, /apiSecret is missing/],
    [{ apiKey: 'EXO with space' }, /apiKey/],
    [{ endpoint: 'ftp://x/v2' }, /must be http/],
    [{ endpoint: 'not a url' }, /not a URL/],
    [{ endpoint: 'http://u:p@127.0.0.1/v2' }, /credentials/],
    [{ timeoutMs: 0 }, /timeoutMs must be a positive number/],
    [{ retries: -1 }, /retries/],
  ];
  for (const [over, re] of bad) t.throws(() => new ExoscaleClient({ ...base, ...over }), { name: 'ExoscaleConfigError', message: re });
  const c = new ExoscaleClient(base);
  t.teardown(() => c.close());
  await t.rejects(c.getInstance('lb1'), { name: 'ExoscaleConfigError', message: 'exoscale: get instance lb1: instance id "lb1" is not a UUID' });
  await t.rejects(c.attachElasticIp(EIP_ID, 'x'), ExoscaleConfigError);
  await t.rejects(c.instancesHolding('not-an-ip'), { message: /"not-an-ip" is not an IP address/ });
});

t.test('the secret never shows: messages, logs at trace level, inspection', async (t) => {
  const sim = await withSim(t, { faults: [{ kind: 'error', status: 500, count: 1, calls: ['list-instances'] }] });
  let logText = '';
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logText += String(chunk);
      cb();
    },
  });
  const log = createLogger({ level: 'trace', destination: sink });
  const secret = 'super-secret-value-0123456789abcdefghijklm';
  sim.keys.set('EXOleaktest', secret);
  const good = clientFor(t, sim, { apiKey: 'EXOleaktest', apiSecret: secret, log });
  const bad = clientFor(t, sim, { apiKey: 'EXOleaktest', apiSecret: secret + 'x', log });
  const dead = clientFor(t, sim, { apiKey: 'EXOleaktest', apiSecret: secret, endpoint: 'http://127.0.0.1:1/v2', retries: 1, log });
  const errors: unknown[] = [];
  await good.listInstances(); // one 500 then success: a retry is logged
  for (const call of [() => bad.listElasticIps(), () => bad.ensureAttached(EIP, LB1), () => dead.getInstance(LB1), () => good.getInstance(MISSING)]) {
    errors.push(await call().catch((e: unknown) => e));
  }
  t.equal(errors.length, 4);
  t.ok(errors.every((e) => e instanceof Error));
  t.match(logText, /retrying/, 'the retry was logged');
  const everything = [
    logText,
    ...errors.map((e) => `${(e as Error).message}\n${(e as Error).stack}\n${JSON.stringify(e)}\n${inspect(e, { depth: 5 })}`),
    inspect(good, { depth: 5, showHidden: true }),
    JSON.stringify(good),
  ].join('\n');
  t.notOk(everything.includes(secret), 'no secret anywhere');
  t.notOk(everything.includes(secret.slice(0, 20)), 'not even part of it');
  t.notOk(/EXO2-HMAC-SHA256 credential/.test(everything), 'no Authorization header anywhere');
  t.same(JSON.parse(JSON.stringify(good)), { zone: 'ch-gva-2', endpoint: sim.endpoint, apiKey: 'EXOleaktest' });
});
