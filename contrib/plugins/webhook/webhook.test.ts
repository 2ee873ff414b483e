/**
 * The example action plugin through the public entry points: a real HTTP receiver on loopback
 * that fails the first POSTs; "ipwarden/testing" delivers the transitions, in fake time (the
 * plugin's backoff of seconds runs in milliseconds).
 */
import t, { type Test } from 'tap';
import { createServer, type IncomingMessage } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { runAction } from 'ipwarden/testing';
import plugin from './index.mjs';

async function receiver(t: Test, failFirst: number, status = 503) {
  const got: { body: Record<string, unknown>; auth?: string }[] = [];
  let calls = 0;
  const server = createServer(async (req: IncomingMessage, res) => {
    let text = '';
    for await (const chunk of req) text += String(chunk);
    calls++;
    if (calls <= failFirst) return void res.writeHead(status).end();
    got.push({ body: JSON.parse(text) as Record<string, unknown>, ...(req.headers.authorization ? { auth: req.headers.authorization } : {}) });
    res.writeHead(204).end();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, got, calls: () => calls };
}

t.test('webhook: every transition posted, failed POSTs retried, token from a secret reference', async (t) => {
  const r = await receiver(t, 2);
  process.env.IPW_WEBHOOK_TEST_TOKEN = 's3cret-token';
  t.teardown(() => delete process.env.IPW_WEBHOOK_TEST_TOKEN);
  const t0 = performance.now();
  const steps = await runAction(plugin, { url: r.url, token: 'env:IPW_WEBHOOK_TEST_TOKEN' }, ['MASTER', { to: 'BACKUP', after: '1m', cause: 'yield' }]);
  t.ok(performance.now() - t0 < 5000, `two retries with 1 s+ backoff in ${Math.round(performance.now() - t0)} ms of real time`);
  t.match(steps, [{ to: 'MASTER', ok: true, atMs: 0 }, { to: 'BACKUP', ok: true }]);
  const backoff = steps[1]!.atMs - 60_000;
  t.ok(backoff >= 2000 && backoff < 20_000, `the MASTER POST's two backoffs took ${backoff} virtual ms (1 s, then 2 s, jittered)`);
  t.equal(r.calls(), 4, 'two failures, then one POST per transition');
  t.same(r.got.map((g) => [g.body.from, g.body.to, g.body.instance, g.auth]), [
    ['INIT', 'MASTER', 'test', 'Bearer s3cret-token'],
    ['MASTER', 'BACKUP', 'test', 'Bearer s3cret-token'],
  ]);
  t.equal(r.got[1]!.body.cause, 'yield');
});

t.test('webhook: a 4xx is not retried; states: filters', async (t) => {
  const r = await receiver(t, 1, 404);
  const steps = await runAction(plugin, { url: r.url, states: ['BACKUP'] }, ['MASTER', 'BACKUP', 'BACKUP']);
  t.match(steps, [{ to: 'MASTER', ok: true }, { to: 'BACKUP', ok: false, error: /HTTP 404/ }, { to: 'BACKUP', ok: true }]);
  t.equal(r.calls(), 2, 'MASTER not posted; the 404 not retried');
});

t.test('webhook: bad config names the key', async (t) => {
  await t.rejects(runAction(plugin, { url: 'ftp://x', retries: 99 }, []), /url: expected an http\(s\) URL.*retries/);
});
