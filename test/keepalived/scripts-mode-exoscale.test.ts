/**
 * Scripts mode end to end with the Exoscale action: two real keepalived 2.2 nodes in two network
 * namespaces (VRRPv3, unicast) drive ipwarden, whose exoscale-eip action attaches the Elastic IP
 * 198.51.100.50 in the API simulator (on the lab bridge, 198.51.100.1) to the MASTER. Stopping
 * keepalived on the master leaves the EIP attached to the other node only; starting it again
 * moves it back (priority 200 preempts). Through notify_* scripts and through the notify FIFO;
 * and a crashed keepalived (no STOP): the new master fences the old holder.
 */
import t from 'tap';
import { requireEnv } from '../lib/env.js';
import { cluster, expectHolders, type Action, type Mode } from './lib/cluster.js';

const skip = requireEnv({ netns: true, bins: ['keepalived'] });

const CASES: [Mode, Action][] = [
  ['notify_*', 'exoscale-eip'],
  ['fifo', 'exoscale-eip'],
];

for (const [mode, action] of CASES) {
  const path = mode === 'fifo' ? 'notify FIFO -> ipwarden keepalived-fifo' : `${mode} -> ipwarden notify --detach`;
  t.test(`keepalived ${path} -> ${action === 'exoscale-eip' ? 'exoscale-eip (API simulator)' : 'ip-alias'}`, { skip }, async (t) => {
    const c = await cluster(t, mode, action);
    c.start(0);
    c.start(1);
    await expectHolders(t, c, ['h0'], 'started (h0 has priority 200)');
    await c.keepalived[0]!.stop('SIGTERM');
    await expectHolders(t, c, ['h1'], 'keepalived stopped on the master');
    c.start(0);
    await expectHolders(t, c, ['h0'], 'keepalived back on h0 (preempts)');
    if (mode === 'fifo') {
      t.match(c.logs(0), /"event":"transition".*"to":"STOP"/, 'h0\'s consumer saw its keepalived stop and kept reading after the restart');
    }
  });
}

t.test('keepalived killed (no STOP) on the master: the new master fences the Elastic IP', { skip }, async (t) => {
  const c = await cluster(t, 'notify_*', 'exoscale-eip');
  c.start(0);
  c.start(1);
  await expectHolders(t, c, ['h0'], 'started');
  await c.keepalived[0]!.crash();
  await expectHolders(t, c, ['h1'], 'keepalived killed on the master: attached to h1, detached from h0 by h1');
  t.notMatch(c.logs(0), /"to":"STOP"/, 'h0 never ran STOP actions');
});
