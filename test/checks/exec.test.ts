/**
 * The exec check: exit codes, keepalived-style argv, environment, process-group kill on timeout.
 */
import t from 'tap';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireEnv, PROMPT_MS } from '../lib/env.js';
import exec from '../../plugins/exec/index.js';
import { splitCommand } from '../../plugins/exec/argv.js';
import { CheckRunner, scheduleCheck } from '../../src/plugins/check-runner.js';
import { alive, removeDir, tempDir, waitFor } from '../lib/checks/lab.js';
import { parse, parseIssues, runCheck } from '../lib/checks/run-check.js';

function abortAfter(ms: number): AbortSignal {
  const ac = new AbortController();
  setTimeout(() => ac.abort(new Error(`timed out after ${ms}ms`)), ms);
  return ac.signal;
}

t.test('splitCommand: keepalived-style words and quotes, no shell', async (t) => {
  t.same(splitCommand('/usr/bin/check'), ['/usr/bin/check']);
  t.same(splitCommand('  a   b\tc  '), ['a', 'b', 'c']);
  t.same(splitCommand(`sh -c 'echo "$HOME" | wc -c'`), ['sh', '-c', 'echo "$HOME" | wc -c']);
  t.same(splitCommand(`say "hello world" "a \\"quoted\\" word" x\\ y`), ['say', 'hello world', 'a "quoted" word', 'x y']);
  t.same(splitCommand(`a"b c"d ''`), ['ab cd', '']);
  t.same(splitCommand(`"C:\\dir"`), ['C:dir'], 'a backslash escapes the next character inside double quotes too (as keepalived; see test/keepalived/keepalived-format.test.ts)');
  t.throws(() => splitCommand('echo "unterminated'), /unterminated " quote at character 6/);
  t.throws(() => splitCommand("echo 'x"), /unterminated ' quote/);
  t.throws(() => splitCommand('   '), /empty command/);
  t.throws(() => splitCommand('x \\'), /trailing backslash/);
});

t.test('exit codes', async (t) => {
  const ok = await runCheck(exec, { command: 'true' });
  t.same(ok, { ok: true, detail: 'true exit 0', metrics: { exitCode: 0 } });
  const three = await runCheck(exec, { command: `sh -c 'echo first; echo "service down" >&2; exit 3'` });
  t.same(three, { ok: false, detail: 'sh exit 3: service down', metrics: { exitCode: 3 } });
  const args = await runCheck(exec, { command: `printf '%s|' "a b" 'c d' e` });
  t.equal(args.detail, 'printf exit 0: a b|c d|e|', 'quotes group words; no shell is involved');
  const noShell = await runCheck(exec, { command: 'echo $HOME;' });
  t.equal(noShell.detail, 'echo exit 0: $HOME;', 'no shell: $ and ; are plain characters');
  const sig = await runCheck(exec, { command: `sh -c 'kill -KILL $$'` });
  t.same(sig, { ok: false, detail: 'sh killed by SIGKILL' });
  t.same(await runCheck(exec, { command: '/nonexistent/check-web' }), { ok: false, detail: '/nonexistent/check-web: command not found' });
  const dir = tempDir('exec-noexec');
  t.teardown(() => removeDir(dir));
  const script = join(dir, 'not-executable.sh');
  writeFileSync(script, '#!/bin/sh\nexit 0\n', { mode: 0o644 });
  t.same(await runCheck(exec, { command: script }), { ok: false, detail: `${script}: permission denied (not executable?)` });
});

t.test('timeout kills the whole process group, grandchildren included', async (t) => {
  const dir = tempDir('exec-kill');
  t.teardown(() => removeDir(dir));
  const pids = join(dir, 'pids');
  // The child starts a grandchild that ignores SIGTERM, records both pids, and waits.
  const command = `sh -c 'trap "" TERM; sleep 30 & echo $$ $! > ${pids}; wait'`;
  const t0 = Date.now();
  const r = await runCheck(exec, { command }, { signal: abortAfter(400) });
  t.equal(r.ok, false);
  t.equal(r.detail, 'sh: killed with its process group (timed out after 400ms)');
  t.ok(Date.now() - t0 < PROMPT_MS, 'returned soon after the kill grace, not after the 30 s sleep');
  t.ok(existsSync(pids), 'the script ran');
  const [child, grandchild] = readFileSync(pids, 'utf8').trim().split(' ').map(Number) as [number, number];
  t.ok(grandchild > 0);
  await waitFor(`child ${child} and grandchild ${grandchild} gone`, () => !alive(child) && !alive(grandchild), 3000);
  t.pass('child and grandchild are gone');
});

t.test('processes left behind by a finished command are killed', async (t) => {
  const dir = tempDir('exec-leftover');
  t.teardown(() => removeDir(dir));
  const pidFile = join(dir, 'pid');
  const r = await runCheck(exec, { command: `sh -c 'sleep 30 > /dev/null 2>&1 & echo $! > ${pidFile}; echo started'` });
  t.same(r, { ok: true, detail: 'sh exit 0: started', metrics: { exitCode: 0 } });
  const pid = Number(readFileSync(pidFile, 'utf8'));
  await waitFor(`leftover ${pid} gone`, () => !alive(pid), 3000);
  t.pass('leftover background process killed');
});

t.test('environment: IPWARDEN_CHECK, IPWARDEN_INSTANCE and env', async (t) => {
  const config = parse(exec, { command: `sh -c 'echo "$IPWARDEN_CHECK/$IPWARDEN_INSTANCE/$FOO"'`, env: { FOO: 'bar' } });
  const runner = new CheckRunner([scheduleCheck(exec, config, { name: 'mycheck', instance: 'web' })]);
  const [snap] = await runner.runOnce();
  await runner.stop();
  t.equal(snap!.lastResult!.detail, 'sh exit 0: mycheck/web/bar');
});

t.test('user', { skip: requireEnv({ root: true }) }, async (t) => {
  const r = await runCheck(exec, { command: `sh -c 'echo $(id -u):$USER'`, user: 'nobody' });
  t.same(r, { ok: true, detail: 'sh exit 0: 65534:nobody', metrics: { exitCode: 0 } });
  const byUid = await runCheck(exec, { command: 'id -u', user: 65534 });
  t.equal(byUid.detail, 'id exit 0: 65534');
  const unknown = await runCheck(exec, { command: 'true', user: 'no-such-user-ipw' });
  t.same(unknown, { ok: false, detail: 'cannot run as user no-such-user-ipw: unknown user "no-such-user-ipw"' });
});

t.test('config', async (t) => {
  t.match(parseIssues(exec, { command: 'echo "x' }), ['command: unterminated " quote at character 6']);
  t.match(parseIssues(exec, {}), [/^command: required/]);
  t.match(parseIssues(exec, { command: 'true', env: { 'BAD-NAME': 'x' } }), [/^env.BAD-NAME: not a valid environment variable name/]);
  t.match(parseIssues(exec, { command: 'true', script: 'x' }), [/^script: unknown key/]);
});
