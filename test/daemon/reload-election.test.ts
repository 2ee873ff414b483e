/**
 * Reload on real daemons: key rotation, timers, priorities that cross (the election decides),
 * instances added and removed, refused files (see lib/reload-cases.ts); an added failing check; an
 * action added on a MASTER; the log line of a refused file.
 */
import t from 'tap';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { INTERVAL, RECORDER, both, brief, cliReload, eipCalls, onBackup, onMaster, runCase, type Case } from './lib/reload-cases.js';
import { doubleMasters, editConfig, events, sighup, startReloadCluster, status, transitions } from './lib/reload-cluster.js';

const cases: Case[] = [];
cases.push(
  {
    name: 'both: key rotation (add a key, sign with it, drop the old one)',
    edits: [
      ...both((cfg) => (cfg.secret = [{ id: 1, key: cfg.secret }, { id: 2, key: `file:${cfg.secret.slice(5)}.2` }])),
      ...both((cfg) => (cfg.secret = [cfg.secret[1], cfg.secret[0]])),
      ...both((cfg) => (cfg.secret = [cfg.secret[0]])),
    ],
    before: (dir) => writeFileSync(join(dir, 'secret.2'), randomBytes(32).toString('hex'), { mode: 0o600 }),
  },
  { name: 'both: interval and deadRatio', edits: both((cfg) => Object.assign(cfg.instances.lab, { interval: `${2 * INTERVAL}ms`, deadRatio: 4 })) },
  {
    name: 'MASTER: priority lowered below the BACKUP: it preempts, the EIP moves once',
    edits: onMaster((cfg) => (cfg.instances.lab.priority = 50)),
    expect: ['lab1:lab MASTER->BACKUP', 'lab2:lab BACKUP->MASTER'],
    eip: ['attach lab2', 'detach lab1'],
    overlapMs: 3 * INTERVAL,
    settled: async (rc) => rc.c.waitFor('the EIP on lab2 alone', 10_000, async () => (rc.lab!.holders().join() === rc.lab!.instanceIds[1] ? true : undefined)),
  },
  {
    name: 'BACKUP: priority raised above the MASTER: it preempts, the EIP moves once',
    edits: onBackup((cfg) => (cfg.instances.lab.priority = 200)),
    expect: ['lab1:lab MASTER->BACKUP', 'lab2:lab BACKUP->MASTER'],
    eip: ['attach lab2', 'detach lab1'],
    overlapMs: 3 * INTERVAL,
    settled: async (rc) => rc.c.waitFor('the EIP on lab2 alone', 10_000, async () => (rc.lab!.holders().join() === rc.lab!.instanceIds[1] ? true : undefined)),
  },
  {
    name: 'MASTER: an instance added, then removed (its STOP actions run; the other instance is untouched)',
    edits: [
      ...onMaster((cfg, dir) => (cfg.instances.db = { address: '198.51.100.60', priority: 100, interval: `${INTERVAL}ms`, peers: [], actions: [{ plugin: 'recorder', file: join(dir, 'db-rec') }] })),
      ...onMaster((cfg) => delete cfg.instances.db),
    ],
    nodeExtras: () => ({ plugins: [RECORDER] }),
    expect: ['lab1:db INIT->BACKUP', 'lab1:db BACKUP->MASTER', 'lab1:db MASTER->STOP'],
    after: { 0: async (rc) => rc.c.waitFor('db MASTER', 5000, async () => ((await status(rc.c, rc.master, 'db'))?.state === 'MASTER' ? true : undefined)) },
    settled: async (rc) => rc.c.waitFor('db stopped', 5000, async () => (transitions(rc.master).some((x) => x.instance === 'db' && x.to === 'STOP') ? true : undefined)),
  },
  { name: 'MASTER: an invalid file (ipwarden reload exits 1)', cli: true, edits: onMaster((cfg) => (cfg.instances.lab.interval = 'fast')), refused: /instances\.lab\.interval: expected a duration/ },
  { name: 'BACKUP: an invalid file (SIGHUP)', edits: onBackup((cfg) => (cfg.instances.lab.priority = 'high')), refused: /instances\.lab\.priority/ },
  {
    name: 'MASTER: a plugin whose create() fails: nothing changes, not even the other edits of the file',
    cli: true,
    nodeExtras: () => ({ plugins: [RECORDER] }),
    edits: onMaster((cfg, dir) => {
      cfg.instances.lab.priority = 50; // would hand over if applied
      cfg.instances.lab.actions.push({ plugin: 'recorder', name: 'rec', file: join(dir, 'rec'), failCreate: 'no credentials for the recorder' });
    }),
    refused: /instances\.lab\.actions\[1\] \(action rec: create failed: no credentials for the recorder\)/,
  },
);

for (const k of cases) t.test(k.name, (t) => runCase(t, k));

t.test('an added weight-0 check that fails hands over after `fall` failures, not at once', async (t) => {
  const rc = await startReloadCluster(t, { eip: true, before: (d) => writeFileSync(join(d, 'failing'), '1\n') });
  const { c, master } = rc;
  const reloadedAt = Date.now();
  editConfig(master, (cfg) => (cfg.instances.lab.checks = [{ plugin: 'file', name: 'bad', path: join(c.dir, 'failing'), interval: `${INTERVAL}ms`, fall: 3, weight: 0 }]));
  t.equal((await sighup(c, master)).event, 'reloaded');
  await c.waitFor('lab1 FAULT', 5000, async () => ((await status(c, master))?.state === 'FAULT' ? true : undefined));
  const fault = transitions(master).find((x) => x.to === 'FAULT')!;
  t.ok(fault.at - reloadedAt >= 2 * INTERVAL, `FAULT ${fault.at - reloadedAt} ms after the reload: after 3 failed runs, 100 ms apart`);
  t.match(fault.reason, /check bad failed/);
  await c.waitFor('the EIP on lab2', 10_000, async () => (rc.lab!.holders().join() === rc.lab!.instanceIds[1] ? true : undefined));
  t.same(doubleMasters([...transitions(master), ...transitions(rc.backup)]).filter((d) => d.to > reloadedAt), [], 'never two MASTERs since the reload');
});

t.test('an action added on a MASTER that held no EIP attaches it', async (t) => {
  const rc = await startReloadCluster(t, { eip: true, eipOn: [1] });
  const { c, master, lab } = rc;
  t.same(lab!.holders(), [], 'nobody holds the EIP: the MASTER has no exoscale-eip action');
  const since = Date.now();
  const action = lab!.instanceExtras(0).actions as unknown[];
  editConfig(master, (cfg) => (cfg.instances.lab.actions = action));
  t.equal(cliReload(master).code, 0, 'ipwarden reload exits 0');
  await c.waitFor('the EIP on lab1', 10_000, async () => (lab!.holders().join() === lab!.instanceIds[0] ? true : undefined));
  t.same(eipCalls(rc, since), ['attach lab1'], 'one attach, to the MASTER');
  t.same(brief(transitions(master).filter((x) => x.at >= since)), [], 'no transition');
});

t.test('an invalid file: the log has one error naming the path', async (t) => {
  const rc = await startReloadCluster(t, {});
  editConfig(rc.master, (cfg) => (cfg.instances.lab.interval = 'fast'));
  await sighup(rc.c, rc.master);
  const errors = events(rc.master, 'reload-rejected');
  t.equal(errors.length, 1, 'one line');
  t.match(String(errors[0]!.err), /instances\.lab\.interval/);
});
