/**
 * The example third-party plugin, loaded the way the daemon loads `plugins:` entries (loader.ts)
 * and run against real processes.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPlugins } from '../../../src/plugins/loader.js';
import type { CheckPlugin, CheckResult } from '../../../src/plugins/api.js';
import { silentLogger } from '../../../src/log.js';
import { resolveSecret } from '../../../src/config/secret.js';
import { CheckRunner, scheduleCheck } from '../../../src/plugins/check-runner.js';

const here = dirname(fileURLToPath(import.meta.url));

t.test('process-running plugin, loaded through plugins:', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ipwarden-contrib-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // As a config in `here/..` would list it: a path relative to the config file's directory.
  const registry = await loadPlugins(['./process-running/index.mjs'], join(here, '..'));
  const plugin = registry.checks.get('process-running') as CheckPlugin<{ pidfile: string; name?: string }> | undefined;
  if (!plugin) throw new Error('process-running not loaded');
  t.equal(plugin.kind, 'check');

  const env = { baseDir: dir, resolveSecret: (ref: string, where: string) => resolveSecret(ref, where, { baseDir: dir }) };
  const parse = (raw: Record<string, unknown>) => {
    const r = plugin.parseConfig(raw, env);
    if (!r.ok) throw new Error(JSON.stringify(r.issues));
    return r.config;
  };
  const run = (raw: Record<string, unknown>): Promise<CheckResult> =>
    plugin.run({ config: parse(raw), signal: AbortSignal.timeout(2000), log: silentLogger });

  const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.teardown(() => sleeper.kill('SIGKILL'));
  const pid = sleeper.pid!;
  writeFileSync(join(dir, 'app.pid'), `${pid}\n`);

  t.same(await run({ pidfile: 'app.pid' }), { ok: true, detail: `pid ${pid} (sleep) is running` }, 'relative to the config dir');
  t.same(await run({ pidfile: join(dir, 'app.pid'), name: 'sleep' }), { ok: true, detail: `pid ${pid} (sleep) is running` });
  t.same(await run({ pidfile: 'app.pid', name: 'haproxy' }), { ok: false, detail: `pid ${pid} (${join(dir, 'app.pid')}) is sleep, not haproxy` });

  // Through the scheduler, as the daemon runs it.
  const runner = new CheckRunner([scheduleCheck(plugin, parse({ pidfile: 'app.pid' }), { intervalMs: 50, rise: 1, fall: 1, initialState: 'ok' })]);
  runner.start();
  t.teardown(() => runner.stop());
  const changed = once(runner, 'change');
  sleeper.kill('SIGKILL');
  await once(sleeper, 'exit');
  const [snap] = (await changed) as [{ state: string; lastResult: CheckResult }];
  t.equal(snap.state, 'fail');
  t.equal(snap.lastResult.detail, `pid ${pid} (${join(dir, 'app.pid')}) is not running`);
  await runner.stop();

  t.same(await run({ pidfile: 'missing.pid' }), { ok: false, detail: `${join(dir, 'missing.pid')}: no such file` });
  writeFileSync(join(dir, 'bad.pid'), 'haproxy\n');
  t.same(await run({ pidfile: 'bad.pid' }), { ok: false, detail: `${join(dir, 'bad.pid')}: expected a pid, got "haproxy"` });

  const bad = plugin.parseConfig({ pidfle: 'x', name: 'a/b' }, env);
  t.same(bad, {
    ok: false,
    issues: [
      { path: ['pidfle'], message: 'unknown key (allowed: pidfile, name)' },
      { path: ['pidfile'], message: 'required (expected a file path)' },
      { path: ['name'], message: 'expected a process name like "haproxy"' },
    ],
  });
});
