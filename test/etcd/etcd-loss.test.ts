/**
 * onEtcdLoss hold-if-peers-agree with real etcd (3 members on loopback) and three daemons with
 * election.heartbeat: true:
 * - quorum lost with every peer up: the MASTER keeps the IP (no transition on any node); quorum
 *   back: still no transition;
 * - quorum lost while a peer is partitioned from the MASTER on the heartbeat channel: the MASTER
 *   steps down at its deadline as with onEtcdLoss release, so when that peer is later elected (the
 *   old MASTER cut off from etcd) the old MASTER had stepped down before.
 * Every daemon's etcd traffic goes through a TCP proxy in this process (one node can be cut off
 * from etcd). Transitions are judged from what the daemons recorded.
 */
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalCluster, sleep } from '../../src/lab/local-cluster.js';
import { ETCD_ELECTION_TIMEOUT_MS, EtcdCluster } from '../lib/etcd-cluster.js';
import { requireEnv } from '../lib/env.js';
import { stableMaster } from '../lib/cluster-watch.js';
import { etcdProxies, masterOverlaps, recorded } from '../lib/etcd-lab.js';

const TTL = 3000;
const RENEW = TTL / 4;
const STEP_DOWN = TTL / 2;
const INTERVAL = 1000;
const DEAD_RATIO = 3;
const RECORDER = fileURLToPath(new URL('../lib/recorder-action.mjs', import.meta.url));
const skip = requireEnv({ bins: ['etcd', 'etcdctl'] });
/** A leader cut from its quorum keeps answering until CheckQuorum notices (up to two election timeouts). */
const QUORUM_NOTICED_MS = 2 * ETCD_ELECTION_TIMEOUT_MS;

t.test('onEtcdLoss hold-if-peers-agree with real etcd and daemons', { skip }, async (t) => {
  const etcd = new EtcdCluster({ members: 3 });
  t.teardown(() => etcd.destroy());
  await etcd.start();
  const proxies = await etcdProxies(t, etcd, 3);
  const [, a, b] = etcd.members as [unknown, (typeof etcd.members)[number], (typeof etcd.members)[number]];

  /** `partitioned`: lab1 and lab2 list each other at a port nobody listens on (no heartbeats between them). */
  async function cluster(t: Test, prefix: string, partitioned = false) {
    const c: LocalCluster = new LocalCluster({
      nodes: 3,
      intervalMs: INTERVAL,
      deadRatio: DEAD_RATIO,
      extras: { plugins: [RECORDER] },
      nodeExtras: (i) => ({
        election: {
          backend: 'etcd',
          endpoints: proxies[i]!.map((p) => `http://127.0.0.1:${p.port}`),
          prefix,
          ttl: `${TTL / 1000}s`,
          heartbeat: true,
          onEtcdLoss: 'hold-if-peers-agree',
        },
      }),
      instanceExtras: (i) => ({
        actions: [{ plugin: 'recorder', file: join(c.dir, 'transitions.jsonl') }],
        ...(partitioned && i < 2
          ? { peers: c.nodes.filter((n) => n.index !== i).map((n) => `${n.address}:${n.index < 2 ? c.port + 1 : c.port}`) }
          : {}),
      }),
    });
    t.teardown(() => c.destroy());
    await c.prepare();
    await c.startAll();
    return { c, file: join(c.dir, 'transitions.jsonl') };
  }

  t.test('quorum lost with every peer up: the MASTER holds; quorum back: no transition anywhere', async (t) => {
    const { c, file } = await cluster(t, '/hold-all');
    const master = await stableMaster(c, { expect: 'lab1', settleMs: RENEW, timeoutMs: 30_000 });
    const before = recorded(file).length;
    const lostAt = Date.now();
    await Promise.all([etcd.stop(a, 'SIGKILL'), etcd.stop(b, 'SIGKILL')]);
    t.teardown(() => etcd.restart([a, b]).catch(() => undefined));
    const st = await c.waitFor('the MASTER holding on its peers\' agreement', QUORUM_NOTICED_MS + STEP_DOWN + RENEW + 5000, async () => {
      const s = (await c.status(master))?.instances[0];
      return s?.election?.holding?.startsWith('every peer') ? s : undefined;
    });
    t.match(st.election!.holding, /every peer \(lab2, lab3\) cannot reach etcd either and sees us as MASTER, term \d+/, `status says why: ${st.election!.holding}`);
    t.equal(st.state, 'MASTER');
    t.match(st.election!.heartbeat, { etcdOk: false });
    // hold well past the step-down deadline and past the TTL: nothing moves
    await sleep(TTL + STEP_DOWN);
    t.same(await c.masters(), ['lab1'], 'still MASTER without quorum');
    t.same(recorded(file).slice(before), [], `no transition on any node in ${Date.now() - lostAt} ms without quorum`);

    await etcd.restart([a, b]);
    await c.waitFor('the MASTER renewing again', 20_000, async () => {
      const s = (await c.status(master))?.instances[0];
      return s?.election?.connected && !s.election.holding && s.election.heartbeat?.etcdOk ? true : undefined;
    });
    // the peers reach etcd again too; they wait before any campaign (the key is held anyway)
    await sleep(DEAD_RATIO * INTERVAL + STEP_DOWN + TTL);
    t.same(await c.masters(), ['lab1']);
    const after = recorded(file).slice(before);
    if (after.length) for (const n of c.nodes) t.comment(`${n.id}: ${readFileSync(n.logFile, 'utf8').split('\n').filter((l) => /"level":(40|50)|transition/.test(l)).slice(-8).join('\n')}`);
    t.same(after.map((r) => `${r.node} ${r.from}->${r.to}`), [], 'etcd back: still no transition on any node');
  });

  t.test('quorum lost while a peer is partitioned from the MASTER: released at the deadline, before that peer could be elected', async (t) => {
    const { c, file } = await cluster(t, '/hold-partitioned', true);
    const master = await stableMaster(c, { expect: 'lab1', settleMs: RENEW, timeoutMs: 30_000 });
    const peers = (await c.status(master))!.instances[0]!.election!.heartbeat!.peers;
    t.same(peers.filter((p) => p.alive).map((p) => p.id), ['lab3'], 'lab1 hears lab3 only (lab2 is partitioned from it)');
    const lostAt = Date.now();
    await Promise.all([etcd.stop(a, 'SIGKILL'), etcd.stop(b, 'SIGKILL')]);
    t.teardown(() => etcd.restart([a, b]).catch(() => undefined));
    await c.waitFor('no MASTER', QUORUM_NOTICED_MS + STEP_DOWN + 2000, async () => ((await c.masters()).length === 0 ? true : undefined), 10);
    const down = (await c.status(master))!.instances[0]!.lastTransition!;
    t.match(down, { from: 'MASTER', to: 'BACKUP', cause: 'lease-lost' });
    t.match(down.reason, /onEtcdLoss hold-if-peers-agree: peer .* is silent on the heartbeat channel/, down.reason);
    t.ok(down.at - lostAt <= QUORUM_NOTICED_MS + STEP_DOWN + 200, `stepped down ${down.at - lostAt} ms after quorum was lost, as with release (no grace: a silent peer is a disagreement)`);

    // lab1 stays cut off from etcd when quorum returns: its lease expires and lab2 is elected
    for (const p of proxies[0]!) p.blackhole();
    t.teardown(() => proxies[0]!.forEach((p) => p.heal()));
    const backAt = Date.now();
    await etcd.restart([a, b]);
    const next = await stableMaster(c, { settleMs: RENEW, timeoutMs: 30_000 });
    // lab2 (the partitioned peer, ranked above lab3) normally wins; lab3 does when it reaches etcd again
    // first and ends its campaign wait while lab2 is still in its own (seen once in the full suite on a
    // loaded machine; no preemption, so it keeps the key). Either way lab1 must have stepped down first.
    t.ok(next.id === 'lab2' || next.id === 'lab3', `a peer is elected once lab1's lease is gone (${next.id})`);
    const events = recorded(file).filter((r) => r.at >= lostAt);
    const stepDown = events.find((r) => r.node === 'lab1' && r.from === 'MASTER');
    const takeover = events.find((r) => r.node === next.id && r.to === 'MASTER');
    t.ok(stepDown && takeover && stepDown.at < takeover.at, `lab1 stepped down ${takeover && stepDown ? takeover.at - stepDown.at : '?'} ms before ${next.id} took over`);
    t.ok(takeover && takeover.at - backAt >= DEAD_RATIO * INTERVAL + STEP_DOWN, `${next.id} waited after reaching etcd again: MASTER ${takeover ? takeover.at - backAt : '?'} ms after quorum returned`);
    t.same(masterOverlaps(recorded(file), lostAt), [], 'never two MASTERs (from the recorded transitions)');
  });
});
