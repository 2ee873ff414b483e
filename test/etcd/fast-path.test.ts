/**
 * The crash fast path of the etcd backend with real etcd and real daemons (election.heartbeat:
 * true): SIGKILL the MASTER (its host lives, its heartbeat port answers ICMP port unreachable) ->
 * a backup revokes its lease and the next MASTER is elected within one heartbeat interval and a
 * little, not after the TTL; SIGSTOP the MASTER (frozen: socket open, no ICMP) -> no revocation,
 * the failover waits for the lease to expire. "Two MASTERs" is judged from the transitions the
 * daemons recorded.
 */
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalCluster, sleep } from '../../src/lab/local-cluster.js';
import { EtcdCluster } from '../lib/etcd-cluster.js';
import { requireEnv } from '../lib/env.js';
import { stableMaster } from '../lib/cluster-watch.js';
import { masterOverlaps, recorded } from '../lib/etcd-lab.js';

const TTL = 3000;
const RENEW = TTL / 4;
const INTERVAL = 500;
/** Detection within one interval (the next advert bounces); then a read, the revocation, the watch event and the claim. */
const SLACK = 700;
const RECORDER = fileURLToPath(new URL('../lib/recorder-action.mjs', import.meta.url));
const skip = requireEnv({ bins: ['etcd', 'etcdctl'] });

function logLines(file: string, from: number, pattern: RegExp): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => pattern.test(l))
    .filter((l) => {
      try {
        return Date.parse((JSON.parse(l) as { time: string }).time) >= from;
      } catch {
        return false;
      }
    });
}

t.test('etcd crash fast path with real etcd and daemons', { skip }, async (t) => {
  const etcd = new EtcdCluster({ members: 1 });
  t.teardown(() => etcd.destroy());
  await etcd.start();

  async function cluster(t: Test, prefix: string) {
    const c: LocalCluster = new LocalCluster({
      nodes: 3,
      intervalMs: INTERVAL,
      deadRatio: 3,
      extras: { plugins: [RECORDER], election: { backend: 'etcd', endpoints: etcd.clientUrls(), prefix, ttl: `${TTL / 1000}s`, heartbeat: true } },
      instanceExtras: () => ({ actions: [{ plugin: 'recorder', file: join(c.dir, 'transitions.jsonl') }] }),
    });
    t.teardown(() => c.destroy());
    await c.prepare();
    await c.startAll();
    return { c, file: join(c.dir, 'transitions.jsonl') };
  }

  t.test('SIGKILL the master: a backup revokes its lease, a new master within one interval + slack', async (t) => {
    const { c, file } = await cluster(t, '/fast-kill');
    const first = await stableMaster(c, { expect: 'lab1', settleMs: RENEW, timeoutMs: 20_000 });
    const st = (await c.status(first))!.instances[0]!;
    t.equal(st.election?.heartbeat?.peers.filter((p) => p.alive && p.etcdOk).length, 2, 'the master hears both peers over the heartbeat channel, each reporting etcd ok');
    for (let round = 1; round <= 2; round++) {
      const killedAt = Date.now();
      await c.kill(first, 'SIGKILL');
      const second = await stableMaster(c, { settleMs: 200, timeoutMs: 10_000 });
      t.equal(second.id, 'lab2', `round ${round}: the best remaining candidate takes over`);
      const tr = (await c.status(second))!.instances[0]!.lastTransition!;
      const took = tr.at - killedAt;
      t.ok(took <= INTERVAL + SLACK, `round ${round}: new MASTER ${took} ms after SIGKILL (bound interval + ${SLACK} ms = ${INTERVAL + SLACK}; the lease alone would take ~${TTL} ms)`);
      t.equal(tr.cause, 'master-dead');
      const revoked = [...logLines(c.nodes[1]!.logFile, killedAt, /dead-master-revoked/), ...logLines(c.nodes[2]!.logFile, killedAt, /dead-master-revoked/)];
      t.ok(revoked.length >= 1, `a backup revoked lab1's lease: ${revoked[0] ? (JSON.parse(revoked[0]) as { msg: string }).msg : 'none'}`);
      t.same(masterOverlaps(recorded(file), killedAt, new Map([['lab1', killedAt]])), [], 'never two MASTERs (from the recorded transitions)');
      await c.start(first);
      await stableMaster(c, { expect: 'lab1', settleMs: RENEW, timeoutMs: 20_000 });
    }
  });

  t.test('SIGSTOP the master: no proof, no revocation; the failover waits for the lease', async (t) => {
    const { c, file } = await cluster(t, '/fast-stop');
    const first = await stableMaster(c, { expect: 'lab1', settleMs: RENEW, timeoutMs: 20_000 });
    const stoppedAt = Date.now();
    first.process!.kill('SIGSTOP');
    t.teardown(() => first.process?.kill('SIGKILL'));
    const second = await stableMaster(c, { settleMs: 200, timeoutMs: 3 * TTL });
    const tr = (await c.status(second))!.instances[0]!.lastTransition!;
    const took = tr.at - stoppedAt;
    t.ok(took >= TTL - RENEW, `new MASTER ${took} ms after SIGSTOP: not before the lease could expire (>= ttl - ttl/4 = ${TTL - RENEW} ms)`);
    t.equal(tr.cause, 'master-dead');
    for (const n of c.nodes.slice(1)) t.same(logLines(n.logFile, stoppedAt, /dead-master-revoked|peer-dead/), [], `${n.id} took no port-unreachable proof from a frozen daemon`);
    // the frozen node still "is" MASTER in its own frozen record: judge the live ones
    t.same(masterOverlaps(recorded(file).filter((r) => r.node !== 'lab1'), stoppedAt), [], 'one MASTER among the live nodes');
    await c.kill(first, 'SIGKILL');
    await sleep(10);
  });
});
