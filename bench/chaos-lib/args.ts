/** Command line of `npm run chaos` (pure parsing: bad input is a one-line error naming the flag). */
import { parseArgs } from 'node:util';
import { duration, positiveInt } from '../lib/args.js';
import { PROVIDERS, type Provider } from './campaign.js';
import { API_FAULTS, NODE_FAULTS, type FaultKind } from './schedule.js';

export interface ChaosArgs {
  provider: Provider;
  election: 'heartbeat';
  durationMs: number;
  seed: number;
  nodes: number;
  intervalMs: number;
  apiDelayMs: number;
  kinds?: FaultKind[];
  /** Where the raw result JSON goes. */
  out: string;
  /** Render bench/CHAOS-RESULTS.md from the result files in --out, run nothing. */
  reportOnly: boolean;
  help: boolean;
}

export const CHAOS_USAGE = `Usage: npm run chaos -- [options]
  --provider P      cloud simulator: ${PROVIDERS.join(', ')} (default exoscale)
  --election E      heartbeat (default; etcd is not part of the campaign yet)
  --duration D      campaign length (default 30m)
  --seed N          replays a schedule (default: a random seed, printed)
  --nodes N         daemons, one per network namespace (default 3)
  --interval D      advert interval (default 200ms)
  --api-delay D     the simulator's change time (default 300ms)
  --only LIST       fault kinds (default all the provider supports): ${[...NODE_FAULTS, ...API_FAULTS].join(',')}
  --out DIR         where chaos-<provider>-<election>.json goes (default bench/chaos)
  --report          render bench/CHAOS-RESULTS.md from the JSON files in --out, run nothing
Needs root, iproute2, nftables. Exits 1 on any invariant violation (printed with its seed and timeline).`;

export function parseChaosArgs(argv: string[], randomSeed: () => number = () => Math.floor(Math.random() * 2 ** 31)): ChaosArgs {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      provider: { type: 'string' },
      election: { type: 'string' },
      duration: { type: 'string' },
      seed: { type: 'string' },
      nodes: { type: 'string' },
      interval: { type: 'string' },
      'api-delay': { type: 'string' },
      only: { type: 'string' },
      out: { type: 'string' },
      report: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const provider = values.provider ?? 'exoscale';
  if (!(PROVIDERS as readonly string[]).includes(provider)) throw new Error(`--provider: expected one of ${PROVIDERS.join(', ')}, got ${JSON.stringify(provider)}`);
  const election = values.election ?? 'heartbeat';
  if (election !== 'heartbeat') throw new Error(`--election: only "heartbeat" is part of the campaign so far, got ${JSON.stringify(election)}`);
  let kinds: FaultKind[] | undefined;
  if (values.only !== undefined) {
    const all: readonly string[] = [...NODE_FAULTS, ...API_FAULTS];
    kinds = values.only.split(',').map((s) => s.trim()).filter((s) => s !== '') as FaultKind[];
    for (const k of kinds) if (!all.includes(k)) throw new Error(`--only: unknown fault kind ${JSON.stringify(k)} (expected ${all.join(', ')})`);
  }
  let seed: number;
  if (values.seed === undefined) seed = randomSeed();
  else {
    seed = Number(values.seed);
    if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) throw new Error(`--seed: expected an integer 0..4294967295, got ${JSON.stringify(values.seed)}`);
  }
  return {
    provider: provider as Provider,
    election: 'heartbeat',
    durationMs: duration(values.duration, '--duration', 30 * 60_000, 10_000, 24 * 3600_000),
    seed,
    nodes: positiveInt(values.nodes, '--nodes', 3, 9),
    intervalMs: duration(values.interval, '--interval', 200, 50, 5000),
    apiDelayMs: duration(values['api-delay'], '--api-delay', 300, 0, 10_000),
    ...(kinds ? { kinds } : {}),
    out: values.out ?? 'bench/chaos',
    reportOnly: values.report ?? false,
    help: values.help ?? false,
  };
}
