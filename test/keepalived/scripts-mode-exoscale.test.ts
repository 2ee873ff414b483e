/**
 * Scripts mode end to end with the Exoscale action: two real keepalived 2.2 nodes in two network
 * namespaces (VRRPv3, unicast) drive ipwarden, whose exoscale-eip action attaches the Elastic IP
 * 198.51.100.50 in the API simulator (in a third namespace) to the MASTER. Stopping
 * keepalived on the master leaves the EIP attached to the other node only; starting it again
 * moves it back (priority 200 preempts). Through notify_* scripts and through the notify FIFO.
 * (A crashed keepalived: scripts-mode-exoscale-crash.test.ts.)
 */
import t from 'tap';
import { requireEnv } from '../lib/env.js';
import { cluster, expectHolders } from './lib/cluster.js';

const skip = requireEnv({ netns: true, bins: ['keepalived'] });

for (const mode of ['notify_*', 'fifo'] as const) {
  const path = mode === 'fifo' ? 'notify FIFO -> ipwarden keepalived-fifo' : 'notify_* -> ipwarden notify --detach';
  t.test(`keepalived ${path} -> exoscale-eip (API simulator): the master stops and starts again`, { skip }, async (t) => {
    const c = await cluster(t, mode, 'exoscale-eip');
    c.start(0);
    c.start(1);
    await expectHolders(t, c, ['h0'], 'started (h0 has priority 200)');
    await c.keepalived[0]!.stop('SIGTERM');
    await expectHolders(t, c, ['h1'], 'keepalived stopped on the master');
    c.start(0);
    await expectHolders(t, c, ['h0'], 'keepalived back on h0 (preempts)');
    if (mode === 'fifo') {
      t.match(c.logs(0), /"event":"transition".*"to":"STOP"/, "h0's consumer saw its keepalived stop and kept reading after the restart");
    }
  });
}
