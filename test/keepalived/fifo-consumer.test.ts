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
  };
  if (!(await waitFor(() => c.log().some((l) => l.event === 'fifo-start'), 10_000))) throw new Error(`consumer did not start: ${stderr}`);
  return c;
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
    t.ok(await waitFor(() => ended(c, 'VI_1').length === i + 1, 5000), `${s} applied`);
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
  t.ok(await waitFor(() => ended(c, 'VI_1').length === 1 && ended(c, 'VI_2').length === 1, 5000));
  await new Promise((r) => setTimeout(r, 300));
  t.same(started(c, 'VI_1'), ['MASTER'], 'VI_1: the three stale lines did not run');
  t.same(started(c, 'VI_2'), ['BACKUP'], 'VI_2: the stale MASTER did not run');
  t.match(c.log().find((l) => l.event === 'coalesced')?.msg, /coalesced 6 lines into 2/);
});

t.test('lines arriving while actions run supersede them; the last state wins', async (t) => {
  const c = await startConsumer(t);
  c.setDelay(2);
  c.write('INSTANCE "VI_1" MASTER 100');
  t.ok(await waitFor(() => started(c, 'VI_1').length === 1, 5000), 'MASTER actions running');
  c.setDelay(0);
  c.write('INSTANCE "VI_1" BACKUP 100', 'INSTANCE "VI_1" MASTER 100', 'INSTANCE "VI_1" BACKUP 100');
  t.ok(await waitFor(() => ended(c, 'VI_1').length === 1, 5000));
  await new Promise((r) => setTimeout(r, 300));
  t.same(started(c, 'VI_1'), ['MASTER', 'BACKUP'], 'the burst ran once, as its last state');
  t.same(ended(c, 'VI_1'), ['BACKUP'], 'the running MASTER script was killed (never ended)');
});

t.test('ignored lines; MASTER_RX_LOWER_PRI re-claims; GROUP lines; DELETED is STOP', async (t) => {
  const c = await startConsumer(t);
  c.write('INSTANCE "VI_1" MASTER 100');
  t.ok(await waitFor(() => ended(c, 'VI_1').length === 1, 5000));
  c.write(
    'VS [192.168.201.15]:tcp:80 UP',
    'RS [192.168.201.16]:tcp:80 [192.168.201.15]:tcp:80 DOWN',
    'INSTANCE "VI_1" MASTER_PRIORITY 90',
    'INSTANCE "OTHER" MASTER 100',
    'this is not a keepalived line',
  );
  await waitFor(() => c.log().filter((l) => l.event === 'fifo-line-ignored' || l.event === 'fifo-unknown-instance').length >= 5, 3000);
  t.equal(c.log().filter((l) => l.event === 'fifo-line-ignored').length, 4, 'checker, priority-change and garbage lines ignored (debug log)');
  t.match(c.log().find((l) => l.event === 'fifo-unknown-instance')?.msg, /no keepalived.instances.OTHER in the config/);
  c.write('INSTANCE "VI_1" MASTER_RX_LOWER_PRI 100');
  t.ok(await waitFor(() => c.events().includes('rx VI_1'), 5000), 'the re-claim ran');
  t.match(c.log().filter((l) => l.event === 'transition' && l.instance === 'VI_1').pop(), { from: 'MASTER', to: 'MASTER', msg: /MASTER_RX_LOWER_PRI/ });
  c.write('GROUP "G1" MASTER 0');
  t.ok(await waitFor(() => ended(c, 'G1').includes('MASTER'), 5000), 'a sync group line runs the actions of the entry of that name');
  c.write('INSTANCE "VI_2" DELETED 100');
  t.ok(await waitFor(() => ended(c, 'VI_2').includes('STOP'), 5000), 'DELETED -> STOP actions');
  t.same(ended(c, 'VI_1'), ['MASTER'], 'nothing else ran for VI_1');
});

t.test('a FIFO replaced by a new one (keepalived removing and re-creating it) is reopened', async (t) => {
  const c = await startConsumer(t, { createFifo: true });
  t.notOk(c.log().some((l) => l.event === 'fifo-created'), 'an existing FIFO is used as is');
  c.write('INSTANCE "VI_1" BACKUP 100');
  t.ok(await waitFor(() => ended(c, 'VI_1').length === 1, 5000));
  rmSync(c.fifo);
  execFileSync('mkfifo', [c.fifo]);
  t.ok(await waitFor(() => c.log().some((l) => l.event === 'fifo-replaced'), 3000), 'noticed the new FIFO');
  t.ok(await waitFor(() => c.log().filter((l) => l.event === 'fifo-start' || l.event === 'fifo-replaced').length >= 2, 3000));
  await new Promise((r) => setTimeout(r, 200));
  c.write('INSTANCE "VI_1" MASTER 100');
  t.ok(await waitFor(() => ended(c, 'VI_1').length === 2, 5000), 'lines written to the new FIFO are read');
  t.same(ended(c, 'VI_1'), ['BACKUP', 'MASTER']);
});

t.test('SIGTERM: stops reading, lets the running actions finish, exits 0', async (t) => {
  const c = await startConsumer(t);
  c.setDelay(1);
  c.write('INSTANCE "VI_1" MASTER 100');
  t.ok(await waitFor(() => started(c, 'VI_1').length === 1, 5000));
  const exited = once(c.proc, 'exit');
  c.proc.kill('SIGTERM');
  const [code] = (await exited) as [number | null];
  t.equal(code, 0);
  t.same(ended(c, 'VI_1'), ['MASTER'], 'the running actions finished before the exit');
  t.ok(c.log().some((l) => l.event === 'fifo-stop'));
  t.ok(existsSync(c.fifo), 'the FIFO stays for the next consumer');
});
