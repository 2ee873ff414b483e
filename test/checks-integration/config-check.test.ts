/**
 * `ipwarden config check` warnings (the built CLI, real files): a timeout longer than its interval;
 * with every node's file, the cluster cross-check and check weights that can never change who is
 * MASTER. Warnings keep exit status 0; cluster problems give 1.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from '../lib/env.js';

const SECRET = 'cluster-secret-0123456789abcdef';
const PORT = 12399;

function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, IPW_TEST_SECRET: SECRET, ...env }, timeout: 20_000 });
  return { code: r.status, out: r.stdout, err: r.stderr, warnings: r.stderr.split('\n').filter((l) => l.startsWith('warning: ')) };
}

interface NodeSpec {
  id: string;
  host: number;
  priority: number;
  /** Instance name (default web). */
  name?: string;
  /** File name (default <id>.json). */
  file?: string;
  inst?: Record<string, unknown>;
  top?: Record<string, unknown>;
}

/** A two- or three-node cluster on 127.0.0.5x: each file lists the others as peers. */
function cluster(t: { teardown(fn: () => void): void }, specs: NodeSpec[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'ipwarden-cfgcheck-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return specs.map((s) => {
    const file = join(dir, s.file ?? `${s.id}.json`);
    const config = {
      node: { id: s.id, bind: `127.0.0.${s.host}:${PORT}`, control: join(dir, `${s.id}.sock`) },
      secret: 'env:IPW_TEST_SECRET',
      stateFile: join(dir, `${s.id}.state.json`),
      ...s.top,
      instances: {
        [s.name ?? 'web']: {
          address: '198.51.100.50',
          priority: s.priority,
          peers: specs.filter((o) => o !== s).map((o) => `127.0.0.${o.host}`),
          ...s.inst,
        },
      },
    };
    writeFileSync(file, JSON.stringify(config));
    return file;
  });
}

const fileCheck = (weight: number, extra: Record<string, unknown> = {}) => ({ plugin: 'file', name: 'maint', path: './maint', weight, ...extra });

t.test('one file: a timeout longer than the interval warns, exit 0; weights are not judged without the peers', async (t) => {
  const [lb1] = cluster(t, [
    { id: 'lb1', host: 51, priority: 100, inst: { checks: [fileCheck(-5, { interval: '1s', timeout: '3s' })] } },
    { id: 'lb2', host: 52, priority: 90 },
  ]);
  const r = cli(['config', 'check', '-c', lb1!]);
  t.equal(r.code, 0, r.err);
  t.equal(r.out, `${lb1}: ok\n`);
  t.same(r.warnings, [
    'warning: instance web: check maint: timeout 3000ms is longer than interval 1000ms (runs never overlap: a slow run delays the next one, so failures are seen late)',
  ]);
});

t.test('one clean file: output unchanged, no warning', async (t) => {
  const [lb1] = cluster(t, [
    { id: 'lb1', host: 51, priority: 100, inst: { checks: [fileCheck(0)] } },
    { id: 'lb2', host: 52, priority: 90 },
  ]);
  const r = cli(['config', 'check', '--config', lb1!]);
  t.equal(r.code, 0);
  t.equal(r.out, `${lb1}: ok\n`);
  t.equal(r.err, '');
});

t.test('every node: a weight that can never change who is MASTER warns, with the weight that would', async (t) => {
  const spec = (w: number): NodeSpec[] => [
    { id: 'lb1', host: 51, priority: 100, inst: { checks: [fileCheck(w)] } },
    { id: 'lb2', host: 52, priority: 90, inst: { checks: [fileCheck(w)] } },
  ];
  const files = cluster(t, spec(-10));
  const r = cli(['config', 'check', '-c', files[0]!, '-c', files[1]!]);
  t.equal(r.code, 0, 'warnings only');
  t.equal(r.out, `${files[0]}: ok\n${files[1]}: ok\ncluster of 2 nodes (lb1, lb2): ok\n`);
  t.same(r.warnings, [
    `warning: ${files[0]}: instance web: check maint: weight -10 can never change who is MASTER (this node: 100 with it passing, 90 failing; peer lb2: 80..90; ` +
      'a peer takes over only with a priority above the failing one); use weight -11 or less (on every node that runs it), or 0 to give the IP up',
  ], 'only lb1: lb2 failing at 80 is below lb1 failing at 90, so lb2\'s check does hand over');

  const ok = cluster(t, spec(-11));
  const r2 = cli(['config', 'check', '-c', ok[0]!, '-c', ok[1]!]);
  t.equal(r2.code, 0);
  t.same(r2.warnings, [], '-11 brings lb1 to 89 < 90');

  const plus = cluster(t, spec(10));
  const r3 = cli(['config', 'check', '-c', plus[0]!, '-c', plus[1]!]);
  t.match(r3.warnings, [new RegExp(`^warning: ${plus[0]}: instance web: check maint: weight \\+10 can never change who is MASTER .*use weight \\+11 or more \\(on every node that runs it\\)`)]);

  // the same weights, but lb2's check gives it +20: now lb1's -10 does hand over (lb2 at 110 > 90)
  const asym = cluster(t, [
    { id: 'lb1', host: 51, priority: 100, inst: { checks: [fileCheck(-10)] } },
    { id: 'lb2', host: 52, priority: 90, inst: { checks: [fileCheck(-10), { plugin: 'file', name: 'bonus', path: './bonus', weight: 20 }] } },
  ]);
  const r4 = cli(['config', 'check', '-c', asym[0]!, '-c', asym[1]!]);
  t.equal(r4.code, 0);
  t.notMatch(r4.err, `${asym[0]}: instance web: check maint`, "the peers' own checks are taken into account");
});

t.test('every node: preempt off on the peers, equal priorities', async (t) => {
  const noPreempt = cluster(t, [
    { id: 'lb1', host: 51, priority: 100, inst: { checks: [fileCheck(-50)] } },
    { id: 'lb2', host: 52, priority: 90, inst: { preempt: false } },
  ]);
  const r = cli(['config', 'check', '-c', noPreempt[0]!, '-c', noPreempt[1]!]);
  t.equal(r.code, 0);
  t.match(r.warnings, [/check maint: weight -50 can never change who is MASTER \(.*peer lb2: 90, preempt off.*no peer preempts a live MASTER: only weight 0 \(FAULT\) hands the IP over$/]);

  const tie = cluster(t, [
    { id: 'lb1', host: 51, priority: 100 },
    { id: 'lb2', host: 52, priority: 100 },
  ]);
  const r2 = cli(['config', 'check', '-c', tie[0]!, '-c', tie[1]!]);
  t.equal(r2.code, 0, 'tie-break by id works');
  t.same(r2.warnings, [
    `warning: ${tie[0]}: instance web: priority 100 equals peer lb2's: whichever becomes MASTER first keeps the IP ` +
      '(equal priorities never preempt; at a simultaneous start the node id decides: lb1); give the preferred node a higher priority',
  ], 'reported once for the pair');
});

t.test('every node: files that disagree (warnings)', async (t) => {
  const files = cluster(t, [
    { id: 'lb1', host: 51, priority: 100, inst: { interval: '1s', deadRatio: 3 } },
    { id: 'lb2', host: 52, priority: 90, inst: { interval: '2s', deadRatio: 4, peers: ['127.0.0.53'] } },
  ]);
  const r = cli(['config', 'check', '-c', files[0]!, '-c', files[1]!]);
  t.equal(r.code, 0, r.err);
  t.match(r.warnings, [
    `warning: cluster: instance web: interval differs: 1.0s (${files[0]}), 2.0s (${files[1]})`,
    `warning: cluster: instance web: deadRatio differs: 3 (${files[0]}), 4 (${files[1]})`,
    `warning: cluster: instance web: ${files[1]} does not list lb1's node.bind 127.0.0.51:${PORT} in peers: lb1 never hears lb2's heartbeats`,
  ]);
  t.equal(r.warnings.length, 3);

  const extra = cluster(t, [
    { id: 'lb1', host: 51, priority: 100, name: 'www' },
    { id: 'lb2', host: 52, priority: 90 },
  ]);
  const r2 = cli(['config', 'check', '-c', extra[0]!, '-c', extra[1]!]);
  t.equal(r2.code, 0);
  t.match(r2.err, `warning: cluster: instance www is not in ${extra[1]} (its address 198.51.100.50 is instance web there; the names should match)`);
  t.match(r2.err, `warning: cluster: instance web is not in ${extra[0]} (its address 198.51.100.50 is instance www there; the names should match)`);
});

t.test('every node: cluster problems exit 1, naming the files; secrets never printed', async (t) => {
  const dupe = cluster(t, [
    { id: 'lb1', host: 51, priority: 100 },
    { id: 'lb1', host: 52, priority: 90, file: 'other.json' },
  ]);
  const second = dupe[1]!;
  const r = cli(['config', 'check', '-c', dupe[0]!, '-c', second]);
  t.equal(r.code, 1);
  t.match(r.out, `${dupe[0]}: ok\n${second}: ok\n`, 'each file on its own is valid');
  t.match(r.err, `cluster of 2 nodes (lb1, lb1): invalid\n  node.id "lb1" is used by ${dupe[0]} and ${second}: every node needs its own id`);

  const addr = cluster(t, [
    { id: 'lb1', host: 51, priority: 100 },
    { id: 'lb2', host: 52, priority: 90, inst: { address: '198.51.100.51' } },
  ]);
  const r2 = cli(['config', 'check', '-c', addr[0]!, '-c', addr[1]!]);
  t.equal(r2.code, 1);
  t.match(r2.err, `instance web: address differs: 198.51.100.50 (${addr[0]}), 198.51.100.51 (${addr[1]}): the nodes would run separate instances`);

  const other = 'another-secret-0123456789abcdef';
  const keys = cluster(t, [
    { id: 'lb1', host: 51, priority: 100 },
    { id: 'lb2', host: 52, priority: 90, top: { secret: 'env:IPW_OTHER_SECRET' } },
  ]);
  const r3 = cli(['config', 'check', '-c', keys[0]!, '-c', keys[1]!], { IPW_OTHER_SECRET: other });
  t.equal(r3.code, 1);
  t.match(r3.err, `secret: key id 1 differs between lb1 (${keys[0]}) and lb2 (${keys[1]}): heartbeats are rejected (bad-tag)`);
  t.notMatch(r3.err + r3.out, SECRET);
  t.notMatch(r3.err + r3.out, other);

  const proto = cluster(t, [
    { id: 'lb1', host: 51, priority: 100 },
    { id: 'lb2', host: 52, priority: 90, top: { protocol: 'exoip', secret: undefined } },
  ]);
  const r4 = cli(['config', 'check', '-c', proto[0]!, '-c', proto[1]!]);
  t.equal(r4.code, 1);
  t.match(r4.err, `protocol differs: ipwarden (${proto[0]}), exoip (${proto[1]}): the nodes cannot read each other's heartbeats`);
});

t.test('every node: an invalid file fails on its own, without the cluster verdict', async (t) => {
  const files = cluster(t, [
    { id: 'lb1', host: 51, priority: 100 },
    { id: 'lb2', host: 52, priority: 300 },
  ]);
  const r = cli(['config', 'check', '-c', files[0]!, '-c', files[1]!]);
  t.equal(r.code, 1);
  t.equal(r.out, `${files[0]}: ok\n`);
  t.match(r.err, `${files[1]}: invalid config\n  instances.web.priority: expected an integer 1..254, got 300`);
  t.notMatch(r.err + r.out, 'cluster of');
});
