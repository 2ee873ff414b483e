/**
 * The client under every fault the simulator injects: latency, a 5xx error rate, 429
 * bursts (Retry-After honoured), failed / timed-out / stalled operations, hung requests
 * cut by the timeout, network errors, the overall deadline, abort, and what is not retried.
 */
import t from 'tap';
import { createServer } from 'node:net';
import {
  ExoscaleApiError,
  ExoscaleNetworkError,
  ExoscaleOperationError,
  ExoscaleTimeoutError,
  ExoscaleWaitTimeoutError,
} from '../../src/exoscale/errors.js';
import type { ApiCallEvent } from '../../src/exoscale/client.js';
import { ExoscaleEipProvider } from '../../src/exoscale/provider.js';
import { clientFor, EIP, EIP_ID, LB1, LB2, withSim } from './lib/sim.js';
import { daemonClientOptions } from '../../src/exoscale/connection.js';
import { FAILOVER_FIRST_TIMEOUT_MS } from '../../src/cloud/http.js';
import { silentLogger } from '../../src/log.js';

const elapsed = (since: number): number => performance.now() - since;

t.test('latency is survived; a response slower than the timeout is retried', async (t) => {
  const sim = await withSim(t, { faults: [{ kind: 'latency', ms: 150, calls: ['list-elastic-ips'] }] });
  const c = clientFor(t, sim);
  let since = performance.now();
  t.equal((await c.listElasticIps()).length, 1);
  t.ok(elapsed(since) >= 145, 'the delay was applied');

  sim.state.faults.clear();
  sim.state.faults.add({ kind: 'latency', ms: 400, count: 1, calls: ['get-instance'] });
  const events: ApiCallEvent[] = [];
  const slow = clientFor(t, sim, { timeoutMs: 150, onCall: (e) => events.push(e) });
  since = performance.now();
  t.match(await slow.getInstance(LB1), { id: LB1 });
  t.ok(elapsed(since) >= 145, 'first attempt timed out');
  t.match(events, [{ attempt: 1, status: undefined, error: /no response within 150ms/ }, { attempt: 2, status: 200 }]);
});

t.test('a 5xx error rate is absorbed by retries', async (t) => {
  const sim = await withSim(t, { faultSeed: 42, faults: [{ kind: 'error', rate: 0.4, status: 503 }] });
  const c = clientFor(t, sim);
  for (let i = 0; i < 15; i++) t.equal((await c.listInstances()).length, 4);
  const statuses = sim.state.requests().map((r) => r.status);
  t.ok(statuses.filter((s) => s === 503).length >= 3, `some 503s were injected (${statuses.filter((s) => s === 503).length})`);
  t.equal(statuses.filter((s) => s === 200).length, 15, 'every call succeeded in the end');
});

t.test('5xx: 500/502/503/504 retried, 501 not; deadline bounds the retries', async (t) => {
  const sim = await withSim(t);
  const c = clientFor(t, sim);
  for (const status of [500, 502, 504]) {
    sim.state.faults.add({ kind: 'error', status, count: 2, calls: ['get-elastic-ip'] });
    t.match(await c.getElasticIp(EIP_ID), { ip: EIP }, `${status} retried`);
  }
  sim.state.faults.add({ kind: 'error', status: 501, count: 1, message: 'Not Implemented', calls: ['get-elastic-ip'] });
  const err = await c.getElasticIp(EIP_ID).catch((e: unknown) => e);
  t.match(err, { status: 501, attempts: 1, retryable: false, message: `exoscale: get elastic-ip ${EIP}: 501 not implemented: Not Implemented` });

  sim.state.faults.add({ kind: 'error', status: 503 });
  const tight = clientFor(t, sim, { deadlineMs: 400, retryMinDelayMs: 50, retryMaxDelayMs: 100, retries: 50 });
  const since = performance.now();
  const gaveUp = await tight.getElasticIp(EIP_ID).catch((e: unknown) => e);
  t.type(gaveUp, ExoscaleApiError);
  t.ok(elapsed(since) < 1_000, `deadline respected (${Math.round(elapsed(since))}ms)`);
  t.ok((gaveUp as ExoscaleApiError).attempts >= 3, 'several attempts were made');
  t.match((gaveUp as Error).message, new RegExp(`^exoscale: get elastic-ip ${EIP_ID}: 503 service unavailable: .* \\(gave up after \\d+ attempts in \\d+ms\\)$`));
});

t.test('429 bursts: Retry-After honoured, then success', async (t) => {
  const sim = await withSim(t);
  const c = clientFor(t, sim);
  sim.state.faults.add({ kind: 'rate-limit', count: 1, retryAfterSeconds: 1 });
  let since = performance.now();
  t.equal((await c.listElasticIps()).length, 1);
  t.ok(elapsed(since) >= 990, `waited the 1 s Retry-After (${Math.round(elapsed(since))}ms)`);

  sim.state.faults.add({ kind: 'rate-limit', count: 3, retryAfterSeconds: 0.15 });
  since = performance.now();
  t.equal((await c.listElasticIps()).length, 1);
  t.ok(elapsed(since) >= 450, 'three waits of 150 ms');
  t.same(sim.state.requests().slice(-4).map((r) => r.status), [429, 429, 429, 200]);

  // a 429 without Retry-After is retried with the usual backoff
  sim.state.faults.add({ kind: 'rate-limit', count: 2, retryAfterSeconds: 0 });
  t.equal((await c.listElasticIps()).length, 1);

  // a Retry-After longer than the remaining deadline fails at once instead of sleeping
  sim.state.faults.add({ kind: 'rate-limit', count: 1, retryAfterSeconds: 30 });
  const quick = clientFor(t, sim, { deadlineMs: 2_000 });
  since = performance.now();
  const err = await quick.listElasticIps().catch((e: unknown) => e);
  t.ok(elapsed(since) < 1_000, 'did not sleep 30 s');
  t.match(err, { status: 429, retryAfterMs: 30_000, message: 'exoscale: list elastic-ips: 429 too many requests: Too Many Requests' });
});

t.test('failed and timed-out operations are clear errors; state unchanged', async (t) => {
  const sim = await withSim(t, {
    faults: [{ kind: 'fail-operation', count: 1, reason: 'busy', message: 'Elastic IP is busy' }],
  });
  const c = clientFor(t, sim);
  const err = await c.ensureAttached(EIP, LB1).catch((e: unknown) => e);
  t.type(err, ExoscaleOperationError);
  t.match(err, { state: 'failure', reason: 'busy', apiMessage: 'Elastic IP is busy', retryable: false });
  t.match((err as Error).message, new RegExp(`^exoscale: attach elastic-ip ${EIP.replace(/\./g, '\\.')} to instance ${LB1}: operation [0-9a-f-]{36} ended in failure \\(busy\\): Elastic IP is busy$`));
  t.same(sim.state.holdersOf(EIP), [], 'nothing attached');

  sim.state.faults.add({ kind: 'fail-operation', count: 1, state: 'timeout', reason: 'unavailable', calls: ['detach-instance-from-elastic-ip'] });
  t.equal((await c.ensureAttached(EIP, LB1)).changed, true, 'next attach works (count exhausted)');
  await t.rejects(c.ensureDetached(EIP, LB1), { name: 'ExoscaleOperationError', state: 'timeout', reason: 'unavailable' });
  t.same(sim.state.holdersOf(EIP), [LB1], 'still attached after the failed detach');
});

t.test('a stalled operation ends in a wait timeout', async (t) => {
  const sim = await withSim(t, { faults: [{ kind: 'stall-operation', count: 1 }] });
  const c = clientFor(t, sim, { waitTimeoutMs: 300 });
  const since = performance.now();
  const err = await c.ensureAttached(EIP, LB1).catch((e: unknown) => e);
  t.type(err, ExoscaleWaitTimeoutError);
  t.ok(elapsed(since) >= 290 && elapsed(since) < 2_000, `waited about the wait timeout (${Math.round(elapsed(since))}ms)`);
  t.match((err as Error).message, /^exoscale: attach elastic-ip 198\.51\.100\.50 to instance .*: operation [0-9a-f-]{36} still pending after \d+ms$/);
  const op = sim.state.snapshot().operations as { state: string }[];
  t.equal(op[0]!.state, 'pending', 'the operation is still pending on the server');
});

t.test('transient errors while polling an operation are tolerated', async (t) => {
  const sim = await withSim(t, {
    operationDelayMs: 100,
    faults: [{ kind: 'error', status: 503, count: 3, calls: ['get-operation'] }],
  });
  const c = clientFor(t, sim);
  t.equal((await c.ensureAttached(EIP, LB1)).changed, true);
  t.ok(sim.state.requests().filter((r) => r.call === 'get-operation' && r.status === 503).length === 3);
});

t.test('hung requests are cut by the timeout', async (t) => {
  const sim = await withSim(t, { faults: [{ kind: 'hang', count: 1, calls: ['list-elastic-ips'] }] });
  const c = clientFor(t, sim, { timeoutMs: 200 });
  let since = performance.now();
  t.equal((await c.listElasticIps()).length, 1, 'second attempt answered');
  t.ok(elapsed(since) >= 195, 'the first attempt waited for its timeout');
  t.equal(sim.state.requests().find((r) => r.fault === 'hang')?.status, null, 'the hung request got no answer');

  sim.state.faults.add({ kind: 'hang', calls: ['get-instance'] });
  const tight = clientFor(t, sim, { timeoutMs: 150, deadlineMs: 600 });
  since = performance.now();
  const err = await tight.getInstance(LB1).catch((e: unknown) => e);
  t.type(err, ExoscaleTimeoutError);
  t.ok(elapsed(since) < 1_500, `gave up near the deadline (${Math.round(elapsed(since))}ms)`);
  t.match((err as Error).message, new RegExp(`^exoscale: get instance ${LB1}: no response within \\d+ms \\(gave up after \\d+ attempts`));

  // an abort ends a hung call at once
  const ac = new AbortController();
  const patient = clientFor(t, sim, { timeoutMs: 5_000 });
  setTimeout(() => ac.abort(), 100);
  since = performance.now();
  await t.rejects(patient.getInstance(LB1, { signal: ac.signal }));
  t.ok(elapsed(since) < 1_000, 'aborted promptly');
});

t.test('firstTimeoutMs: a hung first attempt is re-sent soon, each retry waits twice as long (the daemon: 2 s, 4 s, 5 s)', async (t) => {
  const sim = await withSim(t, { faults: [{ kind: 'hang', count: 3, calls: ['list-elastic-ips'] }] });
  const attempts: Array<{ attempt: number; durationMs: number }> = [];
  const c = clientFor(t, sim, { timeoutMs: 300, firstTimeoutMs: 100, onCall: (e) => attempts.push(e) });
  t.equal((await c.listElasticIps()).length, 1, 'the fourth attempt answered');
  t.same(attempts.map((a) => a.attempt), [1, 2, 3, 4]);
  for (const [i, limit] of [100, 200, 300].entries()) {
    t.ok(attempts[i]!.durationMs >= limit - 5, `attempt ${i + 1} hung for ${Math.round(attempts[i]!.durationMs)} ms (its timeout ${limit} ms)`);
  }
  t.ok(attempts[0]!.durationMs < 300 && attempts[1]!.durationMs < 300, 'the first two were cut before timeoutMs');
  t.match(daemonClientOptions({ apiKey: 'EXO0123456789abcdef01234567', apiSecret: 'x'.repeat(43), zone: 'ch-gva-2', endpoint: 'http://127.0.0.1:9/v2' }, silentLogger, () => undefined), { timeoutMs: 5_000, firstTimeoutMs: FAILOVER_FIRST_TIMEOUT_MS }, 'the daemon re-sends a hung call after 2 s');
});

t.test('network errors are retried, then reported clearly', async (t) => {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const sim = await withSim(t);
  const c = clientFor(t, sim, { endpoint: `http://127.0.0.1:${port}/v2`, retries: 2 });
  const err = await c.listElasticIps().catch((e: unknown) => e);
  t.type(err, ExoscaleNetworkError);
  t.match(err, { code: 'ECONNREFUSED', attempts: 3, retryable: true });
  t.match((err as Error).message, new RegExp(`^exoscale: list elastic-ips: network error: connect ECONNREFUSED 127\\.0\\.0\\.1:${port} \\(gave up after 3 attempts`));
});

t.test('4xx other than 429 fail fast', async (t) => {
  const sim = await withSim(t);
  const c = clientFor(t, sim);
  sim.state.setHolders(EIP, []);
  const before = sim.state.requests().length;
  const err = await c.getElasticIp('00000000-0000-4000-8000-00000000dead').catch((e: unknown) => e);
  t.match(err, { status: 404, attempts: 1, message: /404 not found: Elastic IP not found$/ });
  t.equal(sim.state.requests().length - before, 1);
});

t.test('lose-answer: the attach is applied, its answer lost; the client retries it and converges', async (t) => {
  const sim = await withSim(t, { faults: [{ kind: 'lose-answer', count: 1 }] });
  const events: ApiCallEvent[] = [];
  const c = clientFor(t, sim, { onCall: (e) => events.push(e) });
  t.match(await c.ensureAttached(EIP, LB1), { changed: true });
  const lost = sim.state.requests().filter((r) => r.fault === 'lose-answer');
  t.match(lost, [{ call: 'attach-instance-to-elastic-ip', status: null }], 'the attach (a mutating call) lost its answer; reads were not touched');
  const attaches = events.filter((e) => e.call === 'attach-instance-to-elastic-ip');
  t.match(attaches, [{ attempt: 1, error: /network error: socket hang up/ }, { attempt: 2, status: 200 }], 'the dropped connection is a network error, retried');
  t.same(sim.state.holdersOf(EIP), [LB1], 'attached once, on the instance asked for');
  t.same(sim.state.faults.list(), [], 'the counted rule is used up');
});

t.test('a change that timed out is not sent again once the node no longer wants it (resend aborted): a fencing detach cannot land on the new MASTER', async (t) => {
  // chaos Exoscale seed 600050276, episode 73: a MASTER's fencing detach of the crashed node timed out, the
  // node became BACKUP, its client re-sent the detach and removed the restarted MASTER's attachment
  const sim = await withSim(t);
  sim.state.setHolders(EIP, [LB1, LB2]);
  sim.state.faults.add({ kind: 'latency', ms: 400, calls: ['detach-instance-from-elastic-ip'] });
  const stopped = new AbortController();
  const attempts: ApiCallEvent[] = [];
  const client = clientFor(t, sim, {
    timeoutMs: 150,
    onCall: (e) => {
      if (e.call !== 'detach-instance-from-elastic-ip') return;
      attempts.push(e);
      if (e.attempt === 1) stopped.abort(); // the node leaves MASTER while the first attempt times out
    },
  });
  const p = new ExoscaleEipProvider(client, { address: EIP, nodeId: 'node', instanceId: LB2, pollIntervalMs: 20 });
  const err = await p.detach(LB1, { resend: stopped.signal }).catch((e: unknown) => e);
  t.match(err, { cloud: 'exoscale', kind: 'retryable', message: /detach elastic-ip 198\.51\.100\.50 from instance .*no response within 150ms/ }, 'the first attempt\'s error');
  t.same(attempts.map((e) => e.attempt), [1], 'one attempt, not sent again');

  // still wanted: the same timeout is retried as before
  attempts.length = 0;
  const wanted = new ExoscaleEipProvider(
    clientFor(t, sim, { timeoutMs: 150, retries: 1, onCall: (e) => e.call === 'detach-instance-from-elastic-ip' && attempts.push(e) }),
    { address: EIP, nodeId: 'node', instanceId: LB2, pollIntervalMs: 20 },
  );
  await wanted.detach(LB1, { resend: new AbortController().signal }).catch(() => undefined);
  t.same(attempts.map((e) => e.attempt), [1, 2], 'while the node wants it: the timed-out attempt is sent again');
});
