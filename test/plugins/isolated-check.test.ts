/**
 * The worker protocol of isolated (third-party) checks: results and logs cross the thread, a busy
 * plugin does not block this event loop, the check timeout terminates a worker that ignores its
 * abort, a crashing worker fails its run with an error naming the plugin, and the next run
 * starts a fresh worker. Real worker threads, a real plugin module on disk.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { IsolatedCheck } from '../../src/plugins/isolation/isolated-check.js';
import { loadPlugins, pluginModuleUrl } from '../../src/plugins/loader.js';
import { CheckRunner, scheduleCheck } from '../../src/plugins/check-runner.js';
import type { CheckContext } from '../../src/plugins/api.js';
import type { Logger } from '../../src/log.js';

const PLUGIN = `export default {
  kind: 'check',
  name: 'moody',
  parseConfig: (raw) => ({ ok: true, config: raw }),
  async run({ config, signal, log, name, instance }) {
    switch (config.mode) {
      case 'busy': {
        const until = Date.now() + config.ms;
        while (Date.now() < until) {}
        return { ok: true, detail: 'busy ' + config.ms + 'ms' };
      }
      case 'abortable':
        await new Promise((r) => (signal.aborted ? r() : signal.addEventListener('abort', r)));
        return { ok: false, detail: 'aborted: ' + signal.reason.message };
      case 'crash':
        setTimeout(() => { throw new Error('boom in a timer'); }, 1);
        return new Promise(() => {});
      case 'exit':
        process.exit(3);
      case 'throw':
        throw new Error('thrown on purpose');
      case 'log':
        log.child({ step: 2 }).warn({ answer: 42 }, 'from the worker');
        return { ok: true, detail: name + '@' + instance, metrics: { answer: 42 } };
      default:
        return { ok: true, detail: 'fine' };
    }
  },
};
`;

const dir = mkdtempSync(join(tmpdir(), 'ipwarden-isolation-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const modulePath = join(dir, 'moody.mjs');
writeFileSync(modulePath, PLUGIN);
const moduleUrl = pathToFileURL(modulePath).href;

interface LogLine {
  level: string;
  bindings: Record<string, unknown>;
  obj: unknown;
  msg: string | undefined;
}
function recordingLog(lines: LogLine[], bindings: Record<string, unknown> = {}): Logger {
  const log: Record<string, unknown> = { child: (more: Record<string, unknown>) => recordingLog(lines, { ...bindings, ...more }) };
  for (const level of ['trace', 'debug', 'info', 'warn', 'error', 'fatal']) log[level] = (obj: unknown, msg?: string) => lines.push({ level, bindings, obj, msg });
  return log as unknown as Logger;
}

function ctx(config: unknown, signal = new AbortController().signal, log: Logger = recordingLog([])): CheckContext<unknown> {
  return { config, signal, log, name: 'c1', instance: 'web' };
}

t.test('a result, its metrics and the plugin log lines cross the thread', async (t) => {
  const iso = new IsolatedCheck('moody', moduleUrl);
  t.teardown(() => iso.close());
  const lines: LogLine[] = [];
  t.same(await iso.run(ctx({ mode: 'log' }, undefined, recordingLog(lines))), { ok: true, detail: 'c1@web', metrics: { answer: 42 } });
  // the plugin's child-logger bindings reach the daemon in the line's object (the plugin API's Logger has no child())
  t.same(lines, [{ level: 'warn', bindings: {}, obj: { step: 2, answer: 42 }, msg: 'from the worker' }]);
  await t.rejects(iso.run(ctx({ mode: 'throw' })), { message: 'thrown on purpose' }, 'a throw is the run error');
  t.same(await iso.run(ctx({ mode: 'ok' })), { ok: true, detail: 'fine' }, 'the worker lives on after a throw');
  t.equal(iso.starts, 1, 'one worker for all these runs');
});

t.test('a plugin busy for 1.5 s does not block this event loop', async (t) => {
  const iso = new IsolatedCheck('moody', moduleUrl);
  t.teardown(() => iso.close());
  await iso.run(ctx({ mode: 'ok' })); // worker started and module loaded
  let worstGap = 0;
  let last = performance.now();
  const ticker = setInterval(() => {
    const now = performance.now();
    worstGap = Math.max(worstGap, now - last);
    last = now;
  }, 10);
  t.teardown(() => clearInterval(ticker));
  t.same(await iso.run(ctx({ mode: 'busy', ms: 1500 })), { ok: true, detail: 'busy 1500ms' });
  clearInterval(ticker);
  t.ok(worstGap < 500, `worst gap between 10 ms ticks while the plugin was busy: ${Math.round(worstGap)} ms`);
});

t.test('an abort the plugin honours settles the run; one it ignores terminates the worker', async (t) => {
  const iso = new IsolatedCheck('moody', moduleUrl, { abortGraceMs: 200 });
  t.teardown(() => iso.close());
  await iso.run(ctx({ mode: 'ok' })); // worker started and module loaded
  const polite = new AbortController();
  const run = iso.run(ctx({ mode: 'abortable' }, polite.signal));
  setTimeout(() => polite.abort(new Error('timed out after 100ms')), 100);
  t.same(await run, { ok: false, detail: 'aborted: timed out after 100ms' });
  t.equal(iso.starts, 1, 'no restart: the plugin stopped by itself');

  const rude = new AbortController();
  const started = performance.now();
  const busy = iso.run(ctx({ mode: 'busy', ms: 10_000 }, rude.signal));
  setTimeout(() => rude.abort(new Error('timed out after 100ms')), 100);
  await t.rejects(busy, { message: /^it was still running 200ms after its abort \(timed out after 100ms\): worker terminated; a new worker starts with the next run$/ });
  const took = performance.now() - started;
  t.ok(took < 3000, `terminated after ${Math.round(took)} ms, not after the plugin's 10 s`);
  t.same(await iso.run(ctx({ mode: 'ok' })), { ok: true, detail: 'fine' }, 'the next run works');
  t.equal(iso.starts, 2, 'in a new worker');
});

t.test('a worker that crashes or exits fails its run with the reason, and is restarted', async (t) => {
  const iso = new IsolatedCheck('moody', moduleUrl);
  t.teardown(() => iso.close());
  await t.rejects(iso.run(ctx({ mode: 'crash' })), { message: 'its worker thread crashed: boom in a timer; a new worker starts with the next run' });
  t.same(await iso.run(ctx({ mode: 'ok' })), { ok: true, detail: 'fine' });
  await t.rejects(iso.run(ctx({ mode: 'exit' })), { message: 'its worker thread exited with code 3; a new worker starts with the next run' });
  t.same(await iso.run(ctx({ mode: 'ok' })), { ok: true, detail: 'fine' });
  t.equal(iso.starts, 3);
});

t.test('a module that does not load, a config that cannot be sent', async (t) => {
  const gone = new IsolatedCheck('moody', pathToFileURL(join(dir, 'missing.mjs')).href);
  t.teardown(() => gone.close());
  await t.rejects(gone.run(ctx({})), { message: /^cannot load the plugin module: Cannot find module/ });
  const renamed = new IsolatedCheck('other', moduleUrl);
  t.teardown(() => renamed.close());
  await t.rejects(renamed.run(ctx({})), { message: /^the module now exports the check plugin "moody", not "other"/ });
  await t.rejects(gone.ready(), { message: /^cannot load the plugin module: Cannot find module/ }, 'ready() says why');
  const hangingPath = join(dir, 'hanging.mjs');
  writeFileSync(hangingPath, 'await new Promise(() => setInterval(() => {}, 1000));\nexport default {};\n');
  const hanging = new IsolatedCheck('moody', pathToFileURL(hangingPath).href, { loadDeadlineMs: 300 });
  t.teardown(() => hanging.close());
  await t.rejects(hanging.ready(), { message: 'its module did not load within 300ms' });
  await t.rejects(hanging.ready(), { message: 'its module did not load within 300ms' }, 'tried again with a new worker');
  t.equal(hanging.starts, 2);
  const iso = new IsolatedCheck('moody', moduleUrl);
  t.teardown(() => iso.close());
  await t.rejects(iso.run(ctx({ mode: 'ok', fn: () => 1 })), { message: /^its config cannot be sent to its worker thread \(.*\); an isolated plugin's parseConfig must return plain data$/ });
});

t.test('the check runner isolates a plugin loaded from a module: timeout, crash and restart as check results', async (t) => {
  const reg = await loadPlugins([modulePath], dir, new Set());
  const plugin = reg.checks.get('moody')!;
  t.equal(pluginModuleUrl(plugin), moduleUrl, 'the loader remembers where the plugin came from');
  const builtin = (await loadPlugins([], dir, new Set(['file']))).checks.get('file')!;
  t.equal(pluginModuleUrl(builtin), undefined, 'a built-in has no module to isolate');

  const busy = new CheckRunner([scheduleCheck(plugin, { mode: 'busy', ms: 5000 }, { name: 'busy', timeoutMs: 300 })]);
  t.teardown(() => busy.stop());
  const started = performance.now();
  const [timedOut] = await busy.runOnce();
  t.match(timedOut!.lastResult, { ok: false, detail: 'timed out after 300ms' });
  t.ok(performance.now() - started < 2000, 'the timeout holds while the plugin busy-loops in its worker');

  // the worker's start-up (import of the module) does not count against a short timeout
  const quick = new CheckRunner([scheduleCheck(plugin, { mode: 'ok' }, { name: 'quick', timeoutMs: 30 })]);
  t.teardown(() => quick.stop());
  const [fine] = await quick.runOnce();
  t.match(fine!.lastResult, { ok: true, detail: 'fine' });

  const crash = new CheckRunner([scheduleCheck(plugin, { mode: 'crash' }, { name: 'crash', timeoutMs: 5000 })]);
  t.teardown(() => crash.stop());
  const [crashed] = await crash.runOnce();
  t.match(crashed!.lastResult, { ok: false, detail: 'plugin moody threw: its worker thread crashed: boom in a timer; a new worker starts with the next run' });
});
