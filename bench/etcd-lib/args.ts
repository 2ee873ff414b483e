/** Command line of `npm run bench:etcd` (pure parsing: bad input is a one-line error naming the flag). */
import { parseArgs } from 'node:util';
import { parseDuration } from '../../src/util/duration.js';
import { FAILOVER_SCENARIOS, FAULTS, type Fault, type FailoverScenarioId } from './scenarios.js';

export const PHASES = ['failover', 'load'] as const;
export type Phase = (typeof PHASES)[number];

export interface EtcdBenchArgs {
  runs: number;
  quick: boolean;
  phases: Phase[];
  /** Failover scenarios to run (ids of FAILOVER_SCENARIOS). */
  scenarios: FailoverScenarioId[];
  faults: Fault[];
  /** Load phase: daemons, shared IPs, and how many daemons run each shared IP (one run per entry). */
  nodes: number;
  instances: number;
  candidates: number[];
  /** Lease TTL of the load phase, ms. */
  loadTtlMs: number;
  /** Steady-state measuring window, s. */
  loadSeconds: number;
  /** Measuring window after the SIGKILL of one daemon, s. */
  burstSeconds: number;
  /** Markdown report. */
  out: string;
  /** Raw results (JSON). */
  json: string;
  /** Re-render the report from this JSON, run nothing. */
  reportOnly?: string;
  /** With --only failover: keep the load results of this earlier results JSON (the report says so and names its date). */
  loadFrom?: string;
  /** Markdown appended to the report under "Notes" (default bench/etcd-lib/notes.md when it exists). */
  notes?: string;
  help: boolean;
}

export const USAGE = `Usage: npm run bench:etcd -- [options]
  --runs N              trials per failover scenario and fault (default 20; --quick: 3)
  --quick               smoke run: 3 trials, 10 s load window, candidates 2 only
  --only LIST           phases: ${PHASES.join(',')} (default both)
  --scenarios LIST      failover scenarios (default all): ${FAILOVER_SCENARIOS.map((s) => s.id).join(',')}
  --faults LIST         failover faults (default both): sigkill (daemon dies, host alive), sigstop (daemon frozen, like a hung host)
  --nodes N             load phase: ipwarden daemons (default 10)
  --instances N         load phase: shared IPs, each its own instance (default 100)
  --candidates LIST     load phase: daemons that run each instance, one load run per value (default 2,10; --quick: 2)
  --load-ttl D          load phase lease TTL (default 3s)
  --load-seconds S      steady-state window (default 60; --quick: 10)
  --burst-seconds S     window after killing one daemon (default 15)
  --out FILE            Markdown report (default bench/ETCD-RESULTS.md)
  --json FILE           raw results (default bench/etcd-lib/results.json)
  --report-only FILE    render the report from a results JSON, run nothing
  --load-from FILE      with --only failover: keep the load tables of an earlier results JSON (dated in the report)
  --notes FILE          Markdown appended under "Notes" (default bench/etcd-lib/notes.md if present)
Needs etcd and etcdctl (Debian: etcd-server, etcd-client) and ss (iproute2). Loopback only; no root needed.`;

function int(v: string | undefined, flag: string, fallback: number, min: number, max: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${flag}: expected an integer ${min}..${max}, got ${JSON.stringify(v)}`);
  return n;
}

function list<T extends string>(v: string | undefined, flag: string, allowed: readonly T[], fallback: readonly T[]): T[] {
  if (v === undefined) return [...fallback];
  const items = v.split(',').map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw new Error(`${flag}: expected a comma-separated list of ${allowed.join(', ')}`);
  for (const item of items) {
    if (!(allowed as readonly string[]).includes(item)) throw new Error(`${flag}: unknown ${JSON.stringify(item)} (expected ${allowed.join(', ')})`);
  }
  return items as T[];
}

export function parseEtcdBenchArgs(argv: string[]): EtcdBenchArgs {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      runs: { type: 'string' },
      quick: { type: 'boolean' },
      only: { type: 'string' },
      scenarios: { type: 'string' },
      faults: { type: 'string' },
      nodes: { type: 'string' },
      instances: { type: 'string' },
      candidates: { type: 'string' },
      'load-ttl': { type: 'string' },
      'load-seconds': { type: 'string' },
      'burst-seconds': { type: 'string' },
      out: { type: 'string' },
      json: { type: 'string' },
      'report-only': { type: 'string' },
      'load-from': { type: 'string' },
      notes: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const quick = values.quick ?? false;
  const nodes = int(values.nodes, '--nodes', 10, 2, 40);
  const instances = int(values.instances, '--instances', 100, 1, 500);
  const candidates = (values.candidates ?? (quick ? '2' : '2,10')).split(',').map((s) => int(s.trim(), '--candidates', 0, 1, nodes));
  const ttlText = values['load-ttl'];
  let loadTtlMs = 3000;
  if (ttlText !== undefined) {
    const ms = parseDuration(ttlText);
    if (ms === undefined || ms % 1000 !== 0 || ms < 1000 || ms > 60_000) throw new Error(`--load-ttl: expected whole seconds 1s..60s like "3s", got ${JSON.stringify(ttlText)}`);
    loadTtlMs = ms;
  }
  const phases = list(values.only, '--only', PHASES, PHASES);
  if (values['load-from'] !== undefined && phases.includes('load')) throw new Error('--load-from: only with --only failover (the load phase would replace those results)');
  return {
    runs: int(values.runs, '--runs', quick ? 3 : 20, 1, 1000),
    quick,
    phases,
    scenarios: list(values.scenarios, '--scenarios', FAILOVER_SCENARIOS.map((s) => s.id), FAILOVER_SCENARIOS.map((s) => s.id)),
    faults: list(values.faults, '--faults', FAULTS, FAULTS),
    nodes,
    instances,
    candidates,
    loadTtlMs,
    loadSeconds: int(values['load-seconds'], '--load-seconds', quick ? 10 : 60, 3, 3600),
    burstSeconds: int(values['burst-seconds'], '--burst-seconds', 15, 3, 600),
    out: values.out ?? 'bench/ETCD-RESULTS.md',
    json: values.json ?? 'bench/etcd-lib/results.json',
    ...(values['report-only'] ? { reportOnly: values['report-only'] } : {}),
    ...(values['load-from'] ? { loadFrom: values['load-from'] } : {}),
    ...(values.notes ? { notes: values.notes } : {}),
    help: values.help ?? false,
  };
}
