/**
 * The example cloud plugin against a toy cloud API served on loopback, through the public entry
 * points only: ipwarden/testing delivers MASTER then BACKUP; the API's own log shows the address
 * attached to this machine, released, and the token never in an error.
 */
import t, { type Test } from 'tap';
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { runAction } from 'ipwarden/testing';
import plugin from './index.mjs';

const TOKEN = 'toy-token-0123456789';

async function toyCloud(t: Test, opts: { failAttach?: number } = {}) {
  const state = { holder: null as string | null, calls: [] as string[] };
  let failAttach = opts.failAttach ?? 0;
  const server = createServer(async (req, res) => {
    let text = '';
    for await (const chunk of req) text += String(chunk);
    const send = (status: number, body?: unknown) => void res.writeHead(status, { 'content-type': 'application/json' }).end(body === undefined ? '' : JSON.stringify(body));
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return send(401, { error: 'bad token' });
    const m = /^\/v1\/addresses\/([^/]+)(?:\/(attach|detach))?$/.exec(req.url ?? '');
    if (!m || decodeURIComponent(m[1]!) !== '203.0.113.10') return send(404, { error: 'no such address' });
    state.calls.push(`${req.method} ${m[2] ?? 'get'}`);
    if (!m[2]) return send(200, { holder: state.holder });
    const { target } = JSON.parse(text) as { target: string };
    if (m[2] === 'attach') {
      if (failAttach-- > 0) return send(503, { error: 'busy' });
      state.holder = target;
    } else if (state.holder === target) state.holder = null;
    send(200, { holder: state.holder });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  return { state, endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/` };
}

const INSTANCE = { instance: { name: 'web', address: '203.0.113.10' } };

t.test('toycloud-ip: MASTER attaches (a 503 retried), a yield to BACKUP hands over, STOP releases', async (t) => {
  const cloud = await toyCloud(t, { failAttach: 1 });
  process.env.IPW_TOYCLOUD_TOKEN = TOKEN;
  t.teardown(() => delete process.env.IPW_TOYCLOUD_TOKEN);
  const config = { endpoint: cloud.endpoint, token: 'env:IPW_TOYCLOUD_TOKEN', target: 'vm-1', startupGrace: '0s' };
  const seen: (string | null)[] = [];
  const steps = await runAction(plugin, config, ['MASTER', { to: 'BACKUP', after: '10s', cause: 'yield' }, { to: 'STOP', after: '1s' }], INSTANCE);
  seen.push(cloud.state.holder);
  t.match(steps, [{ to: 'MASTER', ok: true }, { to: 'BACKUP', ok: true }, { to: 'STOP', ok: true }]);
  const calls = cloud.state.calls;
  t.equal(calls.filter((c) => c === 'POST attach').length, 2, `one attach refused with 503, retried once: ${calls.join(', ')}`);
  const detachAt = calls.indexOf('POST detach');
  t.ok(detachAt > calls.lastIndexOf('POST attach'), 'attached, then detached');
  t.equal(calls.filter((c) => c === 'POST detach').length, 1, 'BACKUP (a yield) left the address for the new MASTER; only STOP detached');
  t.equal(seen[0], null, 'released at the end');
});

t.test('toycloud-ip: a bad token fails MASTER with a message that names no secret', async (t) => {
  const cloud = await toyCloud(t);
  process.env.IPW_TOYCLOUD_BAD = 'wrong-token-9876543210';
  t.teardown(() => delete process.env.IPW_TOYCLOUD_BAD);
  const steps = await runAction(plugin, { endpoint: cloud.endpoint, token: 'env:IPW_TOYCLOUD_BAD', target: 'vm-1', startupGrace: '0s' }, ['MASTER'], INSTANCE);
  t.equal(steps[0]!.ok, false);
  t.match(steps[0]!.error, /401/);
  t.notMatch(steps[0]!.error, /wrong-token/, 'the token is not in the error');
  t.equal(cloud.state.holder, null);
  const found = await plugin.doctor!({ config: { endpoint: cloud.endpoint, token: 'wrong-token-9876543210', tokenRef: 'env:IPW_TOYCLOUD_BAD', target: 'vm-1', release: true, onApiUnreachable: 'hold', reconcile: 30_000, startupGrace: 0 }, log: console, ...INSTANCE, node: { id: 'lb1' }, signal: AbortSignal.timeout(10_000) });
  t.match(found, [{ ok: false, fix: /env:IPW_TOYCLOUD_BAD/ }]);
  t.notMatch(JSON.stringify(found), /wrong-token/);
});
