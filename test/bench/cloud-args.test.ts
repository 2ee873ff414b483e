/**
 * The cloud run's command line and report (pure): which clouds, their operation times, the subnet;
 * a report that states each cloud's simulated time and flags two holders on a single-holder cloud.
 */
import t from 'tap';
import { parseBenchArgs } from '../../bench/lib/args.js';
import { CLOUD_OP_TIMES } from '../../bench/lib/clouds.js';
import { renderCloudReport } from '../../bench/lib/cloud-report.js';
import type { BenchResults } from '../../bench/lib/results.js';
import type { TrialResult } from '../../bench/lib/scenarios.js';

t.test('--clouds / --provider / --api-delay / --subnet', async (t) => {
  const all = parseBenchArgs(['--clouds', 'all']);
  t.same(all.clouds, ['exoscale', 'hetzner', 'aws', 'digitalocean']);
  t.same(all.phases, ['sigkill', 'sigterm'], 'a cloud run measures the two failovers by default');
  t.equal(all.opTimesMs.hetzner, CLOUD_OP_TIMES.hetzner.ms);
  t.equal(all.subnet, '198.51.100.0/24');
  t.same(parseBenchArgs(['--provider', 'aws']).clouds, ['aws']);
  t.equal(parseBenchArgs([]).clouds, undefined, 'no cloud flag: the ipwarden-vs-keepalived run on Exoscale');
  t.same(parseBenchArgs([]).phases, ['sigkill', 'hostloss', 'sigterm', 'check', 'loss', 'resources']);
  const some = parseBenchArgs(['--api-delay', 'hetzner=5s,aws=250ms', '--subnet', '203.0.113.0/24']);
  t.same(some.opTimesMs, { exoscale: CLOUD_OP_TIMES.exoscale.ms, hetzner: 5000, aws: 250, digitalocean: CLOUD_OP_TIMES.digitalocean.ms });
  t.equal(some.subnet, '203.0.113.0/24');
  const one = parseBenchArgs(['--api-delay', '1s']);
  t.same(Object.values(one.opTimesMs), [1000, 1000, 1000, 1000], 'one duration: every cloud');
  t.equal(one.apiDelayMs, 1000, 'and the Exoscale run');
  t.throws(() => parseBenchArgs(['--provider', 'gcp']), /--provider: unknown cloud "gcp"/);
  t.throws(() => parseBenchArgs(['--clouds', 'aws,aws']), /--clouds: a cloud is listed twice/);
  t.throws(() => parseBenchArgs(['--clouds', 'aws', '--provider', 'aws']), /--clouds and --provider/);
  t.throws(() => parseBenchArgs(['--api-delay', 'linode=1s']), /--api-delay: expected CLOUD=DURATION/);
  t.throws(() => parseBenchArgs(['--api-delay', 'aws=soon']), /--api-delay aws: expected a duration/);
  t.throws(() => parseBenchArgs(['--subnet', '10.0.0.0/24']), /--subnet: expected 198\.51\.100\.0\/24 or 203\.0\.113\.0\/24/);
});

t.test('the report states the simulated operation times and flags two holders on a single-holder cloud', async (t) => {
  const trial = (tool: string, run: number, multiHolderMs: number): TrialResult => ({
    tool,
    cloud: 'hetzner',
    intervalMs: 1000,
    scenario: 'sigkill',
    run,
    masters: 1,
    vipMs: 500 + run,
    eipMs: 2600 + run,
    unheldMs: 0,
    multiHolderMs,
    apiCalls: 10,
    mutatingCalls: 1,
  });
  const r: BenchResults = {
    meta: {
      date: '2026-12-05T03:00:00.000Z',
      machine: { cpu: 'CPU', cores: 2, memoryGb: 4, kernel: 'k', node: 'v20', keepalived: 'Keepalived v2.2.7', loadBefore: '1 1 1' },
      runs: 2,
      quick: false,
      intervalsMs: [1000],
      scenarios: ['sigkill'],
      lossSeconds: 60,
      lossWindows: 0,
      apiDelayMs: 300,
      checkIntervalMs: 1000,
      resourceSeconds: 30,
      subnet: '203.0.113.0/24',
      clouds: [{ cloud: 'hetzner', title: 'Hetzner Cloud', plugin: 'hetzner-floating-ip', holderMode: 'single', opTimeMs: 2000, opTimeSource: 'test/hetzner/failover.test.ts', peer: 'hcloud floating-ip assign' }],
      errors: [],
    },
    trials: [trial('ipwarden', 0, 0), trial('ipwarden', 1, 0), trial('keepalived', 0, 0), trial('keepalived', 1, 120)],
    loss: [],
    resources: [],
  };
  const md = renderCloudReport(r);
  t.match(md, /\| Hetzner Cloud \| hetzner-floating-ip \| one at most \| 2s \| test\/hetzner\/failover\.test\.ts \| hcloud floating-ip assign \|/);
  t.match(md, /real clouds' times differ/);
  t.match(md, /\| Hetzner Cloud \(2s\) \| SIGKILL \| 1s \| 2 \| 2601 \/ 2601 \| 0 \/ 0 \| 0 \| 10 \/ 10 \|/, 'the summary row: median / p99 of the held time, unheld, two holders, calls');
  t.match(md, /Hetzner Cloud, ipwarden: 0 ms on two holders in all 2 trials/);
  t.match(md, /Hetzner Cloud, keepalived: \*\*1 of 2 trials showed two holders\*\* \(max 120 ms\)/);
  t.match(md, /N = 2 trials .*fewer than 30/);
});
