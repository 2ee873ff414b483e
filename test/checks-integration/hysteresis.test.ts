/**
 * rise/fall hysteresis between real daemons: a weight-0 `exec` check on the master alternates
 * pass/fail on every run (a counter file). With fall 3 / rise 2 nothing moves; with fall 1 /
 * rise 1 the same check flaps the IP.
 */
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { INTERVAL, instance, sleep, stableMaster, startCluster, transitions, type LabNode } from './lib/cluster.js';

const WINDOW_MS = 2500;

/** Exits 0, 1, 0, 1, ... on successive runs (the count is kept in the file given as $1). */
const ALTERNATE = `n=$(cat "$1" 2>/dev/null || echo 0)
echo $((n + 1)) > "$1"
echo "run $n"
exit $((n % 2))
`;

async function flakyCluster(t: { teardown(fn: () => unknown): void }, rise: number, fall: number) {
  const c = await startCluster(t, {
    before: (dir) => writeFileSync(join(dir, 'alternate.sh'), ALTERNATE),
    checks: (i, dir) =>
      i === 0
        ? [
            {
              plugin: 'exec',
              name: 'flaky',
              command: `/bin/sh ${join(dir, 'alternate.sh')} ${join(dir, 'count')}`,
              interval: `${INTERVAL}ms`,
              timeout: '2s', // a slow fork on a busy machine must not add failures
              rise,
              fall,
              weight: 0,
              initialState: 'ok', // the first run passes; with rise 2 the check could never become ok from fail
            },
          ]
        : [],
  });
  const count = () => Number(readFileSync(join(c.dir, 'count'), 'utf8'));
  return { c, count };
}

/** How many check runs a test watches: as many as WINDOW_MS holds at the check's interval. */
const RUNS = Math.round(WINDOW_MS / INTERVAL);

/**
 * Samples lab1's check results until the check has run `runs` more times (counted by the check script
 * itself, so a busy machine only makes it take longer), bounded by a minute: which outcomes and settled
 * states were seen, and how many runs it took.
 */
async function observe(c: Awaited<ReturnType<typeof flakyCluster>>['c'], n: LabNode, count: () => number, runs: number) {
  const results = new Set<boolean>();
  const states = new Set<string>();
  let maxConsecutive = 0;
  let samples = 0;
  const first = count();
  const deadline = Date.now() + 60_000;
  while (count() - first < runs && Date.now() < deadline) {
    const check = (await instance(c, n))?.checks[0];
    if (check?.lastResult && check.runs > 1) {
      results.add(check.lastResult.ok);
      maxConsecutive = Math.max(maxConsecutive, check.consecutive);
      samples++;
    }
    if (check) states.add(check.state);
    await sleep(INTERVAL / 3);
  }
  return { results, states, maxConsecutive, samples, runs: count() - first };
}

t.test('fall 3 / rise 2: an alternating check causes no transition', async (t) => {
  const { c, count } = await flakyCluster(t, 2, 3);
  const [lab1, lab2] = [c.nodes[0]!, c.nodes[1]!];
  await stableMaster(c, 'lab1');
  const before = [transitions(lab1).length, transitions(lab2).length];
  const seen = await observe(c, lab1, count, RUNS);
  t.ok(seen.runs >= RUNS, `the check ran ${seen.runs} times`);
  // every sampled run had an outcome different from the run before it (a run of 1): the daemon saw the
  // alternation. (Sampled outcomes alone can alias with it on a loaded machine: one status call every
  // two check runs sees the same outcome every time.)
  t.ok(seen.samples > 0 && seen.maxConsecutive === 1, `it really alternated: ${seen.samples} samples, longest run of one outcome ${seen.maxConsecutive}`);
  t.same([...seen.states], ['ok'], 'its settled state never left ok');
  t.same([transitions(lab1).length, transitions(lab2).length], before, 'zero transitions on both nodes');
  t.same(await c.masters(), ['lab1']);
});

t.test('fall 1 / rise 1: the same check flaps the IP', async (t) => {
  const { c, count } = await flakyCluster(t, 1, 1);
  const [lab1, lab2] = [c.nodes[0]!, c.nodes[1]!];
  // no stable master to wait for: it flaps from the start
  await c.waitFor('lab1 running its check', 5000, async () => ((await instance(c, lab1))?.checks[0]?.runs ?? 0) > 2 || undefined);
  const before = transitions(lab1).length;
  const before2 = transitions(lab2).length;
  const seen = await observe(c, lab1, count, RUNS);
  const faults = transitions(lab1).slice(before).filter((x) => x.to === 'FAULT').length;
  const takeovers = transitions(lab2).slice(before2).filter((x) => x.to === 'MASTER').length;
  t.ok(seen.runs >= RUNS, `the check ran ${seen.runs} times, as in the test above`);
  t.same([...seen.states].sort(), ['fail', 'ok'], 'the settled state follows every result');
  t.ok(faults >= 4, `lab1 went to FAULT ${faults} times in ${seen.runs} check runs`);
  t.ok(takeovers >= 2, `the IP moved to lab2 ${takeovers} times`);
});
