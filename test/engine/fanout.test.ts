/**
 * Fan-out: the master adverts every interval to every peer; backups fan out once a second and, in
 * between, only the best backup adverts, to the master. Steady-state traffic grows with N, not N^2,
 * and the fast paths (crash, host loss, priority changes) keep their timing. Fake clock, 17 nodes.
 */
import t from 'tap';
import { Cluster } from '../lib/engine-cluster.js';
import { fanoutRounds } from '../../src/engine/instance.js';

const I = 100;
const N = 17;

/** lb01 (priority 200) ... lb17 (priority 40): lb01 masters, lb02 is the best backup. */
function fleet(): Cluster {
  const c = new Cluster({ intervalMs: I });
  for (let i = 1; i <= N; i++) c.add(`lb${String(i).padStart(2, '0')}`, 210 - 10 * i);
  c.start();
  c.run(3000);
  return c;
}

t.test('fan-out period: every interval at >= 1 s, once a second below', async (t) => {
  t.equal(fanoutRounds(1000), 1);
  t.equal(fanoutRounds(3000), 1);
  t.equal(fanoutRounds(100), 10);
  t.equal(fanoutRounds(300), 4);
  t.equal(fanoutRounds(20), 50);
});

t.test('16 peers at 100 ms: datagrams per node per second', async (t) => {
  const c = fleet();
  t.same(c.masters(), ['lb01']);
  c.resetCounters();
  const seconds = 10;
  c.run(seconds * 1000);
  const rate = (m: Map<string, number>, id: string) => (m.get(id) ?? 0) / seconds;
  const peers = N - 1;
  // the master: every interval to every peer
  t.ok(Math.abs(rate(c.sent, 'lb01') - peers * (1000 / I)) <= 2, `master sends ${rate(c.sent, 'lb01')}/s (${peers} peers x ${1000 / I})`);
  // best backup: to the master every interval, to everyone once a second
  const best = rate(c.sent, 'lb02');
  t.ok(best >= 9 + peers - 2 && best <= 9 + peers + 2, `best backup sends ${best}/s (9 x 1 + 1 x ${peers})`);
  // every other backup: once a second to everyone
  for (let i = 3; i <= N; i++) {
    const id = `lb${String(i).padStart(2, '0')}`;
    const r = rate(c.sent, id);
    t.ok(r >= peers - 1 && r <= peers + 1, `${id} sends ${r}/s`);
  }
  // what the master receives: the best backup's 10/s + one fan-out a second from every backup
  const masterIn = rate(c.received, 'lb01');
  t.ok(masterIn <= 10 + peers + 2, `master receives ${masterIn}/s`);
  const total = [...c.sent.values()].reduce((a, b) => a + b, 0) / seconds;
  const everyoneToEveryone = N * peers * (1000 / I);
  t.ok(total < everyoneToEveryone / 5, `cluster total ${total}/s vs ${everyoneToEveryone}/s if everyone adverted to everyone`);
  t.equal(c.transitions.filter((x) => x.at > 3000).length, 0, 'no transition in steady state');
  // every node still knows every other node as alive
  for (const [id] of c.nodes) {
    const peersView = c.engine(id).snapshot(c.now).peers;
    t.equal(peersView.filter((p) => p.alive).length, peers, `${id} sees ${peers} live peers`);
  }
});

t.test('crash fast path at 16 peers: the best backup takes over within one interval', async (t) => {
  for (const extra of [0, 30, 70]) {
    const c = fleet();
    c.run(extra);
    const since = c.now;
    c.crash('lb01');
    c.run(3000);
    const taken = c.into('MASTER', since);
    t.same(taken.map((x) => x.node), ['lb02'], `+${extra} ms: only lb02 takes over`);
    t.ok(taken[0]!.at - since <= I + 5, `took ${taken[0]!.at - since} ms`);
    t.match(taken[0]!.reason, /daemon down/);
  }
});

t.test('host loss at 16 peers: the best backup takes over after master-down + confirmation, once', async (t) => {
  const c = fleet();
  const since = c.now;
  c.dark('lb01');
  c.run(5000);
  const taken = c.into('MASTER', since);
  t.same(taken.map((x) => x.node), ['lb02']);
  t.ok(taken[0]!.at - since <= 3 * I + 50 + 5, `took ${taken[0]!.at - since} ms`);
});

t.test('a backup that goes dark is declared dead after deadRatio fan-out periods (not intervals)', async (t) => {
  const c = fleet();
  const since = c.now;
  c.dark('lb05');
  c.run(5000);
  const deaths = c.peerDeaths.filter((d) => d.peer === 'lb05' && d.at >= since);
  t.ok(deaths.length >= 1, 'declared dead');
  const first = Math.min(...deaths.map((d) => d.at - since));
  t.ok(first >= 2000 && first <= 3000 + 5, `declared dead after ${first} ms (3 x 1 s since its last fan-out)`);
  t.equal(c.transitions.filter((x) => x.at >= since).length, 0, 'no transition');
});

t.test('a priority change is advertised to every peer at once', async (t) => {
  const c = fleet();
  c.run(I / 2); // between two fan-outs
  const before = c.now;
  c.input('lb10', { type: 'nudge', delta: 100 }); // 110 -> 210: outranks the master
  c.run(5);
  for (const id of ['lb01', 'lb02', 'lb17']) {
    const seen = c.engine(id).snapshot(c.now).peers.find((p) => p.id === 'lb10');
    t.equal(seen?.priority, 210, `${id} knows lb10's new priority within 5 ms`);
  }
  c.run(2000);
  t.same(c.masters(), ['lb10'], 'and lb10 preempts');
  t.ok(c.into('MASTER', before, 'lb10').length === 1);
});

t.test('nodes started together learn each other at once, even when a start-up advert is lost', async (t) => {
  for (const lossWindow of [0, 50, 250]) {
    const c = new Cluster({ intervalMs: I });
    c.add('lb1', 150);
    c.add('lb2', 100);
    c.add('lb3', 50);
    c.start('lb1');
    c.run(1000);
    const started = c.now;
    // lb3's socket is not open yet when lb2's first adverts go out
    c.drop = ({ from, to, at }) => from === 'lb2' && to === 'lb3' && at < started + lossWindow;
    c.start('lb2', 'lb3');
    c.run(400);
    const lb2 = c.engine('lb3').snapshot(c.now).peers.find((p) => p.id === 'lb2');
    t.ok(lb2?.alive, `lossWindow ${lossWindow}: lb3 knows lb2 within 400 ms of start`);
    const since = c.now;
    c.crash('lb1'); // well within the first fan-out period
    c.run(2000);
    t.same(c.into('MASTER', since).map((x) => x.node), ['lb2'], `lossWindow ${lossWindow}: only the best backup takes over`);
  }
});
