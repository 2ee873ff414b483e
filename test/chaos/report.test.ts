/** The chaos report tells recovery violations whose quiet gap saw a node go FAULT by itself (a check timing out). */
import t from 'tap';
import { latestFullRuns, selfFaultsAfter } from '../../bench/chaos-lib/report.js';
import type { ExecutedFault, Violation } from '../../bench/chaos-lib/invariants.js';
import type { CampaignOptions } from '../../bench/chaos-lib/campaign.js';

const T0 = 1_000_000;
const checkFail: ExecutedFault = { fault: { id: 1, kind: 'check-fail', atMs: 0, durationMs: 1000, node: 2, episode: 0 }, startT: T0, clearT: T0 + 1000 };
const next: ExecutedFault = { fault: { id: 2, kind: 'sigkill', atMs: 20_000, durationMs: 500, node: 1, episode: 1 }, startT: T0 + 20_000, clearT: T0 + 20_500 };
const r = {
  executed: [checkFail, next],
  endT: T0 + 60_000,
  timeline: [
    { t: T0 + 500, what: 'node 2 says FAULT' }, // the injected check failure
    { t: T0 + 8000, what: 'node 0 says FAULT' }, // by itself, in the quiet gap
    { t: T0 + 25_000, what: 'node 1 says FAULT' }, // after the next episode started
  ],
};

t.test('nodes FAULT by themselves in a recovery violation\'s quiet gap', async (t) => {
  const v: Violation = { invariant: 'recovery', t: T0 + 1000, message: 'episode 0: …' };
  t.same(selfFaultsAfter(r, v), [0], 'node 0 only: node 2 had an injected check failure, node 1 failed in the next episode');
  t.same(selfFaultsAfter(r, { ...v, invariant: 'address' }), [], 'only recovery violations');
  t.same(selfFaultsAfter({ ...r, timeline: r.timeline.filter((e) => !e.what.startsWith('node 0')) }, v), []);
});

t.test('latest full runs: per cloud and election, the last finished run of at least 29.5 minutes', async (t) => {
  const run = (provider: string, election: string | undefined, minutes: number, finishedAt: string) => ({
    options: { provider, ...(election ? { election } : {}) } as unknown as CampaignOptions,
    startT: 0,
    endT: minutes * 60_000,
    finishedAt,
  });
  const runs = [
    run('exoscale', 'heartbeat', 31, '2026-12-04T10:00:00Z'),
    run('exoscale', undefined, 30.5, '2026-12-05T10:00:00Z'), // heartbeat by default, newer
    run('exoscale', 'heartbeat', 12, '2026-12-06T10:00:00Z'), // newest, but short
    run('aws', 'etcd', 30, '2026-12-01T10:00:00Z'),
  ];
  t.same(latestFullRuns(runs).map((r) => `${r.options.provider} ${r.finishedAt}`), ['aws 2026-12-01T10:00:00Z', 'exoscale 2026-12-05T10:00:00Z']);
});
