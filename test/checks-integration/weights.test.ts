/**
 * Check weights reorder priorities (keepalived vrrp_script semantics) between real daemons:
 * lab1 has priority 150, lab2 100. Real `file` checks; the test flips their files.
 */
import t from 'tap';
import { join } from 'node:path';
import { INTERVAL, instance, setFile, sleep, stableMaster, startCluster, transitions, waitStatus } from './lib/cluster.js';

const fileCheck = (dir: string, name: string, weight: number) => ({ plugin: 'file', name, path: join(dir, name), interval: `${INTERVAL}ms`, weight });

t.test('negative weight: failing on the master below the backup -> the backup preempts; passing again -> back', async (t) => {
  let dir = '';
  const c = await startCluster(t, {
    before: (d) => {
      dir = d;
      setFile(join(d, 'deep'), '0');
      setFile(join(d, 'shallow'), '0');
    },
    // -60: 150 -> 90 < 100 moves the IP; -40: 150 -> 110 does not
    checks: (i, d) => (i === 0 ? [fileCheck(d, 'deep', -60), fileCheck(d, 'shallow', -40)] : []),
  });
  const [lab1, lab2] = [c.nodes[0]!, c.nodes[1]!];
  await stableMaster(c, 'lab1');
  t.equal((await instance(c, lab1))?.effectivePriority, 150);

  setFile(join(dir, 'shallow'), '1');
  const low = await waitStatus(c, lab1, 'priority 110', (s) => s.effectivePriority === 110);
  t.equal(low.state, 'MASTER');
  await sleep(5 * INTERVAL);
  t.same(await c.masters(), ['lab1'], '-40: 110 is still above 100, lab1 keeps the IP');
  t.match((await instance(c, lab2))?.peers, [{ id: 'lab1', priority: 110 }], 'lab2 sees the lowered priority in the adverts');
  setFile(join(dir, 'shallow'), '0');
  await waitStatus(c, lab1, 'priority 150 again', (s) => s.effectivePriority === 150);

  setFile(join(dir, 'deep'), '1');
  await stableMaster(c, 'lab2', 3000);
  const s1 = await instance(c, lab1);
  t.equal(s1?.state, 'BACKUP', 'lab1 hands over as BACKUP (not FAULT)');
  t.equal(s1?.effectivePriority, 90);
  t.notOk(s1?.fault);
  t.match(s1?.checks, [{ name: 'deep', state: 'fail', weight: -60 }, { name: 'shallow', state: 'ok' }]);
  t.match(transitions(lab2).at(-1)?.reason, /preempting lab1 prio 90 \(ours 100\)/, 'lab2 preempted the lowered master');

  setFile(join(dir, 'deep'), '0');
  await stableMaster(c, 'lab1', 3000);
  t.equal((await instance(c, lab1))?.effectivePriority, 150);
  t.match(transitions(lab1).at(-1)?.reason, /preempting lab2 prio 100 \(ours 150\)/);
});

t.test('positive weight: a passing check lifts the backup above the master; failing drops it back', async (t) => {
  let flag = '';
  const c = await startCluster(t, {
    before: (d) => setFile((flag = join(d, 'boost')), '1'),
    // lab2: 100 + 60 = 160 > 150 while the check passes
    checks: (i, d) => (i === 1 ? [fileCheck(d, 'boost', 60)] : []),
  });
  const [lab1, lab2] = [c.nodes[0]!, c.nodes[1]!];
  await stableMaster(c, 'lab1');
  t.equal((await instance(c, lab2))?.effectivePriority, 100, 'failing positive weight adds nothing');

  setFile(flag, '0');
  await stableMaster(c, 'lab2', 3000);
  const s2 = await instance(c, lab2);
  t.equal(s2?.effectivePriority, 160);
  t.match(transitions(lab2).at(-1)?.reason, /preempting lab1 prio 150 \(ours 160\)/);

  setFile(flag, '1');
  await stableMaster(c, 'lab1', 3000);
  t.equal((await instance(c, lab2))?.effectivePriority, 100);
  t.equal((await instance(c, lab1))?.state, 'MASTER');
});
