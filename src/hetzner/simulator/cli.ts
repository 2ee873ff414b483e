/**
 * `ipwarden simulate hetzner`: the Hetzner Cloud API simulator in the foreground. Prints where it
 * listens, the test tokens and the world, then one line per finished action (and per API request with
 * --verbose) until SIGINT/SIGTERM or the given signal aborts.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { FlagSpec } from '../../cli/command.js';
import { parseKitFaultSpec, type KitFaultRule } from '../../cloud/simulator-kit/index.js';
import { parseDuration } from '../../util/duration.js';
import { HETZNER_SIM_CALLS, startHetznerSimulator, type HetznerSimulatorOptions, type RunningHetznerSimulator } from './server.js';
import { DEFAULT_SIM_READONLY_TOKEN, DEFAULT_SIM_TOKEN, parseHetznerSeed, type HetznerSimSeed } from './world.js';
import { untilStopped } from '../../cloud/simulator-kit/until-stopped.js';

export const DEFAULT_HETZNER_SIM_PORT = 8581;

/** Flags of `ipwarden simulate hetzner` (command table, help, man page). */
export const HETZNER_SIMULATOR_FLAGS: Record<string, FlagSpec> = {
  port: { type: 'string', short: 'p', arg: 'PORT', description: 'TCP port to listen on (0 = any free port)', default: String(DEFAULT_HETZNER_SIM_PORT) },
  host: { type: 'string', arg: 'ADDR', description: 'Address to listen on', default: '127.0.0.1' },
  'action-delay': { type: 'string', arg: 'DURATION', description: 'Time an action (assign, unassign, change_alias_ips) stays running', default: '1s' },
  fault: {
    type: 'string',
    multiple: true,
    arg: 'SPEC',
    description: 'Fault rule kind[:key=value,...], e.g. latency:ms=300 error:rate=0.2 rate-limit:count=3 hang:count=1 fail-change:calls=assign-floating-ip',
  },
  'fault-seed': { type: 'string', arg: 'N', description: 'Seed for rate-based faults (reproducible runs)' },
  state: { type: 'string', arg: 'FILE', description: 'JSON world to start with {networks, servers, floatingIps} instead of the lab seed' },
  empty: { type: 'boolean', description: 'Start with no servers, networks or floating IPs' },
  verbose: { type: 'boolean', short: 'v', description: 'Print every API request' },
  help: { type: 'boolean', short: 'h', description: 'Show this help' },
};

/** Help text of the runner. */
export function hetznerSimulatorHelp(): string {
  const lines = ['usage: ipwarden simulate hetzner [options]', '', 'Runs a local Hetzner Cloud API simulator (floating IPs, servers, networks, actions, metadata).', ''];
  for (const [name, f] of Object.entries(HETZNER_SIMULATOR_FLAGS)) {
    const flag = `${f.short ? `-${f.short}, ` : '    '}--${name}${f.arg ? ` ${f.arg}` : ''}`;
    lines.push(`  ${flag.padEnd(30)} ${f.description}${f.default !== undefined ? ` (default ${f.default})` : ''}`);
  }
  return lines.join('\n') + '\n';
}

export interface HetznerSimulatorCliIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Stops the simulator when aborted (default: SIGINT/SIGTERM). */
  signal?: AbortSignal;
  onReady?: (sim: RunningHetznerSimulator) => void;
}

/** Parses argv into simulator options; throws one-line errors naming the flag. */
export function parseHetznerSimulatorArgs(args: string[]): { options: HetznerSimulatorOptions & { port: number; host: string }; verbose: boolean; help: boolean } {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: Object.fromEntries(
      Object.entries(HETZNER_SIMULATOR_FLAGS).map(([name, f]) => [name, { type: f.type, ...(f.short ? { short: f.short } : {}), ...(f.multiple ? { multiple: true } : {}) }]),
    ),
  });
  if (positionals.length > 0) throw new Error(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const str = (name: string): string | undefined => values[name] as string | undefined;
  const portText = str('port') ?? String(DEFAULT_HETZNER_SIM_PORT);
  if (!/^\d+$/.test(portText) || Number(portText) > 65535) throw new Error(`--port: expected 0..65535, got ${JSON.stringify(portText)}`);
  const delayText = str('action-delay') ?? '1s';
  const actionDelayMs = parseDuration(delayText);
  if (actionDelayMs === undefined) throw new Error(`--action-delay: expected a duration like "2s", got ${JSON.stringify(delayText)}`);
  const faults: KitFaultRule[] = ((values.fault as string[] | undefined) ?? []).map((spec) => {
    try {
      return parseKitFaultSpec(spec, HETZNER_SIM_CALLS);
    } catch (err) {
      throw new Error(`--fault: ${(err as Error).message}`);
    }
  });
  const seedText = str('fault-seed');
  if (seedText !== undefined && !/^\d+$/.test(seedText)) throw new Error(`--fault-seed: expected an integer, got ${JSON.stringify(seedText)}`);
  const stateFile = str('state');
  if (stateFile !== undefined && values.empty) throw new Error('--state and --empty exclude each other');
  let seed: HetznerSimSeed | undefined;
  if (stateFile !== undefined) {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(stateFile, 'utf8'));
    } catch (err) {
      throw new Error(`--state: cannot read ${stateFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    try {
      seed = parseHetznerSeed(json);
    } catch (err) {
      throw new Error(`--state: ${stateFile}: ${(err as Error).message}`);
    }
  } else if (values.empty) seed = {};
  return {
    options: {
      port: Number(portText),
      host: str('host') ?? '127.0.0.1',
      actionDelayMs,
      faults,
      ...(seedText !== undefined ? { faultSeed: Number(seedText) } : {}),
      ...(seed ? { seed } : {}),
    },
    verbose: values.verbose === true,
    help: values.help === true,
  };
}

/** Runs the simulator until stopped; returns the exit code (0 ok, 1 cannot start, 2 bad usage). */
export async function runHetznerSimulatorCli(args: string[], io: HetznerSimulatorCliIO = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  let parsed;
  try {
    parsed = parseHetznerSimulatorArgs(args);
  } catch (err) {
    io.stderr.write(`ipwarden simulate hetzner: ${(err as Error).message}\n`);
    return 2;
  }
  if (parsed.help) {
    io.stdout.write(hetznerSimulatorHelp());
    return 0;
  }
  const out = (line: string): boolean => io.stdout.write(line + '\n');
  let sim: RunningHetznerSimulator;
  try {
    sim = await startHetznerSimulator({
      ...parsed.options,
      onAction: ({ action, holders }) => {
        const who = Object.entries(holders).map(([ip, h]) => `${ip}: ${h.map((id) => sim.world.servers.get(Number(id))?.name ?? id).join(', ') || '-'}`);
        out(`${new Date().toISOString()} action ${action.id} ${action.command} ${action.status}; ${who.join('; ')}`);
      },
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'EADDRINUSE' ? `port ${parsed.options.port} is already in use` : e.code === 'EACCES' ? `no permission to listen on port ${parsed.options.port}` : e.message;
    io.stderr.write(`ipwarden simulate hetzner: cannot listen on ${parsed.options.host}:${parsed.options.port}: ${why}\n`);
    return 1;
  }
  for (const line of banner(sim, parsed.options.actionDelayMs ?? 1000)) out(line);
  io.onReady?.(sim);
  const printed = new WeakSet<object>();
  const verboseTimer = parsed.verbose
    ? setInterval(() => {
        for (const r of sim.requests()) {
          if (r.status === 0 || printed.has(r)) continue;
          printed.add(r);
          out(`${new Date(r.t).toISOString()} ${r.method} ${r.path} ${r.status === -1 ? 'answer lost' : r.status} (${r.call})`);
        }
      }, 200)
    : undefined;
  await untilStopped(io.signal);
  clearInterval(verboseTimer);
  await sim.close();
  out('hetzner API simulator stopped');
  return 0;
}

function banner(sim: RunningHetznerSimulator, delayMs: number): string[] {
  const w = sim.world;
  const lines = [
    `hetzner API simulator listening on ${sim.url}`,
    `  HCLOUD_ENDPOINT=${sim.endpoint}`,
    `  HCLOUD_TOKEN=${DEFAULT_SIM_TOKEN}    (simulator test token, read-write)`,
    `  read-only token: ${DEFAULT_SIM_READONLY_TOKEN}`,
    `  metadata: ${sim.url}/_meta/<server>/hetzner/v1/metadata/instance-id (or /hetzner/v1/metadata/ from a server's address)`,
    `  admin:    ${sim.url}/_sim/state`,
    `  action delay: ${delayMs}ms`,
    '  servers:',
  ];
  for (const s of w.servers.values()) {
    const labels = Object.entries(s.labels).map(([k, v]) => `${k}=${v}`).join(',');
    const priv = s.privateNet.map((p) => `${w.networks.get(p.network)?.name ?? p.network}:${p.ip}`).join(' ');
    lines.push(`    ${s.name.padEnd(8)} ${String(s.id).padEnd(8)} ${s.publicIpv4.padEnd(15)} ${s.status.padEnd(8)} ${priv} [${labels}]`);
  }
  lines.push('  floating IPs:');
  for (const f of w.floatingIps.values()) {
    const holder = f.server === null ? '-' : (w.servers.get(f.server)?.name ?? String(f.server));
    lines.push(`    ${f.ip.padEnd(15)} ${String(f.id).padEnd(8)} ${f.name}  server: ${holder}`);
  }
  for (const f of sim.faults.list()) lines.push(`  fault ${f.id}: ${JSON.stringify(f)}`);
  return lines;
}
