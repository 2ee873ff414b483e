/**
 * A failing weight-0 check puts the MASTER in FAULT and a backup takes over; when the check
 * passes again the node comes back as BACKUP and (preempt on) takes the IP back.
 * Real daemons on loopback, the real `file` check plugin, a file the test flips.
 */
import t from 'tap';
import { join } from 'node:path';
import { DEAD_RATIO, INTERVAL, instance, setFile, stableMaster, startCluster, transitions, waitStatus } from './lib/cluster.js';

t.test('weight 0: FAULT on the master, backup takes over, recovery -> BACKUP -> preempt', async (t) => {
  let flag = '';
  const c = await startCluster(t, {
    before: (dir) => setFile((flag = join(dir, 'maint')), '0'),
    checks: (i, dir) => (i === 0 ? [{ plugin: 'file', name: 'maint', path: join(dir, 'maint'), interval: `${INTERVAL}ms`, weight: 0 }] : []),
  });
  const [lab1, lab2] = c.nodes as [(typeof c.nodes)[0], (typeof c.nodes)[0]];
  await stableMaster(c, 'lab1');
  const up = await instance(c, lab1);
  t.match(up?.checks, [{ name: 'maint', plugin: 'file', state: 'ok', weight: 0, lastResult: { ok: true, detail: `${flag}: 0` } }], 'status shows the passing check');
  t.notOk(up?.fault, 'no fault');

  // the check starts failing: fall 3 (the default) runs later, FAULT
  const failedAt = Date.now();
  setFile(flag, '1');
  const fault = await waitStatus(c, lab1, 'FAULT', (s) => s.state === 'FAULT');
  const took = Date.now() - failedAt;
  t.ok(took < 3 * INTERVAL + 2 * INTERVAL + 300, `FAULT ${took} ms after the file changed (fall 3 × ${INTERVAL} ms)`);
  t.equal(fault.fault, 'check maint failed (weight 0)', 'status names the FAULT reason');
  t.equal(fault.lastTransition?.reason, 'check maint failed (weight 0)');
  t.match(fault.checks, [{ name: 'maint', state: 'fail', lastResult: { ok: false, detail: `${flag}: 1` } }]);
  t.ok(fault.checks[0]!.consecutive >= 3, 'failed fall (3) times in a row');

  // the backup takes over quickly: the FAULT advert tells it, no dead timer
  await stableMaster(c, 'lab2', 2000);
  const b = await instance(c, lab2);
  t.equal(b?.state, 'MASTER');
  t.ok(b!.lastTransition!.at - failedAt < 3 * INTERVAL + DEAD_RATIO * INTERVAL + 500, `lab2 MASTER ${b!.lastTransition!.at - failedAt} ms after the check started failing`);
  t.match(b?.peers, [{ id: 'lab1', state: 'FAULT', alive: true }], 'lab2 still hears lab1 (FAULT nodes keep advertising)');
  t.same(await c.masters(), ['lab2'], 'exactly one MASTER');

  // recovery: rise 2 passes -> BACKUP, then lab1 preempts (150 > 100)
  setFile(flag, '0');
  await waitStatus(c, lab1, 'back from FAULT', (s) => s.state !== 'FAULT');
  await stableMaster(c, 'lab1', 3000);
  const seq = transitions(lab1).map((x) => `${x.from}->${x.to}`);
  const i = seq.lastIndexOf('MASTER->FAULT');
  t.same(seq.slice(i), ['MASTER->FAULT', 'FAULT->BACKUP', 'BACKUP->MASTER'], 'FAULT -> BACKUP -> MASTER');
  const last = transitions(lab1).slice(i);
  t.equal(last[1]!.reason, 'checks pass again');
  t.match(last[2]!.reason, /preempting lab2/);
  const back = await instance(c, lab1);
  t.match(back?.checks, [{ state: 'ok' }]);
  t.notOk(back?.fault);
});

t.test('initialState fail (the default): a node whose weight-0 check never passed never takes the IP', async (t) => {
  const c = await startCluster(t, {
    before: (dir) => setFile(join(dir, 'maint'), '1'),
    checks: (i, dir) => (i === 0 ? [{ plugin: 'file', name: 'maint', path: join(dir, 'maint'), interval: `${INTERVAL}ms` }] : []),
  });
  await stableMaster(c, 'lab2');
  const s = await instance(c, c.nodes[0]!);
  t.equal(s?.state, 'FAULT', 'lab1 (higher priority) stays in FAULT');
  t.equal(s?.fault, 'check maint failed (weight 0)');
  t.notOk(transitions(c.nodes[0]!).some((x) => x.to === 'MASTER'), 'lab1 never was MASTER');
});
