/**
 * The action runner: config order, one transition at a time, newest wins, timeouts that cut off a
 * plugin ignoring its signal, retries through the retry helper, required actions; and, with real
 * daemons, a required action failing on MASTER hands the IP to a peer.
 */
import t from 'tap';
import { ActionRunner, type ScheduledAction, type ActionOutcome } from '../../src/plugins/action-runner.js';
import { defineAction, type ActionHandlers, type InstanceState, type TransitionEvent } from '../../src/plugins/api.js';
import { LocalCluster, sleep } from '../../src/lab/local-cluster.js';

type Log = string[];

/** A real plugin whose hooks record what they saw and behave as told. */
function recorder(name: string, log: Log, behave: (hook: string, e: TransitionEvent, attempt: number) => Promise<void> = async () => undefined) {
  let attempts = 0;
  const impl = defineAction<Record<string, never>>({
    kind: 'action',
    name,
    parseConfig: () => ({ ok: true, config: {} }),
    create(): ActionHandlers {
      const hook = (h: string) => async (e: TransitionEvent) => {
        attempts++;
        log.push(`${name}:${h}:${e.to}:start`);
        await behave(h, e, attempts);
        log.push(`${name}:${h}:${e.to}:done`);
      };
      return { onMaster: hook('onMaster'), onBackup: hook('onBackup'), onFault: hook('onFault'), onStop: hook('onStop') };
    },
  });
  return (over: Partial<ScheduledAction> = {}): ScheduledAction => ({ name, plugin: name, timeoutMs: 1000, retries: 0, required: false, impl, config: {}, ...over });
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

t.test('actions run in config order, one transition at a time', async (t) => {
  const log: Log = [];
  const slow = recorder('a', log, () => sleep(30));
  const fast = recorder('b', log);
  const r = runner([slow(), fast()]);
  await r.init();
  void go(r, 'MASTER');
  await r.idle();
  t.same(log, ['a:onMaster:MASTER:start', 'a:onMaster:MASTER:done', 'b:onMaster:MASTER:start', 'b:onMaster:MASTER:done']);
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
  const failing = recorder('eip', [], async () => {
    throw new Error('API down');
  });
  const later: Log = [];
  const after = recorder('after', later);
  const reasons: string[] = [];
  const r = runner([failing({ required: true }), after()], { onRequiredFailure: (x) => reasons.push(x) });
  await r.init();
  void go(r, 'MASTER');
  await r.idle();
  t.same(reasons, ['required action eip failed']);
  t.same(later, [], 'later actions do not run after a required failure on MASTER');
  void go(r, 'BACKUP', 'MASTER');
  await r.idle();
  t.same(reasons.length, 1, 'no required failure on BACKUP');
  t.ok(later.includes('after:onBackup:BACKUP:done'));
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
