/**
 * The action runner: actions of a transition run concurrently (asserted on the start/end times the
 * plugins record), `after` waits for the named actions (ok or failed), one transition at a time,
 * newest wins, timeouts that cut off a plugin ignoring its signal, retries through the retry
 * helper, required actions; and, with real daemons, a required action failing on MASTER hands the
 * IP to a peer.
 */
import t from 'tap';
import { ActionOrderError, ActionRunner, waitOrder, type ScheduledAction, type ActionOutcome } from '../../src/plugins/action-runner.js';
import { defineAction, type ActionHandlers, type InstanceState, type PeerDeadEvent, type TransitionEvent } from '../../src/plugins/api.js';
import { LocalCluster, sleep } from '../../src/lab/local-cluster.js';

type Log = string[];
/** When each hook run started and ended ("name:hook:state" -> performance.now()); the last run wins. */
type Times = Map<string, { start: number; end?: number }>;

/** A real plugin whose hooks record what they saw, and when, and behave as told. */
function recorder(
  name: string,
  log: Log,
  behave: (hook: string, e: TransitionEvent, attempt: number) => Promise<void> = async () => undefined,
  times: Times = new Map(),
) {
  let attempts = 0;
  const impl = defineAction<Record<string, never>>({
    kind: 'action',
    name,
    parseConfig: () => ({ ok: true, config: {} }),
    create(): ActionHandlers {
      const hook = (h: string) => async (e: TransitionEvent | PeerDeadEvent) => {
        attempts++;
        const state = 'to' in e ? e.to : 'PEER';
        const key = `${name}:${h}:${state}`;
        const span: { start: number; end?: number } = { start: performance.now() };
        times.set(key, span);
        log.push(`${key}:start`);
        try {
          await behave(h, e as TransitionEvent, attempts);
          log.push(`${key}:done`);
        } finally {
          span.end = performance.now();
        }
      };
      return { onMaster: hook('onMaster'), onBackup: hook('onBackup'), onFault: hook('onFault'), onStop: hook('onStop'), onPeerDead: hook('onPeerDead') };
    },
  });
  return (over: Partial<ScheduledAction> = {}): ScheduledAction => ({ name, plugin: name, timeoutMs: 1000, retries: 0, required: false, after: [], impl, config: {}, ...over });
}

/** Resolves after `ms`, or rejects when the signal fires (a plugin that honours its signal). */
function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(new Error('aborted'));
    });
  });
}

function span(times: Times, key: string): { start: number; end: number } {
  const s = times.get(key);
  if (!s || s.end === undefined) throw new Error(`${key} did not run to its end`);
  return s as { start: number; end: number };
}

function runner(actions: ScheduledAction[], extra: { onRequiredFailure?: (r: string) => void; outcomes?: ActionOutcome[] } = {}) {
  return new ActionRunner(actions, {
    instance: { name: 'web', address: '198.51.100.50' },
    node: { id: 'lb1' },
    ...(extra.onRequiredFailure ? { onRequiredFailure: extra.onRequiredFailure } : {}),
    onOutcome: (o) => extra.outcomes?.push(o),
  });
}

const go = (r: ActionRunner, to: InstanceState, from: InstanceState = 'BACKUP') => r.transition({ from, to, priority: 100, reason: 'test', cause: 'startup' } as never);

t.test('actions without after run concurrently: the second starts before the first finishes', async (t) => {
  const log: Log = [];
  const times: Times = new Map();
  const a = recorder('a', log, () => sleep(150), times);
  const b = recorder('b', log, () => sleep(150), times);
  const c = recorder('c', log, async () => undefined, times);
  const r = runner([a(), b(), c()]);
  await r.init();
  const t0 = performance.now();
  void go(r, 'MASTER');
  await r.idle();
  const took = performance.now() - t0;
  const [sa, sb, sc] = ['a', 'b', 'c'].map((n) => span(times, `${n}:onMaster:MASTER`));
  t.ok(sb!.start < sa!.end, `b started (${(sb!.start - t0).toFixed(1)} ms) before a finished (${(sa!.end - t0).toFixed(1)} ms)`);
  t.ok(sa!.start < sb!.end && sc!.end < sa!.end, 'they overlap; the quick one is done while the slow ones run');
  t.ok(Math.max(sa!.start, sb!.start, sc!.start) - t0 < 50, 'all start as soon as the transition is taken up');
  t.ok(took < 290, `the transition takes about one action's time, not the sum (${Math.round(took)} ms)`);
  t.same(log.filter((l) => l.endsWith(':done')).sort(), ['a:onMaster:MASTER:done', 'b:onMaster:MASTER:done', 'c:onMaster:MASTER:done']);
});

t.test('after: an action starts only once the actions it names finished, also when they failed', async (t) => {
  const log: Log = [];
  const times: Times = new Map();
  const outcomes: ActionOutcome[] = [];
  const alias = recorder('alias', log, () => sleep(80), times);
  const failing = recorder('eip', log, async () => {
    await sleep(40);
    throw new Error('API down');
  }, times);
  const notify = recorder('notify', log, () => sleep(10), times);
  const last = recorder('last', log, async () => undefined, times);
  // config order is not wait order: `last` is listed first
  const r = runner([last({ after: ['notify'] }), notify({ after: ['alias', 'eip'] }), alias(), failing()], { outcomes });
  await r.init();
  void go(r, 'MASTER');
  await r.idle();
  const [sLast, sNotify, sAlias, sEip] = ['last', 'notify', 'alias', 'eip'].map((n) => span(times, `${n}:onMaster:MASTER`));
  t.ok(Math.abs(sAlias!.start - sEip!.start) < 30 && sEip!.start < sAlias!.end, 'alias and eip start together');
  t.ok(sEip!.end < sAlias!.end, 'eip fails before alias is done');
  t.ok(sNotify!.start >= sAlias!.end && sNotify!.start >= sEip!.end, 'notify waits for both, the failed one included');
  t.ok(sLast!.start >= sNotify!.end, 'last waits for notify');
  t.same(outcomes.map((o) => [o.action, o.ok]), [['eip', false], ['alias', true], ['notify', true], ['last', true]], 'an outcome per run, in finishing order');

  // the same on BACKUP and on a peer-dead job
  log.length = 0;
  void go(r, 'BACKUP', 'MASTER');
  await r.idle();
  t.ok(span(times, 'notify:onBackup:BACKUP').start >= span(times, 'alias:onBackup:BACKUP').end);
  t.ok(span(times, 'last:onBackup:BACKUP').start >= span(times, 'notify:onBackup:BACKUP').end);
  void r.peerDead({ peer: { id: 'lb2', host: '198.51.100.12', port: 12345 }, state: 'BACKUP' } as never);
  await r.idle();
  const pd = (n: string) => span(times, `${n}:onPeerDead:PEER`);
  t.ok(pd('eip').start < pd('alias').end, 'peer-dead actions without after run concurrently');
  t.ok(pd('notify').start >= pd('alias').end && pd('last').start >= pd('notify').end, 'and after is honoured');
});

t.test('after: unknown names and cycles are refused when the runner is built', async (t) => {
  const a = recorder('a', []);
  const b = recorder('b', []);
  t.throws(() => runner([a({ after: ['zz'] })]), new ActionOrderError('action a: after: "zz" is not another action of this instance'));
  t.throws(() => runner([a({ after: ['a'] })]), { name: 'ActionOrderError', message: /"a" is not another action/ });
  t.throws(() => runner([a({ after: ['b'] }), b({ after: ['a'] })]), { name: 'ActionOrderError', message: 'actions a, b: their after: lists wait for each other (a cycle)' });
  t.same(waitOrder([{ name: 'x', after: ['z'] }, { name: 'y', after: [] }, { name: 'z', after: ['y'] }]), [1, 2, 0]);
  t.same(waitOrder([{ name: 'x', after: [] }, { name: 'y', after: [] }]), [0, 1], 'config order otherwise');
});

t.test('concurrent actions: a newer transition aborts all that run, skips those waiting, then runs in full', async (t) => {
  const log: Log = [];
  const times: Times = new Map();
  const slow = (n: string) => recorder(n, log, (_h, e) => abortableSleep(300, e.signal), times);
  const a = slow('a');
  const b = slow('b');
  const c = recorder('c', log, async () => undefined, times);
  const r = runner([a(), b(), c({ after: ['a'] })]);
  await r.init();
  void go(r, 'MASTER');
  await sleep(40);
  const t0 = performance.now();
  void go(r, 'BACKUP', 'MASTER');
  await r.idle();
  t.ok(log.includes('a:onMaster:MASTER:start') && log.includes('b:onMaster:MASTER:start'));
  t.notOk(log.some((l) => l.includes(':onMaster:MASTER:done')), 'both running MASTER actions were aborted');
  t.notOk(log.includes('c:onMaster:MASTER:start'), 'the action waiting on an aborted one never started');
  const aM = span(times, 'a:onMaster:MASTER');
  const bM = span(times, 'b:onMaster:MASTER');
  t.ok(aM.end - t0 < 100 && bM.end - t0 < 100, 'the abort reached both at once');
  const aB = span(times, 'a:onBackup:BACKUP');
  const bB = span(times, 'b:onBackup:BACKUP');
  t.ok(Math.min(aB.start, bB.start) >= Math.max(aM.end, bM.end), 'BACKUP starts once the MASTER job is over (one job at a time)');
  t.ok(bB.start < aB.end, 'and runs concurrently');
  t.ok(span(times, 'c:onBackup:BACKUP').start >= aB.end, 'with after honoured');
  t.same(log.filter((l) => l.endsWith(':done')).sort(), ['a:onBackup:BACKUP:done', 'b:onBackup:BACKUP:done', 'c:onBackup:BACKUP:done']);
});

t.test('a newer transition supersedes a queued one and aborts the running one: last state wins', async (t) => {
  const log: Log = [];
  const a = recorder('a', log, (_h, e) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, 200);
      e.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(new Error('aborted'));
      });
    }),
  );
  const r = runner([a()]);
  await r.init();
  void go(r, 'MASTER');
  await sleep(20);
  void go(r, 'BACKUP', 'MASTER'); // queued behind MASTER, aborts it
  void go(r, 'FAULT', 'BACKUP'); // supersedes the queued BACKUP
  await r.idle();
  const started = log.filter((l) => l.endsWith(':start')).map((l) => l.split(':')[2]);
  t.same(started, ['MASTER', 'FAULT'], 'the stale BACKUP never ran');
  t.ok(log.includes('a:onFault:FAULT:done'), 'the last state ran to the end');
  t.notOk(log.includes('a:onMaster:MASTER:done'), 'the superseded MASTER run was aborted');
});

t.test('a peer death queued as MASTER does not run once a newer transition left MASTER; one of the same state does', async (t) => {
  // chaos, Hetzner seed 7: MASTER (busy in onMaster) saw a peer die, then yielded; the queued onPeerDead ran
  // after the BACKUP was queued and assigned the floating IP to the BACKUP 4 s later
  const log: Log = [];
  const a = recorder('a', log, (_h, e) => abortableSleep(100, e.signal));
  const r = runner([a()]);
  await r.init();
  void go(r, 'MASTER');
  await sleep(20);
  void r.peerDead({ peer: { id: 'lb3', host: '198.51.100.13', port: 12345 }, state: 'MASTER' } as never);
  void go(r, 'BACKUP', 'MASTER');
  await r.idle();
  t.notOk(log.some((l) => l.startsWith('a:onPeerDead')), 'the stale peer death never ran');
  t.ok(log.includes('a:onBackup:BACKUP:done'), 'the new state ran');
  log.length = 0;
  void go(r, 'MASTER');
  await sleep(20);
  void r.peerDead({ peer: { id: 'lb3', host: '198.51.100.13', port: 12345 }, state: 'MASTER' } as never);
  void go(r, 'MASTER', 'MASTER');
  await r.idle();
  t.ok(log.includes('a:onPeerDead:PEER:done'), 'a peer death of the state the node stays in still runs');
});

t.test('timeout cuts off a plugin that ignores its signal; retries use the backoff; outcomes recorded', async (t) => {
  const log: Log = [];
  const hang = recorder('hang', log, () => new Promise<void>(() => undefined));
  const outcomes: ActionOutcome[] = [];
  const r = runner([hang({ timeoutMs: 50, retries: 1 })], { outcomes });
  await r.init();
  const t0 = Date.now();
  void go(r, 'MASTER');
  await r.idle();
  const took = Date.now() - t0;
  t.equal(log.filter((l) => l.endsWith(':start')).length, 2, 'first attempt plus one retry');
  t.ok(took >= 100 && took < 1500, `both attempts cut off at their timeout (${took} ms)`);
  t.equal(outcomes.length, 1);
  t.match(outcomes[0], { action: 'hang', hook: 'onMaster', ok: false, attempts: 2, error: 'timed out after 50ms' });

  const flaky = recorder('flaky', [], async (_h, _e, attempt) => {
    if (attempt < 3) throw new Error(`attempt ${attempt} failed`);
  });
  const o2: ActionOutcome[] = [];
  const r2 = runner([flaky({ retries: 2 })], { outcomes: o2 });
  await r2.init();
  void go(r2, 'MASTER');
  await r2.idle();
  t.match(o2[0], { ok: true, attempts: 3 }, 'succeeds on the third attempt');
});

t.test('a required action that keeps failing on MASTER reports a required failure; not on BACKUP', async (t) => {
  const log: Log = [];
  const times: Times = new Map();
  const failing = recorder('eip', [], async () => {
    await sleep(30);
    throw new Error('API down');
  }, times);
  const failing2 = recorder('eip2', [], async () => {
    await sleep(40);
    throw new Error('API down too');
  });
  const waiting = recorder('notify', log, async () => undefined, times);
  const alongside = recorder('alias', log, () => sleep(60), times);
  const reasons: string[] = [];
  const outcomes: ActionOutcome[] = [];
  const r = runner([failing({ required: true }), failing2({ required: true }), waiting({ after: ['eip'] }), alongside()], { onRequiredFailure: (x) => reasons.push(x), outcomes });
  await r.init();
  void go(r, 'MASTER');
  await r.idle();
  t.same(reasons, ['required action eip failed'], 'reported once, for the first required failure');
  t.notOk(log.includes('notify:onMaster:MASTER:start'), 'an action waiting on it is skipped: the node gives the instance up');
  t.ok(log.includes('alias:onMaster:MASTER:done'), 'an action already running finishes');
  t.same(outcomes.map((o) => [o.action, o.ok]), [['eip', false], ['eip2', false], ['alias', true]]);
  void go(r, 'BACKUP', 'MASTER');
  await r.idle();
  t.same(reasons.length, 1, 'no required failure on BACKUP');
  t.ok(log.includes('notify:onBackup:BACKUP:done'), 'on BACKUP the waiting action runs after the failed one');
  t.ok(span(times, 'notify:onBackup:BACKUP').start >= span(times, 'eip:onBackup:BACKUP').end);
});

t.test('daemons: a required action failing on the MASTER moves it to FAULT and a peer takes over', async (t) => {
  const c = new LocalCluster({
    nodes: 2,
    intervalMs: 100,
    firstHost: 101,
    instanceExtras: (i) =>
      i === 0 ? { actions: [{ plugin: 'notify', notifyMaster: '/bin/false', required: true, retries: 0, timeout: '2s' }] } : {},
  });
  t.teardown(() => c.destroy());
  await c.prepare();
  await c.start(c.nodes[0]!);
  await c.start(c.nodes[1]!);
  const lab1 = c.nodes[0]!;
  await c.waitFor('lab1 FAULT after its required action failed', 10_000, async () => {
    const s = await c.status(lab1);
    return s?.instances[0]?.state === 'FAULT' ? s : undefined;
  });
  await c.waitFor('lab2 MASTER', 5000, async () => ((await c.masters()).join() === 'lab2' ? true : undefined));
  const s = (await c.status(lab1))!.instances[0]!;
  t.match(s.actions.find((a) => a.hook === 'onMaster'), { action: 'notify', ok: false });
  t.same(await c.masters(), ['lab2'], 'the peer holds the IP');
});
