/**
 * `ipwarden notify` as keepalived runs it (the built CLI, real processes): both argv forms, errors,
 * ordering of overlapping invocations (the later one's state wins whatever order they arrive
 * in), supersede, signals, stale locks and --detach.
 */
import t, { type Test } from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { execa } from 'execa';
import { CLI } from '../lib/env.js';
import { waitFor } from './lib/keepalived.js';

interface Setup {
  dir: string;
  rc: string;
  stateDir: string;
  /** Lines "start STATE pid" / "end STATE pid" written by the action script. */
  events(): string[];
  /** The state the last finished script wrote. */
  final(): string | undefined;
  applied(): { state: string; ok: boolean; superseded?: boolean } | undefined;
}

/** Deadline for a condition: generous, so a busy machine only makes the test slower, never red. */
const WAIT = 60_000;

/**
 * An rc file whose VI_1 action records start/end of each run; each run takes `delay` seconds (`delays`:
 * per state). `gated`: each run also waits for the file `go` in the directory (at most a minute).
 */
function setup(t: Test, delay = 0.3, opts: { delays?: Record<string, number>; gated?: boolean } = {}): Setup {
  const dir = mkdtempSync(join(tmpdir(), 'ipw-notifycmd-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const script = join(dir, 'record.sh');
  const cases = Object.entries(opts.delays ?? {}).map(([state, d]) => `${state}) d=${d};; `).join('');
  const gate = opts.gated ? `n=0; while [ ! -e ${dir}/go ] && [ $n -lt 1200 ]; do sleep 0.05; n=$((n+1)); done\n` : '';
  // $1..$4 = INSTANCE VI_1 STATE PRIO (keepalived's notify arguments)
  writeFileSync(script, `#!/bin/sh\necho "start $3 $$" >> ${dir}/events\ncase "$3" in ${cases}*) d=${delay};; esac\n${gate}sleep $d\necho "$3" > ${dir}/final\necho "end $3 $$" >> ${dir}/events\n`);
  chmodSync(script, 0o755);
  const rc = join(dir, 'rc.yaml');
  writeFileSync(
    rc,
    [
      'log: { level: debug, format: json }',
      'keepalived:',
      '  instances:',
      '    VI_1:',
      '      address: 198.51.100.50',
      '      actions:',
      `        - { plugin: notify, retries: 0, notify: ${script} }`,
      '    VI_2:',
      '      address: 198.51.100.51',
      '      actions:',
      "        - { plugin: notify, retries: 0, notifyMaster: \"/bin/sh -c 'exit 7'\" }",
      '',
    ].join('\n'),
  );
  const stateDir = join(dir, 'state');
  const read = (f: string) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8') : undefined);
  return {
    dir,
    rc,
    stateDir,
    events: () => (read('events') ?? '').trim().split('\n').filter(Boolean),
    final: () => read('final')?.trim(),
    applied: () => {
      const p = join(stateDir, 'VI_1.json');
      return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as { applied?: { state: string; ok: boolean } }).applied : undefined;
    },
  };
}

function cliArgs(s: Setup, args: string[], log = 'log'): string[] {
  return [CLI, 'notify', ...args, '--config', s.rc, '--state-dir', s.stateDir, '--log-file', join(s.dir, log)];
}

function start(s: Setup, args: string[], opts: { log?: string; env?: NodeJS.ProcessEnv; detached?: boolean } = {}): ChildProcess {
  const child = spawn(process.execPath, cliArgs(s, args, opts.log), { stdio: 'ignore', env: { ...process.env, ...opts.env }, detached: opts.detached ?? false });
  return child;
}

async function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const [code] = (await once(child, 'exit')) as [number | null];
  return code;
}

/** Whether a process (a script an invocation started) still exists. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function logLines(s: Setup, log = 'log'): { msg: string; event?: string; [k: string]: unknown }[] {
  const p = join(s.dir, log);
  if (!existsSync(p)) return [];
  return readFileSync(p, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

t.test('both argv forms run the instance actions; from/to follow the recorded state', async (t) => {
  const s = setup(t, 0);
  const a = await execa(process.execPath, cliArgs(s, ['INSTANCE', 'VI_1', 'MASTER', '100']), { reject: false });
  t.equal(a.exitCode, 0, a.stderr);
  t.equal(s.final(), 'MASTER');
  const b = await execa(process.execPath, cliArgs(s, ['--instance', 'VI_1', '--state', 'backup', '--priority', '90']), { reject: false });
  t.equal(b.exitCode, 0, b.stderr);
  t.equal(s.final(), 'BACKUP');
  const transitions = logLines(s).filter((l) => l.event === 'transition').map((l) => `${l.from}->${l.to}:${l.priority}`);
  t.same(transitions, ['INIT->MASTER:100', 'MASTER->BACKUP:90']);
  t.match(s.applied(), { state: 'BACKUP', ok: true });
  const del = await execa(process.execPath, cliArgs(s, ['INSTANCE', 'VI_1', 'DELETED', '90']), { reject: false });
  t.equal(del.exitCode, 0);
  t.equal(s.final(), 'STOP', 'DELETED runs the STOP actions');
});

t.test('every MASTER runs notifyMaster and notify, also after a MASTER; only --state MASTER_RX_LOWER_PRI re-claims', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ipw-notifymaster-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const events = join(dir, 'events');
  const rec = (what: string) => JSON.stringify(`/bin/sh -c 'echo "${what}" >> ${events}' --`);
  const rc = join(dir, 'rc.yaml');
  writeFileSync(
    rc,
    [
      'log: { level: debug, format: json }',
      'keepalived:',
      '  instances:',
      '    VI_1:',
      '      address: 198.51.100.50',
      '      actions:',
      `        - { plugin: notify, retries: 0, notifyMaster: ${rec('master')}, notifyBackup: ${rec('backup')}, notifyMasterRxLowerPri: ${rec('rx')}, notify: ${rec('notify $3')} }`,
      '',
    ].join('\n'),
  );
  const stateDir = join(dir, 'state');
  const log = join(dir, 'log');
  const seen = () => (existsSync(events) ? readFileSync(events, 'utf8').trim().split('\n').filter(Boolean).sort() : []);
  const notify = async (args: string[]) => {
    rmSync(events, { force: true });
    const r = await execa(process.execPath, [CLI, 'notify', ...args, '--config', rc, '--state-dir', stateDir, '--log-file', log], { reject: false });
    t.equal(r.exitCode, 0, `notify ${args.join(' ')}: ${r.stderr}`);
    return seen();
  };
  const both = ['master', 'notify MASTER'];
  t.same(await notify(['INSTANCE', 'VI_1', 'MASTER', '100']), both, 'MASTER: notifyMaster and notify');
  // keepalived restarted without a notify_stop, or crashed, and is MASTER again: ipwarden still remembers MASTER.
  t.same(await notify(['INSTANCE', 'VI_1', 'MASTER', '100']), both, 'MASTER again (keepalived argv): notifyMaster and notify again');
  t.same(await notify(['--instance', 'VI_1', '--state', 'MASTER', '--priority', '100']), both, 'MASTER again (notify_master line): the same');
  t.same(await notify(['--instance', 'VI_1', '--state', 'MASTER_RX_LOWER_PRI', '--priority', '100']), ['rx'], 'MASTER_RX_LOWER_PRI after MASTER: only the re-claim script');
  t.same(await notify(['--instance', 'VI_1', '--state', 'backup']), ['backup', 'notify BACKUP']);
  t.same(await notify(['--instance', 'VI_1', '--state', 'master_rx_lower_pri']), both, 'MASTER_RX_LOWER_PRI after BACKUP: the MASTER actions in full');
  const transitions = readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { event?: string; from?: string; to?: string; keepalived?: string; msg: string })
    .filter((l) => l.event === 'transition');
  t.same(
    transitions.map((l) => `${l.keepalived}:${l.from}->${l.to}`),
    ['MASTER:INIT->MASTER', 'MASTER:INIT->MASTER', 'MASTER:INIT->MASTER', 'MASTER_RX_LOWER_PRI:MASTER->MASTER', 'BACKUP:MASTER->BACKUP', 'MASTER_RX_LOWER_PRI:BACKUP->MASTER'],
  );
  t.match(transitions[1]?.msg, /keepalived MASTER again \(it left MASTER unreported: restarted or crashed\)/);
  t.match(transitions[3]?.msg, /re-claiming as MASTER/);
});

t.test('errors: usage (exit 2), config (exit 3), a failing action (exit 1)', async (t) => {
  const s = setup(t, 0);
  const run = (args: string[]) => execa(process.execPath, [CLI, 'notify', ...args], { reject: false });
  let r = await run(['INSTANCE', 'VI_1', 'MASTER']);
  t.equal(r.exitCode, 2);
  t.match(r.stderr, /expected 4 arguments INSTANCE\|GROUP NAME STATE PRIORITY .*got 3/);
  r = await run(['--instance', 'VI_1']);
  t.equal(r.exitCode, 2);
  t.match(r.stderr, /--state is required with --instance/);
  r = await run(['--instance', 'VI_1', '--state', 'UP']);
  t.match(r.stderr, /--state: expected MASTER, BACKUP, FAULT, STOP, DELETED, MASTER_RX_LOWER_PRI, got "UP"/);
  r = await run(['INSTANCE', 'VI_1', 'MASTER_RX_LOWER_PRI', '100']);
  t.equal(r.exitCode, 2, 'keepalived never passes MASTER_RX_LOWER_PRI to a notify script');
  t.match(r.stderr, /third argument: expected MASTER, BACKUP, FAULT, STOP, DELETED, got "MASTER_RX_LOWER_PRI"/);
  r = await run(['INSTANCE', 'VI_1', 'MASTER', '1', '--instance', 'VI_1']);
  t.match(r.stderr, /either INSTANCE NAME STATE PRIORITY .* or --instance\/--state, not both/);
  r = await run(['INSTANCE', 'VI_3', 'MASTER', '100', '--config', s.rc, '--state-dir', s.stateDir]);
  t.equal(r.exitCode, 3);
  t.match(r.stderr, /no keepalived.instances.VI_3 in .*rc.yaml \(did you mean "VI_1"\?\); configured: VI_1, VI_2/);
  const plain = join(s.dir, 'plain.yaml');
  writeFileSync(plain, 'secret: env:X\ninstances:\n  web: { address: 198.51.100.9 }\n');
  r = await run(['INSTANCE', 'VI_1', 'MASTER', '100', '--config', plain]);
  t.equal(r.exitCode, 3);
  t.match(r.stderr, /no keepalived.instances section|env:X|X/);
  r = await execa(process.execPath, cliArgs(s, ['INSTANCE', 'VI_2', 'MASTER', '100']), { reject: false });
  t.equal(r.exitCode, 1, 'the action failed');
  t.match(logLines(s).find((l) => l.event === 'applied')?.msg, /INIT -> MASTER: failed: notify/);
});

for (const [first, second] of [['BACKUP', 'MASTER'], ['MASTER', 'BACKUP']] as const) {
  t.test(`${first} then ${second} 100 ms later: ends in ${second}`, async (t) => {
    const s = setup(t, 0.3);
    const a = start(s, ['INSTANCE', 'VI_1', first, '100'], { log: 'a.log' });
    await new Promise((r) => setTimeout(r, 100));
    const b = start(s, ['INSTANCE', 'VI_1', second, '100'], { log: 'b.log' });
    t.equal(await exitOf(a), 0);
    t.equal(await exitOf(b), 0);
    t.equal(s.final(), second, `events: ${s.events().join(', ')}`);
    t.match(s.applied(), { state: second, ok: true });
    t.notOk(s.events().some((e) => e.startsWith(`end ${first}`)) && s.events().indexOf(`end ${first}`) > s.events().findIndex((e) => e.startsWith(`end ${second}`)), `the earlier ${first} never finished after ${second}`);
  });
}

t.test('the later invocation arrives first (slow start of the earlier one): the earlier one is dropped', async (t) => {
  const s = setup(t, 0.1);
  const delay = join(s.dir, 'delay.mjs');
  // Loaded before the CLI: holds the BACKUP invocation until MASTER's actions have run (at most a minute).
  writeFileSync(
    delay,
    [
      "import { existsSync, readFileSync } from 'node:fs';",
      `const final = ${JSON.stringify(join(s.dir, 'final'))};`,
      'for (let i = 0; i < 3000 && !(existsSync(final) && readFileSync(final, "utf8").trim() === "MASTER"); i++) await new Promise((r) => setTimeout(r, 20));',
      '',
    ].join('\n'),
  );
  // BACKUP is started first but reaches ipwarden's code only after MASTER has run.
  const a = start(s, ['INSTANCE', 'VI_1', 'BACKUP', '100'], { log: 'a.log', env: { NODE_OPTIONS: `--import=${delay}` } });
  await new Promise((r) => setTimeout(r, 100));
  const b = start(s, ['INSTANCE', 'VI_1', 'MASTER', '100'], { log: 'b.log' });
  t.equal(await exitOf(b), 0);
  t.equal(s.final(), 'MASTER');
  t.equal(await exitOf(a), 0);
  t.equal(s.final(), 'MASTER', 'still MASTER: the stale BACKUP did not run');
  t.notOk(s.events().some((e) => e.startsWith('start BACKUP')), `events: ${s.events().join(', ')}`);
  t.match(logLines(s, 'a.log').find((l) => l.event === 'stale')?.msg, /BACKUP invocation is stale: a newer MASTER invocation/);
});

t.test('supersede: MASTER actions still running when BACKUP arrives are aborted, BACKUP runs', async (t) => {
  // The MASTER script would run far longer than the test waits: only the supersede ends it early.
  const s = setup(t, 0, { delays: { MASTER: 60 } });
  const a = start(s, ['INSTANCE', 'VI_1', 'MASTER', '100'], { log: 'a.log' });
  t.ok(await waitFor(() => s.events().some((e) => e.startsWith('start MASTER')), WAIT), 'MASTER actions running');
  const t0 = Date.now();
  const b = start(s, ['--instance', 'VI_1', '--state', 'BACKUP'], { log: 'b.log' });
  t.equal(await exitOf(a), 0, 'being superseded is not an error') || t.comment(JSON.stringify(logLines(s, 'a.log'), null, 1));
  t.ok(Date.now() - t0 < 50_000, `the MASTER run ended early (${Date.now() - t0} ms), not after its 60 s script`);
  t.equal(await exitOf(b), 0);
  t.equal(s.final(), 'BACKUP');
  t.same(s.events().map((e) => e.split(' ').slice(0, 2).join(' ')), ['start MASTER', 'start BACKUP', 'end BACKUP'], 'the MASTER script was killed before its end');
  t.match(logLines(s, 'a.log').find((l) => l.event === 'superseded')?.msg, /a newer BACKUP invocation .* arrived: aborting the MASTER actions/);
  const masterPid = Number(s.events().find((e) => e.startsWith('start MASTER'))!.split(' ')[2]);
  t.ok(await waitFor(() => !alive(masterPid), WAIT), 'the MASTER script was killed');
});

t.test('SIGTERM aborts a run and releases the lock; a SIGKILLed run leaves a lock the next run takes over', async (t) => {
  const s = setup(t, 60);
  const a = start(s, ['INSTANCE', 'VI_1', 'MASTER', '100'], { log: 'a.log' });
  t.ok(await waitFor(() => s.events().some((e) => e.startsWith('start MASTER')), WAIT));
  a.kill('SIGTERM');
  t.equal(await exitOf(a), 1, 'aborted: exit 1');
  t.notOk(existsSync(join(s.stateDir, 'VI_1.run.lock')), 'lock released');
  t.notOk(s.events().some((e) => e.startsWith('end')), 'the script was killed');

  const b = start(s, ['INSTANCE', 'VI_1', 'BACKUP', '100'], { log: 'b.log' });
  t.ok(await waitFor(() => s.events().some((e) => e.startsWith('start BACKUP')), WAIT));
  b.kill('SIGKILL');
  await exitOf(b);
  // The script b started lives on in its own process group: end it.
  const orphan = Number(s.events().find((e) => e.startsWith('start BACKUP'))!.split(' ')[2]);
  try {
    process.kill(-orphan, 'SIGKILL');
  } catch {
    // gone
  }
  t.ok(existsSync(join(s.stateDir, 'VI_1.run.lock')), 'a killed holder leaves its lock file');
  rmSync(join(s.dir, 'record.sh'));
  writeFileSync(join(s.dir, 'record.sh'), `#!/bin/sh\necho "$3" > ${s.dir}/final\n`);
  chmodSync(join(s.dir, 'record.sh'), 0o755);
  const t0 = Date.now();
  const c = await execa(process.execPath, cliArgs(s, ['INSTANCE', 'VI_1', 'MASTER', '100'], 'c.log'), { reject: false });
  t.equal(c.exitCode, 0);
  t.ok(Date.now() - t0 < 50_000, `the stale lock did not make it wait for --wait (${Date.now() - t0} ms)`);
  t.equal(s.final(), 'MASTER') || t.comment(readFileSync(join(s.dir, 'c.log'), 'utf8'));
});

t.test('--detach: returns at once; the worker finishes even when the caller\'s process group is killed', async (t) => {
  // The action waits for the file `go`: the caller can only return before it finishes if it does not wait for it.
  const s = setup(t, 0, { gated: true });
  // Like keepalived: the script runs in a process group of its own, which keepalived may kill.
  const parent = start(s, ['INSTANCE', 'VI_1', 'MASTER', '100', '--detach'], { detached: true });
  t.equal(await exitOf(parent), 0);
  t.notOk(s.events().some((e) => e.startsWith('end')), 'the caller returned before the actions finished');
  try {
    process.kill(-parent.pid!, 'SIGKILL');
  } catch {
    // the group may be empty already
  }
  writeFileSync(join(s.dir, 'go'), '');
  t.ok(await waitFor(() => s.final() === 'MASTER', WAIT), 'the detached worker ran the actions');
  // The worker records its run, then logs it: wait for the log line.
  await waitFor(() => logLines(s).some((l) => l.worker === true && l.event === 'applied'), WAIT);
  t.match(s.applied(), { state: 'MASTER', ok: true });
  const lines = logLines(s);
  t.match(lines.find((l) => l.event === 'worker')?.msg, new RegExp(`detached worker for the MASTER invocation \\(pid ${parent.pid} `), 'the worker keeps the invocation\'s stamp');
  const worker = lines.find((l) => l.worker === true && l.event === 'applied');
  t.ok(worker, 'the worker logged its run to the same --log-file');
  t.not(worker?.pid, parent.pid);

  // A worker ignores SIGTERM until its run is done. The gate is closed again, so the SIGTERM lands while
  // its action runs (an open gate let the run end before the signal on a busy machine).
  rmSync(join(s.dir, 'go'));
  const p2 = start(s, ['INSTANCE', 'VI_1', 'BACKUP', '100', '--detach']);
  t.equal(await exitOf(p2), 0);
  t.ok(await waitFor(() => logLines(s).some((l) => l.event === 'transition' && l.to === 'BACKUP'), WAIT));
  const wpid = Number(logLines(s).find((l) => l.event === 'transition' && l.to === 'BACKUP')!.pid);
  process.kill(wpid, 'SIGTERM');
  t.ok(await waitFor(() => logLines(s).some((l) => l.event === 'signal' && /detached worker finishes its run first/.test(l.msg)), WAIT), 'the worker logs the SIGTERM and goes on');
  t.not(s.applied()?.state, 'BACKUP', 'its action is still running (gated)');
  writeFileSync(join(s.dir, 'go'), '');
  t.ok(await waitFor(() => s.applied()?.state === 'BACKUP', WAIT), 'finished its run despite SIGTERM');
});

t.test('--detach: a config problem found by the worker lands in --log-file', async (t) => {
  const s = setup(t, 0);
  const parent = start(s, ['INSTANCE', 'VI_9', 'MASTER', '100', '--detach']);
  t.equal(await exitOf(parent), 0, 'the caller cannot know yet');
  t.ok(await waitFor(() => logLines(s).some((l) => l.event === 'config-error'), WAIT));
  t.match(logLines(s).find((l) => l.event === 'config-error'), { level: 'error', worker: true, msg: /no keepalived.instances.VI_9 in .*configured: VI_1, VI_2/ });
});
