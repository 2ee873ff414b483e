/**
 * `ipwarden simulate digitalocean`: the DigitalOcean API v2 simulator in the foreground. Prints where it
 * listens, the test tokens and the lab world, then one line per reserved-IP move (and per API request
 * with --verbose) until SIGINT/SIGTERM or the given signal aborts.
 */
import { parseArgs } from 'node:util';
import type { FlagSpec } from '../../cli/command.js';
import { parseDuration } from '../../util/duration.js';
import { parseKitFaultSpec, type KitFaultRule } from '../../cloud/simulator-kit/index.js';
import { DO_SIM_CALLS, startDigitalOceanSimulator, type DigitalOceanSimulatorOptions, type RunningDigitalOceanSimulator } from './server.js';
import { DEFAULT_SIM_READONLY_TOKEN, DEFAULT_SIM_TOKEN } from './world.js';
import { untilStopped } from '../../cloud/simulator-kit/until-stopped.js';

export const DEFAULT_DO_SIM_PORT = 8582;

export const DO_SIMULATOR_FLAGS: Record<string, FlagSpec> = {
  port: { type: 'string', short: 'p', arg: 'PORT', description: 'TCP port to listen on (0 = any free port)', default: String(DEFAULT_DO_SIM_PORT) },
  host: { type: 'string', arg: 'ADDR', description: 'Address to listen on', default: '127.0.0.1' },
  'action-delay': { type: 'string', arg: 'DURATION', description: 'Time an assign/unassign action stays in-progress', default: '3s' },
  token: { type: 'string', arg: 'TOKEN', description: 'Token accepted with read and write scope (simulator test token by default)' },
  'read-only-token': { type: 'string', arg: 'TOKEN', description: 'Token accepted with read scope only (403 on changes)' },
  'rate-limit': { type: 'string', arg: 'N', description: 'Requests per minute before 429 too_many_requests', default: '250' },
  fault: {
    type: 'string',
    multiple: true,
    arg: 'SPEC',
    description: 'Fault rule kind[:key=value,...], e.g. latency:ms=300 error:rate=0.2 rate-limit:count=3 hang:count=1 fail-change:count=1',
  },
  'fault-seed': { type: 'string', arg: 'N', description: 'Seed for rate-based faults (reproducible runs)' },
  verbose: { type: 'boolean', short: 'v', description: 'Print every API request' },
  help: { type: 'boolean', short: 'h', description: 'Show this help' },
};

export interface DoSimulatorCliIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  signal?: AbortSignal;
  onReady?: (sim: RunningDigitalOceanSimulator) => void;
}

/** Parses argv into simulator options; throws one-line errors naming the flag. */
export function parseDoSimulatorArgs(args: string[]): { options: DigitalOceanSimulatorOptions; verbose: boolean; help: boolean } {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: Object.fromEntries(
      Object.entries(DO_SIMULATOR_FLAGS).map(([name, f]) => [name, { type: f.type, ...(f.short ? { short: f.short } : {}), ...(f.multiple ? { multiple: true } : {}) }]),
    ),
  });
  if (positionals.length > 0) throw new Error(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const str = (name: string): string | undefined => values[name] as string | undefined;
  const portText = str('port') ?? String(DEFAULT_DO_SIM_PORT);
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) throw new Error(`--port: expected 0..65535, got ${JSON.stringify(portText)}`);
  const delayText = str('action-delay') ?? '3s';
  const actionDelayMs = parseDuration(delayText);
  if (actionDelayMs === undefined) throw new Error(`--action-delay: expected a duration like "3s", got ${JSON.stringify(delayText)}`);
  const rateText = str('rate-limit') ?? '250';
  const ratePerMinute = Number(rateText);
  if (!/^\d+$/.test(rateText) || ratePerMinute < 1) throw new Error(`--rate-limit: expected a number of requests per minute >= 1, got ${JSON.stringify(rateText)}`);
  const faults: KitFaultRule[] = ((values.fault as string[] | undefined) ?? []).map((spec) => {
    try {
      return parseKitFaultSpec(spec, DO_SIM_CALLS);
    } catch (err) {
      throw new Error(`--fault: ${(err as Error).message}`);
    }
  });
  const seedText = str('fault-seed');
  if (seedText !== undefined && !/^\d+$/.test(seedText)) throw new Error(`--fault-seed: expected an integer, got ${JSON.stringify(seedText)}`);
  for (const flag of ['token', 'read-only-token']) {
    const v = str(flag);
    if (v !== undefined && !/^\S+$/.test(v)) throw new Error(`--${flag}: must be non-empty without spaces`);
  }
  const token = str('token');
  const ro = str('read-only-token');
  return {
    options: {
      port,
      host: str('host') ?? '127.0.0.1',
      actionDelayMs,
      ratePerMinute,
      faults,
      ...(seedText !== undefined ? { faultSeed: Number(seedText) } : {}),
      ...(token !== undefined ? { tokens: [token] } : {}),
      ...(ro !== undefined ? { readOnlyTokens: [ro] } : {}),
    },
    verbose: values.verbose === true,
    help: values.help === true,
  };
}

export function doSimulatorHelp(): string {
  const lines = ['usage: ipwarden simulate digitalocean [options]', '', 'Runs a local DigitalOcean API v2 simulator (reserved IPs, droplets, actions, metadata).', ''];
  for (const [name, f] of Object.entries(DO_SIMULATOR_FLAGS)) {
    const flag = `${f.short ? `-${f.short}, ` : '    '}--${name}${f.arg ? ` ${f.arg}` : ''}`;
    lines.push(`  ${flag.padEnd(30)} ${f.description}${f.default !== undefined ? ` (default ${f.default})` : ''}`);
  }
  return lines.join('\n') + '\n';
}

/** Runs the simulator until stopped; returns the exit code (0 ok, 1 cannot start, 2 bad usage). */
export async function runDigitalOceanSimulatorCli(args: string[], io: DoSimulatorCliIO = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  let parsed;
  try {
    parsed = parseDoSimulatorArgs(args);
  } catch (err) {
    io.stderr.write(`ipwarden simulate digitalocean: ${(err as Error).message}\n`);
    return 2;
  }
  if (parsed.help) {
    io.stdout.write(doSimulatorHelp());
    return 0;
  }
  let sim: RunningDigitalOceanSimulator;
  try {
    sim = await startDigitalOceanSimulator(parsed.options);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'EADDRINUSE' ? `port ${parsed.options.port} is already in use` : e.code === 'EACCES' ? `no permission to listen on port ${parsed.options.port}` : e.message;
    io.stderr.write(`ipwarden simulate digitalocean: cannot listen on ${parsed.options.host}:${parsed.options.port}: ${why}\n`);
    return 1;
  }
  const out = (line: string): boolean => io.stdout.write(line + '\n');
  const name = (id: number | null): string => (id === null ? 'nobody' : `${sim.world.droplets.get(id)?.name ?? '?'} (${id})`);
  out(`digitalocean API simulator listening on ${sim.url}`);
  out(`  DIGITALOCEAN_API_URL=${sim.url}        (ipwarden; python3-digitalocean: DIGITALOCEAN_END_POINT=${sim.endpoint})`);
  out(`  DIGITALOCEAN_TOKEN=${sim.tokens.full[0] ?? DEFAULT_SIM_TOKEN}    (simulator test token)`);
  out(`  read-only token: ${sim.tokens.readOnly[0] ?? DEFAULT_SIM_READONLY_TOKEN}`);
  out(`  metadata: ${sim.url}/_meta/<droplet-id>/metadata/v1/id (metadataUrl: ${sim.url}/_meta/<droplet-id>), or /metadata/v1/ from a droplet's address`);
  out(`  admin:    ${sim.url}/_sim/world`);
  out(`  action delay: ${parsed.options.actionDelayMs}ms, rate limit: ${parsed.options.ratePerMinute}/min`);
  out('  droplets:');
  for (const d of sim.world.droplets.values()) {
    out(`    ${d.name.padEnd(6)} ${String(d.id).padEnd(6)} public ${d.publicIp.padEnd(15)} private ${(d.privateIp ?? '-').padEnd(15)} anchor ${(d.anchorIp ?? '-').padEnd(12)} ${d.status.padEnd(7)} [${d.tags.join(', ')}]`);
  }
  out('  reserved IPs:');
  for (const r of sim.world.reservedIps.values()) out(`    ${r.ip.padEnd(15)} ${r.region}  droplet: ${name(r.dropletId)}`);
  for (const f of sim.faults.list()) out(`  fault ${f.id}: ${JSON.stringify(f)}`);
  io.onReady?.(sim);
  const offChange = sim.onChange((e) => out(`${new Date(e.t).toISOString()} ${e.ip}: ${name(e.previous)} -> ${name(e.dropletId)} (${e.cause})`));
  let seen = 0;
  const verbose = parsed.verbose
    ? setInterval(() => {
        const all = sim.requests();
        if (all.length < seen) seen = 0; // the admin API reset the log
        for (; seen < all.length && all[seen]!.status !== 0; seen++) {
          const r = all[seen]!;
          out(`${new Date(r.t).toISOString()} ${r.method} ${r.path} ${r.status === -1 ? 'no answer' : r.status} [${r.call}]`);
        }
      }, 200)
    : undefined;
  await untilStopped(io.signal);
  clearInterval(verbose);
  offChange();
  await sim.close();
  out('digitalocean API simulator stopped');
  return 0;
}
