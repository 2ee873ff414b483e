/**
 * Short seeded chaos campaigns beyond Exoscale + heartbeat (campaign.test.ts): a single-holder cloud
 * (AWS, heartbeat election) and an etcd election (3 etcd members in the lab namespaces, Exoscale). Each runs in its own /27 of 198.51.100.0/24 so it does not meet another lab's
 * bridge address. A failure replays with `npm run chaos -- --provider P --election E --seed S --duration 40s`.
 */
import t from 'tap';
import { requireEnv } from '../lib/env.js';
import { runCampaign, violationContext, type CampaignOptions } from '../../bench/chaos-lib/campaign.js';
import { CHANGE_MS } from '../../bench/chaos-lib/clouds.js';

const base: Omit<CampaignOptions, 'seed' | 'provider' | 'election' | 'subnet' | 'apiChangeMs' | 'log'> = {
  durationMs: 40_000,
  nodes: 3,
  intervalMs: 200,
  deadRatio: 3,
  ttlMs: 3000,
  checkIntervalMs: 500,
  reconcile: '5s',
  slackMs: 1500,
};

const cases = [
  // single-holder, AssociateAddress moves it in one synchronous call: 5 episodes fit in 40 s
  { provider: 'aws', election: 'heartbeat', subnet: '198.51.100.192/27', seed: 20261206, kinds: 5, episodes: 4 },
  // etcd (3 s lease) on the multi-holder cloud: partition safety with make-before-break fencing, an etcd member killed
  { provider: 'exoscale', election: 'etcd', subnet: '198.51.100.224/27', seed: 20261205, kinds: 5, episodes: 2 },
] as const;

for (const c of cases) {
  const skip = requireEnv({ netns: true, bins: c.election === 'etcd' ? ['nft', 'ip', 'etcd', 'etcdctl'] : ['nft', 'ip'] });
  t.test(`${c.provider}, ${c.election} election: 40 s of overlapping faults, seed ${c.seed}: no invariant violated`, { skip, timeout: 180_000 }, async (t) => {
    const lines: string[] = [];
    const r = await runCampaign({ ...base, seed: c.seed, provider: c.provider, election: c.election, subnet: c.subnet, apiChangeMs: CHANGE_MS[c.provider], log: (l) => lines.push(l) });
    const kinds = new Set(r.executed.map((e) => e.fault.kind));
    t.ok(r.executed.length >= 4, `${r.executed.length} faults injected`);
    t.ok(kinds.size >= c.kinds, `kinds: ${[...kinds].join(', ')}`);
    t.ok(r.verdict.checks.recovery >= c.episodes, `recovery judged after every episode (${r.verdict.checks.recovery})`);
    t.ok(r.timeline.some((e) => e.what.startsWith('cloud: holders')), 'the judge saw the cloud move the IP');
    if (c.election === 'etcd') t.ok(lines.some((l) => /etcd members .* healthy/.test(l)), 'the etcd cluster ran in the namespaces');
    for (const v of r.verdict.violations) t.fail(`${v.invariant}: ${v.message}\n${violationContext(r, v.t)}`);
    t.equal(r.verdict.violations.length, 0, lines.join('\n'));
  });
}
