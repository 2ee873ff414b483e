/** Command line of `npm run bench` (pure parsing: bad input is a one-line error naming the flag). */
import { parseArgs } from 'node:util';
import { parseDuration } from '../../src/util/duration.js';
import { FAILOVER_SCENARIOS } from './scenarios.js';

export const ALL_PHASES = [...FAILOVER_SCENARIOS, 'loss', 'resources'] as const;
export type Phase = (typeof ALL_PHASES)[number];

export interface BenchArgs {
  runs: number;
  quick: boolean;
  intervalsMs: number[];
  phases: Phase[];
  lossSeconds: number;
  lossWindows: number;
  apiDelayMs: number;
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
  --api-delay D         simulated attach/detach operation time (default 300ms)
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
  const phases = (values.only ?? ALL_PHASES.join(',')).split(',').map((s) => s.trim());
  for (const p of phases) {
    if (!(ALL_PHASES as readonly string[]).includes(p)) throw new Error(`--only: unknown phase ${JSON.stringify(p)} (expected ${ALL_PHASES.join(', ')})`);
  }
  const checkIntervalMs = duration(values['check-interval'], '--check-interval', 1000, 1000, 60_000);
  if (checkIntervalMs % 1000 !== 0) throw new Error(`--check-interval: keepalived's vrrp_script takes whole seconds, got ${JSON.stringify(values['check-interval'])}`);
  return {
    runs,
    quick,
    intervalsMs,
    phases: phases as Phase[],
    lossSeconds: positiveInt(values['loss-seconds'], '--loss-seconds', quick ? 10 : 60, 3600),
    lossWindows: positiveInt(values['loss-windows'], '--loss-windows', quick ? 1 : runs, 1000),
    apiDelayMs: duration(values['api-delay'], '--api-delay', 300, 0, 10_000),
    checkIntervalMs,
    resourceSeconds: positiveInt(values['resource-seconds'], '--resource-seconds', quick ? 5 : 30, 600),
    out: values.out ?? 'bench',
    ...(values['report-only'] ? { reportOnly: values['report-only'] } : {}),
    ...(values.notes ? { notes: values.notes } : {}),
    help: values.help ?? false,
  };
}
