/**
 * The exact weight analysis behind `config check` with every node's file (weightWarnings when the
 * peers' checks are known): combinations of check states, clamping, preemption, several peers.
 */
import t from 'tap';
import { exactWeightWarnings, weightWarnings, type PlannedCheck, type PlannedPeer } from '../../src/engine/health.js';

const w = (name: string, weight: number): PlannedCheck => ({ name, weight });
const peer = (id: string, priority: number, checks: PlannedCheck[] = [], preempt = true): PlannedPeer => ({ id, priority, checks, preempt });
const analyse = (priority: number, checks: PlannedCheck[], peers: PlannedPeer[], id = 'lb1') => exactWeightWarnings({ instance: 'web', id, priority, checks, peers });
const names = (warnings: string[]) => warnings.map((m) => /check (\S+): weight/.exec(m)?.[1] ?? m);

t.test('weightWarnings switches to the exact analysis only when every peer has its checks', async (t) => {
  const plan = { instance: 'web', id: 'lb1', priority: 100, checks: [w('h', -10)] };
  t.match(weightWarnings([{ ...plan, peers: [peer('lb2', 90, [w('h', -10)])] }]), [/can never change who is MASTER/]);
  t.match(weightWarnings([{ ...plan, peers: [{ id: 'lb2', priority: 90 }] }]), [/can never move the IP/], 'the assumed-symmetric analysis otherwise');
  t.match(weightWarnings([{ ...plan, id: undefined, peers: [peer('lb2', 90, [])] }]), [/can never move the IP/], 'and without this node id');
});

t.test('checks failing together count: two -5 checks on 100 against 92', async (t) => {
  // alone each brings 100 to 95 (> 92); both failing bring it to 90 (< 92): each can be the one that hands over
  t.same(analyse(100, [w('a', -5), w('b', -5)], [peer('lb2', 92)]), []);
  t.same(names(analyse(100, [w('a', -5), w('b', -3)], [peer('lb2', 92)])), ['a', 'b'], '-8 at most: never below 92');
});

t.test('the peers own checks and the best of several peers', async (t) => {
  t.same(analyse(100, [w('h', -5)], [peer('lb2', 90), peer('lb3', 97)]), [], 'lb3 at 97 takes over from 95');
  t.same(names(analyse(100, [w('h', -5)], [peer('lb2', 90), peer('lb3', 80)])), ['h']);
  t.same(analyse(100, [w('h', -5)], [peer('lb2', 90, [w('extra', 6)])]), [], "lb2's +6 (96) is above 95");
  t.same(analyse(100, [w('h', 0)], [peer('lb2', 10)]), [], 'weight 0 always hands over (FAULT)');
});

t.test('clamping and preemption', async (t) => {
  t.match(analyse(254, [w('bonus', 10)], [peer('lb2', 200)]), [/check bonus: weight \+10 can never change who is MASTER \(this node: 254 with it passing, 254 failing.*no positive weight can/]);
  t.same(analyse(250, [w('web', 20)], [peer('lb2', 245, [w('web', 20)])]), [], 'failing: 250 < 254 (lb2 clamped): lb2 preempts');
  t.match(analyse(100, [w('h', -50)], [peer('lb2', 90, [], false), peer('lb3', 80, [], false)]), [/peer lb2: 90, preempt off; peer lb3: 80, preempt off.*no peer preempts a live MASTER/]);
  t.same(analyse(100, [w('h', -50)], [peer('lb2', 90, [], false), peer('lb3', 80)]), [], 'one peer that preempts is enough');
});

t.test('equal priorities: one warning per pair, from the node whose id sorts first', async (t) => {
  t.match(analyse(100, [], [peer('lb2', 100)], 'lb1'), [/priority 100 equals peer lb2's.*node id decides: lb1/]);
  t.same(analyse(100, [], [peer('lb1', 100)], 'lb2'), []);
});
