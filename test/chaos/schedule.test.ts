/** The chaos schedule: a seed replays it; episodes overlap faults, never all nodes, and leave a quiet gap. */
import t from 'tap';
import { buildSchedule, describeFault, quietGapMs, API_FAULTS, type ScheduleOptions } from '../../bench/chaos-lib/schedule.js';
import { parseChaosArgs } from '../../bench/chaos-lib/args.js';
import { floatingAddressOf, supportedKinds } from '../../bench/chaos-lib/campaign.js';
import { PROVIDERS } from '../../bench/chaos-lib/clouds.js';
import { cloudNames } from '../../src/cloud/registry.js';

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
  t.equal(kinds.size, 15, [...kinds].join(','));
  const only = buildSchedule({ ...base, kinds: ['sigkill', 'api-5xx'] });
  t.same(new Set(only.faults.map((f) => f.kind)), new Set(['sigkill', 'api-5xx']));
  t.match(describeFault({ id: 3, kind: 'loss', atMs: 1500, durationMs: 700, node: 1, param: 30, episode: 0 }), '#3 loss node 1 (30 %) at 1.50 s for 700 ms');
});

t.test('command line: defaults, replay seed, errors naming the flag', async (t) => {
  t.match(parseChaosArgs([], () => 77), { provider: 'exoscale', election: 'heartbeat', durationMs: 1_800_000, seed: 77, nodes: 3, intervalMs: 200, apiDelayMs: 300, subnet: '198.51.100.0/24', ttlMs: 3000 });
  t.match(parseChaosArgs(['--provider', 'hetzner', '--election', 'etcd', '--subnet', '198.51.100.64/26', '--ttl', '4s']), { provider: 'hetzner', election: 'etcd', apiDelayMs: 2000, subnet: '198.51.100.64/26', ttlMs: 4000 });
  t.match(parseChaosArgs(['--provider', 'digitalocean']), { apiDelayMs: 3000 }, 'each cloud its own change time');
  t.match(parseChaosArgs(['--provider', 'aws', '--api-delay', '0s']), { provider: 'aws', apiDelayMs: 0 });
  t.match(parseChaosArgs(['--seed', '5', '--duration', '60s', '--only', 'sigkill,loss']), { seed: 5, durationMs: 60_000, kinds: ['sigkill', 'loss'] });
  t.throws(() => parseChaosArgs(['--provider', 'nimbus']), /--provider: expected one of exoscale/);
  t.throws(() => parseChaosArgs(['--seed=-1']), /--seed: expected an integer/);
  t.throws(() => parseChaosArgs(['--only', 'meteor']), /--only: unknown fault kind "meteor"/);
  t.throws(() => parseChaosArgs(['--duration', 'soon']), /--duration: expected a duration/);
  t.throws(() => parseChaosArgs(['--election', 'raft']), /--election: expected one of heartbeat, etcd, got "raft"/);
  t.throws(() => parseChaosArgs(['--subnet', '198.51.100.32/26']), /--subnet: expected .* aligned/);
  t.throws(() => parseChaosArgs(['--subnet', '203.0.113.0/26']), /--subnet: expected 198\.51\.100\.0\/24 or/);
  t.throws(() => parseChaosArgs(['--ttl', '1500ms']), /--ttl: expected whole seconds/);
});

t.test('a campaign subnet gives its floating address; fault kinds per election', async (t) => {
  t.equal(floatingAddressOf('198.51.100.0/24'), '198.51.100.50');
  t.equal(floatingAddressOf('198.51.100.64/26'), '198.51.100.114');
  t.equal(floatingAddressOf('198.51.100.192/26'), '198.51.100.242');
  t.equal(floatingAddressOf('198.51.100.32/27'), '198.51.100.62');
  t.ok(supportedKinds('etcd').includes('etcd-kill'));
  t.notOk(supportedKinds('etcd').includes('loss'), 'no UDP loss burst with etcd');
  t.notOk(supportedKinds('heartbeat').includes('etcd-kill'));
  t.same(PROVIDERS, cloudNames(), 'every cloud of the registry takes part');
});
