/**
 * The check scheduler: timeouts that plugins ignore, throwing plugins, garbage results, no
 * concurrent runs, rise/fall hysteresis, config resolution.
 */
import t from 'tap';
import { Writable } from 'node:stream';
import { z } from 'zod';
import type { CheckContext, CheckPlugin, CheckResult } from '../../src/plugins/api.js';
import { zodConfig } from '../../src/plugins/zod-config.js';
import { createLogger } from '../../src/log.js';
import {
  CheckRunner,
  scheduleCheck,
  toScheduledCheck,
  whyNotCheckResult,
  type CheckSnapshot,
  type ScheduledCheck,
} from '../../src/plugins/check-runner.js';
import { sleep, waitFor } from '../lib/checks/lab.js';
import { PROMPT_MS } from '../lib/env.js';

/** A check with the given run function and scheduling (rise/fall 1, initial state ok unless given). */
function check(name: string, run: (ctx: CheckContext<unknown>) => Promise<CheckResult> | CheckResult, s: Partial<ScheduledCheck> = {}): ScheduledCheck {
  const impl: CheckPlugin<unknown> = {
    kind: 'check',
    name,
    parseConfig: () => ({ ok: true, config: {} }),
    run: async (ctx) => run(ctx),
  };
  return { name, plugin: name, intervalMs: 1000, timeoutMs: 1000, rise: 1, fall: 1, weight: 0, reverse: false, initialState: 'ok', impl, config: {}, ...s };
}

/** A plugin returning the outcomes of `script` in turn ("T" pass, "F" fail). */
function scripted(script: string, s: Partial<ScheduledCheck> = {}) {
  let i = 0;
  return check('scripted', () => {
    const ok = script[i++] === 'T';
    return { ok, detail: `run ${i}: ${ok ? 'pass' : 'fail'}` };
  }, s);
}

t.test('a hung plugin that ignores its signal is cut off at the timeout', async (t) => {
  let calls = 0;
  let release!: () => void;
  let sawAbort = false;
  const runner = new CheckRunner([
    check('hung', (ctx) => {
      calls++;
      if (calls > 1) return { ok: true, detail: 'answers again' };
      ctx.signal.addEventListener('abort', () => (sawAbort = true));
      return new Promise((resolve) => (release = () => resolve({ ok: true, detail: 'finally (ignored)' })));
    }, { timeoutMs: 100 }),
  ]);
  t.teardown(() => runner.stop());
  const t0 = Date.now();
  const [first] = await runner.runOnce();
  const took = Date.now() - t0;
  t.ok(took >= 90 && took < 1000, `cut off at the timeout (${took}ms)`);
  t.equal(first!.lastResult!.ok, false);
  t.equal(first!.lastResult!.detail, 'timed out after 100ms');
  t.equal(first!.state, 'fail');
  t.ok(sawAbort, 'the signal was aborted');

  const [second] = await runner.runOnce();
  t.equal(calls, 1, 'not started again while the first run is still pending');
  t.match(second!.lastResult!.detail, /^previous run still running after \d+ms \(the plugin ignores its abort signal\)$/);
  t.equal(second!.consecutive, 2);

  release();
  await sleep(10);
  const [third] = await runner.runOnce();
  t.equal(calls, 2, 'runs again once the hung run settled');
  t.equal(third!.lastResult!.detail, 'answers again');
  t.equal(third!.state, 'ok');
});

t.test('throwing plugins and garbage results are failures with the reason', async (t) => {
  const syncThrow: CheckPlugin<unknown> = {
    kind: 'check',
    name: 'sync-throw',
    parseConfig: () => ({ ok: true, config: {} }),
    run: () => {
      throw new Error('boom\nsecond line');
    },
  };
  const checks: ScheduledCheck[] = [
    { ...check('x', () => ({ ok: true, detail: '' })), name: 'sync', plugin: 'sync-throw', impl: syncThrow },
    check('reject', () => Promise.reject(new TypeError('cannot read x'))),
    check('string-throw', () => {
      throw 'just a string';
    }),
    check('undefined', () => undefined as unknown as CheckResult),
    check('null', () => null as unknown as CheckResult),
    check('okstring', () => ({ ok: 'yes', detail: 'x' }) as unknown as CheckResult),
    check('nodetail', () => ({ ok: true }) as unknown as CheckResult),
    check('fine', () => ({ ok: true, detail: 'fine\nmultiline', metrics: { n: 1 } })),
  ];
  const runner = new CheckRunner(checks);
  const snap = await runner.runOnce();
  await runner.stop();
  const byName = Object.fromEntries(snap.map((s) => [s.name, s.lastResult!]));
  t.same(
    Object.fromEntries(Object.entries(byName).map(([k, v]) => [k, [v.ok, v.detail]])),
    {
      sync: [false, 'plugin sync-throw threw: boom second line'],
      reject: [false, 'plugin reject threw: cannot read x'],
      'string-throw': [false, 'plugin string-throw threw: just a string'],
      undefined: [false, 'plugin undefined returned an invalid result (got undefined); expected {ok: boolean, detail: string}'],
      null: [false, 'plugin null returned an invalid result (got null); expected {ok: boolean, detail: string}'],
      okstring: [false, 'plugin okstring returned an invalid result ("ok" is string, not boolean); expected {ok: boolean, detail: string}'],
      nodetail: [false, 'plugin nodetail returned an invalid result ("detail" is undefined, not string); expected {ok: boolean, detail: string}'],
      fine: [true, 'fine multiline'],
    },
  );
  t.same(byName.fine!.metrics, { n: 1 });
  t.equal(whyNotCheckResult({ ok: false, detail: 'x' }), undefined);
});

t.test('a check never runs twice at once', async (t) => {
  let running = 0;
  let maxRunning = 0;
  let calls = 0;
  const runner = new CheckRunner([
    check('slow', async () => {
      calls++;
      running++;
      maxRunning = Math.max(maxRunning, running);
      await sleep(60);
      running--;
      return { ok: true, detail: 'slow' };
    }, { intervalMs: 10, timeoutMs: 500 }),
  ]);
  t.teardown(() => runner.stop());
  const both = await Promise.all([runner.runOnce(), runner.runOnce()]);
  t.equal(calls, 1, 'two runOnce calls at once share one run');
  t.equal(both[0]![0]!.runs, 1);
  runner.start();
  const extra = setInterval(() => void runner.runOnce(), 15);
  await sleep(400);
  clearInterval(extra);
  await runner.stop();
  t.equal(maxRunning, 1, 'never more than one run in flight');
  t.ok(calls >= 4, `kept running back to back (${calls} runs)`);
  const after = calls;
  await sleep(100);
  t.equal(calls, after, 'no runs after stop()');
});

t.test('rise/fall hysteresis', async (t) => {
  const states = async (c: ScheduledCheck, n: number) => {
    const runner = new CheckRunner([c]);
    const changes: string[] = [];
    runner.on('change', (s, prev) => changes.push(`${prev}->${s.state}@${s.runs}`));
    let out = '';
    for (let i = 0; i < n; i++) out += (await runner.runOnce())[0]!.state === 'ok' ? 'o' : 'f';
    await runner.stop();
    return { out, changes };
  };
  // initialState fail (keepalived init_fail): needs `rise` passes; then `fall` failures in a row.
  t.same(await states(scripted('TTFTFFTFTT', { rise: 2, fall: 2, initialState: 'fail' }), 10), {
    out: 'fooooffffo',
    changes: ['fail->ok@2', 'ok->fail@6', 'fail->ok@10'],
  });
  // Alternating results never settle with rise 2 / fall 2.
  t.same(await states(scripted('TFTFTFTF', { rise: 2, fall: 2, initialState: 'fail' }), 8), { out: 'ffffffff', changes: [] });
  t.same(await states(scripted('TFTFTFTF', { rise: 2, fall: 2 }), 8), { out: 'oooooooo', changes: [] });
  // initialState ok (keepalived default): the first result decides at once, even with fall 3.
  t.same(await states(scripted('FTTF', { rise: 2, fall: 3 }), 4), { out: 'ffoo', changes: ['ok->fail@1', 'fail->ok@3'] });
  // ... but after a first pass, failures need `fall` in a row.
  t.same(await states(scripted('TFFTFFF', { rise: 1, fall: 3 }), 7), { out: 'oooooof', changes: ['ok->fail@7'] });
});

t.test('reverse inverts results before rise/fall', async (t) => {
  const runner = new CheckRunner([
    scripted('FTT', { reverse: true, rise: 1, fall: 2 }),
    { ...check('hung', () => new Promise<CheckResult>(() => {}), { reverse: true, timeoutMs: 50 }) },
  ]);
  const [a1, h1] = await runner.runOnce();
  t.equal(a1!.state, 'ok');
  t.same([a1!.lastResult!.ok, a1!.lastResult!.detail], [true, 'run 1: fail (reverse: counts as passing)']);
  t.same([h1!.state, h1!.lastResult!.detail], ['ok', 'timed out after 50ms (reverse: counts as passing)']);
  const [a2] = await runner.runOnce();
  t.equal(a2!.state, 'ok', 'one failure, fall 2');
  const [a3] = await runner.runOnce();
  t.equal(a3!.state, 'fail');
  t.equal(a3!.reverse, true);
  await runner.stop();
});

t.test('snapshot, events and a listener that throws', async (t) => {
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', destination: new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }) });
  const runner = new CheckRunner([scripted('TF', { weight: -20, instance: 'web' })], { log });
  t.same(runner.snapshot()[0], {
    name: 'scripted', plugin: 'scripted', instance: 'web', state: 'ok', lastResult: null, consecutive: 0,
    weight: -20, reverse: false, runs: 0, since: runner.snapshot()[0]!.since,
  });
  runner.on('change', () => {
    throw new Error('listener bug');
  });
  const results: CheckSnapshot[] = [];
  runner.on('result', (s) => results.push(s));
  await runner.runOnce();
  const [s] = await runner.runOnce();
  await runner.stop();
  t.equal(s!.state, 'fail');
  t.equal(s!.lastResult!.detail, 'run 2: fail');
  t.type(s!.lastResult!.latencyMs, 'number');
  t.ok(Math.abs(s!.lastResult!.at - Date.now()) < 5000);
  t.equal(results.length, 2);
  t.ok(lines.some((l) => l.includes('check scripted is failing: run 2: fail') && l.includes('"level":"warn"')));
  t.ok(lines.some((l) => l.includes("a 'change' listener threw")));
  await t.rejects(runner.runOnce(), /stopped/);
});

t.test('schedule: interval between starts, with injected clock and timers', async (t) => {
  let mono = 0;
  const delays: number[] = [];
  const pending: (() => void)[] = [];
  const timers = {
    setTimeout: (fn: () => void, ms: number) => {
      delays.push(ms);
      pending.push(fn);
      return fn;
    },
    clearTimeout: (h: unknown) => {
      const i = pending.indexOf(h as () => void);
      if (i >= 0) pending.splice(i, 1);
    },
  };
  const runner = new CheckRunner(
    [check('takes30', () => {
      mono += 30;
      return { ok: true, detail: 'ok' };
    }, { intervalMs: 100, timeoutMs: 80 })],
    { clock: { now: () => 1_700_000_000_000 + mono, monotonic: () => mono }, timers },
  );
  runner.start();
  t.same(delays, [0], 'first run at once');
  pending.shift()!(); // start the run: arms the timeout timer
  t.same(delays, [0, 80], 'timeout armed');
  await waitFor('first run done', () => runner.snapshot()[0]!.runs === 1);
  await sleep(1);
  t.same(delays, [0, 80, 70], 'next start 100ms after the previous start (the run took 30ms)');
  t.equal(runner.snapshot()[0]!.lastResult!.latencyMs, 30);
  t.equal(runner.snapshot()[0]!.lastResult!.at, 1_700_000_000_000);
  await runner.stop();
  t.same(pending, [], 'stop() cleared the timers');
});

t.test('stop() does not wait for a hung plugin', async (t) => {
  const runner = new CheckRunner([check('hung', () => new Promise<CheckResult>(() => {}), { intervalMs: 50, timeoutMs: 10_000 })]);
  runner.start();
  await sleep(50);
  const t0 = Date.now();
  await runner.stop();
  t.ok(Date.now() - t0 < PROMPT_MS, 'stopped promptly');
  t.equal(runner.snapshot()[0]!.runs, 0, 'the aborted run is not counted');
  t.throws(() => runner.start(), /already stopped/);
});

t.test('scheduleCheck and toScheduledCheck', async (t) => {
  const plugin: CheckPlugin<{ target: string }> = {
    kind: 'check',
    name: 'probe',
    parseConfig: zodConfig(z.object({ target: z.string() }).strict()),
    run: async () => ({ ok: true, detail: '' }),
  };
  t.match(scheduleCheck(plugin, { target: 'a' }), {
    name: 'probe', plugin: 'probe', intervalMs: 1000, timeoutMs: 1000, rise: 2, fall: 3, weight: 0, reverse: false, initialState: 'fail', config: { target: 'a' },
  }, 'defaults are the config schema\'s');
  t.match(scheduleCheck(plugin, { target: 'a' }, { name: 'b', intervalMs: 500, instance: 'web' }), { name: 'b', intervalMs: 500, timeoutMs: 500, instance: 'web' });
  const resolved = scheduleCheck(plugin as CheckPlugin<unknown>, { target: 'x' }, { name: 'p1', intervalMs: 250, timeoutMs: 100 });
  t.same(toScheduledCheck(resolved, 'db'), { ...resolved, instance: 'db' }, 'tagged with its instance');
  t.equal(toScheduledCheck(resolved), resolved);
  t.throws(() => new CheckRunner([check('dup', () => ({ ok: true, detail: '' })), check('dup', () => ({ ok: true, detail: '' }))]), /duplicate check name "dup"/);
  t.doesNotThrow(() => new CheckRunner([check('dup', () => ({ ok: true, detail: '' }), { instance: 'a' }), check('dup', () => ({ ok: true, detail: '' }), { instance: 'b' })]));
});
