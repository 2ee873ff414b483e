/**
 * The etcd election's decisions with a fake clock: who campaigns for a vacant key and when, the
 * holder's step-down deadline, preemption, resume after a step-down, release, takeover causes.
 */
import t from 'tap';
import { EtcdPolicy, outranks, type CandidateRecord, type EtcdView, type SelfView } from '../../src/election/etcd-policy.js';
import { etcdTimers } from '../../src/election/etcd.js';

const SKEW = 750;
const HOLD = 750;
/** ttl 3 s: renew every 750 ms, step down 1500 ms after the newest acknowledged renewal was sent. */
const RENEW = 750;
const STEP_DOWN = 1500;
const TIMERS = { skewMs: SKEW, holdOffMs: HOLD, resumeMarginMs: RENEW };
const cand = (id: string, priority: number, extra: Partial<CandidateRecord> = {}): CandidateRecord => ({ id, priority, preempt: true, preemptDelayMs: 0, ...extra });
const me = (over: Partial<SelfView> = {}): SelfView => ({ id: 'b', healthy: true, priority: 100, leaseId: '7', validUntil: 1_000_000, registeredAt: 0, ...over });
const leader = (node: string, lease = '9', revision = 10n) => ({ node, lease, revision });

t.test('timers derive from the TTL: renew ttl/4, step down ttl/2 (< ttl)', async (t) => {
  const x = etcdTimers(3000);
  t.equal(x.renewMs, 750);
  t.equal(x.stepDownMs, 1500);
  t.ok(x.stepDownMs < x.ttlMs, 'the holder steps down before etcd can expire its lease');
  t.equal(x.keepaliveTimeoutMs, 1500, 'a late keepalive answer counts until the deadline');
  t.ok(x.stepDownMs / x.renewMs >= 2, 'at least two keepalives are sent before the step-down deadline');
  t.equal(x.callTimeoutMs, 750);
  t.equal(etcdTimers(1000).callTimeoutMs, 250);
});

t.test('rank: priority first, then the node id that sorts first', async (t) => {
  t.ok(outranks({ id: 'z', priority: 101 }, { id: 'a', priority: 100 }));
  t.ok(outranks({ id: 'a', priority: 100 }, { id: 'b', priority: 100 }));
  t.notOk(outranks({ id: 'b', priority: 100 }, { id: 'a', priority: 100 }));
});

t.test('vacant key: the best candidate campaigns after the hold-off; a worse one waits rank x skew', async (t) => {
  const best = new EtcdPolicy(TIMERS);
  const view: EtcdView = { candidates: [cand('a', 150), cand('b', 100), cand('c', 50)] };
  const a = me({ id: 'a', priority: 150, registeredAt: 1000 });
  t.same(best.decide(1000, a, view), { kind: 'none' }, 'not during the hold-off');
  t.equal(best.nextWakeup(a), 1000 + HOLD, 'wakes when the hold-off ends');
  t.match(best.decide(1000 + HOLD, a, view), { kind: 'campaign', cause: 'no-master' });

  const third = new EtcdPolicy(TIMERS);
  const c = me({ id: 'c', priority: 50, registeredAt: 0 });
  t.same(third.decide(5000, c, view), { kind: 'none' }, 'two better candidates: waits');
  t.equal(third.nextWakeup(c), 5000 + 2 * SKEW);
  t.same(third.decide(5000 + 2 * SKEW - 1, c, view), { kind: 'none' });
  const d = third.decide(5000 + 2 * SKEW, c, view);
  t.match(d, { kind: 'campaign', cause: 'no-master' }, 'better ones did not claim: it does');
  t.match((d as { reason: string }).reason, /2 better candidate\(s\) did not claim it/);

  const held = new EtcdPolicy(TIMERS);
  t.same(held.decide(9000, c, { ...view, leader: leader('a') }), { kind: 'none' }, 'a held key is never contested');
});

t.test('only a healthy, registered candidate with a valid lease campaigns', async (t) => {
  const view: EtcdView = { candidates: [cand('b', 100)] };
  for (const [what, self] of [
    ['unhealthy', me({ healthy: false })],
    ['not registered', me({ registeredAt: undefined })],
    ['no lease', me({ leaseId: undefined, validUntil: undefined })],
    ['lease past the step-down deadline', me({ validUntil: 5000 })],
  ] as const) {
    const p = new EtcdPolicy(TIMERS);
    t.same(p.decide(5000, self, view), { kind: 'none' }, what);
  }
  const p = new EtcdPolicy(TIMERS);
  t.same(p.decide(5000, me(), undefined), { kind: 'none' }, 'no fresh read: no campaign');
});

t.test('the holder steps down exactly at its deadline, even without any read', async (t) => {
  const p = new EtcdPolicy(TIMERS);
  p.role = 'master';
  const self = me({ validUntil: 10_000 });
  t.notOk(p.mustStepDown(9_999, self));
  t.same(p.decide(9_999, self, undefined), { kind: 'none' });
  t.ok(p.mustStepDown(10_000, self));
  t.match(p.decide(10_000, self, undefined), { kind: 'step-down' });
  t.equal(p.nextWakeup(self), 10_000, 'a timer for the deadline');
  t.ok(p.mustStepDown(0, me({ leaseId: undefined, validUntil: undefined })), 'a lost lease: at once');
});

t.test('the holder notices a lost key in a fresh read', async (t) => {
  const p = new EtcdPolicy(TIMERS);
  p.role = 'master';
  t.match(p.decide(1, me(), { candidates: [], leader: leader('c', '3') }), { kind: 'lost', reason: /held by c/ });
  t.match(p.decide(1, me(), { candidates: [] }), { kind: 'lost', reason: /gone/ });
  t.same(p.decide(1, me(), { candidates: [], leader: leader('b', '7') }), { kind: 'none' }, 'ours: holds');
  t.match(p.decide(1, me(), { candidates: [], leader: leader('b', '6') }), { kind: 'lost' }, 'our node id under another lease is not ours');
});

t.test('preemption: a better candidate with preempt on, registered for its preemptDelay', async (t) => {
  const p = new EtcdPolicy(TIMERS);
  p.role = 'master';
  const ours = leader('b', '7');
  const self = me();
  const better = cand('a', 150, { preemptDelayMs: 2000 });
  t.same(p.decide(1000, self, { leader: ours, candidates: [better, cand('b', 100)] }), { kind: 'none' }, 'first seen at 1000');
  t.equal(p.nextWakeup(self), 3000);
  t.same(p.decide(2999, self, { leader: ours, candidates: [better] }), { kind: 'none' });
  t.match(p.decide(3000, self, { leader: ours, candidates: [better] }), { kind: 'yield', to: { id: 'a' }, reason: /yielding to a prio 150 \(ours 100\)/ });

  const q = new EtcdPolicy(TIMERS);
  q.role = 'master';
  q.decide(1000, self, { leader: ours, candidates: [better] });
  q.decide(2000, self, { leader: ours, candidates: [] });
  t.same(q.decide(3000, self, { leader: ours, candidates: [better] }), { kind: 'none' }, 'it left meanwhile: its clock restarts');
  t.match(q.decide(5000, self, { leader: ours, candidates: [better] }), { kind: 'yield' });

  const r = new EtcdPolicy(TIMERS);
  r.role = 'master';
  t.same(r.decide(1000, self, { leader: ours, candidates: [cand('a', 150, { preempt: false })] }), { kind: 'none' });
  t.same(r.decide(99_000, self, { leader: ours, candidates: [cand('a', 150, { preempt: false })] }), { kind: 'none' }, 'preempt off: never');
  t.same(r.decide(99_000, self, { leader: ours, candidates: [cand('a', 100)] }), { kind: 'none' }, 'equal priority: never (the id tie-break does not unseat)');
  const delayed = new EtcdPolicy(TIMERS);
  delayed.role = 'master';
  delayed.decide(0, self, { leader: ours, candidates: [cand('a', 150, { preemptDelayMs: 500 }), cand('c', 200, { preemptDelayMs: 100 })] });
  t.match(delayed.decide(500, self, { leader: ours, candidates: [cand('a', 150, { preemptDelayMs: 500 }), cand('c', 200, { preemptDelayMs: 100 })] }), { kind: 'yield', to: { id: 'c' } }, 'yields to the best of those due');
});

t.test('after a step-down for want of renewals: resume while still holding, else back to backup', async (t) => {
  const p = new EtcdPolicy(TIMERS);
  p.suspend(0);
  t.same(p.decide(1, me({ validUntil: 0, renewedAt: -STEP_DOWN }), { candidates: [], leader: leader('b', '7') }), { kind: 'none' }, 'lease not renewed yet: waits');
  const fresh = (sentAt: number) => me({ renewedAt: sentAt, validUntil: sentAt + STEP_DOWN });
  t.same(p.decide(1, fresh(1), undefined), { kind: 'none' }, 'no read: waits');
  t.match(p.decide(2, fresh(1), { candidates: [], leader: leader('b', '7', 12n) }), { kind: 'resume', cause: 'recovered', reason: /revision 12/ });
  t.same(p.decide(2, { ...fresh(1), healthy: false }, { candidates: [], leader: leader('b', '7') }), { kind: 'none' }, 'unhealthy: does not resume');

  const q = new EtcdPolicy(TIMERS);
  q.suspend(0);
  t.same(q.decide(3, me(), { candidates: [cand('b', 100)], leader: leader('c', '3') }), { kind: 'none' });
  t.equal(q.role, 'backup', 'someone else holds: plain backup');
});

t.test('quorum returns: resume only on a renewal sent after the step-down with a renewal interval of validity left', async (t) => {
  // the holder stepped down at 10_000 (its last acknowledged renewal was sent at 8_500)
  const p = new EtcdPolicy(TIMERS);
  p.role = 'master';
  const ours = { candidates: [], leader: leader('b', '7') };
  t.match(p.decide(10_000, me({ renewedAt: 8_500, validUntil: 8_500 + STEP_DOWN }), ours), { kind: 'step-down' });
  p.suspend(10_000);

  // a keepalive sent at 9_250 (before the step-down) waited out the outage and is answered at
  // 10_600 when quorum returns: the lease is alive and valid until 10_750, but resuming on it
  // would mean stepping down again 150 ms later (the MASTER -> BACKUP -> MASTER flap)
  const stale = me({ renewedAt: 9_250, validUntil: 9_250 + STEP_DOWN });
  t.same(p.decide(10_600, stale, ours), { kind: 'none' }, 'a keepalive sent before the step-down does not resume');
  t.notOk(p.mayResume(10_600, stale));

  // one sent during the outage (10_500) and answered late (11_300): after the step-down, but 700 ms left only
  const late = me({ renewedAt: 10_500, validUntil: 10_500 + STEP_DOWN });
  t.same(p.decide(11_300, late, ours), { kind: 'none' }, `a late answer leaving less than a renewal interval (${RENEW} ms) does not resume`);
  t.same(p.decide(11_250, late, ours).kind, 'resume', 'the same answer with a renewal interval left would have');

  // the next one, sent at 11_400 and answered promptly: resume
  const prompt = me({ renewedAt: 11_400, validUntil: 11_400 + STEP_DOWN });
  t.match(p.decide(11_410, prompt, ours), { kind: 'resume', cause: 'recovered' });
  t.ok(p.mayResume(11_410, prompt));
  p.role = 'master';
  t.same(p.decide(11_410 + RENEW, prompt, ours), { kind: 'none' }, 'resumed with a full renewal interval before the deadline');
});

t.test('releasing: deletes the key while it is ours, then backup', async (t) => {
  const p = new EtcdPolicy(TIMERS);
  p.role = 'releasing';
  t.same(p.decide(1, me(), { candidates: [], leader: leader('b', '7') }), { kind: 'release' });
  t.same(p.decide(2, me(), { candidates: [] }), { kind: 'none' });
  t.equal(p.role, 'backup');
});

t.test('a claim whose answer was lost is picked up by the next read', async (t) => {
  const p = new EtcdPolicy(TIMERS);
  t.match(p.decide(1, me(), { candidates: [cand('b', 100)], leader: leader('b', '7') }), { kind: 'resume', cause: 'no-master' });
});

t.test('takeover causes: no-master, master-dead, master-left, preempt', async (t) => {
  const self = me({ id: 'b', priority: 100 });
  const dead = new EtcdPolicy({ ...TIMERS, holdOffMs: 0 });
  dead.decide(0, self, { leader: leader('a'), candidates: [cand('a', 150), cand('b', 100)] });
  t.match(dead.decide(10, self, { candidates: [cand('b', 100)] }), { kind: 'campaign', cause: 'master-dead', reason: /leader a's lease ended/ });

  const left = new EtcdPolicy({ ...TIMERS, holdOffMs: 0 });
  left.decide(0, self, { leader: leader('a'), candidates: [cand('a', 150), cand('b', 100)] });
  const d = left.decide(10, self, { candidates: [cand('a', 150), cand('b', 100)] });
  t.same(d, { kind: 'none' }, 'the old holder is still the best candidate: it goes first');
  t.match(left.decide(10 + SKEW, self, { candidates: [cand('a', 150), cand('b', 100)] }), { kind: 'campaign', cause: 'master-left', reason: /released the key/ });

  const pre = new EtcdPolicy({ ...TIMERS, holdOffMs: 0 });
  const high = me({ id: 'b', priority: 200 });
  pre.decide(0, high, { leader: leader('a'), candidates: [cand('a', 150), cand('b', 200)] });
  t.match(pre.decide(10, high, { candidates: [cand('a', 150), cand('b', 200)] }), { kind: 'campaign', cause: 'preempt', reason: /preempting a prio 150 \(ours 200\)/ });
});

t.test('hold-if-peers-agree: a holder that claimed past waiting better candidates yields to them only after their campaign wait', async (t) => {
  const WAIT = 4000; // regainWaitMs: deadRatio x interval + step-down
  const view: EtcdView = { candidates: [cand('a', 150), cand('b', 100), cand('c', 50)] };
  const c = me({ id: 'c', priority: 50, registeredAt: 0, campaignWaitMs: WAIT });
  const p = new EtcdPolicy(TIMERS);
  t.same(p.decide(1000, c, view), { kind: 'none' });
  t.match(p.decide(1000 + 2 * SKEW, c, view), { kind: 'campaign' }, 'a and b (waiting after reaching etcd again) did not claim: c does');
  p.role = 'master';
  const claimedAt = 1000 + 2 * SKEW;
  const held = { leader: leader('c', '7'), candidates: view.candidates };
  t.same(p.decide(claimedAt + 1, c, held), { kind: 'none' }, 'no yield at once to a candidate that could not claim');
  t.equal(p.nextWakeup(c), claimedAt + WAIT, 'wakes when their wait is over');
  t.same(p.decide(claimedAt + WAIT - 1, c, held), { kind: 'none' });
  t.match(p.decide(claimedAt + WAIT, c, held), { kind: 'yield', to: { id: 'a' } }, 'then the best of them preempts as usual');

  const plain = new EtcdPolicy(TIMERS);
  const c2 = me({ id: 'c', priority: 50, registeredAt: 0 });
  plain.decide(1000, c2, view);
  plain.decide(1000 + 2 * SKEW, c2, view);
  plain.role = 'master';
  t.match(plain.decide(claimedAt + 1, c2, held), { kind: 'yield' }, 'release (no campaign wait anywhere): yields at once, as before');
});
