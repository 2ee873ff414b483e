/**
 * The example check plugin, tested the way its author would: through the public entry points only
 * ("ipwarden/testing" runs it as the daemon does), against real processes.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCheck, PluginConfigError } from 'ipwarden/testing';
import plugin from './index.mjs';

t.test('process-running: a live pid, a wrong name, a dead pid, bad pidfiles, bad config', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ipwarden-contrib-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.teardown(() => sleeper.kill('SIGKILL'));
  const pid = sleeper.pid!;
  writeFileSync(join(dir, 'app.pid'), `${pid}\n`);
  const check = (config: Record<string, unknown>) => runCheck(plugin, config, { baseDir: dir });

  t.same(await check({ pidfile: 'app.pid' }), { ok: true, detail: `pid ${pid} (sleep) is running` }, 'relative to the config dir');
  t.same(await check({ pidfile: join(dir, 'app.pid'), name: 'sleep' }), { ok: true, detail: `pid ${pid} (sleep) is running` });
  t.same(await check({ pidfile: 'app.pid', name: 'haproxy' }), { ok: false, detail: `pid ${pid} (${join(dir, 'app.pid')}) is sleep, not haproxy` });
  sleeper.kill('SIGKILL');
  await once(sleeper, 'exit');
  t.same(await check({ pidfile: 'app.pid' }), { ok: false, detail: `pid ${pid} (${join(dir, 'app.pid')}) is not running` });
  t.same(await check({ pidfile: 'missing.pid' }), { ok: false, detail: `${join(dir, 'missing.pid')}: no such file` });
  writeFileSync(join(dir, 'bad.pid'), 'haproxy\n');
  t.same(await check({ pidfile: 'bad.pid' }), { ok: false, detail: `${join(dir, 'bad.pid')}: expected a pid, got "haproxy"` });

  const bad = await check({ pidfle: 'x', name: 'a/b' }).catch((e: unknown) => e);
  t.ok(bad instanceof PluginConfigError, 'a bad config is refused');
  t.match((bad as PluginConfigError).issues, [
    { path: ['pidfile'], message: 'expected a file path' },
    { path: ['name'], message: 'expected a process name like "haproxy"' },
    { path: [], message: /pidfle/ },
  ]);
});

t.test('process-running doctor: the pidfile directory', async (t) => {
  const env = { baseDir: '/', resolveSecret: (r: string) => r };
  const ctx = (pidfile: string) => {
    const r = plugin.parseConfig({ pidfile }, env);
    if (!r.ok) throw new Error('config');
    return { config: r.config, log: console, instance: { name: 'web', address: '198.51.100.10' }, node: { id: 'lb1' }, signal: AbortSignal.timeout(5000) };
  };
  t.match(await plugin.doctor!(ctx('/run/x.pid')), [{ ok: true, item: 'pidfile /run/x.pid' }]);
  t.match(await plugin.doctor!(ctx('/nonexistent-dir/x.pid')), [{ ok: false, detail: 'no directory /nonexistent-dir' }]);
});
