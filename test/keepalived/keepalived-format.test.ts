/**
 * ipwarden's notify action calls scripts and writes FIFO lines byte for byte as keepalived does:
 * real keepalived 2.2 (two nodes in two network namespaces, VRRPv3, unicast) runs notify scripts
 * that record their argv and writes its notify FIFO; then ipwarden's notify action runs the same
 * script strings for the same transitions, and the argv and FIFO bytes must be identical.
 * The script strings carry keepalived's quoting and escapes, so this also checks the splitter
 * (src/util/argv.ts) against keepalived's own.
 */
import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync, openSync, writeFileSync, constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Socket } from 'node:net';
import { execFileSync } from 'node:child_process';
import { requireEnv } from '../lib/env.js';
import { createLab } from '../lib/netns.js';
import { silentLogger } from '../../src/log.js';
import notifyPlugin, { type NotifyConfig } from '../../plugins/notify/index.js';
import type { InstanceState, TransitionEvent } from '../../src/plugins/api.js';
import { readArgvRecords, startKeepalived, waitFor, writeArgvLogger, type VrrpInstanceSpec } from './lib/keepalived.js';

const skip = requireEnv({ netns: true, bins: ['keepalived'] });

/** Script strings with keepalived quoting: quotes inside words, escapes in and out of quotes, a \x and an octal escape, tabs. */
const TRICKY = `'a b' "c \\"d\\"" e\\ f \\x41\\102 C:\\dir "tab\\there" it''s a"b c"d "" \\q`;

/** One reader per FIFO: collects the raw bytes. */
function readFifo(path: string): { bytes: () => string; close: () => void } {
  execFileSync('mkfifo', ['-m', '0600', path]);
  const fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
  const s = new Socket({ fd, readable: true, writable: false });
  let data = '';
  s.on('data', (d) => (data += String(d)));
  return { bytes: () => data, close: () => s.destroy() };
}

t.test('notify argv and FIFO lines: ipwarden = keepalived, byte for byte', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ipw-kafmt-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const logger = writeArgvLogger(join(dir, 'argv-logger.sh'));
  const lab = await createLab({ hosts: 2 });
  t.teardown(() => lab.destroy());
  const [h0, h1] = lab.hosts as [(typeof lab.hosts)[0], (typeof lab.hosts)[0]];

  /** The script strings for one recorder directory (per keepalived node, and one for ipwarden). */
  const scriptsFor = (rec: string) => {
    for (const k of ['notify', 'master', 'backup', 'fault', 'stop']) mkdirSync(join(rec, k), { recursive: true });
    return {
      notify: `${logger} ${rec}/notify ${TRICKY}`,
      notifyMaster: `${logger} ${rec}/master --flag=1`,
      notifyBackup: `${logger} "${rec}/backup"`,
      notifyFault: `${logger} ${rec}/fault`,
      notifyStop: `${logger} ${rec}/stop "last one"`,
    };
  };
  const recs = { h0: join(dir, 'k-h0'), h1: join(dir, 'k-h1'), ipw: join(dir, 'ipw') };
  const fifos = { h0: readFifo(join(dir, 'h0.fifo')), h1: readFifo(join(dir, 'h1.fifo')) };
  t.teardown(() => Object.values(fifos).forEach((f) => f.close()));
  const track = join(dir, 'h1.track');
  writeFileSync(track, '0\n');
  const inst = (rec: string, priority: number, trackFile?: string): VrrpInstanceSpec => ({
    name: 'VI_1',
    priority,
    routerId: 51,
    vip: '198.51.100.100/32',
    ...scriptsFor(rec),
    ...(trackFile ? { trackFile } : {}),
  });

  const k0 = startKeepalived(lab, { host: h0, peers: [h1], instances: [inst(recs.h0, 200)], fifo: join(dir, 'h0.fifo') }, dir);
  t.teardown(() => k0.stop('SIGKILL'));
  const k1 = startKeepalived(lab, { host: h1, peers: [h0], instances: [inst(recs.h1, 100, track)], fifo: join(dir, 'h1.fifo') }, dir);
  t.teardown(() => k1.stop('SIGKILL'));

  if (!t.ok(await waitFor(() => readArgvRecords(join(recs.h0, 'master')).length === 1, 15_000), 'h0 (priority 200) became MASTER')) t.comment(k0.output());
  t.ok(await waitFor(() => readArgvRecords(join(recs.h1, 'backup')).length >= 1, 5000), 'h1 is BACKUP');
  // Stop the master gracefully (STOP notifies), then the new master.
  await k0.stop('SIGTERM');
  t.ok(await waitFor(() => readArgvRecords(join(recs.h1, 'master')).length === 1, 5000), 'h1 took over');
  writeFileSync(track, '1\n');
  t.ok(await waitFor(() => readArgvRecords(join(recs.h1, 'fault')).length === 1, 5000), 'h1 in FAULT (track_file)');
  await k1.stop('SIGTERM');
  await waitFor(() => readArgvRecords(join(recs.h1, 'stop')).length === 1 && readArgvRecords(join(recs.h1, 'notify')).length >= 4, 3000);

  // What keepalived ran, per node, as [state, priority] from the generic notify's 4 appended args.
  const transitions = (rec: string) => readArgvRecords(join(rec, 'notify')).map((argv) => [argv[argv.length - 2]!, Number(argv[argv.length - 1])] as [InstanceState, number]);
  const seen = { h0: transitions(recs.h0), h1: transitions(recs.h1) };
  t.same(seen.h0.map(([s]) => s), ['BACKUP', 'MASTER', 'STOP'], 'h0: BACKUP, MASTER, STOP');
  t.same(seen.h1.map(([s]) => s), ['BACKUP', 'MASTER', 'FAULT', 'STOP'], 'h1: BACKUP, MASTER, FAULT, STOP');

  // The same transitions through ipwarden's notify action, one recorder dir and FIFO per node.
  for (const node of ['h0', 'h1'] as const) {
    const rec = join(recs.ipw, node);
    const ipwFifo = readFifo(join(dir, `ipw-${node}.fifo`));
    t.teardown(() => ipwFifo.close());
    const parsed = notifyPlugin.parseConfig({ ...scriptsFor(rec), fifo: join(dir, `ipw-${node}.fifo`) }, { baseDir: dir, resolveSecret: () => '' });
    t.ok(parsed.ok, 'notify config parses');
    const config = (parsed as { config: NotifyConfig }).config;
    const h = await notifyPlugin.create({ config, log: silentLogger, instance: { name: 'VI_1', address: '198.51.100.50' }, node: { id: node } });
    let from: InstanceState = 'INIT';
    for (const [to, priority] of seen[node]) {
      const e: TransitionEvent = { instance: { name: 'VI_1', address: '198.51.100.50' }, node: { id: node }, from, to, priority, reason: 'test', signal: new AbortController().signal };
      const hook = { MASTER: h.onMaster, BACKUP: h.onBackup, FAULT: h.onFault, STOP: h.onStop, INIT: undefined }[to];
      await hook!(e);
      from = to;
    }
    await h.close?.();
    const krec = recs[node];
    const norm = (records: string[][], base: string) => records.map((argv) => argv.map((a) => a.replace(base, '<rec>')));
    for (const k of ['notify', 'master', 'backup', 'fault', 'stop']) {
      const theirs = norm(readArgvRecords(join(krec, k)), krec);
      const ours = norm(readArgvRecords(join(rec, k)), rec);
      t.same(ours, theirs, `${node} ${k}: same argv as keepalived (${theirs.length} runs)`);
    }
    // the reader gets the FIFO's bytes asynchronously: wait (bounded) for the last line before comparing
    await waitFor(() => ipwFifo.bytes() === fifos[node].bytes(), 5000);
    t.equal(ipwFifo.bytes(), fifos[node].bytes(), `${node}: same FIFO bytes as keepalived:\n${fifos[node].bytes()}`);
  }
  // Spot check of what keepalived made of the tricky string (the expectations are keepalived's behaviour).
  const sample = readArgvRecords(join(recs.h1, 'notify'))[0]!;
  t.same(sample.slice(2, -4), ['a b', 'c "d"', 'e f', 'AB', 'C:dir', 'tab\there', 'its', 'ab cd', '', 'q'], 'keepalived splitting as documented in src/util/argv.ts');
  t.match(fifos.h1.bytes(), /^INSTANCE "VI_1" BACKUP 100\nINSTANCE "VI_1" MASTER 100\nINSTANCE "VI_1" FAULT \d+\nINSTANCE "VI_1" STOP \d+\n$/);
});
