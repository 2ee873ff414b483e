/**
 * The heartbeat side channel of an etcd-elected instance with a fake clock (etcd-peers.ts and the
 * policy's use of it): the crash fast path's proof (a peer heard alive, then port unreachable),
 * onEtcdLoss hold-if-peers-agree (every configured peer heard, etcd lost, naming us with our
 * term; anything else steps down), the report of our own etcd, the wait before campaigning
 * after etcd comes back.
 */
import t from 'tap';
import { EtcdPeerTable, holdGraceMs, regainHoldMs, regainWaitMs, reportsEtcdOk } from '../../src/election/etcd-peers.js';
import { EtcdPolicy, type SelfView } from '../../src/election/etcd-policy.js';
import type { EtcdReport, Packet } from '../../src/protocol/types.js';

/** ttl 3 s (renew 750 ms, step down 1500 ms), heartbeat interval 1 s x deadRatio 3. */
const TIMERS = { intervalMs: 1000, deadRatio: 3, renewMs: 750, stepDownMs: 1500 };
const DEAD = 3000;
const A = '127.0.0.12:7000';
const B = '127.0.0.13:7000';

function advert(nodeId: string, etcd?: EtcdReport, over: Partial<Packet> = {}): Packet {
  return { kind: 'advert', instanceKey: 1, nodeId, priority: 100, state: 'BACKUP', incarnation: 1, sequence: 1, timestamp: 0, intervalMs: 1000, nonce: 0, ...(etcd ? { etcd } : {}), ...over };
}
const lost = (leader = 'me', token = 42n): EtcdReport => ({ ok: false, leader, token });

t.test('crash fast path: port unreachable proves a daemon dead only for a peer heard alive there', async (t) => {
  const table = new EtcdPeerTable(TIMERS);
  t.same(table.unreachable(0, A), [], 'never heard: no proof (an older version or an etcd-only node sends nothing)');
  t.ok(table.heard(100, A, advert('a', undefined, { state: 'MASTER' })), 'a new peer is a change');
  t.notOk(table.heard(1100, A, advert('a', undefined, { state: 'MASTER' })), 'the same advert again is not');
  t.same(table.unreachable(1200, B).map((p) => p.id), [], 'another address: not that peer');
  t.same(table.unreachable(1200, A).map((p) => p.id), ['a'], 'heard alive, then port unreachable: its daemon is dead');
  t.same(table.unreachable(1300, A), [], 'proved once: it is dead now');

  const stale = new EtcdPeerTable(TIMERS);
  stale.heard(0, A, advert('a'));
  t.same(stale.unreachable(DEAD, A), [], 'silent for deadRatio x interval: already dead, no fresh proof');
  const gone = new EtcdPeerTable(TIMERS);
  gone.heard(0, A, advert('a', undefined, { priority: 0, state: 'STOP' }));
  t.same(gone.unreachable(10, A), [], 'after a goodbye its closed port proves nothing');
});

t.test('hold-if-peers-agree: every configured peer heard, etcd lost, naming us with our term', async (t) => {
  const self = { id: 'me', token: 42n, deadline: 5000 };
  const table = new EtcdPeerTable(TIMERS);
  table.heard(4500, A, advert('a', lost()));
  table.heard(4600, B, advert('b', lost()));
  const v = table.holdVerdict(5000, self, [A, B]);
  t.match(v, { hold: true, pending: false }, 'all agree: hold');
  t.match(v, { reason: /every peer \(a, b\) cannot reach etcd either and sees us as MASTER, term 42/ });
  t.equal(v.hold && v.recheckAt, 4500 + DEAD, 're-checked when the first report goes stale');
  t.match(table.holdVerdict(4500 + DEAD, self, [A, B]), { hold: false, reason: /peer a is silent on the heartbeat channel, last heard 3000 ms ago/ });

  t.match(table.holdVerdict(5000, self, []), { hold: false, reason: /no peers/ }, 'nobody to agree: step down');
  t.match(table.holdVerdict(5000, { ...self, token: undefined }, [A, B]), { hold: false });
  t.match(table.holdVerdict(5000, self, [A, B, '127.0.0.14:7000']), { hold: false, reason: /127\.0\.0\.14:7000 is silent.*never heard/ }, 'one configured peer never heard: step down');

  const other = new EtcdPeerTable(TIMERS);
  other.heard(4900, A, advert('a', lost()));
  other.heard(4900, B, advert('b', lost('x', 43n)));
  t.match(other.holdVerdict(5000, self, [A, B]), { hold: false, reason: /peer b sees x \(term 43\), not us \(term 42\)/ }, 'a peer naming another holder');
  other.heard(4950, B, advert('b', lost('me', 41n)));
  t.match(other.holdVerdict(5000, self, [A, B]), { hold: false, reason: /term 41/ }, 'same holder, another term');
  other.heard(4960, B, advert('b', { ok: false, token: 0n }));
  t.match(other.holdVerdict(5000, self, [A, B]), { hold: false, reason: /peer b sees no leader/ });
  other.heard(4970, B, advert('b'));
  t.match(other.holdVerdict(5000, self, [A, B]), { hold: false, reason: /sends no etcd report/ }, 'a peer without the report (older version)');
  other.heard(4980, B, advert('b', lost(), { priority: 0, state: 'STOP' }));
  t.match(other.holdVerdict(5000, self, [A, B]), { hold: false, reason: /peer b is silent/ }, 'a peer that said goodbye');
});

t.test('hold-if-peers-agree: a peer still reporting etcd ok gets one renewal period past our deadline to turn', async (t) => {
  const self = { id: 'me', token: 42n, deadline: 5000 };
  const table = new EtcdPeerTable(TIMERS);
  table.heard(4900, A, advert('a', lost()));
  table.heard(4900, B, advert('b', { ok: true, leader: 'me', token: 42n }));
  const grace = holdGraceMs(TIMERS);
  t.equal(grace, 750);
  const v = table.holdVerdict(5000, self, [A, B]);
  t.match(v, { hold: true, pending: true, reason: /waiting for b to report etcd lost too/ });
  t.equal(v.hold && v.recheckAt, 5000 + grace, 're-checked when the grace ends');
  t.match(table.holdVerdict(5000 + grace, self, [A, B]), { hold: false, reason: /peer b reaches etcd/ }, 'still ok at the end of the grace: step down');
  t.ok(table.heard(5200, B, advert('b', lost())), 'its report turning is a change');
  t.match(table.holdVerdict(5000 + grace, self, [A, B]), { hold: true, pending: false });
});

t.test('hold-if-peers-agree: a peer that agreed and reaches etcd again is held to its wait; the holder holds a little longer', async (t) => {
  const self = { id: 'me', token: 42n, deadline: 5000 };
  const hold = regainHoldMs(TIMERS);
  t.equal(hold, 2000, '(deadRatio - 1) x interval');
  t.ok(hold + TIMERS.stepDownMs + TIMERS.intervalMs <= regainWaitMs(TIMERS), 'the holder has stepped down, actions done, an interval before the peer may campaign');
  const table = new EtcdPeerTable(TIMERS);
  table.heard(9000, A, advert('a', lost()));
  table.heard(9000, B, advert('b', lost()));
  t.match(table.holdVerdict(9100, self, [A, B]), { hold: true, pending: false });
  table.heard(9500, B, advert('b', { ok: true, leader: 'me', token: 42n }));
  const v = table.holdVerdict(9600, self, [A, B]);
  t.match(v, { hold: true, pending: false, reason: /peer b reaches etcd again and waits before any campaign/ });
  t.equal(v.hold && v.recheckAt, 9000 + hold, 'until its last "etcd lost" advert is regainHoldMs old');
  t.match(table.holdVerdict(9000 + hold, self, [A, B]), { hold: false, reason: /peer b reaches etcd/ });

  const never = new EtcdPeerTable(TIMERS);
  never.heard(9000, A, advert('a', lost()));
  never.heard(9000, B, advert('b', lost('x', 7n)));
  never.heard(9500, B, advert('b', { ok: true, leader: 'me', token: 42n }));
  t.match(never.holdVerdict(9600, { ...self, deadline: 8000 }, [A, B]), { hold: false, reason: /peer b reaches etcd/ }, 'it never agreed with us: no extra hold');
});

t.test('our own report: etcd ok until a renewal is half a period overdue', async (t) => {
  t.notOk(reportsEtcdOk(0, undefined, 750), 'no lease yet');
  t.ok(reportsEtcdOk(1000 + 1124, 1000, 750));
  t.notOk(reportsEtcdOk(1000 + 1125, 1000, 750));
  // a holder's deadline is at least one renewal period after its peers' newest renewals could
  // have stopped, and its grace one more: 1.5 periods fit in 2
  t.ok(1.5 * TIMERS.renewMs <= TIMERS.renewMs + holdGraceMs(TIMERS));
});

t.test('the policy: a holder past its deadline keeps acting while `holding`, a lost lease ends it anyway', async (t) => {
  const p = new EtcdPolicy({ skewMs: 750, holdOffMs: 750, resumeMarginMs: 750 });
  p.role = 'master';
  const self = (over: Partial<SelfView> = {}): SelfView => ({ id: 'me', healthy: true, priority: 150, leaseId: '7', validUntil: 5000, renewedAt: 3500, registeredAt: 0, ...over });
  t.ok(p.mustStepDown(5000, self()), 'release: at the deadline');
  t.notOk(p.mustStepDown(9000, self({ holding: true })), 'holding: not at the deadline');
  t.equal(p.nextWakeup(self({ holding: true })), Infinity, 'no wakeup in the past while holding (the shell re-checks the peers)');
  t.ok(p.mustStepDown(9000, self({ holding: true, leaseId: undefined, validUntil: undefined })), 'the lease known lost: step down whatever the peers say');
  t.same(p.decide(9000, self({ holding: true }), undefined), { kind: 'none' }, 'no etcd read: holds');
  t.match(p.decide(9000, self({ holding: true }), { candidates: [], leader: { node: 'x', lease: '9', revision: 50n } }), { kind: 'lost' }, 'a read showing another holder ends it');
});

t.test('the policy: a node that reached etcd again waits before campaigning for a vacant key', async (t) => {
  const wait = regainWaitMs(TIMERS);
  t.equal(wait, DEAD + TIMERS.stepDownMs, 'deadRatio x interval for the holder to hear or miss us, plus the step-down time for its actions');
  const p = new EtcdPolicy({ skewMs: 750, holdOffMs: 750, resumeMarginMs: 750 });
  const self: SelfView = { id: 'b', healthy: true, priority: 100, leaseId: '7', validUntil: 1_000_000, renewedAt: 10_000, registeredAt: 0, campaignFrom: 10_000 + wait };
  t.same(p.decide(10_000, self, { candidates: [] }), { kind: 'none' });
  t.equal(p.nextWakeup(self), 10_000 + wait, 'wakes when the wait ends');
  t.same(p.decide(10_000 + wait - 1, self, { candidates: [] }), { kind: 'none' });
  t.match(p.decide(10_000 + wait, self, { candidates: [] }), { kind: 'campaign' });
});
