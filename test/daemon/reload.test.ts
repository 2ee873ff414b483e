/**
 * Reload on real daemons: a reload changes an instance's state only when the new config demands
 * it (issue 12). Transitions are judged from the daemons' own records (their JSON logs).
 */
import t from 'tap';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { INTERVAL, editConfig, events, sighup, startReloadCluster, status, transitions } from './lib/reload-cluster.js';

const fileCheck = (dir: string, extra: Record<string, unknown> = {}) => ({ plugin: 'file', name: 'f', path: join(dir, 'flag'), interval: `${INTERVAL}ms`, weight: 0, ...extra });

t.test('a check given a timeout on the MASTER: no transition on either node (the reported flap)', async (t) => {
  const { c, master, backup } = await startReloadCluster(t, {
    before: (dir) => writeFileSync(join(dir, 'flag'), '0\n'),
    instance: (_i, dir) => ({ checks: [fileCheck(dir)] }),
  });
  const before = { m: transitions(master).length, b: transitions(backup).length };
  editConfig(master, (cfg) => (cfg.instances.lab.checks[0].timeout = '150ms'));
  const outcome = await sighup(c, master);
  t.equal(outcome.event, 'reloaded', 'the reload was applied');
  // the changed check has had results of its own, more than `fall` of them
  await c.waitFor('5 runs of the changed check', 5000, async () => {
    const s = await status(c, master);
    return s && s.checks[0]!.runs >= 5 ? true : undefined;
  });
  const s = await status(c, master);
  t.equal(s?.state, 'MASTER', 'the MASTER is still MASTER');
  t.same(transitions(master).slice(before.m), [], 'no transition on the MASTER');
  t.same(transitions(backup).slice(before.b), [], 'no transition on the BACKUP');
  t.same(events(master, 'reload-rejected'), [], 'nothing rejected');
});
