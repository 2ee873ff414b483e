/**
 * The pieces of scripts mode that need no keepalived: keepalived's argv splitting, notify
 * argument and FIFO line parsing, coalescing, which transition an event runs, invocation stamps, the lock file and the state store.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { ArgvError, quoteForKeepalivedConf, splitCommand } from '../../src/util/argv.js';
import { formatFifoLine, notifyArgs, parseFifoLine, parseNotifyArgs } from '../../src/keepalived/protocol.js';
import { coalesce, toDispatch, type Dispatch } from '../../src/keepalived/fifo-consumer.js';
import { compareStamps, currentBootId, ownStamp, processStartTicks } from '../../src/keepalived/stamp.js';
import { FileLock, isStaleHolder } from '../../src/keepalived/lock.js';
import { instanceFileName, StateStore } from '../../src/keepalived/state.js';
import { describeTransition, eventState, runnerTransition } from '../../src/keepalived/transition.js';
import type { InstanceState } from '../../src/plugins/api.js';
import { ROOT } from '../lib/env.js';

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'ipw-kproto-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('splitCommand: keepalived 2.2 alloc_strvec_quoted_escaped rules', async (t) => {
  t.same(splitCommand('/usr/bin/check'), ['/usr/bin/check']);
  t.same(splitCommand(' a\tb\fc\vd\re\nf '), ['a', 'b', 'c', 'd', 'e', 'f'], 'all of keepalived\'s blanks separate');
  t.same(splitCommand(`sh -c 'echo "$HOME" | wc -c'`), ['sh', '-c', 'echo "$HOME" | wc -c'], 'no shell: $ and | are plain characters');
  t.same(splitCommand(`a"b c"d '' ""`), ['ab cd', '', ''], 'quotes inside words; empty quoted words');
  t.same(splitCommand(`"C:\\dir" 'it\\'s' "x\\"y"`), ['C:dir', "it's", 'x"y'], 'a backslash escapes inside both quote kinds');
  t.same(splitCommand('\\x41\\x4a\\x414 \\101\\0601 \\cA\\cz \\a\\b\\E\\f\\n\\r\\t\\v \\q\\ z \\c'), ['AJ\x14', 'A01', '\x01\x1a', '\x07\x08\x1b\x0c\n\r\t\x0b', 'q z', 'c'], 'hex (all digits, low 8 bits), octal (3 digits), control, named escapes; \\c at the end is c');
  t.same(splitCommand('a\\c b'), ['a'], '\\c takes the next character even a blank: \\c<space> is NUL, which ends the word');
  t.same(splitCommand('\\xc3\\xa9t\\xc3\\xa9 caf\u00e9'), ['été', 'café'], 'bytes make UTF-8');
  t.same(splitCommand('ab\\0cd ef'), ['ab', 'ef'], 'a NUL ends the word (C string)');
  t.throws(() => splitCommand('echo "unterminated'), new ArgvError('unterminated " quote at character 6'));
  t.throws(() => splitCommand("echo 'x"), /unterminated ' quote at character 6/);
  t.throws(() => splitCommand('x \\'), /trailing backslash/);
  t.throws(() => splitCommand(' \t '), /empty command/);
  for (const s of ['/bin/x "a b" \\"c', `it's "quoted" \\ back\\slash\nnewline`]) {
    t.equal(quoteForKeepalivedConf(s).startsWith('"'), true);
    t.same(splitCommand(quoteForKeepalivedConf(s))[0], s.replace(/\n/g, '\n'), `quoteForKeepalivedConf round-trips ${JSON.stringify(s)}`);
  }
});

t.test('notify arguments and FIFO lines', async (t) => {
  t.same(notifyArgs({ name: 'VI_1', state: 'MASTER', priority: 100 }), ['INSTANCE', 'VI_1', 'MASTER', '100']);
  t.equal(formatFifoLine({ name: 'VI_1', state: 'BACKUP', priority: 100 }), 'INSTANCE "VI_1" BACKUP 100\n');
  t.equal(formatFifoLine({ kind: 'GROUP', name: 'G', state: 'MASTER_RX_LOWER_PRI', priority: 0 }), 'GROUP "G" MASTER_RX_LOWER_PRI 0\n');

  t.same(parseNotifyArgs(['INSTANCE', 'VI_1', 'MASTER', '100']), { ok: true, message: { kind: 'INSTANCE', name: 'VI_1', state: 'MASTER', priority: 100 } });
  t.same(parseNotifyArgs(['GROUP', 'G1', 'DELETED', '0']), { ok: true, message: { kind: 'GROUP', name: 'G1', state: 'DELETED', priority: 0 } });
  t.match(parseNotifyArgs(['INSTANCE', 'VI_1', 'MASTER']), { ok: false, problem: /expected 4 arguments.*got 3/ });
  t.match(parseNotifyArgs(['VS', 'VI_1', 'MASTER', '1']), { ok: false, problem: /first argument: expected INSTANCE or GROUP, got "VS"/ });
  t.match(parseNotifyArgs(['INSTANCE', 'VI_1', 'master', '1']), { ok: false, problem: /third argument: expected MASTER, BACKUP, FAULT, STOP, DELETED, got "master"/ });
  t.match(parseNotifyArgs(['INSTANCE', 'VI_1', 'MASTER', '256']), { ok: false, problem: /fourth argument: expected a priority 0..255, got "256"/ });

  t.same(parseFifoLine('INSTANCE "VI_1" MASTER 100'), { ok: true, message: { kind: 'INSTANCE', name: 'VI_1', state: 'MASTER', priority: 100 } });
  t.same(parseFifoLine('GROUP "my group" BACKUP 0\r'), { ok: true, message: { kind: 'GROUP', name: 'my group', state: 'BACKUP', priority: 0 } });
  t.same(parseFifoLine('INSTANCE "odd "name"" FAULT 7'), { ok: true, message: { kind: 'INSTANCE', name: 'odd "name"', state: 'FAULT', priority: 7 } }, 'keepalived does not escape quotes in names');
  t.match(parseFifoLine('VS [192.168.201.15]:tcp:80 UP'), { ok: false, why: 'ignored' });
  t.match(parseFifoLine('RS [192.168.201.16]:tcp:80 [192.168.201.15]:tcp:80 DOWN'), { ok: false, why: 'ignored' });
  t.match(parseFifoLine('INSTANCE "VI_1" SLEEPING 100'), { ok: false, why: 'invalid', reason: /unknown state "SLEEPING"/ });
  t.match(parseFifoLine('INSTANCE VI_1 MASTER 100'), { ok: false, why: 'invalid' }, 'the FIFO quotes names');
  t.match(parseFifoLine(''), { ok: false, why: 'invalid' });
});

t.test('toDispatch and coalesce: last state per instance, in order of the last lines', async (t) => {
  const d = (name: string, state: string, priority = 100) => toDispatch({ kind: 'INSTANCE', name, state: state as never, priority });
  t.equal(d('A', 'MASTER_PRIORITY'), undefined, 'priority changes do nothing');
  t.equal(d('A', 'BACKUP_PRIORITY'), undefined);
  t.match(d('A', 'MASTER_RX_LOWER_PRI'), { to: 'MASTER', reassert: true });
  t.match(d('A', 'DELETED'), { to: 'STOP', reassert: false });
  const burst = [d('A', 'BACKUP'), d('B', 'MASTER'), d('A', 'MASTER'), d('A', 'BACKUP'), d('C', 'FAULT'), d('A', 'MASTER', 90)] as Dispatch[];
  t.same(coalesce(burst).map((x) => `${x.name}:${x.to}:${x.priority}`), ['B:MASTER:100', 'C:FAULT:100', 'A:MASTER:90']);
  t.same(coalesce([]), []);
});

t.test('stamps: process start time orders invocations; pid breaks ties; other boots are older', async (t) => {
  const me = ownStamp();
  t.equal(me.pid, process.pid);
  t.equal(me.boot, currentBootId());
  t.ok(me.boot.length > 0, 'boot id from /proc');
  t.equal(me.start, processStartTicks(process.pid));
  const later = spawnSync(process.execPath, ['-e', 'console.log(require("fs").readFileSync("/proc/self/stat","utf8"))'], { encoding: 'utf8' });
  const laterStart = Number(later.stdout.slice(later.stdout.lastIndexOf(')') + 2).split(' ')[19]);
  t.ok(compareStamps(me, { ...me, start: laterStart, pid: 1 }) < 0, 'a process started later is newer');
  t.ok(compareStamps({ ...me, pid: 10 }, { ...me, pid: 11 }) < 0, 'same tick: lower pid first');
  t.equal(compareStamps(me, { ...me }), 0);
  t.ok(compareStamps({ ...me, boot: 'old-boot', start: 1e12 }, me) < 0, 'a stamp from another boot is older');
  t.equal(processStartTicks(2 ** 22 + 12345), undefined, 'no such process');
});

t.test('lock: exclusive; stale holders (dead, pid reused, other boot) are taken over; release only our own', async (t) => {
  const dir = tmp(t);
  const path = join(dir, 'x.lock');
  const a = FileLock.tryAcquire(path);
  t.ok(a, 'free lock taken');
  t.equal(FileLock.tryAcquire(path), undefined, 'held by a live process (this one)');
  a!.release();
  a!.release();
  t.notOk(existsSync(path), 'released');

  const dead = spawnSync('true').pid!;
  writeFileSync(path, JSON.stringify({ pid: dead, start: 1, boot: currentBootId() }));
  t.ok(isStaleHolder(readFileSync(path, 'utf8')), 'dead pid');
  const b = FileLock.tryAcquire(path);
  t.ok(b, 'a dead holder\'s lock is taken over');
  b!.release();

  writeFileSync(path, JSON.stringify({ pid: process.pid, start: (processStartTicks(process.pid) ?? 0) + 5, boot: currentBootId() }));
  t.ok(isStaleHolder(readFileSync(path, 'utf8')), 'same pid, other start time: the pid was reused');
  writeFileSync(path, JSON.stringify({ pid: process.pid, start: processStartTicks(process.pid), boot: 'another-boot' }));
  t.ok(isStaleHolder(readFileSync(path, 'utf8')), 'another boot');
  writeFileSync(path, 'garbage');
  t.ok(isStaleHolder('garbage'), 'unreadable content');
  const c = FileLock.tryAcquire(path);
  t.ok(c);
  writeFileSync(path, JSON.stringify({ pid: process.pid, start: processStartTicks(process.pid), boot: currentBootId(), other: 1 }));
  c!.release();
  t.ok(existsSync(path), 'release leaves a lock that is no longer ours');

  rmSync(path);
  const held = FileLock.tryAcquire(path)!;
  const t0 = Date.now();
  const waited = FileLock.acquire(path, { timeoutMs: 60_000 });
  setTimeout(() => held.release(), 200);
  t.ok(await waited, 'acquire waits for the release');
  t.ok(Date.now() - t0 >= 190);
  await t.rejects(FileLock.acquire(path, { timeoutMs: 150 }), /still locked after 150 ms by \{"pid":/);
  let stop = false;
  setTimeout(() => (stop = true), 100);
  t.equal(await FileLock.acquire(path, { timeoutMs: 60_000, giveUp: () => stop }), undefined, 'giveUp ends the wait');
});

t.test('lock: processes contending for a stale lock never hold it together', async (t) => {
  const dir = tmp(t);
  const path = join(dir, 'c.lock');
  const log = join(dir, 'log');
  writeFileSync(path, JSON.stringify({ pid: spawnSync('true').pid, start: 1, boot: currentBootId() }));
  const lockModule = join(ROOT, 'dist/src/keepalived/lock.js');
  t.ok(existsSync(lockModule), 'built (npm run build)');
  const code = `
    import { FileLock } from ${JSON.stringify(lockModule)};
    import { appendFileSync } from 'node:fs';
    for (let i = 0; i < 4; i++) {
      const l = await FileLock.acquire(${JSON.stringify(path)}, { timeoutMs: 20000 });
      appendFileSync(${JSON.stringify(log)}, 'in ' + process.pid + '\\n');
      await new Promise((r) => setTimeout(r, 15));
      appendFileSync(${JSON.stringify(log)}, 'out ' + process.pid + '\\n');
      l.release();
    }`;
  const procs = Array.from({ length: 5 }, () => spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: 'inherit' }));
  await Promise.all(procs.map((p) => new Promise((r) => p.on('exit', r))));
  const lines = readFileSync(log, 'utf8').trim().split('\n');
  t.equal(lines.length, 40, 'every process got the lock 4 times');
  let overlaps = 0;
  for (let i = 0; i < lines.length; i += 2) {
    const [a, b] = [lines[i]!.split(' '), lines[i + 1]!.split(' ')];
    if (a[0] !== 'in' || b[0] !== 'out' || a[1] !== b[1]) overlaps++;
  }
  t.equal(overlaps, 0, 'in/out pairs never interleave');
});

t.test('state store: newest registration wins; records of another boot are dropped', async (t) => {
  const dir = tmp(t);
  const store = new StateStore(join(dir, 'state'));
  store.prepare();
  const s = ownStamp();
  const older = { ...s, start: s.start - 10 };
  t.equal(await store.register('VI_1', { stamp: s, state: 'MASTER', priority: 100 }), undefined, 'first registration');
  t.match(await store.register('VI_1', { stamp: older, state: 'BACKUP', priority: 100 }), { state: 'MASTER' }, 'an older invocation is told about the newer one');
  t.equal(await store.register('VI_1', { stamp: s, state: 'MASTER', priority: 100 }), undefined, 'the same invocation again (a --detach worker)');
  t.match(store.newerThan('VI_1', older), { state: 'MASTER' });
  t.equal(store.newerThan('VI_1', s), undefined);
  await store.recordApplied('VI_1', { stamp: s, state: 'MASTER', priority: 100, at: 1, ok: true });
  t.match(store.read('VI_1'), { latest: { state: 'MASTER' }, applied: { state: 'MASTER', ok: true } });
  writeFileSync(join(dir, 'state', 'VI_2.json'), JSON.stringify({ latest: { stamp: { ...s, boot: 'old' }, state: 'MASTER', priority: 1 } }));
  t.same(store.read('VI_2'), {}, 'a previous boot\'s record is void');
  t.equal(instanceFileName('VI_1'), 'VI_1');
  t.equal(instanceFileName('../a b'), '..%2Fa%20b', 'names cannot leave the directory');
});

t.test('runnerTransition: every state runs its actions; only MASTER_RX_LOWER_PRI after a MASTER re-claims', async (t) => {
  const table = (remembered: InstanceState) =>
    (['MASTER', 'BACKUP', 'FAULT', 'STOP', 'DELETED', 'MASTER_RX_LOWER_PRI'] as const).map((e) => {
      const r = runnerTransition(remembered, e);
      return `${e}:${r.from}->${r.to}${r.reclaim ? ' reclaim' : ''}`;
    });
  t.same(table('INIT'), ['MASTER:INIT->MASTER', 'BACKUP:INIT->BACKUP', 'FAULT:INIT->FAULT', 'STOP:INIT->STOP', 'DELETED:INIT->STOP', 'MASTER_RX_LOWER_PRI:INIT->MASTER']);
  t.same(
    table('MASTER'),
    ['MASTER:INIT->MASTER', 'BACKUP:MASTER->BACKUP', 'FAULT:MASTER->FAULT', 'STOP:MASTER->STOP', 'DELETED:MASTER->STOP', 'MASTER_RX_LOWER_PRI:MASTER->MASTER reclaim'],
    'a MASTER after MASTER is keepalived back as MASTER: the MASTER actions in full (from INIT), never MASTER -> MASTER',
  );
  t.same(table('BACKUP'), ['MASTER:BACKUP->MASTER', 'BACKUP:BACKUP->BACKUP', 'FAULT:BACKUP->FAULT', 'STOP:BACKUP->STOP', 'DELETED:BACKUP->STOP', 'MASTER_RX_LOWER_PRI:BACKUP->MASTER']);
  t.match(describeTransition('MASTER', 'MASTER', runnerTransition('MASTER', 'MASTER')), /MASTER again .*restarted or crashed/);
  t.match(describeTransition('BACKUP', 'MASTER_RX_LOWER_PRI', runnerTransition('BACKUP', 'MASTER_RX_LOWER_PRI')), /MASTER actions have not run since BACKUP: running them in full/);
  t.match(describeTransition('MASTER', 'MASTER_RX_LOWER_PRI', runnerTransition('MASTER', 'MASTER_RX_LOWER_PRI')), /re-claiming as MASTER/);
  for (const e of ['BACKUP', 'FAULT', 'STOP'] as const) t.equal(eventState(e), e);
  t.equal(eventState('DELETED'), 'STOP');
  t.equal(eventState('MASTER_RX_LOWER_PRI'), 'MASTER');
});
