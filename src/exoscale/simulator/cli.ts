/**
 * `ipwarden simulate exoscale`: runs the API simulator in the foreground, prints where
 * it listens and its (test) credentials, then one line per attach/detach (and per API
 * request with --verbose) until SIGINT/SIGTERM or the given signal aborts.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { FlagSpec } from '../../cli/command.js';
import { parseDuration } from '../../util/duration.js';
import { parseFaultSpec, type FaultRule } from './faults.js';
import { parseSeed } from './schemas.js';
import { DEFAULT_SIM_API_KEY, DEFAULT_SIM_API_SECRET, DEFAULT_SIM_ZONE, type SimSeed } from './seed.js';
import { startSimulator, type RunningSimulator, type SimulatorOptions } from './server.js';
import { DUPLICATE_MODES, type DuplicateMode, type SimEvent, type SimulatorState } from './state.js';
import { untilStopped } from '../../cloud/simulator-kit/until-stopped.js';

export const DEFAULT_SIM_PORT = 8580;

/** Flags of `ipwarden simulate exoscale` (for the command table, help and man page). */
export const SIMULATOR_FLAGS: Record<string, FlagSpec> = {
  port: { type: 'string', short: 'p', arg: 'PORT', description: `TCP port to listen on (0 = any free port)`, default: String(DEFAULT_SIM_PORT) },
  host: { type: 'string', arg: 'ADDR', description: 'Address to listen on', default: '127.0.0.1' },
  zone: { type: 'string', arg: 'ZONE', description: 'Zone the simulator serves', default: DEFAULT_SIM_ZONE },
  'api-key': { type: 'string', arg: 'KEY', description: 'API key accepted (simulator test key by default)', default: DEFAULT_SIM_API_KEY },
  'api-secret': { type: 'string', arg: 'SECRET', description: 'Secret of that key (simulator test secret by default)' },
  'operation-delay': { type: 'string', arg: 'DURATION', description: 'Time an attach/detach operation stays pending', default: '300ms' },
  duplicates: {
    type: 'string',
    arg: 'MODE',
    description: `Duplicate attach / detach of a non-attached pair: ${DUPLICATE_MODES.join(' | ')}`,
    default: 'operation-failure',
  },
  fault: {
    type: 'string',
    multiple: true,
    arg: 'SPEC',
    description: 'Fault rule kind[:key=value,...], e.g. latency:ms=300 error:rate=0.2 rate-limit:count=3 hang:count=1 lose-answer:count=1 fail-operation:count=1 (see SIMULATOR.md)',
  },
  'fault-seed': { type: 'string', arg: 'N', description: 'Seed for rate-based faults (reproducible runs)' },
  state: { type: 'string', arg: 'FILE', description: 'JSON world to start with {securityGroups, instances, elasticIps} instead of the lab seed' },
  empty: { type: 'boolean', description: 'Start with no instances, groups or Elastic IPs' },
  verbose: { type: 'boolean', short: 'v', description: 'Print every API request' },
  help: { type: 'boolean', short: 'h', description: 'Show this help' },
};

export interface SimulatorCliIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Stops the simulator when aborted (default: SIGINT/SIGTERM). */
  signal?: AbortSignal;
  /** Called once listening (tests use it to learn the port). */
  onReady?: (sim: RunningSimulator) => void;
}

/** Parses argv into simulator options; throws one-line errors naming the flag. */
export function parseSimulatorArgs(args: string[]): { options: SimulatorOptions; verbose: boolean; help: boolean } {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: Object.fromEntries(
      Object.entries(SIMULATOR_FLAGS).map(([name, f]) => [
        name,
        { type: f.type, ...(f.short ? { short: f.short } : {}), ...(f.multiple ? { multiple: true } : {}) },
      ]),
    ),
  });
  if (positionals.length > 0) throw new Error(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const str = (name: string): string | undefined => values[name] as string | undefined;

  const portText = str('port') ?? String(DEFAULT_SIM_PORT);
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) throw new Error(`--port: expected 0..65535, got ${JSON.stringify(portText)}`);

  const delayText = str('operation-delay') ?? '300ms';
  const operationDelayMs = parseDuration(delayText);
  if (operationDelayMs === undefined) throw new Error(`--operation-delay: expected a duration like "300ms", got ${JSON.stringify(delayText)}`);

  const duplicates = (str('duplicates') ?? 'operation-failure') as DuplicateMode;
  if (!DUPLICATE_MODES.includes(duplicates)) {
    throw new Error(`--duplicates: expected one of ${DUPLICATE_MODES.join(', ')}, got ${JSON.stringify(duplicates)}`);
  }

  const faults: FaultRule[] = ((values.fault as string[] | undefined) ?? []).map((spec) => {
    try {
      return parseFaultSpec(spec);
    } catch (err) {
      throw new Error(`--fault: ${(err as Error).message}`);
    }
  });
  const seedText = str('fault-seed');
  if (seedText !== undefined && !/^\d+$/.test(seedText)) throw new Error(`--fault-seed: expected an integer, got ${JSON.stringify(seedText)}`);

  const zone = str('zone') ?? DEFAULT_SIM_ZONE;
  if (!/^[a-z]{2}-[a-z]{3}-\d+$/.test(zone)) throw new Error(`--zone: ${JSON.stringify(zone)} is not a zone name like ch-gva-2`);

  const apiKey = str('api-key') ?? DEFAULT_SIM_API_KEY;
  const apiSecret = str('api-secret') ?? DEFAULT_SIM_API_SECRET;
  if (!/^\S+$/.test(apiKey)) throw new Error('--api-key: must be non-empty without spaces');
  if (apiSecret === '') throw new Error('--api-secret: must not be empty');

  let world: SimSeed | undefined;
  const stateFile = str('state');
  if (stateFile !== undefined && values.empty) throw new Error('--state and --empty exclude each other');
  if (stateFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(stateFile, 'utf8');
    } catch (err) {
      throw new Error(`--state: cannot read ${stateFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new Error(`--state: ${stateFile} is not valid JSON: ${(err as Error).message}`);
    }
    try {
      world = parseSeed(json);
    } catch (err) {
      throw new Error(`--state: ${stateFile}: ${(err as Error).message}`);
    }
  } else if (values.empty) {
    world = {};
  }

  return {
    options: {
      port,
      host: str('host') ?? '127.0.0.1',
      zone,
      keys: { [apiKey]: apiSecret },
      operationDelayMs,
      duplicates,
      faults,
      ...(seedText !== undefined ? { faultSeed: Number(seedText) } : {}),
      ...(world
        ? { securityGroups: world.securityGroups ?? [], instances: world.instances ?? [], elasticIps: world.elasticIps ?? [] }
        : {}),
    },
    verbose: values.verbose === true,
    help: values.help === true,
  };
}

/** Help text of the runner. */
export function simulatorHelp(): string {
  const lines = ['usage: ipwarden simulate exoscale [options]', '', 'Runs a local Exoscale API v2 simulator (see SIMULATOR.md).', ''];
  for (const [name, f] of Object.entries(SIMULATOR_FLAGS)) {
    const flag = `${f.short ? `-${f.short}, ` : '    '}--${name}${f.arg ? ` ${f.arg}` : ''}`;
    lines.push(`  ${flag.padEnd(30)} ${f.description}${f.default !== undefined ? ` (default ${f.default})` : ''}`);
  }
  return lines.join('\n') + '\n';
}

/** Runs the simulator until stopped; returns the exit code (0 ok, 1 cannot start, 2 bad usage). */
export async function runSimulatorCli(args: string[], io: SimulatorCliIO = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  let parsed;
  try {
    parsed = parseSimulatorArgs(args);
  } catch (err) {
    io.stderr.write(`ipwarden simulate exoscale: ${(err as Error).message}\n`);
    return 2;
  }
  if (parsed.help) {
    io.stdout.write(simulatorHelp());
    return 0;
  }
  let sim: RunningSimulator;
  try {
    sim = await startSimulator(parsed.options);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'EADDRINUSE' ? `port ${parsed.options.port} is already in use` : e.code === 'EACCES' ? `no permission to listen on port ${parsed.options.port}` : e.message;
    io.stderr.write(`ipwarden simulate exoscale: cannot listen on ${parsed.options.host}:${parsed.options.port}: ${why}\n`);
    return 1;
  }
  const out = (line: string): boolean => io.stdout.write(line + '\n');
  for (const line of banner(sim)) out(line);
  io.onReady?.(sim);
  const names = (ids: string[]): string => (ids.length === 0 ? '-' : ids.map((id) => sim.state.findInstance(id)?.name ?? id).join(', '));
  const offEvent = sim.state.onEvent((e: SimEvent) => {
    if (e.type === 'attach' || e.type === 'detach') {
      out(`${e.at} ${e.type} ${e.eip?.ip} ${e.type === 'attach' ? 'to' : 'from'} ${names([e.instance!])} (${e.source}); holders: ${names(e.holders ?? [])}`);
    } else if (e.type === 'operation' && e.state !== 'success') {
      out(`${e.at} operation ${e.operation} ${e.detail ?? ''} ended in ${e.state}`);
    }
  });
  const offRequest = parsed.verbose
    ? sim.state.onRequest((r) => out(`${r.at} ${r.method} ${r.path} ${r.status ?? 'no answer'}${r.fault ? ` [${r.fault}]` : ''} ${r.durationMs ?? 0}ms`))
    : () => true;

  await untilStopped(io.signal);
  offEvent();
  offRequest();
  await sim.close();
  out('exoscale API simulator stopped');
  return 0;
}

function banner(sim: RunningSimulator): string[] {
  const state: SimulatorState = sim.state;
  const [key, secret] = [...sim.keys.entries()][0] ?? ['', ''];
  const lines = [
    `exoscale API simulator (zone ${sim.zone}) listening on ${sim.url}`,
    `  EXOSCALE_API_ENDPOINT=${sim.endpoint}`,
    `  EXOSCALE_API_KEY=${key}`,
    `  EXOSCALE_API_SECRET=${secret}    (simulator test credentials)`,
    `  metadata: ${sim.url}/_meta/<instance-id>/latest/meta-data/instance-id (or /latest/meta-data/ from an instance's public IP)`,
    `  admin:    ${sim.url}/_sim/state`,
    `  operation delay: ${state.config.operationDelayMs}ms, duplicates: ${state.config.duplicates}`,
    '  instances:',
  ];
  for (const i of state.instances()) {
    const groups = i.securityGroupIds.map((g) => state.findSecurityGroup(g)?.name ?? g).join(', ');
    lines.push(`    ${i.name.padEnd(8)} ${i.id}  ${(i.publicIp ?? '-').padEnd(15)} ${i.state.padEnd(8)} [${groups}]`);
  }
  lines.push('  elastic IPs:');
  for (const e of state.elasticIps()) {
    const holders = [...e.holders].map((h) => state.findInstance(h)?.name ?? h).join(', ') || '-';
    lines.push(`    ${e.ip.padEnd(15)} ${e.id}  ${e.healthcheck ? 'managed' : 'manual '}  holders: ${holders}`);
  }
  for (const f of state.faults.list()) lines.push(`  fault ${f.id}: ${JSON.stringify(f)}`);
  return lines;
}
