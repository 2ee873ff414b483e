/**
 * When a backup takes over from a master whose host is lost: the timing argument in the header of
 * src/engine/instance.ts and in ipwarden(8), pinned with the fake clock.
 *
 * L: when the backup last heard the master (or a live peer vouched it did), D = deadRatio x interval,
 * T = D - interval/2 (the probed dead time), W = confirmation window, S = rank step. Rank 0 takes over
 * at L + T (its probes take the W before it, after the last master advert that can count, due at
 * L + D - interval), rank 1 at L + T + S, each only if none of its probes over [at - W, at) is answered.
 *
 * The simulated timers fire 1 ms after the wakeup the engine asks for, as the daemon's shell arms them
 * (so a takeover is seen at T + 1 ms, and the master's adverts drift later by >= 1 ms per interval, as
 * real ones do: the advert due at L + D - interval lands inside the probe window, so it counts). Latency 0: every node hears an advert at the
 * instant it is sent, so a vouched sighting equals the backup's own L and the instants are exact.
 */
import t from 'tap';
import { Cluster, prng, type DropRule } from '../lib/engine-cluster.js';

const SLACK = 1;

function threeNodes(intervalMs: number): Cluster {
  const c = new Cluster({ intervalMs });
  c.latencyMs = 0;
  c.timerSlackMs = SLACK;
  c.add('lb1', 150);
  c.add('lb2', 100);
  c.add('lb3', 50);
  return c;
}

function twoNodes(intervalMs: number): Cluster {
  const c = new Cluster({ intervalMs });
  c.latencyMs = 0;
  c.timerSlackMs = SLACK;
  c.add('lb1', 150);
  c.add('lb2', 100);
  return c;
}

/** When `node` last heard `peer` (engine clock). */
function lastHeard(c: Cluster, node: string, peer: string): number {
  const p = c.engine(node).snapshot(c.now).peers.find((x) => x.id === peer);
  if (!p) throw new Error(`${node} does not know ${peer}`);
  return c.now - p.lastSeenAgoMs;
}

interface Probe {
  from: string;
  at: number;
}

/**
 * The master's host is lost (its link cut, as the benchmark does): nothing from or to it passes; it
 * stays MASTER on its own side. Probes sent to it are recorded. `also`: further drops.
 */
function cutOff(c: Cluster, host: string, also: DropRule = () => false): Probe[] {
  const probes: Probe[] = [];
  c.drop = (p) => {
    if (p.kind === 'probe' && p.to === host) probes.push({ from: p.from, at: p.at });
    return p.from === host || p.to === host || also(p);
  };
  return probes;
}

function timers(c: Cluster) {
  const e = c.engine('lb2');
  return { D: e.masterDownMs, T: e.probedDownMs, W: e.config.confirmWindowMs, S: e.skewStepMs, probes: e.config.probeCount };
}

for (const I of [1000, 100]) {
  t.test(`${I} ms adverts, host lost: the best backup takes over at L + D - I/2, its probes over the W before`, async (t) => {
    // several phases of the cut within the advert cycle
    for (const phase of [0, 1, Math.round(I / 3), I - 1]) {
      const c = threeNodes(I);
      c.start();
      c.run(10 * I + phase);
      t.same(c.masters(), ['lb1']);
      const { D, T, W, probes: count } = timers(c);
      t.equal(T, D - I / 2, 'the probed dead time is half an interval short of the dead time');
      const cutAt = c.now;
      const probes = cutOff(c, 'lb1');
      const L = lastHeard(c, 'lb2', 'lb1');
      t.equal(lastHeard(c, 'lb3', 'lb1'), L, 'both backups heard the same last advert');
      c.run(D + 10 * I);
      const taken = c.into('MASTER', cutAt);
      t.same(taken.map((x) => x.node), ['lb2'], `phase ${phase}: only the best backup takes over`);
      t.equal(taken[0]!.at, L + T + SLACK, `phase ${phase}: at L + ${T} ms (+${SLACK} ms timer slack), no confirmation after the deadline`);
      t.ok(taken[0]!.at - L < D, 'before the master\'s dead time');
      t.match(taken[0]!.reason, new RegExp(`peer lb1 dead after .*, ${count} probes unanswered`));
      const mine = probes.filter((p) => p.from === 'lb2');
      t.equal(mine.length, count, `${count} probes`);
      t.ok(mine.every((p) => p.at >= L + T - W && p.at < L + T), `all within [L + T - W, L + T): ${mine.map((p) => p.at - L).join(',')}`);
      t.ok(mine[0]!.at >= L + D - I, 'the first probe goes out no sooner than the last master advert that can count is due');
      const deaths = c.peerDeaths.filter((d) => d.node === 'lb2' && d.peer === 'lb1' && d.at >= cutAt);
      t.same(deaths.map((d) => d.at), [taken[0]!.at], 'the unanswered probes declare the master dead, at the takeover');
      t.match(deaths[0]?.reason, new RegExp(`dead after .*, ${count} probes unanswered`));
      t.same(probes.filter((p) => p.from === 'lb3'), [], 'rank 1 never probes: the best backup\'s advert reached it first');
    }
  });

  t.test(`${I} ms adverts, host lost, rank 1 not reached by the best backup: it acts S after it, at L + T + S`, async (t) => {
    const c = threeNodes(I);
    c.start();
    c.run(10 * I + Math.round(I / 2));
    const { D, T, W, S, probes: count } = timers(c);
    const cutAt = c.now;
    // lb2's adverts to lb3 are lost once it is MASTER: lb3 still counts lb2 as a live, better backup
    const probes = cutOff(c, 'lb1', (p) => p.from === 'lb2' && p.to === 'lb3' && c.state('lb2') === 'MASTER');
    const L = lastHeard(c, 'lb3', 'lb1');
    c.run(D + 10 * I);
    const taken = c.into('MASTER', cutAt);
    t.same(taken.map((x) => x.node), ['lb2', 'lb3']);
    t.equal(taken[0]!.at, L + T + SLACK, 'rank 0 at L + T');
    t.equal(taken[1]!.at, L + T + S + SLACK, `rank 1 at L + T + S (S = ${S} ms)`);
    t.equal(taken[1]!.at - taken[0]!.at, S, 'the gap between ranks is one step');
    const mine = probes.filter((p) => p.from === 'lb3');
    t.equal(mine.length, count);
    t.ok(mine.every((p) => p.at >= L + T + S - W && p.at < L + T + S), 'rank 1 probes over [L + T + S - W, L + T + S)');
  });

  t.test(`${I} ms adverts: a probe answer restarts the silence; the takeover counts from the last answer`, async (t) => {
    const c = twoNodes(I);
    c.start();
    c.run(10 * I);
    const { D, T, W } = timers(c);
    // from now on every advert of lb1 is lost, its probe replies are not
    const since = c.now;
    const probes: Probe[] = [];
    c.drop = (p) => {
      if (p.kind === 'probe') probes.push({ from: p.from, at: p.at });
      return p.from === 'lb1' && p.kind === 'advert';
    };
    c.run(20 * D);
    t.same(c.masters(), ['lb1'], 'the answers keep the master');
    t.equal(c.into('MASTER', since).length, 0);
    // one probe per silence, T - W after the last answer (the first probe is answered at once)
    const gaps = probes.slice(1).map((p, i) => p.at - probes[i]!.at);
    t.ok(gaps.length >= 19, `${probes.length} probes`);
    t.ok(gaps.every((g) => g === T - W + SLACK), `each T - W (+${SLACK}) after the previous answer: ${[...new Set(gaps)].join(',')}`);
    // now the host goes: the takeover comes T after the last answer
    const L = lastHeard(c, 'lb2', 'lb1');
    const cutAt = c.now;
    cutOff(c, 'lb1');
    c.run(2 * D);
    const taken = c.into('MASTER', cutAt);
    t.same(taken.map((x) => x.node), ['lb2']);
    t.equal(taken[0]!.at, L + T + SLACK, 'at the last answer + T');
  });

  t.test(`${I} ms adverts: the master answers only the last probe: no takeover, the next silence counts from that answer`, async (t) => {
    const c = twoNodes(I);
    c.start();
    c.run(10 * I);
    const { D, probes: count } = timers(c);
    const since = c.now;
    let sent = 0;
    let answered = -1;
    c.drop = (p) => {
      if (p.kind === 'probe' && p.to === 'lb1') sent++;
      if (p.kind === 'probe-reply' && p.from === 'lb1') {
        if (sent % count !== 0) return true; // the first count - 1 of each confirmation are lost
        answered = p.at;
        return false;
      }
      return p.from === 'lb1' && p.kind === 'advert';
    };
    c.run(3 * D);
    t.ok(answered > since, `the last probe was answered at +${answered - since} ms`);
    t.equal(lastHeard(c, 'lb2', 'lb1') >= answered, true);
    t.equal(c.into('MASTER', since).length, 0, 'an answer inside the window keeps the master');
    t.equal(sent % count, 0, 'whole confirmations only');
  });
}

/*
 * 20 % random loss (every packet, each way) and then the master's host lost, at a random phase.
 * The best backup (lb2) takes over at L + T from its own L or a fresher vouched one. A lower rank can
 * act first only when it missed adverts lb2 heard (its L is earlier by whole intervals); then lb2
 * hears that MASTER (or, if that advert is lost too, takes over and the two meet) and the survivors
 * end with one MASTER, lb2 (preempt on).
 */
for (const I of [1000, 100]) {
  t.test(`${I} ms adverts, 20 % loss, host lost: takeover instants`, async (t) => {
    let lb3First = 0;
    const seeds = 40;
    for (let seed = 1; seed <= seeds; seed++) {
      const rnd = prng(seed);
      const c = threeNodes(I);
      c.start();
      c.run(10 * I);
      c.drop = () => rnd() < 0.2;
      c.run(5 * I + Math.floor(rnd() * I));
      if (c.masters().join() !== 'lb1') {
        t.fail(`seed ${seed}: lb1 lost mastership before the cut`);
        continue;
      }
      const { D, T, S } = timers(c);
      const cutAt = c.now;
      cutOff(c, 'lb1', () => rnd() < 0.2);
      const L2 = lastHeard(c, 'lb2', 'lb1');
      const L3 = lastHeard(c, 'lb3', 'lb1');
      c.run(D + 20 * I);
      const taken = c.into('MASTER', cutAt);
      const first = taken[0];
      if (!first) {
        t.fail(`seed ${seed}: nobody took over`);
        continue;
      }
      if (first.node === 'lb2') {
        // its own L, or lb3's fresher sighting vouched in an advert that reached it
        t.ok(first.at === L2 + T + SLACK || (L3 > L2 && first.at === L3 + T + SLACK), `seed ${seed}: lb2 at ${first.at - L2} ms after its L (L3 - L2 = ${L3 - L2})`);
      } else {
        lb3First++;
        t.ok(L3 < L2, `seed ${seed}: lb3 acted first (${first.at - cutAt} ms after the cut) only because it missed an advert lb2 heard (L3 - L2 = ${L3 - L2})`);
        t.ok(first.at >= L3 + T + S, `seed ${seed}: and not before its own L + T + S`);
      }
      const survivors = ['lb2', 'lb3'].filter((n) => c.state(n) === 'MASTER');
      t.same(survivors, ['lb2'], `seed ${seed}: the survivors end with lb2 as their only MASTER`);
    }
    t.comment(`${I} ms: lb3 acted first in ${lb3First} of ${seeds} seeds (it had missed the master's last advert)`);
  });
}

/*
 * A lower rank took over first (it had missed the master's last advert) while the best backup was
 * already probing the silent master: at the end of its probes the best backup declares the master
 * dead, finds a live MASTER and stays BACKUP (with preempt off it has no reason to take over; it
 * would otherwise have become a second MASTER for one advert round).
 */
t.test('100 ms adverts: a MASTER claim heard during the confirmation: the best backup declares the old master dead and stays BACKUP', async (t) => {
  const I = 100;
  const c = new Cluster({ intervalMs: I, preempt: false });
  c.latencyMs = 0;
  c.timerSlackMs = SLACK;
  c.add('lb1', 150);
  c.add('lb2', 100);
  c.add('lb3', 50);
  c.start();
  c.run(10 * I + 10);
  t.same(c.masters(), ['lb1']);
  const { T, S } = timers(c);
  // lb3 misses lb1's last advert (and lb2's adverts, which would vouch for it), then lb1's host goes
  c.drop = (p) => p.to === 'lb3' && p.from !== 'lb3';
  c.run(I);
  c.drop = undefined;
  const cutAt = c.now;
  const probes = cutOff(c, 'lb1');
  const L2 = lastHeard(c, 'lb2', 'lb1');
  const L3 = lastHeard(c, 'lb3', 'lb1');
  t.ok(L2 - L3 >= I && L2 - L3 < 2 * I, `lb3 heard lb1 one advert less (${L2 - L3} ms earlier)`);
  c.run(10 * I);
  const taken = c.into('MASTER', cutAt);
  t.same(taken.map((x) => [x.node, x.at]), [['lb3', L3 + T + S + SLACK]], 'lb3 took over at its own L + T + S; lb2 never did');
  const lb2Probes = probes.filter((p) => p.from === 'lb2');
  t.ok(lb2Probes.length > 0 && lb2Probes[0]!.at < L3 + T + S, `lb2 was probing before lb3 took over (from +${(lb2Probes[0]?.at ?? NaN) - L2} ms)`);
  const deaths = c.peerDeaths.filter((d) => d.node === 'lb2' && d.peer === 'lb1');
  t.same(deaths.map((d) => d.at), [L2 + T + SLACK], 'lb2 declared lb1 dead when its probes ended');
  t.equal(c.state('lb2'), 'BACKUP');
  t.same(['lb2', 'lb3'].filter((n) => c.state(n) === 'MASTER'), ['lb3'], 'the survivors have one MASTER');
});
