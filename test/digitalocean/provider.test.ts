/**
 * The DigitalOcean provider against the simulator: holders/attach/detach, a move, an action that
 * errors (started again), a pending-event lock waited out, a 429 honoured through ratelimit-reset,
 * 401/403 named by the token reference, detach never touching a peer's IP, self() from metadata.
 */
import t, { type Test } from 'tap';
import { classifyDigitalOcean } from '../../src/digitalocean/client.js';
import { DigitalOceanReservedIpProvider } from '../../src/digitalocean/provider.js';
import { resolveConnection } from '../../src/digitalocean/connection.js';
import { metadataUrl } from '../../src/digitalocean/metadata.js';
import { CloudApiError } from '../../src/cloud/provider.js';
import {
  DEFAULT_SIM_READONLY_TOKEN,
  DEFAULT_SIM_TOKEN,
  LAB_RESERVED_IP,
  startDigitalOceanSimulator,
  type DigitalOceanSimulatorOptions,
  type RunningDigitalOceanSimulator,
} from '../../src/digitalocean/simulator/index.js';

async function sim(t: Test, opts: DigitalOceanSimulatorOptions = {}): Promise<RunningDigitalOceanSimulator> {
  const s = await startDigitalOceanSimulator({ actionDelayMs: 150, ...opts });
  t.teardown(() => s.close());
  return s;
}

function provider(t: Test, s: RunningDigitalOceanSimulator, extra: { token?: string; tokenRef?: string; dropletId?: string } = {}): DigitalOceanReservedIpProvider {
  const p = new DigitalOceanReservedIpProvider({
    connection: { endpoint: s.url, token: extra.token ?? DEFAULT_SIM_TOKEN, tokenRef: extra.tokenRef ?? 'env:DIGITALOCEAN_TOKEN' },
    address: LAB_RESERVED_IP,
    metadataUrl: `${s.url}/_meta/3002`,
    ...(extra.dropletId ? { dropletId: extra.dropletId } : {}),
    timeoutMs: 2_000,
    retry: { minDelayMs: 20, maxDelayMs: 2_000 },
    poll: { fastIntervalMs: 30, slowIntervalMs: 100, timeoutMs: 10_000 },
  });
  t.teardown(() => p.close());
  return p;
}

const posts = (s: RunningDigitalOceanSimulator): string[] =>
  s.requests().filter((r) => r.method === 'POST').map((r) => `${r.status}`);

t.test('attach, move, detach; each awaited until the action completed', async (t) => {
  const s = await sim(t);
  const p = provider(t, s);
  t.equal(p.holderMode, 'single');
  t.same(await p.holders(), []);
  await p.attach('3001');
  t.same(await p.holders(), ['3001'], 'held as soon as attach resolves');
  await p.attach('3002');
  t.same(await p.holders(), ['3002'], 'one assign moved it');
  await p.detach('3001');
  t.same(await p.holders(), ['3002'], 'detaching a droplet that does not hold it leaves the holder alone');
  t.same(posts(s), ['201', '201'], 'and sends no unassign');
  await p.detach('3002');
  t.same(await p.holders(), []);
  t.same(s.history.events().map((e) => e.holders), [[], ['3001'], ['3002'], []]);
  t.equal(await p.self(), '3002', 'self() from /metadata/v1/id');
  t.equal(s.requests().filter((r) => r.call === 'metadata').length, 1);
  await p.self();
  t.equal(s.requests().filter((r) => r.call === 'metadata').length, 1, 'cached');
});

t.test('a 422 pending event is waited out; an errored action is started again', async (t) => {
  const s = await sim(t, { actionDelayMs: 400 });
  const p = provider(t, s);
  const first = p.attach('3001');
  await new Promise((r) => setTimeout(r, 50));
  await Promise.all([first, p.attach('3003')]);
  t.same(await p.holders(), ['3003'], 'the second assign ran after the first completed');
  t.ok(posts(s).includes('422'), `the second assign met the lock first (${posts(s).join(',')})`);

  s.faults.add({ kind: 'fail-change', count: 1, calls: ['reserved-ip-action'] });
  const before = s.requests().filter((r) => r.call === 'reserved-ip-action').length;
  await p.attach('3002');
  t.same(await p.holders(), ['3002']);
  t.equal(s.requests().filter((r) => r.call === 'reserved-ip-action').length - before, 2, 'errored once, assigned again');

  s.faults.add({ kind: 'fail-change', calls: ['reserved-ip-action'] });
  const err = await p.attach('3001').then(() => undefined, (e: unknown) => e);
  t.match(err, { kind: 'retryable', code: 'ACTION_ERRORED' }, 'an action that keeps erroring fails as retryable');
});

t.test('an assign is not sent again once the node no longer wants it (resend aborted): neither after a pending event nor after an errored action', async (t) => {
  // chaos seed 12 (digitalocean): a node MASTER for 2 s during a link cut kept re-sending its assign after
  // its action errored, 3 s after it became BACKUP, and took the reserved IP from the MASTER
  const s = await sim(t, { actionDelayMs: 400 });
  const p = provider(t, s);
  const actions = (): number => s.requests().filter((r) => r.call === 'reserved-ip-action').length;

  s.faults.add({ kind: 'fail-change', calls: ['reserved-ip-action'] });
  const stopped = new AbortController();
  const errored = p.attach('3001', { resend: stopped.signal }).then(() => undefined, (e: unknown) => e);
  const deadline = Date.now() + 5000;
  while (actions() === 0) {
    if (Date.now() > deadline) throw new Error('no assign sent');
    await new Promise((r) => setTimeout(r, 20));
  }
  stopped.abort(new Error('left MASTER'));
  t.match(await errored, { code: 'ACTION_ERRORED', message: /not sent again/ }, 'the errored action is not started again');
  t.equal(actions(), 1, 'one assign sent');
  s.faults.clear();

  // a pending event (another node's assign running): the HTTP layer's retries stop too
  const running = p.attach('3003');
  await new Promise((r) => setTimeout(r, 50));
  const stopped2 = new AbortController();
  const before = actions();
  const pending = p.attach('3002', { resend: stopped2.signal }).then(() => undefined, (e: unknown) => e);
  while (!posts(s).includes('422')) {
    if (Date.now() > deadline) throw new Error('the assign never met the pending event');
    await new Promise((r) => setTimeout(r, 20));
  }
  stopped2.abort(new Error('left MASTER'));
  const sent = actions();
  t.match(await pending, { status: 422 }, 'the refused assign is not retried');
  await running;
  t.equal(actions(), sent, `no assign after the abort (${sent - before} sent while wanted)`);
  t.same(await p.holders(), ['3003'], 'the other node keeps it');
});

t.test("a release racing a peer's assign never unassigns the peer", async (t) => {
  const s = await sim(t, { actionDelayMs: 400 });
  const p = provider(t, s);
  await p.attach('3001');
  const move = p.attach('3002');
  await new Promise((r) => setTimeout(r, 50));
  await p.detach('3001');
  await move;
  t.same(await p.holders(), ['3002'], 'the peer keeps the IP');
  const unassigns = s.requests().filter((r) => r.call === 'reserved-ip-action' && r.status === 422);
  t.ok(unassigns.length >= 1, 'the unassign met the pending event and was not repeated blindly');
  t.same(s.history.events().map((e) => e.holders), [[], ['3001'], ['3002']]);
});

t.test('429: waits until ratelimit-reset', async (t) => {
  const s = await sim(t);
  const p = provider(t, s);
  s.faults.add({ kind: 'rate-limit', count: 1, retryAfterSeconds: 1, calls: ['get-reserved-ip'] });
  const start = Date.now();
  t.same(await p.holders(), []);
  t.ok(Date.now() - start >= 900, `waited for the reset (${Date.now() - start} ms)`);
  t.same(s.requests().map((r) => r.status), [429, 200]);
});

t.test('401 and 403: one auth error naming the token reference, never the token', async (t) => {
  const s = await sim(t);
  const wrong = provider(t, s, { token: 'dop_v1_wrongwrongwrong', tokenRef: 'file:/etc/ipwarden/do-token' });
  const e1 = await wrong.holders().then(() => undefined, (e: unknown) => e);
  t.ok(e1 instanceof CloudApiError);
  t.match(e1, { kind: 'auth', status: 401 });
  t.match((e1 as Error).message, /refused the API token from file:\/etc\/ipwarden\/do-token/);
  t.notMatch((e1 as Error).message, /wrongwrong/);
  t.equal(s.requests().length, 1, 'not retried');

  const ro = provider(t, s, { token: DEFAULT_SIM_READONLY_TOKEN, tokenRef: 'env:DIGITALOCEAN_ACCESS_TOKEN' });
  t.same(await ro.holders(), [], 'a read-only token reads');
  const e2 = await ro.attach('3001').then(() => undefined, (e: unknown) => e);
  t.match(e2, { kind: 'auth', status: 403 });
  t.match((e2 as Error).message, /token from env:DIGITALOCEAN_ACCESS_TOKEN .*read-only/);
  t.notMatch((e2 as Error).message, new RegExp(DEFAULT_SIM_READONLY_TOKEN));
});

t.test('not found, bad target, metadata failure', async (t) => {
  const s = await sim(t);
  const p = new DigitalOceanReservedIpProvider({
    connection: { endpoint: s.url, token: DEFAULT_SIM_TOKEN, tokenRef: 'env:X' },
    address: '203.0.113.99',
    metadataUrl: `${s.url}/_meta/999`,
    retry: { minDelayMs: 10 },
  });
  t.teardown(() => p.close());
  t.match(await p.holders().then(() => undefined, (e: unknown) => e), { kind: 'not-found', status: 404 });
  t.match(await p.attach('lb1').then(() => undefined, (e: unknown) => e), { kind: 'invalid', message: /droplet id "lb1" is not a number/ });
  t.match(await p.self().then(() => undefined, (e: unknown) => e), { kind: 'invalid', message: /answered HTTP 404.*dropletId/ });
});

t.test('pure: classify, token reference, connection, metadata URL', async (t) => {
  const req = { method: 'POST', url: new URL('http://x/v2/reserved_ips/1.2.3.4/actions'), headers: {} };
  const res = (status: number, body: unknown, headers = {}) => ({ status, headers, body: JSON.stringify(body) });
  t.match(classifyDigitalOcean(res(422, { id: 'unprocessable_entity', message: 'Droplet already has a pending event.' }), req, 'env:T'), { kind: 'conflict', code: 'unprocessable_entity' });
  t.match(classifyDigitalOcean(res(422, { id: 'unprocessable_entity', message: 'bad' }), req, 'env:T'), { kind: 'invalid' });
  const rl = classifyDigitalOcean(res(429, { id: 'too_many_requests', message: 'API Rate limit exceeded.' }, { 'ratelimit-reset': String(Math.ceil(Date.now() / 1000) + 5) }), req, 'env:T');
  t.equal(rl.kind, 'rate-limited');
  t.ok(rl.retryAfterMs! > 3_000 && rl.retryAfterMs! <= 6_000);
  t.match(classifyDigitalOcean(res(503, 'down'), req, 'env:T'), { kind: 'retryable' });
  t.match(classifyDigitalOcean({ status: 502, headers: {}, body: '<html>' }, req, 'env:T'), { kind: 'retryable', message: /502: <html>/ });

  const resolve = (env: NodeJS.ProcessEnv) => (ref: string) => {
    const v = env[ref.slice(4)];
    if (!v) throw new Error(`token: environment variable ${ref.slice(4)} is not set`);
    return v;
  };
  const both = { DIGITALOCEAN_TOKEN: 'a', DIGITALOCEAN_ACCESS_TOKEN: 'b' };
  t.match(resolveConnection({}, resolve(both), both), { ok: true, connection: { token: 'a', tokenRef: 'env:DIGITALOCEAN_TOKEN' } }, 'Terraform\'s variable first');
  t.match(resolveConnection({ token: 'env:MINE' }, resolve({ MINE: 'm', ...both }), both), { ok: true, connection: { token: 'm', tokenRef: 'env:MINE' } });
  t.throws(() => resolveConnection({ token: 'env:MINE' }, resolve(both), both), /MINE is not set/, 'a configured reference does not fall back');
  const env1 = { DIGITALOCEAN_ACCESS_TOKEN: 'tok1', DIGITALOCEAN_API_URL: 'http://127.0.0.1:9/' };
  t.same(resolveConnection({}, resolve(env1), env1), { ok: true, connection: { endpoint: 'http://127.0.0.1:9', token: 'tok1', tokenRef: 'env:DIGITALOCEAN_ACCESS_TOKEN' } });
  t.match(resolveConnection({}, resolve({}), {}), { ok: false, issues: [{ path: ['token'], message: /DIGITALOCEAN_TOKEN or DIGITALOCEAN_ACCESS_TOKEN/ }] });
  t.match(resolveConnection({}, resolve({ DIGITALOCEAN_TOKEN: 'x' }), { DIGITALOCEAN_TOKEN: 'x' }), { ok: true, connection: { endpoint: 'https://api.digitalocean.com' } });
  t.match(resolveConnection({}, resolve({ DIGITALOCEAN_TOKEN: 'x', DIGITALOCEAN_API_URL: 'ftp://x' }), { DIGITALOCEAN_TOKEN: 'x', DIGITALOCEAN_API_URL: 'ftp://x' }), { ok: false, issues: [{ path: ['endpoint'] }] });
  t.equal(metadataUrl('http://169.254.169.254', 'id').toString(), 'http://169.254.169.254/metadata/v1/id');
  t.equal(metadataUrl('http://127.0.0.1:8/_meta/7/', 'id').toString(), 'http://127.0.0.1:8/_meta/7/metadata/v1/id');
});
