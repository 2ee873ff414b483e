/**
 * keepalived vrrp_script weight semantics (effectiveHealth) and the weight/timer validator.
 */
import t from 'tap';
import { effectiveHealth, weightWarnings, type WeightPlan, type WeightedCheck } from '../../src/engine/health.js';

const c = (name: string, state: 'ok' | 'fail', weight: number): WeightedCheck => ({ name, state, weight });

t.test('no checks: the base priority', async (t) => {
  t.same(effectiveHealth(100, []), { priority: 100, fault: false, reason: 'priority 100' });
  t.equal(effectiveHealth(0, []).priority, 1, 'clamped to 1');
  t.equal(effectiveHealth(300, []).priority, 254, 'clamped to 254');
});

t.test('weight 0: failing means FAULT', async (t) => {
  t.same(effectiveHealth(100, [c('haproxy', 'fail', 0)]), { priority: 100, fault: true, reason: 'check haproxy failed (weight 0)' });
  t.same(effectiveHealth(100, [c('haproxy', 'ok', 0)]), { priority: 100, fault: false, reason: 'priority 100' });
  t.same(
    effectiveHealth(100, [c('a', 'fail', 0), c('b', 'ok', 0), c('c', 'fail', 0)]),
    { priority: 100, fault: true, reason: 'check a failed (weight 0), check c failed (weight 0)' },
  );
});

t.test('positive weights add while OK, negative weights subtract while failing', async (t) => {
  t.same(effectiveHealth(100, [c('web', 'ok', 10)]), { priority: 110, fault: false, reason: 'priority 100 +10 (web ok) = 110' });
  t.same(effectiveHealth(100, [c('web', 'fail', 10)]), { priority: 100, fault: false, reason: 'priority 100' });
  t.same(effectiveHealth(100, [c('web', 'fail', -30)]), { priority: 70, fault: false, reason: 'priority 100 -30 (web failing) = 70' });
  t.equal(effectiveHealth(100, [c('web', 'ok', -30)]).priority, 100);
  t.same(
    effectiveHealth(100, [c('web', 'fail', -50), c('disk', 'ok', 10), c('dns', 'ok', -5)]),
    { priority: 60, fault: false, reason: 'priority 100 -50 (web failing) +10 (disk ok) = 60' },
  );
});

t.test('clamped to 1..254, also while in FAULT', async (t) => {
  t.same(effectiveHealth(250, [c('a', 'ok', 10)]), { priority: 254, fault: false, reason: 'priority 250 +10 (a ok) = 254 (clamped from 260)' });
  t.same(effectiveHealth(20, [c('a', 'fail', -50)]), { priority: 1, fault: false, reason: 'priority 20 -50 (a failing) = 1 (clamped from -30)' });
  t.same(effectiveHealth(100, [c('a', 'fail', -50), c('b', 'fail', 0)]), { priority: 50, fault: true, reason: 'check b failed (weight 0)' });
});

const plan = (priority: number, peers: number[], checks: WeightPlan['checks']): WeightPlan => ({
  instance: 'web',
  priority,
  peers: peers.map((p, i) => ({ id: `lb${i + 2}`, priority: p })),
  checks,
});

t.test('weightWarnings: a negative weight too small to flip mastership', async (t) => {
  t.same(weightWarnings([plan(100, [90], [{ name: 'haproxy', weight: -11 }])]), [], '|w| > p1 - p2 flips');
  t.same(weightWarnings([plan(100, [90], [{ name: 'haproxy', weight: -10 }])]), [
    "instance web: check haproxy: weight -10 can never move the IP: when it fails this node still advertises 90, not below peer lb2's 90; |weight| must exceed 10 (priority 100 - 90), or use weight 0 to give the IP up",
  ], 'equal priorities are decided by node id, not by the check');
  t.equal(weightWarnings([plan(100, [90], [{ name: 'haproxy', weight: -5 }])]).length, 1);
  t.same(weightWarnings([plan(100, [90], [{ name: 'haproxy', weight: 0 }])]), [], 'weight 0 always hands over (FAULT)');
  t.same(weightWarnings([plan(100, [90, 95, 50], [{ name: 'haproxy', weight: -5 }])]).length, 1, 'the best peer counts');
  t.same(weightWarnings([plan(100, [90, 95], [{ name: 'haproxy', weight: -6 }])]), [], '-6 brings 100 below 95');
});

t.test('weightWarnings: positive weights (peers assumed to run the same checks)', async (t) => {
  t.equal(weightWarnings([plan(100, [90], [{ name: 'web', weight: 10 }])]).length, 1, '+10: 100 vs 100 is a tie');
  t.same(weightWarnings([plan(100, [90], [{ name: 'web', weight: 11 }])]), []);
});

t.test('weightWarnings: clamping and equal priorities', async (t) => {
  t.same(weightWarnings([plan(250, [245], [{ name: 'web', weight: 20 }])]), [
    'instance web: with every check healthy this node (priority 250) and peer lb2 (priority 245) both advertise 254 after clamping to 254: lower the positive weights or the priorities',
  ]);
  t.match(weightWarnings([plan(100, [100], [])]), [/priority 100 equals peer lb2's: who is MASTER is decided by node id/]);
});

t.test('weightWarnings: backups, no peers, timers', async (t) => {
  t.same(weightWarnings([plan(90, [100], [{ name: 'haproxy', weight: -1 }])]), [], 'a backup: nothing to flip');
  t.same(weightWarnings([plan(100, [], [{ name: 'haproxy', weight: -1 }])]), [], 'no declared peers: no flip analysis');
  t.same(weightWarnings([plan(100, [], [{ name: 'slow', weight: 0, intervalMs: 1000, timeoutMs: 3000 }])]), [
    'instance web: check slow: timeout 3000ms is longer than interval 1000ms (runs never overlap: a slow run delays the next one, so failures are seen late)',
  ]);
  t.same(weightWarnings([plan(100, [], [{ name: 'ok', weight: 0, intervalMs: 1000, timeoutMs: 1000 }])]), []);
  t.match(weightWarnings([plan(100, [], [{ name: 'x', weight: 300 }])]), [/weight 300 is outside -253..253/]);
});
