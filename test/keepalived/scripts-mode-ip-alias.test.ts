/**
 * Scripts mode end to end with the ip-alias action: two real keepalived 2.2 nodes in two network
 * namespaces (VRRPv3, unicast) drive ipwarden, whose ip-alias action puts 198.51.100.50 on lo of
 * the MASTER's namespace. Stopping keepalived on the master moves it to the other node only (the
 * STOP actions remove it); starting it again moves it back. Through notify_* scripts
 * (`ipwarden notify --instance ... --detach`), keepalived's generic notify (`ipwarden notify
 * --detach`, keepalived appending INSTANCE NAME STATE PRIO) and the notify FIFO.
 */
import t from 'tap';
import { requireEnv } from '../lib/env.js';
import { cluster, expectHolders, type Action, type Mode } from './lib/cluster.js';

const skip = requireEnv({ netns: true, bins: ['keepalived'] });

const CASES: [Mode, Action][] = [
  ['notify_*', 'ip-alias'],
  ['notify', 'ip-alias'],
  ['fifo', 'ip-alias'],
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

