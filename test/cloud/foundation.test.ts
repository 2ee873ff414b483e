/**
 * The shared cloud foundation against a toy cloud built on the simulator kit: the HTTP layer's retries,
 * the wait a 429 asks for, redaction, timeouts, "applied but the answer was lost", the change queue's
 * locks and delays, the holder history, the rate budget and the shared admin API.
 */
import t, { type Test } from 'tap';
import { CloudHttpClient, redactSecrets, retryAfterFromHeaders } from '../../src/cloud/http.js';
import { pollUntilDone } from '../../src/cloud/poll.js';
import { CloudApiError } from '../../src/cloud/provider.js';
import {
  ChangeQueue,
  HolderHistory,
  KitFaultSet,
  RateBudget,
  holderTimeline,
  parseKitFaultSpec,
  sendJson,
  startCloudSimulator,
  type RunningCloudSimulator,
} from '../../src/cloud/simulator-kit/index.js';

const TOKEN = 'toy-secret-token-0123456789';

interface Toy {
  sim: RunningCloudSimulator;
  faults: KitFaultSet;
  history: HolderHistory;
  changes: ChangeQueue;
  budget: RateBudget;
  holder: () => string | null;
}

/** A toy single-holder cloud: GET /ip, POST /ip/assign {"server"} (async change), GET /changes/{id}. */
async function toyCloud(t: Test, delayMs = 50): Promise<Toy> {
  const faults = new KitFaultSet({ calls: ['get-ip', 'assign', 'get-change', 'metadata'], mutating: ['assign'] });
  const history = new HolderHistory();
  const changes = new ChangeQueue();
  const budget = new RateBudget({ limit: 100, refillPerSecond: 50 });
  let holder: string | null = null;
  let delay = delayMs;
  const sim = await startCloudSimulator({
    cloud: 'toy',
    faults,
    history,
    changeDelay: { get: () => delay, set: (ms) => (delay = ms) },
    rateLimit: { budget, headers: (d) => ({ 'ratelimit-remaining': String(d.remaining) }) },
    sendError: (res, status, code, message) => sendJson(res, status, { error: { code, message } }),
    sendRateLimited: (res, ms) => sendJson(res, 429, { error: { code: 'rate_limit_exceeded', message: 'slow down' } }, { 'retry-after': String(Math.ceil(ms / 1000)) }),
    route(method, url) {
      if (method === 'GET' && url.pathname === '/ip') return { call: 'get-ip', handle: ({ req, res }) => (req.headers.authorization === `Bearer ${TOKEN}` ? sendJson(res, 200, { server: holder }) : sendJson(res, 401, { error: { code: 'unauthorized', message: `bad token ${req.headers.authorization}` } })) };
      if (method === 'POST' && url.pathname === '/ip/assign') {
        return {
          call: 'assign',
          handle: ({ res, body }) => {
            if (changes.lockedBy('ip')) return sendJson(res, 423, { error: { code: 'locked', message: 'locked' } });
            const server = (JSON.parse(body.toString()) as { server: string }).server;
            const fault = faults.forChange('assign');
            const c = changes.start({ call: 'assign', resources: ['ip'], delayMs: delay, ...(fault ? { fault } : {}), apply: () => { holder = server; history.record('ip', [server], 'assign'); } });
            sendJson(res, 201, { change: c });
          },
        };
      }
      const m = /^\/changes\/(\d+)$/.exec(url.pathname);
      if (method === 'GET' && m) return { call: 'get-change', handle: ({ res }) => sendJson(res, 200, { change: changes.get(Number(m[1])) }) };
      return undefined;
    },
    metadata: { prefix: '/meta/', handle: ({ res, path, target, callerAddress }) => sendJson(res, 200, { path, target: target ?? null, callerAddress }) },
  });
  t.teardown(async () => {
    changes.clear();
    await sim.close();
  });
  return { sim, faults, history, changes, budget, holder: () => holder };
}

function client(t: Test, toy: Toy, extra: Partial<ConstructorParameters<typeof CloudHttpClient>[0]> = {}): CloudHttpClient {
  const c = new CloudHttpClient({
    cloud: 'toy',
    baseUrl: toy.sim.url,
    timeoutMs: 300,
    retry: { retries: 3, minDelayMs: 10, maxDelayMs: 2000 },
    authorize: () => ({ authorization: `Bearer ${TOKEN}` }),
    secrets: () => [TOKEN],
    ...extra,
  });
  t.teardown(() => c.close());
  return c;
}

async function assign(c: CloudHttpClient, server: string): Promise<string> {
  // a locked IP is retried with backoff until the running change ends (up to ~2 s of retries)
  const res = await c.request('POST', 'ip/assign', { json: { server }, retry: { retries: 10, minDelayMs: 50, maxDelayMs: 300 } });
  const id = c.parseJson<{ change: { id: number } }>(res, 'assign').change.id;
  return pollUntilDone<string>(
    async () => {
      const { change } = await c.getJson<{ change: { status: string; error: string | null } }>(`changes/${id}`);
      if (change.status === 'running') return { done: false };
      if (change.status === 'error') throw new CloudApiError('toy', 'invalid', `change ${id}: ${change.error}`);
      return { done: true, value: change.status };
    },
    { cloud: 'toy', what: `change ${id}`, fastIntervalMs: 10, timeoutMs: 3000 },
  );
}

t.test('an async change runs, holds its lock, is applied at completion and recorded', async (t) => {
  const toy = await toyCloud(t, 150);
  const c = client(t, toy);
  const first = c.request('POST', 'ip/assign', { json: { server: 'a' } });
  await first;
  t.equal(toy.holder(), null, 'not applied before its delay');
  const locked = await c.request('POST', 'ip/assign', { json: { server: 'b' }, retry: false }).then(() => undefined, (e: unknown) => e);
  t.match(locked, { kind: 'conflict', status: 423 }, 'a second change on the locked IP is refused');
  t.equal(await assign(c, 'b'), 'success', 'retried past the lock, then polled to completion');
  t.equal(toy.holder(), 'b');
  t.same(toy.history.events().map((e) => e.holders), [['a'], ['b']]);
  const tl = toy.history.timeline('ip');
  t.same(tl.holders, ['b']);
  t.equal(tl.maxMultiHolderMs, 0);
});

t.test('a 429 is retried after the wait it asks for; 5xx are retried; 401 is not and hides the token', async (t) => {
  const toy = await toyCloud(t);
  const retries: Array<number | undefined> = [];
  const c = client(t, toy, { onRetry: ({ delayMs }) => retries.push(delayMs) });
  toy.faults.add({ kind: 'rate-limit', count: 1, retryAfterSeconds: 1, calls: ['get-ip'] });
  const since = Date.now();
  t.same(await c.getJson('ip'), { server: null });
  t.ok(Date.now() - since >= 950, `waited for Retry-After (${Date.now() - since} ms)`);
  t.same(retries, [1000]);

  toy.faults.add({ kind: 'error', count: 2, status: 502, calls: ['get-ip'] });
  const samples: Array<{ call: string; status?: number; error?: boolean }> = [];
  const metered = client(t, toy, { onCall: (s) => samples.push({ call: s.call, ...(s.status !== undefined ? { status: s.status } : {}), ...(s.error ? { error: s.error } : {}) }) });
  t.same(await metered.getJson('ip', { call: 'get-ip' }), { server: null }, 'two 502s absorbed');
  t.same(samples, [{ call: 'get-ip', status: 502, error: true }, { call: 'get-ip', status: 502, error: true }, { call: 'get-ip', status: 200 }], 'every attempt reported for metrics (onCall)');

  const bad = client(t, toy, { authorize: () => ({ authorization: `Bearer ${TOKEN}x` }) });
  const err = await bad.getJson('ip').then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof CloudApiError);
  t.equal((err as CloudApiError).kind, 'auth');
  t.notMatch((err as Error).message, TOKEN, 'the token is redacted from the error');
  t.match((err as Error).message, /\[redacted\]/);
  t.equal(toy.sim.requests().filter((r) => r.status === 401).length, 1, 'an auth error is not retried');
});

t.test('a hung request is cut by the timeout and retried; a lost answer leaves the change applied', async (t) => {
  const toy = await toyCloud(t, 0);
  const c = client(t, toy);
  toy.faults.add({ kind: 'hang', count: 1, calls: ['get-ip'] });
  t.same(await c.getJson('ip'), { server: null }, 'second attempt answered');

  toy.faults.add({ kind: 'lose-answer', count: 1 });
  const err = await c.request('POST', 'ip/assign', { json: { server: 'z' } }).then(() => undefined, (e: unknown) => e);
  t.match(err, { kind: 'retryable' }, 'the caller sees a network error');
  t.equal(toy.sim.requests().filter((r) => r.call === 'assign').length, 1, 'a mutation that may have been applied is not repeated');
  t.equal(toy.holder(), 'z', 'yet the change was applied');
});

t.test('firstTimeoutMs: a hung first attempt is re-sent soon; each retry waits twice as long, up to timeoutMs', async (t) => {
  const toy = await toyCloud(t, 0);
  const attempts: number[] = [];
  const c = client(t, toy, { firstTimeoutMs: 100, timeoutMs: 300, onCall: (s) => attempts.push(s.durationMs) });
  t.same([1, 2, 3, 4, 5].map((n) => c.attemptTimeoutMs(n)), [100, 200, 300, 300, 300], 'doubled per retry, capped');
  t.same(c.attemptTimeoutMs(1, { timeoutMs: 50 }), 50, "a call's own timeout applies to every attempt");
  t.same(client(t, toy).attemptTimeoutMs(3), 300, 'without firstTimeoutMs every attempt waits timeoutMs');
  t.throws(() => client(t, toy, { firstTimeoutMs: 0 }), { message: 'toy HTTP client: firstTimeoutMs must be a positive number of ms, got 0' });
  t.throws(() => client(t, toy, { timeoutMs: Number.NaN }), { message: /timeoutMs must be a positive number of ms, got NaN/ });
  toy.faults.add({ kind: 'hang', count: 3, calls: ['get-ip'] });
  t.same(await c.getJson('ip'), { server: null }, 'the fourth attempt answered');
  t.equal(attempts.length, 4);
  // each hung attempt was cut at its own timeout, not before; the first two before the cap (300 ms)
  for (const [i, limit] of [100, 200, 300].entries()) {
    t.ok(attempts[i]! >= limit - 5, `attempt ${i + 1} hung for ${Math.round(attempts[i]!)} ms (its timeout ${limit} ms)`);
  }
  t.ok(attempts[0]! < 300 && attempts[1]! < 300, `the first two attempts were cut before timeoutMs: ${attempts.slice(0, 2).map(Math.round).join(', ')} ms`);
});

t.test('the budget refuses with the cloud headers; admin config, faults, history and reset', async (t) => {
  const toy = await toyCloud(t, 0);
  const admin = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> => {
    const r = await fetch(`${toy.sim.url}/_sim/${path}`, { method, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    return { status: r.status, json: await r.json() };
  };
  t.match(await admin('PATCH', 'config', { rateLimit: { limit: 2, refillPerSecond: 0.5 }, changeDelayMs: 5 }), { status: 200, json: { changeDelayMs: 5, rateLimit: { limit: 2 } } });
  const c = client(t, toy);
  await c.getJson('ip');
  await c.getJson('ip');
  const refused = await c.getJson('ip', { retry: false }).then(() => undefined, (e: unknown) => e);
  t.match(refused, { kind: 'rate-limited', status: 429 });
  t.ok((refused as CloudApiError).retryAfterMs! >= 1000, 'the wait comes from the answer');
  t.match(await admin('PATCH', 'config', { rateLimit: { limit: 0 } }), { status: 400, json: { error: /limit and refillPerSecond/ } });
  t.match(await admin('POST', 'faults', { kind: 'latency', calls: ['nope'] }), { status: 400, json: { error: /unknown call "nope"/ } });
  t.match(await admin('POST', 'faults', { faults: [{ kind: 'latency', ms: 1 }, { kind: 'error', count: 1 }] }), { status: 201, json: { faults: [{ id: 'f1' }, { id: 'f2' }] } });
  t.equal((await admin('DELETE', 'faults/f1')).status, 200);
  t.match(await admin('GET', 'faults'), { json: { faults: [{ id: 'f2' }] } });
  toy.history.record('ip', ['a'], 'admin');
  t.match(await admin('GET', 'history?resource=ip'), { json: { events: [{ holders: ['a'] }], timeline: { holders: ['a'] } } });
  t.match(await admin('GET', 'nope'), { status: 404, json: { error: /no admin route GET \/_sim\/nope/ } });
  t.equal((await admin('POST', 'reset')).status, 200);
  t.match(await admin('GET', 'history'), { json: { events: [] } });
  t.match(await admin('GET', 'faults'), { json: { faults: [] } });
});

t.test('metadata answers per caller: by /_meta/<target>/ or by source address', async (t) => {
  const toy = await toyCloud(t);
  const a = await (await fetch(`${toy.sim.url}/_meta/srv-7/meta/instance-id`)).json();
  t.same(a, { path: 'instance-id', target: 'srv-7', callerAddress: '127.0.0.1' });
  const b = await (await fetch(`${toy.sim.url}/meta/hostname`)).json();
  t.same(b, { path: 'hostname', target: null, callerAddress: '127.0.0.1' });
});

t.test('pure pieces: spec parsing, headers, redaction, timeline, budget', async (t) => {
  t.match(parseKitFaultSpec('error:rate=0.5,status=502,calls=a+b'), { kind: 'error', rate: 0.5, status: 502, calls: ['a', 'b'] });
  t.throws(() => parseKitFaultSpec('error:bogus=1'), /unknown key "bogus"/);
  t.throws(() => parseKitFaultSpec('explode'), /fault kind/);
  t.equal(retryAfterFromHeaders({ 'retry-after': '3' }), 3000);
  t.equal(retryAfterFromHeaders({ 'ratelimit-reset': '2000000010' }, 2_000_000_000_000), 10_000);
  t.equal(retryAfterFromHeaders({ 'ratelimit-reset': '5' }), 5000);
  t.equal(retryAfterFromHeaders({}), undefined);
  t.equal(redactSecrets('token abcd1234 and abcd1234', ['abcd1234', undefined, 'ab']), 'token [redacted] and [redacted]');
  const tl = holderTimeline(
    [
      { t: 100, resource: 'ip', holders: ['a'], cause: 'x' },
      { t: 200, resource: 'ip', holders: ['a', 'b'], cause: 'x' },
      { t: 260, resource: 'ip', holders: ['b'], cause: 'x' },
      { t: 300, resource: 'ip', holders: [], cause: 'x' },
      { t: 450, resource: 'ip', holders: ['a'], cause: 'x' },
    ],
    'ip',
    500,
  );
  t.equal(tl.maxMultiHolderMs, 60);
  t.equal(tl.maxUnheldMs, 150);
  let now = 0;
  const budget = new RateBudget({ limit: 2, refillPerSecond: 1, now: () => now });
  t.ok(budget.take().allowed);
  t.ok(budget.take().allowed);
  const no = budget.take();
  t.notOk(no.allowed);
  t.equal(no.retryAfterMs, 1000);
  now = 1000;
  t.ok(budget.take().allowed, 'refilled');
});
