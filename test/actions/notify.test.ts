/**
 * The notify action with real scripts and real FIFOs: what runs with which argv, the FIFO line,
 * a FIFO nobody reads (never blocks), timeouts and supersede killing the whole process group,
 * failures, running as another user. (Byte-for-byte equality with keepalived itself is checked
 * in test/keepalived/keepalived-format.test.ts.)
 */
import t from 'tap';
import { chmodSync, closeSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Socket } from 'node:net';
import { execFileSync } from 'node:child_process';
import { requireEnv, PROMPT_MS } from '../lib/env.js';
import { silentLogger } from '../../src/log.js';
import notify, { notifyPlan, type NotifyConfig } from '../../plugins/notify/index.js';
import type { ActionHandlers, InstanceState, TransitionEvent } from '../../src/plugins/api.js';
import { readArgvRecords, waitFor, writeArgvLogger } from '../keepalived/lib/keepalived.js';

const ENV = { baseDir: '/etc/ipwarden', resolveSecret: (r: string) => r };
const INSTANCE = { name: 'web', address: '198.51.100.50' };

function parse(raw: Record<string, unknown>): NotifyConfig {
  const r = notify.parseConfig(raw, ENV);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.config;
}

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'ipw-notify-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function handlers(t: { teardown(fn: () => unknown): void }, raw: Record<string, unknown>): Promise<ActionHandlers> {
  const h = await notify.create({ config: parse(raw), log: silentLogger, instance: INSTANCE, node: { id: 'n1' } });
  t.teardown(() => h.close?.());
  return h;
}

function event(to: InstanceState, opts: { from?: InstanceState; priority?: number; signal?: AbortSignal } = {}): TransitionEvent {
  return { instance: INSTANCE, node: { id: 'n1' }, from: opts.from ?? 'BACKUP', to, priority: opts.priority ?? 150, reason: 'test', signal: opts.signal ?? new AbortController().signal };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

t.test('parseConfig: scripts split like keepalived, errors name the key', async (t) => {
  const c = parse({ notify: `/usr/local/bin/n "a b"`, notifyMaster: '/bin/m', fifo: 'run/k.fifo', scriptTimeout: '5s', user: 'nobody' });
  t.same(c.scripts.notify, { command: '/usr/local/bin/n "a b"', argv: ['/usr/local/bin/n', 'a b'] });
  t.equal(c.fifo, '/etc/ipwarden/run/k.fifo', 'relative FIFO paths are relative to the config file');
  t.equal(c.scriptTimeoutMs, 5000);
  t.equal(c.user, 'nobody');
  t.match(notify.parseConfig({ notifyMaster: '/bin/x "open' }, ENV), { ok: false, issues: [{ path: ['notifyMaster'], message: /unterminated " quote at character 8/ }] });
  t.match(notify.parseConfig({}, ENV), { ok: false, issues: [{ message: /expected at least one of notify, notifyMaster, .*fifo/ }] });
  t.match(notify.parseConfig({ notify: '/bin/x', scriptTimeout: 'soon' }, ENV), { ok: false, issues: [{ path: ['scriptTimeout'] }] });
  t.match(notify.parseConfig({ notify_master: '/bin/x' }, ENV), { ok: false, issues: [{ path: ['notify_master'], message: /unknown key/ }] });
  t.match(notify.parseConfig({ notifyMaster: '   ' }, ENV), { ok: false, issues: [{ path: ['notifyMaster'], message: /empty command/ }] });
});

t.test('notifyPlan: which scripts, in which order, with which argv', async (t) => {
  const c = parse({ notify: '/bin/n x', notifyMaster: '/bin/m', notifyBackup: '/bin/b', notifyMasterRxLowerPri: '/bin/rx', fifo: '/run/f' });
  t.same(notifyPlan(c, 'web', { from: 'BACKUP', to: 'MASTER', priority: 150 }), {
    runs: [
      { key: 'notifyMaster', argv: ['/bin/m'] },
      { key: 'notify', argv: ['/bin/n', 'x', 'INSTANCE', 'web', 'MASTER', '150'] },
    ],
    fifoLine: 'INSTANCE "web" MASTER 150\n',
  }, 'the state script first, then notify with the 4 keepalived arguments');
  t.same(notifyPlan(c, 'web', { from: 'MASTER', to: 'FAULT', priority: 0 }), {
    runs: [{ key: 'notify', argv: ['/bin/n', 'x', 'INSTANCE', 'web', 'FAULT', '0'] }],
    fifoLine: 'INSTANCE "web" FAULT 0\n',
  }, 'no notifyFault: only notify');
  t.same(notifyPlan(c, 'web', { from: 'MASTER', to: 'MASTER', priority: 150 }), {
    runs: [{ key: 'notifyMasterRxLowerPri', argv: ['/bin/rx'] }],
    fifoLine: 'INSTANCE "web" MASTER_RX_LOWER_PRI 150\n',
  }, 'a re-claim as MASTER is keepalived\'s MASTER_RX_LOWER_PRI');
  t.same(notifyPlan(c, 'web', { from: 'INIT', to: 'INIT', priority: 1 }), { runs: [] });
});

t.test('scripts run with keepalived argv; a failing script fails the action', async (t) => {
  const dir = tmp(t);
  const logger = writeArgvLogger(join(dir, 'log.sh'));
  for (const d of ['n', 'm', 's']) mkdirSync(join(dir, d));
  const h = await handlers(t, { notify: `${logger} ${dir}/n 'one two'`, notifyMaster: `${logger} ${dir}/m`, notifyStop: `${logger} ${dir}/s` });
  await h.onMaster!(event('MASTER', { priority: 120 }));
  await h.onStop!(event('STOP', { from: 'MASTER', priority: 120 }));
  t.same(readArgvRecords(join(dir, 'm')), [[logger, `${dir}/m`]], 'notifyMaster: nothing appended');
  t.same(readArgvRecords(join(dir, 's')), [[logger, `${dir}/s`]], 'notifyStop: nothing appended');
  t.same(readArgvRecords(join(dir, 'n')), [
    [logger, `${dir}/n`, 'one two', 'INSTANCE', 'web', 'MASTER', '120'],
    [logger, `${dir}/n`, 'one two', 'INSTANCE', 'web', 'STOP', '120'],
  ], 'notify: INSTANCE <name> <STATE> <priority> appended');

  const bad = await handlers(t, { notifyBackup: `/bin/sh -c 'echo cannot reach api >&2; exit 3'`, notify: '/nonexistent/script' });
  await t.rejects(bad.onBackup!(event('BACKUP')), /notifyBackup: sh exit 3: cannot reach api; notify: \/nonexistent\/script: command not found/);
});

t.test('scriptTimeout and supersede kill the whole process group', async (t) => {
  const dir = tmp(t);
  // The script starts a grandchild in the background and waits: both must die.
  const script = `/bin/sh -c 'sleep 30 & echo $! > "$0"; wait' ${dir}/grandchild.pid`;
  const h = await handlers(t, { notifyMaster: script, scriptTimeout: '300ms' });
  const started = Date.now();
  await t.rejects(h.onMaster!(event('MASTER')), /notifyMaster: sh: killed with its process group \(timed out\) after scriptTimeout 300ms/);
  t.ok(Date.now() - started < PROMPT_MS, `gave up after ${Date.now() - started} ms, not after the script's 30 s`);
  const pid = Number(readFileSync(join(dir, 'grandchild.pid'), 'utf8'));
  t.ok(await waitFor(() => !alive(pid), 20_000), 'the background grandchild was killed too');

  const ac = new AbortController();
  const h2 = await handlers(t, { notifyBackup: script });
  const run = h2.onBackup!(event('BACKUP', { signal: ac.signal }));
  await waitFor(() => existsSync(join(dir, 'grandchild.pid')) && Number(readFileSync(join(dir, 'grandchild.pid'), 'utf8')) !== pid, 20_000);
  const pid2 = Number(readFileSync(join(dir, 'grandchild.pid'), 'utf8'));
  ac.abort(new Error('superseded by MASTER'));
  await t.rejects(run, /killed with its process group \(superseded by MASTER\)/);
  t.ok(await waitFor(() => !alive(pid2), 20_000), 'superseded: the grandchild was killed');
});

t.test('fifo: keepalived line format; never blocks without a reader; full pipe is an error', async (t) => {
  const dir = tmp(t);
  const path = join(dir, 'notify.fifo');
  const h = await notify.create({ config: parse({ fifo: path }), log: silentLogger, instance: INSTANCE, node: { id: 'n1' } });
  const started = Date.now();
  await h.onMaster!(event('MASTER', { priority: 99 }));
  await h.onBackup!(event('BACKUP', { priority: 98 }));
  t.ok(Date.now() - started < PROMPT_MS, 'no reader: the writes did not wait for one');
  t.ok(existsSync(path), 'the FIFO was created (mkfifo), as keepalived does');
  // A reader that comes later gets what was written meanwhile (the writer keeps the pipe open, like keepalived).
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const reader = new Socket({ fd, readable: true, writable: false });
  let got = '';
  reader.on('data', (d) => (got += String(d)));
  const expected = 'INSTANCE "web" MASTER 99\nINSTANCE "web" BACKUP 98\n';
  await waitFor(() => got.length >= expected.length, 20_000);
  t.equal(got, expected);
  reader.destroy();
  await h.close!();
  t.notOk(existsSync(path), 'close() removes the FIFO it created, as keepalived does');

  // Fill a FIFO nobody reads, then the action must fail at once instead of blocking the daemon.
  const full = join(dir, 'full.fifo');
  execFileSync('mkfifo', [full]);
  const hold = openSync(full, constants.O_RDWR | constants.O_NONBLOCK);
  t.teardown(() => closeSync(hold));
  const chunk = Buffer.alloc(4096, 0x78);
  for (let i = 0; i < 1024; i++) {
    try {
      writeSync(hold, chunk);
    } catch {
      break;
    }
  }
  const h2 = await handlers(t, { fifo: full });
  const t0 = Date.now();
  await t.rejects(h2.onMaster!(event('MASTER')), /full\.fifo: FIFO full: no reader is draining it/);
  t.ok(Date.now() - t0 < PROMPT_MS, 'failed at once');
  t.ok(existsSync(full), 'a FIFO it did not create is left in place');

  writeFileSync(join(dir, 'plain'), '');
  const h3 = await handlers(t, { fifo: join(dir, 'plain') });
  await t.rejects(h3.onMaster!(event('MASTER')), /plain: exists and is not a FIFO/);
});

const skipRoot = requireEnv({ root: true });
t.test('user: scripts run as that user', { skip: skipRoot }, async (t) => {
  const dir = tmp(t);
  chmodSync(dir, 0o777);
  const h = await handlers(t, { notifyMaster: `/bin/sh -c 'id -u > "$0"; echo "$HOME $USER" >> "$0"' ${dir}/who`, user: 'nobody' });
  await h.onMaster!(event('MASTER'));
  const [uid, env] = readFileSync(join(dir, 'who'), 'utf8').trim().split('\n');
  t.equal(uid, '65534');
  t.match(env, / nobody$/);
  const nope = await handlers(t, { notifyMaster: '/bin/true', user: 'no-such-user-here' });
  await t.rejects(nope.onMaster!(event('MASTER')), /cannot run scripts as user no-such-user-here: unknown user/);
});

t.test('doctor: script programs and the FIFO path', async (t) => {
  const dir = tmp(t);
  chmodSync(dir, 0o755);
  const script = join(dir, 'hook.sh');
  writeFileSync(script, '#!/bin/sh\n');
  chmodSync(script, 0o755);
  const fifoDir = join(dir, 'run');
  const findings = await notify.doctor!({ config: parse({ notify: `${script} a`, notifyMaster: '/nonexistent/hook', fifo: join(fifoDir, 'k.fifo') }), log: silentLogger, instance: INSTANCE, node: { id: 'n1' }, signal: AbortSignal.timeout(10_000) });
  t.match(findings.find((f) => f.item === `script ${script}`), { detail: /executable|owned|writable/ });
  t.match(findings.find((f) => f.item === 'script /nonexistent/hook'), { ok: false, detail: 'does not exist' });
  t.match(findings.find((f) => f.item.startsWith('notify FIFO')), { ok: false, detail: /directory .*run does not exist/ });
  mkdirSync(fifoDir);
  const again = await notify.doctor!({ config: parse({ fifo: join(fifoDir, 'k.fifo') }), log: silentLogger, instance: INSTANCE, node: { id: 'n1' }, signal: AbortSignal.timeout(10_000) });
  t.same(again, [{ ok: true, item: `notify FIFO ${join(fifoDir, 'k.fifo')}`, detail: 'missing: created at the first state change' }]);
});
