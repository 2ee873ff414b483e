/**
 * Scripts mode end to end with the ip-alias action: two real keepalived 2.2 nodes in two network
 * namespaces (VRRPv3, unicast) drive ipwarden, whose ip-alias action puts 198.51.100.50 on lo of
 * the MASTER's namespace.
 * - notify_* scripts (`ipwarden notify --instance ... --detach`) and keepalived's generic notify
 *   (`ipwarden notify --detach`, keepalived appending INSTANCE NAME STATE PRIO): the master goes
 *   to FAULT (track_file) and back. (Stopping keepalived relies on the STOP script, which keepalived
 *   kills after 1 s: the ip-alias removal then depends on how fast the machine starts the CLI.
 *   With the Exoscale action the new master fences the old holder anyway: scripts-mode-exoscale.)
 * - the notify FIFO (`ipwarden keepalived-fifo`): keepalived stopped on the master and started
 *   again; the consumer keeps reading across the restart.
 */
import t from 'tap';
import { requireEnv } from '../lib/env.js';
import { cluster, expectHolders } from './lib/cluster.js';

const skip = requireEnv({ netns: true, bins: ['keepalived'] });

for (const mode of ['notify_*', 'notify'] as const) {
  t.test(`keepalived ${mode} -> ipwarden notify --detach -> ip-alias: the master faults and recovers`, { skip }, async (t) => {
    const c = await cluster(t, mode, 'ip-alias');
    c.start(0);
    c.start(1);
    await expectHolders(t, c, ['h0'], 'started (h0 has priority 200)');
    c.fault(0, true);
    await expectHolders(t, c, ['h1'], 'h0 in FAULT');
    c.fault(0, false);
    await expectHolders(t, c, ['h0'], 'h0 recovered (preempts)');
    t.match(c.logs(0), /"to":"FAULT"/, 'h0 ran its FAULT actions');
  });
}

t.test('keepalived notify FIFO -> ipwarden keepalived-fifo -> ip-alias: the master stops and starts again', { skip }, async (t) => {
  const c = await cluster(t, 'fifo', 'ip-alias');
  c.start(0);
  c.start(1);
  await expectHolders(t, c, ['h0'], 'started (h0 has priority 200)');
  await c.keepalived[0]!.stop('SIGTERM');
  await expectHolders(t, c, ['h1'], 'keepalived stopped on the master');
  c.start(0);
  await expectHolders(t, c, ['h0'], 'keepalived back on h0 (preempts)');
  t.match(c.logs(0), /"event":"transition".*"to":"STOP"/, "h0's consumer saw its keepalived stop and kept reading after the restart");
});
