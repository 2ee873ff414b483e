/**
 * The exoscale-eip action's controller against the API simulator: move and all-healthy, fencing,
 * release and the startup grace, verify after attach, onApiUnreachable hold/release, reconcile
 * (re-attach and detach strays), zero API calls in steady state with reconcile off, peers
 * revoked on death, bad credentials.
 */
import t from 'tap';
import { ExoscaleVerifyError } from '../../src/exoscale/errors.js';
import { desiredFor, hostOf } from '../../plugins/exoscale-eip/controller.js';
import { EIP, EIP_ID, LB1, LB2, LB3, until, withSim } from '../exoscale/lib/sim.js';
import { captureLog, controllerFor, lastSeq, never, requestsSince } from './lib/eip.js';
import { FakeTimerClock } from '../lib/fake-timer-clock.js';

t.test('desired attachment by state and strategy (pure)', async (t) => {
  t.equal(desiredFor('MASTER', 'move', true), 'exclusive');
  t.equal(desiredFor('MASTER', 'all-healthy', true), 'attached');
  t.equal(desiredFor('BACKUP', 'move', true), 'released');
  t.equal(desiredFor('BACKUP', 'all-healthy', true), 'attached');
  t.equal(desiredFor('FAULT', 'all-healthy', true), 'released');
  t.equal(desiredFor('STOP', 'move', false), 'keep');
  t.equal(desiredFor('BACKUP', 'move', true, 'MASTER'), 'handover', 'a yielding MASTER hands over');
  t.equal(desiredFor('BACKUP', 'move', false, 'MASTER'), 'keep');
  t.equal(desiredFor('FAULT', 'move', true, 'MASTER'), 'released', 'an unhealthy MASTER releases');
  t.equal(desiredFor('BACKUP', 'all-healthy', true, 'MASTER'), 'attached');
  t.equal(desiredFor('INIT', 'move', true), 'keep');
  t.equal(hostOf('198.51.100.11:12345'), '198.51.100.11');
  t.equal(hostOf('[2001:db8::1]:12345'), '2001:db8::1');
  t.equal(hostOf('lab1'), undefined);
});

t.test('move: MASTER attaches here first, verifies, then fences every other holder', async (t) => {
  const sim = await withSim(t);
  sim.state.setHolders(EIP, [LB1, LB3]);
  const from = sim.state.events().at(-1)!.seq;
  const { log, text } = captureLog();
  const c = controllerFor(t, sim, {}, {}, log);
  await c.transition('BACKUP', 'MASTER', never());
  t.same(sim.state.holdersOf(EIP), [LB2], 'only this instance holds it');
  const changes = sim.state.events(from).filter((e) => e.type === 'attach' || e.type === 'detach');
  t.same(
    changes.map((e) => `${e.type} ${e.instance}`),
    [`attach ${LB2}`, `detach ${LB1}`, `detach ${LB3}`],
    'make-before-break: attach here before detaching the others',
  );
  t.ok(changes.every((e) => e.source === 'api'));
  t.match(text(), /attached to this instance .*verified/);
  t.match(text(), /fencing: this node is MASTER/);
  t.same(c.stats.holders, [LB2]);

  // idempotent: already in place -> one read, no change
  const seq = lastSeq(sim);
  await c.transition('MASTER', 'MASTER', never());
  t.same(sim.state.requests(seq).map((r) => r.call), ['list-instances'], 'a re-assert with nothing to do costs one read');
});

t.test('a node that read itself unheld attaches first; an attach a human made meanwhile is a duplicate the read-back settles', async (t) => {
  for (const duplicates of ['operation-failure', 'http-conflict', 'succeed'] as const) {
    const sim = await withSim(t);
    sim.state.setConfig({ duplicates });
    const c = controllerFor(t, sim);
    sim.state.setHolders(EIP, [LB1]);
    await c.transition('INIT', 'BACKUP', never());
    sim.state.setHolders(EIP, [LB1, LB2]); // by hand, while this node is BACKUP
    const seq = lastSeq(sim);
    await c.transition('BACKUP', 'MASTER', never());
    const calls = sim.state.requests(seq).map((r) => r.call).filter((call) => call !== 'get-operation');
    t.equal(calls[0], 'attach-instance-to-elastic-ip', `${duplicates}: the MASTER pass attaches without reading first`);
    t.same(sim.state.holdersOf(EIP), [LB2], `${duplicates}: the read-back saw it held here, the other holder fenced`);
  }
});

t.test('move: a BACKUP never attaches; BACKUP/FAULT/STOP release unless release: false', async (t) => {
  const sim = await withSim(t);
  const c = controllerFor(t, sim);
  const seq = lastSeq(sim);
  await c.transition('MASTER', 'BACKUP', never());
  t.same(sim.state.holdersOf(EIP), [], 'nothing attached');
  t.notOk(sim.state.requests(seq).some((r) => r.call.startsWith('attach')), 'no attach call from a BACKUP');

  for (const state of ['FAULT', 'STOP'] as const) {
    sim.state.setHolders(EIP, [LB2, LB1]);
    await c.transition('MASTER', state, never());
    t.same(sim.state.holdersOf(EIP), [LB1], `${state}: detached from self only`);
  }
  // MASTER -> BACKUP hands over: no call at the transition, one read a settle time later, which
  // detaches this node once another holder shows
  const yielding = controllerFor(t, sim, { settleMs: 100 });
  sim.state.setHolders(EIP, [LB2, LB1]);
  const handover = lastSeq(sim);
  await yielding.transition('MASTER', 'BACKUP', never());
  t.equal(requestsSince(sim, handover), 0, 'BACKUP (hand-over): no API call at the transition');
  await until(() => sim.state.holdersOf(EIP).length === 1);
  t.same(sim.state.holdersOf(EIP), [LB1], 'BACKUP (hand-over): detached from self only, at the confirming read');

  const keep = controllerFor(t, sim, { release: false });
  sim.state.setHolders(EIP, [LB2]);
  const before = lastSeq(sim);
  await keep.transition('MASTER', 'BACKUP', never());
  await keep.transition('BACKUP', 'FAULT', never());
  t.same(sim.state.holdersOf(EIP), [LB2], 'release: false keeps it');
  t.equal(requestsSince(sim, before), 0, 'and makes no API call');
});

t.test('startup grace: a state entered at startup releases only after startupGrace', async (t) => {
  const sim = await withSim(t);
  sim.state.setHolders(EIP, [LB2]);
  const c = controllerFor(t, sim, { startupGraceMs: 300 });
  const seq = lastSeq(sim);
  await c.transition('INIT', 'BACKUP', never());
  t.same(sim.state.holdersOf(EIP), [LB2], 'kept during the grace (a restarted master does not drop it)');
  await until(() => sim.state.requests(seq).length >= 2);
  // (the release pass after the grace may already have begun on a slow machine: only the first two are the startup's)
  t.same(sim.state.requests(seq).slice(0, 2).map((r) => r.call), ['list-elastic-ips', 'list-instances'], 'one read at startup (the address\'s id, its holders), no change');
  await until(() => sim.state.holdersOf(EIP).length === 0, 3_000);
  t.pass('released once the grace is over');

  // becoming MASTER during the grace cancels the release (fake time: the timers left are the proof)
  await until(() => c.stats.lastConvergedAt !== undefined, 3_000);
  sim.state.setHolders(EIP, [LB3]);
  const clock = new FakeTimerClock();
  const d = controllerFor(t, sim, { startupGraceMs: 300, instanceId: LB3, clock });
  await d.transition('INIT', 'BACKUP', never());
  t.same(clock.pending, [301], 'the release is due when the grace is over');
  await d.transition('BACKUP', 'MASTER', never());
  t.same(clock.pending, [1_000], 'MASTER: the grace timer is gone, the confirming pass is due a settle time later');
  const converged = d.stats.lastConvergedAt;
  await clock.advance(1_000);
  await until(() => d.stats.lastConvergedAt !== converged, 3_000);
  t.same(sim.state.holdersOf(EIP), [LB3], 'still attached after the grace would have ended');
  t.same(clock.pending, [], 'and no timer left (reconcile off): nothing will release it');
});

t.test('verify after attach: an operation that succeeds without the attachment is an error', async (t) => {
  const sim = await withSim(t);
  // another actor undoes the attachment the moment it lands: the read-back must catch it
  const off = sim.state.onEvent((e) => {
    if (e.type === 'attach' && e.source === 'api' && e.instance === LB2) queueMicrotask(() => sim.state.detachNow(EIP_ID, LB2, 'admin'));
  });
  t.teardown(off);
  const c = controllerFor(t, sim, { onApiUnreachable: 'hold' });
  const err = await c.transition('BACKUP', 'MASTER', never()).catch((e: unknown) => e);
  t.type(err, ExoscaleVerifyError, 'not reported as success');
  t.match((err as Error).message, /does not list this instance as a holder/);
  t.notOk((err as Error).message.includes('\n'), 'one line');
});

t.test('onApiUnreachable: hold keeps MASTER and retries in the background; release fails the action', async (t) => {
  const sim = await withSim(t);
  const { log, text } = captureLog();
  const fault = sim.state.faults.add({ kind: 'error', status: 503 });
  const hold = controllerFor(t, sim, { onApiUnreachable: 'hold' }, { deadlineMs: 300, retries: 2 }, log);
  await hold.transition('BACKUP', 'MASTER', never());
  t.pass('hold: the MASTER hook resolves although the API is down');
  t.match(text(), /holding MASTER/);
  t.same(sim.state.holdersOf(EIP), []);

  const release = controllerFor(t, sim, { onApiUnreachable: 'release', instanceId: LB3 }, { deadlineMs: 300, retries: 2 });
  const err = await release.transition('BACKUP', 'MASTER', never()).catch((e: unknown) => e);
  t.match((err as Error).message, /503 service unavailable/, 'release: the hook fails (with required: true the node gives up)');
  await release.transition('MASTER', 'FAULT', never()).catch(() => undefined);

  sim.state.faults.remove(fault.id);
  await until(() => sim.state.holdersOf(EIP).join() === LB2, 5_000);
  t.pass('the background retry attached it once the API answered');
});

t.test('bad credentials: one clear error, even with hold', async (t) => {
  const sim = await withSim(t);
  const c = controllerFor(t, sim, {}, { apiSecret: 'wrong-secret-wrong-secret' });
  const err = await c.transition('BACKUP', 'MASTER', never()).catch((e: unknown) => e);
  t.match((err as Error).message, /^exoscale: .*: 403 forbidden: Invalid request signature/);
  t.notOk((err as Error).message.includes('wrong-secret'), 'the secret never shows');
  t.notOk((err as Error).message.includes('\n'));
});

t.test('reconcile: re-attaches when missing and detaches strays, while MASTER only', async (t) => {
  const sim = await withSim(t);
  const { log, text } = captureLog();
  const clock = new FakeTimerClock();
  const c = controllerFor(t, sim, { reconcileMs: 100, clock }, {}, log);
  await c.transition('BACKUP', 'MASTER', never());
  t.same(sim.state.holdersOf(EIP), [LB2]);
  t.same(clock.pending, [100], 'a pass due every reconcile period (the confirming pass stands in for the first)');
  sim.state.setHolders(EIP, [LB1, LB3]); // someone moved it away by hand
  await clock.advance(100);
  await until(() => sim.state.holdersOf(EIP).join() === LB2 && /drift repaired/.test(text()), 3_000);
  t.match(text(), /drift repaired: 198\.51\.100\.50 was held by \[.*\], now \[10000000-0000-4000-8000-000000000002\]/);

  await until(() => c.stats.lastConvergedAt !== undefined && clock.pending.length > 0, 3_000); // the repair pass ended
  await c.transition('MASTER', 'BACKUP', never());
  t.same(sim.state.holdersOf(EIP), [LB2], 'a MASTER yielding while the only holder keeps it for the new MASTER\'s fencing (issue 22)');
  t.same(clock.pending, [1_000], 'the hand-over\'s one confirming read is due a settle time (at least 1 s) after the yield');
  sim.state.setHolders(EIP, [LB1]);
  const seq = lastSeq(sim);
  const converged = c.stats.lastConvergedAt;
  await clock.advance(1_000);
  await until(() => c.stats.lastConvergedAt !== converged, 3_000);
  const confirming = sim.state.requests(seq).map((r) => r.call);
  t.ok(confirming.length > 0 && confirming.every((call) => /^(list|get)-/.test(call)), `it finds LB1 alone and changes nothing: ${confirming.join(', ')}`);
  t.same(clock.pending, [], 'then no timer: no reconcile as BACKUP (move)');
  t.same(sim.state.holdersOf(EIP), [LB1]);
});

t.test('reconcile off: zero API calls in steady state; a BACKUP ignores dead peers', async (t) => {
  const sim = await withSim(t);
  const clock = new FakeTimerClock();
  const c = controllerFor(t, sim, { reconcileMs: 0, clock });
  await c.transition('BACKUP', 'MASTER', never());
  t.same(clock.pending, [1_000], 'one confirming pass, a settle time later');
  const converged = c.stats.lastConvergedAt;
  await clock.advance(1_000);
  await until(() => c.stats.lastConvergedAt !== converged, 5_000);
  t.same(clock.pending, [], 'MASTER, converged and confirmed, reconcile 0s: no timer left, so no call will follow');

  const b = controllerFor(t, sim, { instanceId: LB3 });
  await b.transition('INIT', 'BACKUP', never());
  const seq2 = lastSeq(sim);
  await b.peerDead({ id: 'node-x', address: '198.51.100.11:12345' }, 'BACKUP', never());
  t.equal(requestsSince(sim, seq2), 0, 'a backup leaves revocations to the master');
});

t.test('move: a peer declared dead while MASTER is fenced at once', async (t) => {
  const sim = await withSim(t);
  const c = controllerFor(t, sim);
  await c.transition('BACKUP', 'MASTER', never());
  sim.state.setHolders(EIP, [LB2, LB1]); // the old master came back holding it
  await c.peerDead({ id: 'node-a', address: '198.51.100.11:12345' }, 'MASTER', never());
  t.same(sim.state.holdersOf(EIP), [LB2]);
});

t.test('all-healthy: MASTER and BACKUP hold it, FAULT releases, the MASTER revokes dead peers (by id or address)', async (t) => {
  const sim = await withSim(t);
  const m = controllerFor(t, sim, { strategy: 'all-healthy', instanceId: LB1 });
  const b = controllerFor(t, sim, { strategy: 'all-healthy', instanceId: LB2 });
  const b3 = controllerFor(t, sim, { strategy: 'all-healthy', instanceId: LB3 });
  await m.transition('BACKUP', 'MASTER', never());
  await b.transition('INIT', 'BACKUP', never());
  await b3.transition('INIT', 'BACKUP', never());
  t.same(sim.state.holdersOf(EIP).sort(), [LB1, LB2, LB3], 'every healthy node holds it');

  await b3.transition('BACKUP', 'FAULT', never());
  t.same(sim.state.holdersOf(EIP).sort(), [LB1, LB2], 'an unhealthy node releases it');

  // lb2 dies: its node id is an instance UUID
  await m.peerDead({ id: LB2, address: '127.0.0.12:12345' }, 'MASTER', never());
  t.same(sim.state.holdersOf(EIP), [LB1], 'dead peer revoked (node id = instance id)');

  // a peer whose node id is not an instance: found by the public IP it sends from
  sim.state.setHolders(EIP, [LB1, LB3]);
  await m.peerDead({ id: 'lb3-host', address: '198.51.100.13:12345' }, 'MASTER', never());
  t.same(sim.state.holdersOf(EIP), [LB1], 'dead peer revoked (found by its public IP)');
  t.same(m.pendingRevocations, []);
});

t.test('all-healthy: a revocation that fails is retried until it succeeds (exoip never retried)', async (t) => {
  const sim = await withSim(t);
  const m = controllerFor(t, sim, { strategy: 'all-healthy', instanceId: LB1 }, { deadlineMs: 200, retries: 1 });
  sim.state.setHolders(EIP, [LB1, LB2]);
  await m.transition('BACKUP', 'MASTER', never());
  const fault = sim.state.faults.add({ kind: 'error', status: 502, calls: ['detach-instance-from-elastic-ip'] });
  await m.peerDead({ id: LB2, address: '198.51.100.12:12345' }, 'MASTER', never()).catch(() => undefined);
  t.same(sim.state.holdersOf(EIP).sort(), [LB1, LB2], 'the first revocation failed');
  t.same(m.pendingRevocations, [LB2], 'and stays queued');
  sim.state.faults.remove(fault.id);
  await until(() => sim.state.holdersOf(EIP).join() === LB1, 5_000);
  t.pass('revoked by a background retry');
});

t.test('the plugin: config keys and defaults, secrets through the environment, handlers, API calls reported', async (t) => {
  const { default: plugin } = await import('../../plugins/exoscale-eip/index.js');
  const { SecretError } = await import('../../src/config/secret.js');
  const { KEY, SECRET } = await import('../exoscale/lib/sim.js');
  const envOf = (vars: Record<string, string>) => ({
    baseDir: '/',
    resolveSecret: (ref: string, at: string) => {
      const name = ref.replace(/^env:/, '');
      if (vars[name] === undefined) throw new SecretError(`actions[0].${at}: environment variable ${name} is not set`);
      return vars[name]!;
    },
  });
  const creds = envOf({ EXOSCALE_API_KEY: KEY, EXOSCALE_API_SECRET: SECRET });
  const issues = (raw: Record<string, unknown>) => {
    const r = plugin.parseConfig(raw, creds);
    return r.ok ? [] : r.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };
  t.match(issues({}), [/^zone: required/]);
  t.match(issues({ zone: 'Geneva' }), [/^zone: expected a zone name/]);
  t.match(issues({ zone: 'ch-gva-2', strategy: 'spread' }), [/^strategy:/]);
  t.match(issues({ zone: 'ch-gva-2', reconcile: 'often' }), [/^reconcile: expected a duration/]);
  t.match(issues({ zone: 'ch-gva-2', instanceId: 'lb1' }), [/^instanceId: expected an instance UUID/]);
  t.match(issues({ zone: 'ch-gva-2', apikey: 'x' }), [/^apikey: unknown key/]);
  t.throws(() => plugin.parseConfig({ zone: 'ch-gva-2' }, envOf({})), /actions\[0\]\.apiKey: environment variable EXOSCALE_API_KEY is not set/);
  const parsed = plugin.parseConfig({ zone: 'ch-gva-2' }, creds);
  t.match(parsed, {
    ok: true,
    config: { connection: { zone: 'ch-gva-2', endpoint: 'https://api-ch-gva-2.exoscale.com/v2' }, strategy: 'move', release: true, onApiUnreachable: 'hold', reconcileMs: 30_000, startupGraceMs: 10_000 },
  });

  const sim = await withSim(t);
  const r = plugin.parseConfig({ zone: sim.zone, endpoint: sim.endpoint, reconcile: '0s' }, creds);
  if (!r.ok) throw new Error('config');
  const calls: string[] = [];
  const h = await plugin.create({
    config: r.config,
    log: captureLog().log,
    instance: { name: 'eip', address: EIP },
    node: { id: LB3 }, // a node id that is an instance UUID is the instance
    onApiCall: (s) => calls.push(`${s.call} ${s.status}`),
  });
  t.teardown(() => h.close?.());
  const event = { instance: { name: 'eip', address: EIP }, node: { id: LB3 }, priority: 100, reason: 'test', signal: never() };
  await h.onMaster!({ ...event, from: 'BACKUP', to: 'MASTER' });
  t.same(sim.state.holdersOf(EIP), [LB3]);
  t.ok(calls.includes('attach-instance-to-elastic-ip 200') && calls.includes('list-instances 200'), `API calls reported for metrics (${calls.length})`);
  await h.onStop!({ ...event, from: 'MASTER', to: 'STOP' });
  t.same(sim.state.holdersOf(EIP), [], 'STOP releases');
});

t.test('doctor: credentials, the Elastic IP, this instance, holders (read calls only)', async (t) => {
  const { default: plugin } = await import('../../plugins/exoscale-eip/index.js');
  const { KEY, SECRET } = await import('../exoscale/lib/sim.js');
  const sim = await withSim(t);
  sim.state.setHolders(EIP, [LB1]);
  const creds = { baseDir: '/', resolveSecret: (ref: string) => (ref === 'env:EXOSCALE_API_KEY' ? KEY : ref === 'env:EXOSCALE_API_SECRET' ? SECRET : ref) };
  const config = (extra: Record<string, unknown> = {}) => {
    const r = plugin.parseConfig({ zone: sim.zone, endpoint: sim.endpoint, ...extra }, creds);
    if (!r.ok) throw new Error('config');
    return r.config;
  };
  const ctx = (c: ReturnType<typeof config>, node = LB2) => ({ config: c, log: captureLog().log, instance: { name: 'eip', address: EIP }, node: { id: node } });
  const seq = lastSeq(sim);
  const ok = await plugin.doctor!({ ...ctx(config()), signal: AbortSignal.timeout(10_000) });
  t.match(ok, [
    { ok: true, item: 'Exoscale API credentials' },
    { ok: true, item: `Elastic IP ${EIP}`, detail: /exists \(id e1a571c0-.*manual\)/ },
    { ok: true, item: 'this instance', detail: `${LB2} (lb2) from node.id: running` },
    { ok: true, item: `holders of ${EIP}`, detail: `${LB1} (lb1)` },
  ]);
  t.notOk(sim.state.requests(seq).some((r) => r.method !== 'GET'), 'read calls only');

  sim.state.setHolders(EIP, [LB1, LB3]);
  const two = await plugin.doctor!({ ...ctx(config()), signal: AbortSignal.timeout(10_000) });
  t.match(two.at(-1), { ok: false, fix: /fences the others/ }, 'two holders with strategy move is a problem');

  const bad = await plugin.doctor!({ ...ctx(config({ apiSecret: 'wrong-wrong-wrong' })), signal: AbortSignal.timeout(10_000) });
  t.match(bad, [{ ok: false, item: 'Exoscale API credentials', detail: /403 forbidden: Invalid request signature/, fix: /apiKey\/apiSecret/ }]);
  t.equal(bad.length, 1);

  const gone = await plugin.doctor!({ ...ctx(config({ instanceId: '99999999-0000-4000-8000-000000000000' })), signal: AbortSignal.timeout(10_000) });
  t.match(gone.find((f) => f.item === 'this instance'), { ok: false, detail: /from instanceId: .*404 not found/ });

  const meta = await plugin.doctor!({ ...ctx(config({ metadataUrl: `${sim.url}/_meta/lb3/latest/meta-data/instance-id` }), 'node-c'), signal: AbortSignal.timeout(10_000) });
  t.match(meta.find((f) => f.item === 'this instance'), { ok: true, detail: `${LB3} (lb3) from the metadata server: running` });
});
