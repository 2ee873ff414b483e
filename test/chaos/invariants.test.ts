/**
 * The chaos judge on synthetic observations: each invariant catches its violation (including the
 * unheld-after-fencing shape of issue 22) and lets legitimate windows pass.
 */
import t from 'tap';
import { judge, recoveryBoundMs, type Bounds, type Observations } from '../../bench/chaos-lib/invariants.js';
import type { PlannedFault, Schedule } from '../../bench/chaos-lib/schedule.js';

const T0 = 1_000_000;
const bounds: Bounds = { deadTimeMs: 600, apiChangeMs: 300, slackMs: 500, maxCallsPerSecond: 30 };

function fault(kind: PlannedFault['kind'], atMs: number, durationMs: number, node?: number): PlannedFault {
  return { id: 0, kind, atMs, durationMs, episode: 0, ...(node !== undefined ? { node } : {}) };
}

function scenario(f: PlannedFault, extra: Partial<Observations> = {}): { schedule: Schedule; obs: Observations } {
  const schedule: Schedule = { seed: 1, durationMs: 20_000, nodes: 3, faults: [f], episodes: [{ index: 0, startMs: f.atMs, endMs: f.atMs + f.durationMs, quietUntilMs: 20_000 }] };
  const obs: Observations = {
    startT: T0,
    endT: T0 + 20_000,
    nodes: 3,
    holderMode: 'multi',
    holderEvents: [],
    initialHolders: [0],
    addressEvents: [],
    initialAddress: [0],
    executed: [{ fault: f, startT: T0 + f.atMs, clearT: T0 + f.atMs + f.durationMs }],
    crashes: [],
    errorLines: [],
    leaks: [],
    rss: [],
    apiCalls: [],
    ...extra,
  };
  return { schedule, obs };
}

t.test('a clean failover and preemption back is no violation, and its recovery is measured', async (t) => {
  // node 0 frozen 2 s: node 1 takes over (make-before-break 300 ms), node 0 resumes and takes it back.
  const { schedule, obs } = scenario(fault('sigstop', 1000, 2000, 0), {
    holderEvents: [
      { t: T0 + 1700, holders: [0, 1] },
      { t: T0 + 2000, holders: [1] },
      { t: T0 + 3500, holders: [0, 1] },
      { t: T0 + 3800, holders: [0] },
    ],
    addressEvents: [
      { t: T0 + 1650, host: 1, added: true },
      { t: T0 + 3100, host: 0, added: false },
      { t: T0 + 3300, host: 0, added: true },
      { t: T0 + 3350, host: 1, added: false },
    ],
  });
  const v = judge(schedule, obs, bounds);
  t.same(v.violations, []);
  t.same(v.recovery, { sigstop: [800] }, 'converged 800 ms after SIGCONT (the last change)');
  t.equal(v.longestMultiHolderMs, 300);
  t.equal(v.injected.sigstop, 1);
});

t.test('issue 22: the MASTER ends up holding nothing after a fencing race: a recovery violation', async (t) => {
  // a frozen at 1.0 s; b attaches itself at 1.7 s and sends its fencing detach of a; a resumes at 2.2 s,
  // reads {a, b}, skips its own attach and detaches b; b's detach of a lands at 2.25 s, a's of b at 2.55 s.
  const { schedule, obs } = scenario(fault('sigstop', 1000, 1200, 0), {
    holderEvents: [
      { t: T0 + 1700, holders: [0, 1] },
      { t: T0 + 2250, holders: [1] },
      { t: T0 + 2550, holders: [] },
      { t: T0 + 7550, holders: [0] }, // a's reconcile pass, 5 s later
    ],
  });
  const v = judge(schedule, obs, bounds);
  t.equal(v.violations.length, 1);
  t.match(v.violations[0], { invariant: 'recovery', message: /held by node 0 alone 5350 ms after the last fault cleared \(bound 3700 ms\)/ });
  t.equal(v.longestUnheldMs, 5000);
});

t.test('two holders beyond a make-before-break window; stretched only by API faults', async (t) => {
  const long = scenario(fault('sigkill', 1000, 500, 0), { holderEvents: [{ t: T0 + 1600, holders: [0, 1] }, { t: T0 + 3100, holders: [0] }] });
  t.match(judge(long.schedule, long.obs, bounds).violations, [{ invariant: 'holders', message: /holders 0, 1 for 1500 ms/ }]);
  const api = scenario(fault('api-5xx', 4800, 1000), { holderEvents: [{ t: T0 + 5000, holders: [0, 1] }, { t: T0 + 6500, holders: [0] }] });
  t.same(judge(api.schedule, api.obs, bounds).violations, [], 'the detach was refused by the API for most of the window');
  const single = scenario(fault('api-5xx', 4800, 1000), { holderMode: 'single', initialHolders: [0], holderEvents: [{ t: T0 + 5000, holders: [0, 1] }, { t: T0 + 5100, holders: [0] }] });
  t.match(judge(single.schedule, single.obs, bounds).violations, [{ invariant: 'holders', message: /single-holder cloud/ }]);
});

t.test('the address on two interfaces: allowed inside a partition and its settle time, a violation outside', async (t) => {
  const events = [
    { t: T0 + 1500, host: 1, added: true },
    { t: T0 + 3300, host: 1, added: false },
  ];
  const cut = scenario(fault('link-cut', 1000, 2000, 0), { addressEvents: events });
  t.same(judge(cut.schedule, cut.obs, bounds).violations, []);
  const reload = scenario(fault('reload', 1000, 0, 0), { addressEvents: events });
  const v = judge(reload.schedule, reload.obs, bounds).violations;
  t.equal(v.length, 1);
  t.match(v, [{ invariant: 'address', message: /address on nodes 0, 1 for 1800 ms \(0 ms of it inside partition-like faults\)/ }], 'a reload must never put it on a second node');
});

t.test('a flap in the quiet gap after convergence is a violation', async (t) => {
  const { schedule, obs } = scenario(fault('reload', 1000, 0, 1), { holderEvents: [{ t: T0 + 9000, holders: [1] }, { t: T0 + 9400, holders: [0] }] });
  t.match(judge(schedule, obs, bounds).violations, [{ invariant: 'recovery', message: /held by node 0 alone 8400 ms after/ }]);
});

t.test('health: crashes, unhandled errors, leaks and RSS growth; API storms', async (t) => {
  // node 2 settled (running for minutes) grows by 1/6; node 0 grows as much but only during its start-up minute
  const rss = [
    ...Array.from({ length: 20 }, (_, i) => ({ t: T0 + i * 1000, node: 2, pid: 99, kb: i < 10 ? 60_000 : 70_000, ageMs: 120_000 + i * 1000 })),
    ...Array.from({ length: 20 }, (_, i) => ({ t: T0 + i * 1000, node: 0, pid: 98, kb: i < 10 ? 40_000 : 70_000, ageMs: i * 1000 })),
  ];
  const calls = Array.from({ length: 40 }, (_, i) => ({ t: T0 + 5000 + i * 10, call: 'get-operation' }));
  const { schedule, obs } = scenario(fault('loss', 1000, 1000, 1), {
    crashes: [{ t: T0 + 1200, node: 1, detail: 'code 1 signal null' }],
    errorLines: [{ node: 1, line: '{"level":"fatal","msg":"unhandledRejection"}' }],
    leaks: ['namespace ipw1a h0'],
    rss,
    apiCalls: calls,
  });
  const v = judge(schedule, obs, bounds);
  t.match(
    v.violations.map((x) => x.message),
    [/node 1 daemon exited on its own/, /40 API calls in one second/, /node 1 log/, /leaked: namespace/, /node 2 RSS grew 60000 -> 70000 kB from the first to the last quarter/],
  );
  t.equal(v.maxCallsPerSecond, 40);
  t.same(v.rssGrowth, [{ node: 2, firstKb: 60000, lastKb: 70000 }], 'start-up growth is not judged');
});

t.test('API calls by node: the busiest second broken down by node, the busiest node-second by call; the total judged', async (t) => {
  // second 5: node 0 makes 11 calls, nodes 1 and 2 make 8 each, one caller is no node: 28 in all, under 30
  const at = (ms: number) => T0 + 5000 + ms;
  const calls = [
    ...Array.from({ length: 7 }, (_, i) => ({ t: at(i * 10), call: 'get-operation', node: 0 })),
    ...Array.from({ length: 4 }, (_, i) => ({ t: at(100 + i * 10), call: 'attach', node: 0 })),
    ...Array.from({ length: 8 }, (_, i) => ({ t: at(200 + i * 10), call: 'list', node: 1 })),
    ...Array.from({ length: 8 }, (_, i) => ({ t: at(300 + i * 10), call: 'list', node: 2 })),
    { t: at(400), call: 'list' },
    // another second: 10 calls from node 1, at its bound
    ...Array.from({ length: 10 }, (_, i) => ({ t: T0 + 8000 + i * 10, call: 'list', node: 1 })),
  ];
  const { schedule, obs } = scenario(fault('loss', 1000, 1000, 1), { apiCalls: calls });
  const v = judge(schedule, obs, bounds);
  t.same(v.violations, [], 'under the total bound: no violation, whatever one node made');
  t.equal(v.maxCallsPerSecond, 28);
  t.same(v.maxCallsByNode, { 0: 11, 1: 8, 2: 8, '?': 1 }, 'the busiest second by node, an unknown caller as "?"');
  t.same(v.busiestNode, { node: 0, t: Math.floor(at(0) / 1000) * 1000, calls: 11, byCall: { 'get-operation': 7, attach: 4 } });
  const over = judge(schedule, obs, { ...bounds, maxCallsPerSecond: 20 });
  t.match(over.violations.map((x) => x.message), [/^28 API calls in one second \(bound 20; node 0 11, node 1 8, node 2 8, node \? 1\)$/], 'the total names each node\'s share');
});

t.test('the recovery bound: deadTime + the confirming pass finding a change in flight at the clear + node 0\'s own move', async (t) => {
  // DigitalOcean (3 s actions, single-holder): 600 + max(1 s, 6 s) + 3 s + 1 s + 1.5 s
  t.equal(recoveryBoundMs({ deadTimeMs: 600, apiChangeMs: 3000, slackMs: 1500 }, 'single'), 12_100);
  // Exoscale (300 ms operations, make-before-break: attach + fencing detach): 600 + 1 s + 600 + 1 s + 1.5 s
  t.equal(recoveryBoundMs({ deadTimeMs: 600, apiChangeMs: 300, slackMs: 1500 }, 'multi'), 4700);
  // etcd: the lease TTL stands for deadRatio × interval
  t.equal(recoveryBoundMs({ deadTimeMs: 3000, apiChangeMs: 200, slackMs: 1500 }, 'single'), 6700);
});
