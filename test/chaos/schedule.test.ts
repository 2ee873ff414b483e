/** The chaos schedule: a seed replays it; episodes overlap faults, never all nodes, and leave a quiet gap. */
import t from 'tap';
import { buildSchedule, describeFault, quietGapMs, API_FAULTS, type ScheduleOptions } from '../../bench/chaos-lib/schedule.js';
import { parseChaosArgs } from '../../bench/chaos-lib/args.js';

const base: ScheduleOptions = { seed: 42, durationMs: 10 * 60_000, nodes: 3, deadTimeMs: 600, apiChangeMs: 300 };

t.test('the same seed gives the same schedule; another seed another one', async (t) => {
  t.same(buildSchedule(base), buildSchedule(base));
  t.notSame(buildSchedule(base).faults, buildSchedule({ ...base, seed: 43 }).faults);
});

t.test('episodes: overlapping faults, one healthy node left, a quiet gap after each, inside the run', async (t) => {
  for (const seed of [1, 2, 3, 4, 5, 99, 12345]) {
    const s = buildSchedule({ ...base, seed });
    t.ok(s.episodes.length > 10, `seed ${seed}: ${s.episodes.length} episodes in 10 min`);
    let overlapping = 0;
    for (const ep of s.episodes) {
      const fs = s.faults.filter((f) => f.episode === ep.index);
      t.ok(fs.length >= 1 && fs.length <= 3, `episode ${ep.index} has 1..3 faults`);
      const nodes = fs.filter((f) => f.node !== undefined).map((f) => f.node);
      t.equal(new Set(nodes).size, nodes.length, 'one fault per node per episode');
      t.ok(nodes.length <= base.nodes - 1, 'never every node');
      t.ok(fs.filter((f) => (API_FAULTS as readonly string[]).includes(f.kind)).length <= 1, 'one API fault per episode');
      for (const f of fs) t.ok(f.atMs >= ep.startMs && f.atMs + f.durationMs <= ep.endMs, 'faults inside their episode');
      t.equal(ep.quietUntilMs - ep.endMs, quietGapMs(base), 'a quiet gap follows');
      const next = s.episodes[ep.index + 1];
      if (next) t.equal(next.startMs, ep.quietUntilMs, 'the next episode starts after the gap');
      if (fs.length >= 2) {
        const sorted = [...fs].sort((a, b) => a.atMs - b.atMs);
        if (sorted[1]!.atMs < sorted[0]!.atMs + sorted[0]!.durationMs) overlapping++;
      }
    }
    t.ok(overlapping > 0, `seed ${seed}: some episodes overlap their faults (${overlapping})`);
    t.ok(s.episodes[s.episodes.length - 1]!.quietUntilMs <= base.durationMs + quietGapMs(base));
  }
});

t.test('every kind is drawn over a long run; --only restricts them', async (t) => {
  const kinds = new Set(buildSchedule({ ...base, durationMs: 60 * 60_000 }).faults.map((f) => f.kind));
  t.equal(kinds.size, 14, [...kinds].join(','));
  const only = buildSchedule({ ...base, kinds: ['sigkill', 'api-5xx'] });
  t.same(new Set(only.faults.map((f) => f.kind)), new Set(['sigkill', 'api-5xx']));
  t.match(describeFault({ id: 3, kind: 'loss', atMs: 1500, durationMs: 700, node: 1, param: 30, episode: 0 }), '#3 loss node 1 (30 %) at 1.50 s for 700 ms');
});

t.test('command line: defaults, replay seed, errors naming the flag', async (t) => {
  t.match(parseChaosArgs([], () => 77), { provider: 'exoscale', election: 'heartbeat', durationMs: 1_800_000, seed: 77, nodes: 3, intervalMs: 200 });
  t.match(parseChaosArgs(['--seed', '5', '--duration', '60s', '--only', 'sigkill,loss']), { seed: 5, durationMs: 60_000, kinds: ['sigkill', 'loss'] });
  t.throws(() => parseChaosArgs(['--provider', 'nimbus']), /--provider: expected one of exoscale/);
  t.throws(() => parseChaosArgs(['--seed=-1']), /--seed: expected an integer/);
  t.throws(() => parseChaosArgs(['--only', 'meteor']), /--only: unknown fault kind "meteor"/);
  t.throws(() => parseChaosArgs(['--duration', 'soon']), /--duration: expected a duration/);
  t.throws(() => parseChaosArgs(['--election', 'etcd']), /--election: only "heartbeat"/);
});
