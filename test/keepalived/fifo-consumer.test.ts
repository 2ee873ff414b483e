/**
 * `ipwarden keepalived-fifo` (the built CLI) reading a FIFO the test writes keepalived's lines to:
 * order, coalescing of bursts, supersede of running actions, ignored lines, MASTER_RX_LOWER_PRI,
 * GROUP lines, a replaced FIFO, clean stop on SIGTERM. (With real keepalived writing the FIFO:
 * scripts-mode-failover.test.ts.)
 */
import t, { type Test } from 'tap';
import { chmodSync, closeSync, constants, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { CLI } from '../lib/env.js';
import { waitFor } from './lib/keepalived.js';

interface Consumer {
  dir: string;
  fifo: string;
  proc: ChildProcess;
  /** "start|end STATE NAME pid" lines of the action script, and "rx NAME" for re-claims. */
  events(): string[];
  log(): { msg: string; event?: string; [k: string]: unknown }[];
  /** Writes lines to the FIFO in one write(2). */
  write(...lines: string[]): void;
  /** write(), false instead of an error when no reader has the FIFO open (yet). */
  tryWrite(...lines: string[]): boolean;
  setDelay(seconds: number): void;
}

async function startConsumer(t: Test, opts: { createFifo?: boolean } = {}): Promise<Consumer> {
  const dir = mkdtempSync(join(tmpdir(), 'ipw-fifocons-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const script = join(dir, 'record.sh');
  writeFileSync(script, `#!/bin/sh\necho "start $3 $2 $$" >> ${dir}/events\nsleep $(cat ${dir}/delay)\necho "end $3 $2 $$" >> ${dir}/events\n`);
  chmodSync(script, 0o755);
  writeFileSync(join(dir, 'delay'), '0');
  const rx = `/bin/sh -c 'echo "rx $0" >> ${dir}/events'`;
  const rc = join(dir, 'rc.yaml');
  const entry = (name: string, addr: string) => [
    `    ${name}:`,
    `      address: ${addr}`,
    '      actions:',
    `        - { plugin: notify, retries: 0, notify: ${script}, notifyMasterRxLowerPri: "${rx.replace(/"/g, '\\"')} ${name}" }`,
  ];
  writeFileSync(rc, ['log: { level: debug, format: json }', 'keepalived:', '  instances:', ...entry('VI_1', '198.51.100.50'), ...entry('VI_2', '198.51.100.51'), ...entry('G1', '198.51.100.52'), ''].join('\n'));
  const fifo = join(dir, 'notify.fifo');
  if (opts.createFifo) execFileSync('mkfifo', [fifo]);
  const proc = spawn(process.execPath, [CLI, 'keepalived-fifo', fifo, '--config', rc, '--log-file', join(dir, 'log')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (d) => (stderr += String(d)));
  t.teardown(() => {
    proc.kill('SIGKILL');
  });
  const c: Consumer = {
    dir,
    fifo,
    proc,
    events: () => (existsSync(join(dir, 'events')) ? readFileSync(join(dir, 'events'), 'utf8').trim().split('\n').filter(Boolean) : []),
    log: () => (existsSync(join(dir, 'log')) ? readFileSync(join(dir, 'log'), 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []),
    write: (...lines) => {
      const fd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
      writeSync(fd, lines.map((l) => `${l}\n`).join(''));
      closeSync(fd);
    },
    setDelay: (s) => writeFileSync(join(dir, 'delay'), String(s)),
    tryWrite: (...lines) => {
      try {
        c.write(...lines);
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENXIO') return false;
        throw err;
      }
    },
  };
  if (!(await waitFor(() => c.log().some((l) => l.event === 'fifo-start'), 10_000))) throw new Error(`consumer did not start: ${stderr}`);
  return c;
}

/** Deadline for a condition: generous, so a busy machine only makes the test slower, never red. */
const WAIT = 20_000;

/**
 * SIGTERM: the consumer hands over the lines it has read, waits for their actions and exits 0. After
 * that nothing more can run: the condition to wait for before asserting that something did not run.
 */
async function stopConsumer(c: Consumer): Promise<number | null> {
  if (c.proc.exitCode !== null) return c.proc.exitCode;
  const exited = once(c.proc, 'exit');
  c.proc.kill('SIGTERM');
  const timer = setTimeout(() => c.proc.kill('SIGKILL'), WAIT);
  const [code] = (await exited) as [number | null];
  clearTimeout(timer);
  return code;
}

/** Whether a process (a script the consumer started) still exists. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The states whose actions finished, per instance, in order. */
const ended = (c: Consumer, name: string) => c.events().filter((e) => e.startsWith('end ') && e.split(' ')[2] === name).map((e) => e.split(' ')[1]);
const started = (c: Consumer, name: string) => c.events().filter((e) => e.startsWith('start ') && e.split(' ')[2] === name).map((e) => e.split(' ')[1]);

t.test('creates a missing FIFO; lines written one by one are applied in order', async (t) => {
  const c = await startConsumer(t);
  t.ok(statSync(c.fifo).isFIFO(), 'the FIFO was created');
  const states = ['BACKUP', 'MASTER', 'FAULT', 'BACKUP', 'STOP'];
  for (const [i, s] of states.entries()) {
    c.write(`INSTANCE "VI_1" ${s} 100`);
    t.ok(await waitFor(() => ended(c, 'VI_1').length === i + 1, WAIT), `${s} applied`);
  }
  t.same(ended(c, 'VI_1'), states);
  const transitions = c.log().filter((l) => l.event === 'transition' && l.instance === 'VI_1').map((l) => `${l.from}->${l.to}`);
  t.same(transitions, ['INIT->BACKUP', 'BACKUP->MASTER', 'MASTER->FAULT', 'FAULT->BACKUP', 'BACKUP->STOP']);
});

t.test('a burst written back to back: only the last state per instance runs, in order of the last lines', async (t) => {
  const c = await startConsumer(t);
  c.write(
    'INSTANCE "VI_1" BACKUP 100',
    'INSTANCE "VI_2" MASTER 100',
    'INSTANCE "VI_1" MASTER 100',
    'INSTANCE "VI_1" BACKUP 100',
    'INSTANCE "VI_2" BACKUP 90',
    'INSTANCE "VI_1" MASTER 100',
  );
  t.ok(await waitFor(() => ended(c, 'VI_1').length === 1 && ended(c, 'VI_2').length === 1, WAIT));
  t.equal(await stopConsumer(c), 0, 'stopped: everything it read has run');
  t.same(started(c, 'VI_1'), ['MASTER'], 'VI_1: the three stale lines did not run');
  t.same(started(c, 'VI_2'), ['BACKUP'], 'VI_2: the stale MASTER did not run');
  t.match(c.log().find((l) => l.event === 'coalesced')?.msg, /coalesced 6 lines into 2/);
});

t.test('lines arriving while actions run supersede them; the last state wins', async (t) => {
  const c = await startConsumer(t);
  // Far longer than the test waits: only the supersede can end the MASTER run before its script does.
  c.setDelay(60);
  c.write('INSTANCE "VI_1" MASTER 100');
  t.ok(await waitFor(() => started(c, 'VI_1').length === 1, WAIT), 'MASTER actions running');
  c.setDelay(0);
  c.write('INSTANCE "VI_1" BACKUP 100', 'INSTANCE "VI_1" MASTER 100', 'INSTANCE "VI_1" BACKUP 100');
  t.ok(await waitFor(() => ended(c, 'VI_1').length === 1, WAIT));
  t.equal(await stopConsumer(c), 0, 'stopped: everything it read has run');
  t.same(started(c, 'VI_1'), ['MASTER', 'BACKUP'], 'the burst ran once, as its last state');
  t.same(ended(c, 'VI_1'), ['BACKUP'], 'the MASTER script never ended');
  const masterPid = Number(c.events().find((e) => e.startsWith('start MASTER'))!.split(' ')[3]);
  t.ok(await waitFor(() => !alive(masterPid), WAIT), 'the running MASTER script was killed (it would have slept 60 s)');
});

t.test('ignored lines; MASTER_RX_LOWER_PRI re-claims; GROUP lines; DELETED is STOP', async (t) => {
  const c = await startConsumer(t);
  c.write('INSTANCE "VI_1" MASTER 100');
  t.ok(await waitFor(() => ended(c, 'VI_1').length === 1, WAIT));
  c.write(
    'VS [192.168.201.15]:tcp:80 UP',
    'RS [192.168.201.16]:tcp:80 [192.168.201.15]:tcp:80 DOWN',
    'INSTANCE "VI_1" MASTER_PRIORITY 90',
    'INSTANCE "OTHER" MASTER 100',
    'this is not a keepalived line',
  );
  await waitFor(() => c.log().filter((l) => l.event === 'fifo-line-ignored' || l.event === 'fifo-unknown-instance').length >= 5, WAIT);
  t.equal(c.log().filter((l) => l.event === 'fifo-line-ignored').length, 4, 'checker, priority-change and garbage lines ignored (debug log)');
  t.match(c.log().find((l) => l.event === 'fifo-unknown-instance')?.msg, /no keepalived.instances.OTHER in the config/);
  c.write('INSTANCE "VI_1" MASTER_RX_LOWER_PRI 100');
  t.ok(await waitFor(() => c.events().includes('rx VI_1'), WAIT), 'the re-claim ran');
  t.match(c.log().filter((l) => l.event === 'transition' && l.instance === 'VI_1').pop(), { from: 'MASTER', to: 'MASTER', msg: /MASTER_RX_LOWER_PRI/ });
  c.write('GROUP "G1" MASTER 0');
  t.ok(await waitFor(() => ended(c, 'G1').includes('MASTER'), WAIT), 'a sync group line runs the actions of the entry of that name');
  c.write('INSTANCE "VI_2" DELETED 100');
  t.ok(await waitFor(() => ended(c, 'VI_2').includes('STOP'), WAIT), 'DELETED -> STOP actions');
  t.same(ended(c, 'VI_1'), ['MASTER'], 'nothing else ran for VI_1');
});

t.test('MASTER after MASTER (keepalived back as MASTER after a crash) runs the MASTER actions again; MASTER_RX_LOWER_PRI re-claims only after a MASTER', async (t) => {
  const c = await startConsumer(t);
  c.write('INSTANCE "VI_1" MASTER 100');
  t.ok(await waitFor(() => ended(c, 'VI_1').length === 1, WAIT), 'MASTER applied');
  // No STOP line in between: keepalived was killed and came back as MASTER.
  c.write('INSTANCE "VI_1" MASTER 100');
  t.ok(await waitFor(() => ended(c, 'VI_1').length === 2, WAIT), 'the second MASTER ran the MASTER actions (notify ... MASTER) again');
  c.write('INSTANCE "VI_1" MASTER_RX_LOWER_PRI 100');
  t.ok(await waitFor(() => c.events().includes('rx VI_1'), WAIT), 'MASTER_RX_LOWER_PRI after MASTER: the re-claim script ran');
  c.write('INSTANCE "VI_2" BACKUP 100');
  t.ok(await waitFor(() => ended(c, 'VI_2').length === 1, WAIT));
  c.write('INSTANCE "VI_2" MASTER_RX_LOWER_PRI 100');
  t.ok(await waitFor(() => ended(c, 'VI_2').length === 2, WAIT), 'MASTER_RX_LOWER_PRI after BACKUP: the MASTER actions ran in full');
  t.equal(await stopConsumer(c), 0, 'stopped: everything it read has run');
  t.same(ended(c, 'VI_1'), ['MASTER', 'MASTER'], 'VI_1: the re-claim did not run notify');
  t.same(ended(c, 'VI_2'), ['BACKUP', 'MASTER']);
  t.notOk(c.events().includes('rx VI_2'), 'VI_2: no re-claim script: there was no MASTER to re-claim');
  const transitions = (name: string) => c.log().filter((l) => l.event === 'transition' && l.instance === name);
  t.same(transitions('VI_1').map((l) => `${l.from}->${l.to}`), ['INIT->MASTER', 'INIT->MASTER', 'MASTER->MASTER']);
  t.match(transitions('VI_1')[1]?.msg, /keepalived MASTER again/);
  t.match(transitions('VI_1')[2]?.msg, /re-claiming as MASTER/);
  t.same(transitions('VI_2').map((l) => `${l.from}->${l.to}`), ['INIT->BACKUP', 'BACKUP->MASTER']);
});

t.test('a FIFO replaced by a new one (keepalived removing and re-creating it) is reopened', async (t) => {
  const c = await startConsumer(t, { createFifo: true });
  t.notOk(c.log().some((l) => l.event === 'fifo-created'), 'an existing FIFO is used as is');
  c.write('INSTANCE "VI_1" BACKUP 100');
  t.ok(await waitFor(() => ended(c, 'VI_1').length === 1, WAIT));
  rmSync(c.fifo);
  execFileSync('mkfifo', [c.fifo]);
  t.ok(await waitFor(() => c.log().some((l) => l.event === 'fifo-replaced'), WAIT), 'noticed the new FIFO');
  // A writer's non-blocking open succeeds once a reader has the new FIFO open: the consumer reopened it.
  t.ok(await waitFor(() => c.tryWrite('INSTANCE "VI_1" MASTER 100'), WAIT), 'the consumer opened the new FIFO');
  t.ok(await waitFor(() => ended(c, 'VI_1').length === 2, WAIT), 'lines written to the new FIFO are read');
  t.same(ended(c, 'VI_1'), ['BACKUP', 'MASTER']);
});

t.test('SIGTERM: stops reading, lets the running actions finish, exits 0', async (t) => {
  const c = await startConsumer(t);
  c.setDelay(1);
  c.write('INSTANCE "VI_1" MASTER 100');
  t.ok(await waitFor(() => started(c, 'VI_1').length === 1, WAIT));
  const exited = once(c.proc, 'exit');
  c.proc.kill('SIGTERM');
  const [code] = (await exited) as [number | null];
  t.equal(code, 0);
  t.same(ended(c, 'VI_1'), ['MASTER'], 'the running actions finished before the exit');
  t.ok(c.log().some((l) => l.event === 'fifo-stop'));
  t.ok(existsSync(c.fifo), 'the FIFO stays for the next consumer');
});
