/**
 * The etcd facts behind the documented failover bound (ipwarden(8), ETCD ELECTION, Failover times)
 * and the `config check` warning for a ttl below 3s, checked against Debian's etcd-server:
 * - etcd grants at least ceil(1.5 x its election timeout) seconds: 2 s with its default timers,
 *   whatever shorter TTL is asked;
 * - an expired lease's keys go only at etcd's next expiry scan (every 500 ms): never before the
 *   TTL, but up to about 500 ms after it, which is the share of a 1 s TTL that broke the
 *   "ttl + ttl/4" bound.
 */
import t from 'tap';
import { Etcd3 } from 'etcd3';
import { EtcdCluster } from '../lib/etcd-cluster.js';
import { requireEnv } from '../lib/env.js';
import { ETCD_EXPIRY_SCAN_MS } from '../../src/election/config.js';

const skip = requireEnv({ bins: ['etcd', 'etcdctl'] });
const monotonic = (): number => performance.now();

t.test('etcd lease minimum TTL and expiry scan', { skip }, async (t) => {
  const etcd = new EtcdCluster({ members: 1 });
  t.teardown(() => etcd.destroy());
  await etcd.start();
  const client = new Etcd3({ hosts: etcd.clientUrls() });
  t.teardown(() => client.close());

  t.test('a 1 s lease asked of an etcd with default timers is granted for 2 s', async (t) => {
    const res = await client.leaseClient.leaseGrant({ TTL: 1 });
    t.equal(Number(res.TTL), 2, `granted TTL ${res.TTL} s (ceil(1.5 x 1000 ms election timeout))`);
    await client.leaseClient.leaseRevoke({ ID: res.ID });
  });

  t.test('keys of an expired lease go at the next 500 ms scan: never early, spread over the scan period', async (t) => {
    const TTL_MS = 2000;
    const N = 8;
    const prefix = `/expiry-${process.pid}/`;
    const deleted = new Map<string, number>();
    const watcher = await client.watch().prefix(prefix).create();
    t.teardown(() => watcher.cancel());
    watcher.on('delete', (kv) => deleted.set(kv.key.toString(), monotonic()));
    // leases granted at staggered offsets across one scan period, so their expiries fall at
    // different phases of etcd's scan
    const sentAt = new Map<string, number>();
    await Promise.all(
      Array.from({ length: N }, async (_, i) => {
        await new Promise((r) => setTimeout(r, (i * ETCD_EXPIRY_SCAN_MS) / N));
        const key = `${prefix}${i}`;
        const sent = monotonic();
        const lease = await client.leaseClient.leaseGrant({ TTL: TTL_MS / 1000 });
        t.equal(Number(lease.TTL), TTL_MS / 1000, `lease ${i} granted for ${lease.TTL} s`);
        await client.kv.put({ key: Buffer.from(key), value: Buffer.from('x'), lease: lease.ID });
        sentAt.set(key, sent);
      }),
    );
    const deadline = monotonic() + TTL_MS + ETCD_EXPIRY_SCAN_MS + 10_000;
    while (deleted.size < N && monotonic() < deadline) await new Promise((r) => setTimeout(r, 20));
    t.equal(deleted.size, N, 'every key was deleted by expiry');
    const late = [...sentAt].map(([key, sent]) => Math.round(deleted.get(key)! - sent - TTL_MS)).sort((a, b) => a - b);
    t.comment(`deletion after grant request + TTL (ms): ${late.join(', ')}`);
    t.ok(late[0]! >= 0, `no key went before its TTL (earliest ${late[0]} ms after)`);
    // the spread shows the scan: with expiries staggered over 500 ms, some wait most of a period
    t.ok(late[N - 1]! >= ETCD_EXPIRY_SCAN_MS / 2, `the latest deletion came ${late[N - 1]} ms after its TTL (etcd scans every ${ETCD_EXPIRY_SCAN_MS} ms)`);
    t.ok(late[N - 1]! - late[0]! >= ETCD_EXPIRY_SCAN_MS / 4, `deletions spread over ${late[N - 1]! - late[0]!} ms, not immediate at expiry`);
  });
});
