/**
 * Scripts mode with the Exoscale action when keepalived on the master crashes (SIGKILL to both of
 * its processes: no STOP script runs, the old master never releases the Elastic IP): the new
 * master's `ipwarden notify` attaches it and detaches it from the old holder (fencing), so it ends
 * attached to the new master only. Two real keepalived 2.2 nodes in namespaces, the API simulator
 * in a third one.
 */
import t from 'tap';
import { requireEnv } from '../lib/env.js';
import { cluster, expectHolders } from './lib/cluster.js';

const skip = requireEnv({ netns: true, bins: ['keepalived'] });

t.test('keepalived killed (no STOP) on the master: the new master fences the Elastic IP', { skip }, async (t) => {
  const c = await cluster(t, 'notify_*', 'exoscale-eip');
  c.start(0);
  c.start(1);
  await expectHolders(t, c, ['h0'], 'started');
  await c.keepalived[0]!.crash();
  await expectHolders(t, c, ['h1'], 'keepalived killed on the master: attached to h1, detached from h0 by h1');
  t.notMatch(c.logs(0), /"to":"STOP"/, 'h0 never ran STOP actions');
});
