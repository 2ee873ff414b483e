/** Command line of `npm run bench` (pure parsing: bad input is a one-line error naming the flag). */
import { parseArgs } from 'node:util';
import { parseDuration } from '../../src/util/duration.js';
import { FAILOVER_SCENARIOS } from './scenarios.js';
import { BENCH_CLOUDS, CLOUD_OP_TIMES, isBenchCloud, type BenchCloudName } from './clouds.js';

export const BENCH_SUBNETS = ['198.51.100.0/24', '203.0.113.0/24'] as const;

export const ALL_PHASES = [...FAILOVER_SCENARIOS, 'loss', 'resources'] as const;
export type Phase = (typeof ALL_PHASES)[number];

export interface BenchArgs {
  runs: number;
  quick: boolean;
  intervalsMs: number[];
  phases: Phase[];
  lossSeconds: number;
  lossWindows: number;
  /** Exoscale's operation time in the ipwarden-vs-keepalived run (RESULTS.md). */
  apiDelayMs: number;
  /** Each cloud's simulated operation time (defaults: CLOUD_OP_TIMES; --api-delay overrides). */
  opTimesMs: Record<BenchCloudName, number>;
  /** Cloud run (CLOUD-RESULTS.md): these clouds, one after the other. Absent: the Exoscale run (RESULTS.md). */
  clouds?: BenchCloudName[];
  /** The labs' subnet (hosts .10-, shared addresses .50/.51, the API relay on the last host). */
  subnet: (typeof BENCH_SUBNETS)[number];
  checkIntervalMs: number;
  resourceSeconds: number;
  /** Output directory of RESULTS.md, the chart and results.json. */
  out: string;
  /** Re-render RESULTS.md and the chart from this results.json, run nothing. */
  reportOnly?: string;
  /** Markdown appended to RESULTS.md as "Notes". */
  notes?: string;
  help: boolean;
}

export const USAGE = `Usage: npm run bench -- [options]
  --runs N              trials per scenario, tool and interval (default 30; --quick: 3)
  --quick               smoke run: 3 trials, 1 loss window of 10 s, 5 s resource windows
  --intervals LIST      advert intervals (default 1s,100ms)
  --only LIST           phases: ${ALL_PHASES.join(',')} (default all)
  --loss-seconds S      length of one loss window (default 60)
  --loss-windows W      loss windows per interval (default: --runs)
  --api-delay D|LIST    simulated operation time: one duration for every cloud, or cloud=D,... (defaults:
                        ${BENCH_CLOUDS.map((c) => `${c} ${CLOUD_OP_TIMES[c].ms}ms`).join(', ')})
  --clouds LIST         cloud run: ${BENCH_CLOUDS.join(',')} (or "all"), each cloud's simulator and action;
                        phases default to sigkill,sigterm; writes CLOUD-RESULTS.md and cloud-results.json
  --provider CLOUD      the same for one cloud
  --subnet CIDR         the labs' subnet: ${BENCH_SUBNETS.join(' or ')} (default ${BENCH_SUBNETS[0]})
  --check-interval D    health check period of both tools (default 1s; keepalived's minimum)
  --resource-seconds S  CPU/RSS window (default 30)
  --out DIR             where RESULTS.md, failover.png/.svg and results.json go (default bench)
  --report-only FILES   render RESULTS.md and the chart from results.json files (comma-separated parts are merged into <out>/results.json), run nothing
  --notes FILE          Markdown appended to RESULTS.md under "Notes"
Needs root, iproute2, nftables, keepalived (/usr/sbin/keepalived); PNG needs rsvg-convert (librsvg2-bin).`;

export function positiveInt(v: string | undefined, flag: string, fallback: number, max: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`${flag}: expected an integer 1..${max}, got ${JSON.stringify(v)}`);
  return n;
}

export function duration(v: string | undefined, flag: string, fallback: number, min: number, max: number): number {
  if (v === undefined) return fallback;
  const ms = parseDuration(v);
  if (ms === undefined || ms < min || ms > max) throw new Error(`${flag}: expected a duration from ${min}ms to ${max}ms like "100ms" or "1s", got ${JSON.stringify(v)}`);
  return ms;
}

export function parseBenchArgs(argv: string[]): BenchArgs {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      runs: { type: 'string' },
      quick: { type: 'boolean' },
      intervals: { type: 'string' },
      only: { type: 'string' },
      'loss-seconds': { type: 'string' },
      'loss-windows': { type: 'string' },
      'api-delay': { type: 'string' },
      clouds: { type: 'string' },
      provider: { type: 'string' },
      subnet: { type: 'string' },
      'check-interval': { type: 'string' },
      'resource-seconds': { type: 'string' },
      out: { type: 'string' },
      'report-only': { type: 'string' },
      notes: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const quick = values.quick ?? false;
  const runs = positiveInt(values.runs, '--runs', quick ? 3 : 30, 1000);
  const intervalsMs = (values.intervals ?? '1s,100ms').split(',').map((s) => duration(s.trim(), '--intervals', 0, 20, 10_000));
  const clouds = parseClouds(values.clouds, values.provider);
  const phases = (values.only ?? (clouds ? 'sigkill,sigterm' : ALL_PHASES.join(','))).split(',').map((s) => s.trim());
  for (const p of phases) {
    if (!(ALL_PHASES as readonly string[]).includes(p)) throw new Error(`--only: unknown phase ${JSON.stringify(p)} (expected ${ALL_PHASES.join(', ')})`);
  }
  const checkIntervalMs = duration(values['check-interval'], '--check-interval', 1000, 1000, 60_000);
  if (checkIntervalMs % 1000 !== 0) throw new Error(`--check-interval: keepalived's vrrp_script takes whole seconds, got ${JSON.stringify(values['check-interval'])}`);
  const subnet = values.subnet ?? BENCH_SUBNETS[0];
  if (!(BENCH_SUBNETS as readonly string[]).includes(subnet)) throw new Error(`--subnet: expected ${BENCH_SUBNETS.join(' or ')}, got ${JSON.stringify(subnet)}`);
  const opTimesMs = parseOpTimes(values['api-delay']);
  return {
    runs,
    quick,
    ...(clouds ? { clouds } : {}),
    subnet: subnet as BenchArgs['subnet'],
    opTimesMs,
    intervalsMs,
    phases: phases as Phase[],
    lossSeconds: positiveInt(values['loss-seconds'], '--loss-seconds', quick ? 10 : 60, 3600),
    lossWindows: positiveInt(values['loss-windows'], '--loss-windows', quick ? 1 : runs, 1000),
    apiDelayMs: opTimesMs.exoscale,
    checkIntervalMs,
    resourceSeconds: positiveInt(values['resource-seconds'], '--resource-seconds', quick ? 5 : 30, 600),
    out: values.out ?? 'bench',
    ...(values['report-only'] ? { reportOnly: values['report-only'] } : {}),
    ...(values.notes ? { notes: values.notes } : {}),
    help: values.help ?? false,
  };
}

function parseClouds(clouds: string | undefined, provider: string | undefined): BenchCloudName[] | undefined {
  if (clouds !== undefined && provider !== undefined) throw new Error('--clouds and --provider: give one of them');
  if (provider !== undefined) {
    if (!isBenchCloud(provider)) throw new Error(`--provider: unknown cloud ${JSON.stringify(provider)} (expected ${BENCH_CLOUDS.join(', ')})`);
    return [provider];
  }
  if (clouds === undefined) return undefined;
  const list = clouds.trim() === 'all' ? [...BENCH_CLOUDS] : clouds.split(',').map((c) => c.trim());
  for (const c of list) if (!isBenchCloud(c)) throw new Error(`--clouds: unknown cloud ${JSON.stringify(c)} (expected ${BENCH_CLOUDS.join(', ')} or all)`);
  if (new Set(list).size !== list.length) throw new Error(`--clouds: a cloud is listed twice in ${JSON.stringify(clouds)}`);
  return list as BenchCloudName[];
}

/** "2s" (every cloud) or "hetzner=2s,aws=500ms" (those clouds; the others keep their default). */
export function parseOpTimes(v: string | undefined): Record<BenchCloudName, number> {
  const out = Object.fromEntries(BENCH_CLOUDS.map((c) => [c, CLOUD_OP_TIMES[c].ms])) as Record<BenchCloudName, number>;
  if (v === undefined) return out;
  if (!v.includes('=')) {
    const ms = duration(v.trim(), '--api-delay', 0, 0, 30_000);
    for (const c of BENCH_CLOUDS) out[c] = ms;
    return out;
  }
  for (const part of v.split(',')) {
    const [cloud, d] = part.split('=').map((x) => x.trim());
    if (!cloud || !isBenchCloud(cloud) || d === undefined) throw new Error(`--api-delay: expected CLOUD=DURATION with a cloud of ${BENCH_CLOUDS.join(', ')}, got ${JSON.stringify(part)}`);
    out[cloud] = duration(d, `--api-delay ${cloud}`, 0, 0, 30_000);
  }
  return out;
}
