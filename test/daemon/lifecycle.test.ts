/**
 * Lifecycle defects of issue 12, each shown by a test that failed before its fix:
 * 1. an instance that fails to start stops what was started and the process exits non-zero;
 * 2. an engine exception on a timer tick still re-arms the timer; repeated ones mean FAULT;
 * 3. a failed required action is a FAULT cause of its own, lifted by a tracked timer, never
 *    clearing an operator's maintenance mode;
 * 4. reload and stop are serialised; the process always exits after SIGTERM.
 * The shell tests run the real InstanceRunner under a fake clock (test/lib/fake-shell.ts).
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { CLI_ENTRY, freeUdpPort } from '../../src/lab/local-cluster.js';
import { controlRequest } from '../../src/daemon/control.js';
import { ACTION_FAULT_HOLD_PERIODS, ENGINE_ERRORS_TO_FAULT, InstanceRunner, type InstanceSettings } from '../../src/daemon/instance-runner.js';
import { Daemon, type DaemonSettings } from '../../src/daemon/daemon.js';
import { createLogger } from '../../src/log.js';
import { defineAction } from '../../src/plugins/api.js';
import type { ScheduledAction } from '../../src/plugins/action-runner.js';
import { FakeClock, recordingTransport } from '../lib/fake-shell.js';
import { HeartbeatElection } from '../../src/election/heartbeat.js';

const RECORDER = fileURLToPath(new URL('../lib/recorder-action.mjs', import.meta.url));
const silent = createLogger({ level: 'silent' });

function instance(extra: Partial<InstanceSettings> = {}): InstanceSettings {
  return { name: 'web', address: '198.51.100.50', priority: 100, intervalMs: 100, deadRatio: 3, preempt: true, preemptDelayMs: 0, peers: [], checks: [], actions: [], ...extra };
}

/** Lets promise callbacks (action runs) settle: bounded. */
async function until(what: string, pred: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

t.test('1. an instance that fails to start: the started ones run their STOP actions, the process exits non-zero', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ipwarden-life-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freeUdpPort(['127.0.0.91']);
  writeFileSync(join(dir, 'secret'), randomBytes(32).toString('hex'), { mode: 0o600 });
  const rec = join(dir, 'rec.jsonl');
  const config = {
    node: { id: 'n1', bind: `127.0.0.91:${port}`, control: join(dir, 'ctl.sock') },
    secret: `file:${join(dir, 'secret')}`,
    log: { level: 'info', format: 'json' },
    plugins: [RECORDER],
    instances: {
      a: { address: '198.51.100.50', interval: '100ms', peers: [], actions: [{ plugin: 'recorder', file: rec }] },
      b: { address: '198.51.100.51', interval: '100ms', peers: [], actions: [{ plugin: 'recorder', file: rec, failCreate: 'cannot reach the API' }] },
    },
  };
  writeFileSync(join(dir, 'rc.json'), JSON.stringify(config));
  const log = join(dir, 'log');
  const fd = openSync(log, 'a');
  const child = spawn(process.execPath, [CLI_ENTRY, 'run', '--config', join(dir, 'rc.json')], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  t.teardown(() => child.kill('SIGKILL'));
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => resolve(-1), 15_000);
    child.once('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  t.equal(code, 1, `the process exits 1 by itself (-1 = still running after 15 s)`);
  const text = readFileSync(log, 'utf8');
  t.match(text, /instance b failed to start: instances\.b\.actions\[0\] \(action recorder: create failed: cannot reach the API\)/, 'the error names the instance and the action');
  const lines = existsSync(rec) ? readFileSync(rec, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { to: string }) : [];
  t.same(lines.map((l) => l.to), ['BACKUP', 'STOP'], 'instance a started (BACKUP) and was stopped (STOP actions)');
  t.notOk(existsSync(join(dir, 'ctl.sock')), 'the control socket is gone');
});

t.test('2. an engine exception on a tick: the timer is re-armed; repeated ones put the instance in FAULT', async (t) => {
  const clock = new FakeClock();
  const r = new InstanceRunner(instance(), 'n1', recordingTransport(), silent, {}, clock);
  await r.start();
  t.equal(r.status().state, 'BACKUP');
  t.ok(r.election instanceof HeartbeatElection, 'the heartbeat backend');
  const engine = (r.election as HeartbeatElection).engine;
  const real = engine.handle.bind(engine);
  let failing = 0;
  engine.handle = (input) => {
    if (input.type === 'tick' && failing > 0) {
      failing--;
      throw new Error('a bug on the timer path');
    }
    return real(input);
  };
  failing = 1;
  clock.advance(100);
  t.ok(clock.pending > 0, 'a timer is still armed after the exception');
  clock.advance(400);
  t.equal(r.status().state, 'MASTER', 'the instance kept waking up: hold-off over, no peer, MASTER');
  failing = 100;
  clock.advance(ENGINE_ERRORS_TO_FAULT * 100 + 50);
  const st = r.status();
  t.equal(st.state, 'FAULT', `FAULT after ${ENGINE_ERRORS_TO_FAULT} exceptions in a row`);
  t.match(st.fault, /engine error: a bug on the timer path/, 'the error is in status');
  failing = 0;
  clock.advance(2 * 300 + 200);
  t.equal(r.status().state, 'MASTER', 'one master-down period without errors: the fault is lifted');
  await r.stop();
  t.equal(clock.pending, 0, 'no timer left after stop');
});

t.test('3. a failed required action: a FAULT cause of its own, lifted by a tracked timer; maintenance stays', async (t) => {
  let fail = true;
  let calls = 0;
  const plugin = defineAction<Record<string, never>>({
    kind: 'action',
    name: 'flaky',
    parseConfig: () => ({ ok: true, config: {} }),
    create: () => ({
      onMaster: async () => {
        calls++;
        if (fail) throw new Error('API says no');
      },
    }),
  });
  const action: ScheduledAction = { name: 'eip', plugin: 'flaky', timeoutMs: 1000, retries: 0, required: true, after: [], impl: plugin as ScheduledAction['impl'], config: {} };
  const clock = new FakeClock();
  const r = new InstanceRunner(instance({ actions: [action] }), 'n1', recordingTransport(), silent, {}, clock);
  /** Advances the fake clock in 10 ms steps, letting the action promises settle, until pred holds (bounded). */
  const settle = async (what: string, pred: () => boolean, maxMs = 5000) => {
    for (let ms = 0; !pred(); ms += 10) {
      if (ms > maxMs) throw new Error(`not reached within ${maxMs} fake ms: ${what}`);
      clock.advance(10);
      await new Promise((res) => setImmediate(res));
      await new Promise((res) => setTimeout(res, 1));
    }
    return clock.t;
  };
  await r.start();
  await settle('FAULT after MASTER', () => r.status().state === 'FAULT');
  const st = r.status();
  t.equal(st.fault, 'action eip failed', 'FAULT names the action');
  t.equal(st.maintenance, false, 'not modelled as maintenance');
  t.equal(st.lastTransition?.cause, 'fault');
  t.equal(calls, 1);

  // the operator drains the node meanwhile: lifting the action fault must not undo that
  r.setMaintenance(true);
  clock.advance(ACTION_FAULT_HOLD_PERIODS * 300 + 50);
  await new Promise((res) => setTimeout(res, 5));
  t.equal(r.status().state, 'FAULT');
  t.equal(r.status().maintenance, true, 'maintenance mode survives the action fault being lifted');
  t.equal(r.status().fault, 'maintenance mode');
  r.setMaintenance(false);
  fail = false;
  await settle('MASTER again, the action retried', () => r.status().state === 'MASTER' && calls === 2);
  t.pass('maintenance off: the instance competes again and the action runs again');

  // a failure without maintenance: the tracked timer lifts the fault after the hold
  fail = true;
  r.setMaintenance(true);
  r.setMaintenance(false);
  await settle('FAULT again', () => r.status().state === 'FAULT' && r.status().fault === 'action eip failed');
  const faultAt = clock.t;
  fail = false;
  const backAt = await settle('MASTER after the hold', () => r.status().state === 'MASTER');
  t.ok(backAt - faultAt >= ACTION_FAULT_HOLD_PERIODS * 300, `the fault held ${backAt - faultAt} ms (>= ${ACTION_FAULT_HOLD_PERIODS} master-down periods), then the instance won again`);
  await r.stop();
  t.equal(clock.pending, 0, 'no timer left after stop (the retry timer is tracked)');
});

t.test('4. stop during a reload: serialised, nothing runs after stop; a reload after stop is refused', async (t) => {
  const port = await freeUdpPort(['127.0.0.92']);
  let release: () => void = () => undefined;
  const slow = defineAction<Record<string, never>>({
    kind: 'action',
    name: 'slow',
    parseConfig: () => ({ ok: true, config: {} }),
    create: async () => {
      await new Promise<void>((r) => (release = r));
      return {};
    },
  });
  const slowAction: ScheduledAction = { name: 'slow', plugin: 'slow', timeoutMs: 1000, retries: 0, required: false, after: [], impl: slow as ScheduledAction['impl'], config: {} };
  const settings: DaemonSettings = {
    nodeId: 'n1',
    bind: { host: '127.0.0.92', port },
    keys: [{ id: 1, key: randomBytes(32) }],
    protocol: 'ipwarden',
    replayWindowMs: 30_000,
    instances: [instance()],
  };
  const d = new Daemon(settings, silent, { version: 'test' });
  await d.start();
  const reload = d.reload({ ...settings, instances: [instance(), instance({ name: 'db', address: '198.51.100.60', actions: [slowAction] })] });
  await until('the reload creating the slow action', () => release !== undefined && d.status().instances.length === 1);
  const stop = d.stop();
  release();
  const outcome = await reload.then(
    () => 'applied',
    (e: Error) => e.message,
  );
  await stop;
  t.match(outcome, /stopping|applied/, `the reload finished or gave up (${outcome})`);
  const st = d.status();
  t.same(
    st.instances.map((i) => [i.instance, i.state]),
    st.instances.map((i) => [i.instance, 'STOP']),
    'every instance is stopped: nothing was started after stop',
  );
  await t.rejects(d.reload(settings), /stopping/, 'a reload after stop is refused');
});

t.test('4b. SIGHUP then SIGTERM at once: the process exits 0', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ipwarden-life-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freeUdpPort(['127.0.0.93']);
  writeFileSync(join(dir, 'secret'), randomBytes(32).toString('hex'), { mode: 0o600 });
  const control = join(dir, 'ctl.sock');
  writeFileSync(
    join(dir, 'rc.json'),
    JSON.stringify({ node: { id: 'n1', bind: `127.0.0.93:${port}`, control }, secret: `file:${join(dir, 'secret')}`, log: { level: 'warn' }, instances: { a: { address: '198.51.100.50', interval: '100ms', peers: [] } } }),
  );
  const child = spawn(process.execPath, [CLI_ENTRY, 'run', '--config', join(dir, 'rc.json')], { stdio: 'ignore' });
  t.teardown(() => child.kill('SIGKILL'));
  const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  await until('the control socket', () => existsSync(control), 10_000);
  await controlRequest(control, { cmd: 'ping' }, 2000);
  child.kill('SIGHUP');
  child.kill('SIGTERM');
  const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('still running after 10 s'), 10_000))]);
  t.equal(code, 0);
});
