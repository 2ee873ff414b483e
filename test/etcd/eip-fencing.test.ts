/**
 * The exoscale-eip action under the etcd backend: it logs each transition's fencing token and
 * refuses (no API call) a transition whose token is older than the newest it has seen, so a late
 * MASTER or release of a finished term cannot move the Elastic IP. Against the API simulator.
 */
import t from 'tap';
import eipPlugin from '../../plugins/exoscale-eip/index.js';
import type { ActionHandlers, TransitionEvent } from '../../src/plugins/api.js';
import { EIP, KEY, LB1, LB2, SECRET, until, withSim } from '../exoscale/lib/sim.js';
import { captureLog, lastSeq, requestsSince } from '../exoscale-integration/lib/eip.js';

t.test('exoscale-eip acts on the newest term only', async (t) => {
  const sim = await withSim(t);
  const parsed = eipPlugin.parseConfig(
    { zone: sim.zone, endpoint: sim.endpoint, apiKey: 'env:K', apiSecret: 'env:S', instanceId: LB2, reconcile: '0s', startupGrace: '0s' },
    { baseDir: '/', resolveSecret: (ref) => ({ 'env:K': KEY, 'env:S': SECRET })[ref] ?? ref },
  );
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  const { log, lines } = captureLog();
  const h = (await eipPlugin.create({ config: parsed.config, log, instance: { name: 'web', address: EIP }, node: { id: 'lb2' } })) as ActionHandlers;
  t.teardown(() => h.close?.());
  const event = (from: TransitionEvent['from'], to: TransitionEvent['to'], token?: bigint): TransitionEvent => ({
    instance: { name: 'web', address: EIP },
    node: { id: 'lb2' },
    from,
    to,
    priority: 100,
    reason: 'test',
    signal: new AbortController().signal,
    ...(token !== undefined ? { fencingToken: token } : {}),
  });

  await h.onMaster!(event('BACKUP', 'MASTER', 10n));
  t.same(sim.state.holdersOf(EIP), [LB2], 'term 10: attached here');
  t.ok(lines().some((l) => l.fencingToken === '10' && /MASTER under fencing token 10/.test(String(l.msg))), 'the token is logged');

  sim.state.setHolders(EIP, [LB1]);
  const before = lastSeq(sim);
  await h.onMaster!(event('BACKUP', 'MASTER', 7n));
  await h.onBackup!(event('MASTER', 'BACKUP', 7n));
  t.equal(requestsSince(sim, before), 0, 'a stale MASTER and a stale release make no API call');
  t.same(sim.state.holdersOf(EIP), [LB1]);
  t.ok(lines().some((l) => (l.level === 40 || l.level === 'warn') && /refusing MASTER: fencing token 7 is older than 10/.test(String(l.msg))), 'the refusal is logged');

  await h.onMaster!(event('BACKUP', 'MASTER', 12n));
  t.same(sim.state.holdersOf(EIP), [LB2], 'a newer term acts (and fences the other holder)');
  sim.state.setHolders(EIP, [LB2, LB1]); // the next term's MASTER attached itself
  await h.onBackup!(event('MASTER', 'BACKUP', 12n));
  // a hand-over makes no call at the transition; its confirming read (one settle time, 1 s here) detaches it
  await until(() => sim.state.holdersOf(EIP).length === 1, 5_000);
  t.same(sim.state.holdersOf(EIP), [LB1], 'the end of the current term hands over (detaches itself once another holder shows)');
  await h.onMaster!(event('BACKUP', 'MASTER'));
  t.same(sim.state.holdersOf(EIP), [LB2], 'no token (heartbeat backend): acts as before');
});
