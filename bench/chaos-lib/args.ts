/** Command line of `npm run chaos` (pure parsing: bad input is a one-line error naming the flag). */
import { parseArgs } from 'node:util';
import { duration, positiveInt } from '../lib/args.js';
import { ELECTIONS, floatingAddressOf, type Election } from './campaign.js';
import { CHANGE_MS, isProvider, PROVIDERS, type Provider } from './clouds.js';
import { API_FAULTS, NODE_FAULTS, type FaultKind } from './schedule.js';

export interface ChaosArgs {
  provider: Provider;
  election: Election;
  /** The lab's subnet: its bridge address, hosts and floating address (campaigns on different subnets run side by side). */
  subnet: string;
  /** etcd lease TTL. */
  ttlMs: number;
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
  --election E      heartbeat (default) or etcd (a 3-member etcd cluster, one member beside each of the first 3 daemons)
  --ttl D           etcd lease TTL, whole seconds (default 3s)
  --subnet CIDR     the lab's subnet: 198.51.100.0/24 (default) or an aligned /25../27 in it, e.g. 198.51.100.64/26;
                    its bridge address, hosts and floating address; campaigns on different subnets run side by side
  --duration D      campaign length (default 30m)
  --seed N          replays a schedule (default: a random seed, printed)
  --nodes N         daemons, one per network namespace (default 3)
  --interval D      advert interval (default 200ms)
  --api-delay D     the simulator's change time (default the cloud's: ${PROVIDERS.map((p) => `${p} ${isProvider(p) ? CHANGE_MS[p] : '?'}ms`).join(', ')})
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
      ttl: { type: 'string' },
      subnet: { type: 'string' },
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
  if (!isProvider(provider)) throw new Error(`--provider: expected one of ${PROVIDERS.join(', ')}, got ${JSON.stringify(provider)}`);
  const election = values.election ?? 'heartbeat';
  if (!(ELECTIONS as readonly string[]).includes(election)) throw new Error(`--election: expected one of ${ELECTIONS.join(', ')}, got ${JSON.stringify(election)}`);
  const subnet = values.subnet ?? '198.51.100.0/24';
  const m = /^198\.51\.100\.(\d+)\/(\d+)$/.exec(subnet);
  const bits = Number(m?.[2]);
  if (!m || bits < 24 || bits > 27 || Number(m[1]) % 2 ** (32 - bits) !== 0) {
    throw new Error(`--subnet: expected 198.51.100.0/24 or an aligned /25../27 inside it (e.g. 198.51.100.64/26), got ${JSON.stringify(subnet)}`);
  }
  floatingAddressOf(subnet);
  const ttlMs = duration(values.ttl, '--ttl', 3000, 1000, 300_000);
  if (ttlMs % 1000 !== 0) throw new Error(`--ttl: expected whole seconds (etcd lease TTLs are), got ${JSON.stringify(values.ttl)}`);
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
    provider,
    election: election as Election,
    subnet,
    ttlMs,
    durationMs: duration(values.duration, '--duration', 30 * 60_000, 10_000, 24 * 3600_000),
    seed,
    nodes: positiveInt(values.nodes, '--nodes', 3, 9),
    intervalMs: duration(values.interval, '--interval', 200, 50, 5000),
    apiDelayMs: duration(values['api-delay'], '--api-delay', CHANGE_MS[provider], 0, 10_000),
    ...(kinds ? { kinds } : {}),
    out: values.out ?? 'bench/chaos',
    reportOnly: values.report ?? false,
    help: values.help ?? false,
  };
}
