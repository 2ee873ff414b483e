/**
 * `ipwarden simulate aws`: the EC2 + IMDSv2 simulator in the foreground. Flags parsed here (one parser,
 * one set of messages) so the provider registry can call runAwsSimulatorCli with plain argv.
 */
import { parseArgs } from 'node:util';
import type { FlagSpec } from '../../cli/command.js';
import { parseKitFaultSpec, type KitFaultRule } from '../../cloud/simulator-kit/index.js';
import { AWS_CALLS, startAwsSimulator, type AwsSimulatorOptions, type RunningAwsSimulator } from './server.js';
import { SIM_ACCESS_KEY_ID, SIM_READONLY_ACCESS_KEY_ID, SIM_READONLY_SECRET_ACCESS_KEY, SIM_SECRET_ACCESS_KEY } from './world.js';
import { untilStopped } from '../../cloud/simulator-kit/until-stopped.js';

export const DEFAULT_AWS_SIM_PORT = 8581;

export const AWS_SIMULATOR_FLAGS: Record<string, FlagSpec> = {
  port: { type: 'string', short: 'p', arg: 'PORT', description: 'TCP port to listen on (0 = any free port)', default: String(DEFAULT_AWS_SIM_PORT) },
  host: { type: 'string', arg: 'ADDR', description: 'Address to listen on', default: '127.0.0.1' },
  region: { type: 'string', arg: 'REGION', description: 'Region the simulator serves (SigV4 scope)', default: 'us-east-1' },
  instances: { type: 'string', arg: 'N', description: 'Instances in the seed (tag role=lb, 10.0.1.11…)', default: '3' },
  fault: { type: 'string', multiple: true, arg: 'SPEC', description: `Fault rule kind[:key=value,...], calls: ${AWS_CALLS.join(', ')}` },
  'fault-seed': { type: 'string', arg: 'N', description: 'Seed for rate-based faults (reproducible runs)' },
  verbose: { type: 'boolean', short: 'v', description: 'Print every API request' },
  help: { type: 'boolean', short: 'h', description: 'Show this help' },
};

export interface AwsSimulatorCliIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  signal?: AbortSignal;
  onReady?: (sim: RunningAwsSimulator) => void;
}

/** Parses argv; throws one-line errors naming the flag. */
export function parseAwsSimulatorArgs(args: string[]): { options: AwsSimulatorOptions; verbose: boolean; help: boolean } {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: Object.fromEntries(Object.entries(AWS_SIMULATOR_FLAGS).map(([n, f]) => [n, { type: f.type, ...(f.short ? { short: f.short } : {}), ...(f.multiple ? { multiple: true } : {}) }])),
  });
  if (positionals.length > 0) throw new Error(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const str = (n: string): string | undefined => values[n] as string | undefined;
  const portText = str('port') ?? String(DEFAULT_AWS_SIM_PORT);
  if (!/^\d+$/.test(portText) || Number(portText) > 65535) throw new Error(`--port: expected 0..65535, got ${JSON.stringify(portText)}`);
  const region = str('region') ?? 'us-east-1';
  if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region)) throw new Error(`--region: ${JSON.stringify(region)} is not a region name like eu-west-1`);
  const nText = str('instances') ?? '3';
  if (!/^\d+$/.test(nText) || Number(nText) > 250) throw new Error(`--instances: expected 0..250, got ${JSON.stringify(nText)}`);
  const faults: KitFaultRule[] = ((values.fault as string[] | undefined) ?? []).map((spec) => {
    try {
      return parseKitFaultSpec(spec, AWS_CALLS);
    } catch (err) {
      throw new Error(`--fault: ${(err as Error).message}`);
    }
  });
  const seedText = str('fault-seed');
  if (seedText !== undefined && !/^\d+$/.test(seedText)) throw new Error(`--fault-seed: expected an integer, got ${JSON.stringify(seedText)}`);
  return {
    options: {
      host: str('host') ?? '127.0.0.1',
      port: Number(portText),
      seed: { region, instances: Number(nText) },
      faults,
      ...(seedText !== undefined ? { faultSeed: Number(seedText) } : {}),
    },
    verbose: values.verbose === true,
    help: values.help === true,
  };
}

export function awsSimulatorHelp(): string {
  const lines = ['Usage: ipwarden simulate aws [options]', '', 'An EC2 Query API (SigV4-verified) and IMDSv2 simulator for labs and tests.', '', 'Options:'];
  for (const [name, f] of Object.entries(AWS_SIMULATOR_FLAGS)) {
    const flag = `${f.short ? `-${f.short}, ` : '    '}--${name}${f.arg ? ` ${f.arg}` : ''}`;
    lines.push(`  ${flag.padEnd(30)} ${f.description}${f.default !== undefined ? ` (default ${f.default})` : ''}`);
  }
  return lines.join('\n') + '\n';
}

export function awsSimulatorBanner(sim: RunningAwsSimulator): string[] {
  const w = sim.world();
  const lines = [
    `AWS EC2 simulator (region ${sim.region}) listening on ${sim.url}`,
    `  AWS_ENDPOINT_URL_EC2=${sim.url}`,
    `  AWS_REGION=${sim.region}`,
    `  AWS_ACCESS_KEY_ID=${SIM_ACCESS_KEY_ID}`,
    `  AWS_SECRET_ACCESS_KEY=${SIM_SECRET_ACCESS_KEY}    (simulator test credentials)`,
    `  read-only key: ${SIM_READONLY_ACCESS_KEY_ID} / ${SIM_READONLY_SECRET_ACCESS_KEY}`,
    `  IMDSv2: AWS_EC2_METADATA_SERVICE_ENDPOINT=${sim.url}/_meta/<instance-id> (or ${sim.url} from an instance's private IP)`,
    `  aws CLI: AWS_PAGER= aws --endpoint-url ${sim.url} ec2 describe-addresses`,
    `  admin: ${sim.url}/_sim/world`,
    '  instances:',
  ];
  for (const i of w.instances) {
    const eni = w.interfaces.find((e) => e.networkInterfaceId === i.interfaceIds[0]);
    lines.push(`    ${i.instanceId}  ${eni?.networkInterfaceId ?? '-'}  ${(eni?.privateIps[0] ?? '-').padEnd(12)} ${i.state}  ${Object.entries(i.tags).map(([k, v]) => `${k}=${v}`).join(',')}`);
  }
  lines.push('  elastic IPs:');
  for (const a of w.addresses) lines.push(`    ${a.publicIp}  ${a.allocationId}`);
  lines.push('  route tables:');
  for (const t of w.routeTables) lines.push(`    ${t.routeTableId}  ${t.routes.filter((r) => r.networkInterfaceId).map((r) => `${r.destinationCidrBlock} -> ${r.networkInterfaceId}`).join(', ')}`);
  return lines;
}

/** Runs until SIGINT/SIGTERM (or `io.signal`); 0 ok, 1 cannot start, 2 bad usage. */
export async function runAwsSimulatorCli(args: string[], io: AwsSimulatorCliIO = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  let parsed;
  try {
    parsed = parseAwsSimulatorArgs(args);
  } catch (err) {
    io.stderr.write(`ipwarden simulate aws: ${(err as Error).message}\n`);
    return 2;
  }
  if (parsed.help) {
    io.stdout.write(awsSimulatorHelp());
    return 0;
  }
  let sim: RunningAwsSimulator;
  try {
    sim = await startAwsSimulator(parsed.options);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'EADDRINUSE' ? `port ${parsed.options.port} is already in use` : e.message;
    io.stderr.write(`ipwarden simulate aws: cannot listen on ${parsed.options.host}:${parsed.options.port}: ${why}\n`);
    return 1;
  }
  const out = (line: string): boolean => io.stdout.write(line + '\n');
  for (const line of awsSimulatorBanner(sim)) out(line);
  io.onReady?.(sim);
  let seenRequests = 0;
  let seenEvents = sim.history.events().length;
  // Holder changes always, every request with --verbose (polled: the kit has no event hooks).
  const timer = setInterval(() => {
    const reqs = sim.requests();
    if (parsed.verbose) for (const r of reqs.slice(seenRequests)) out(`${new Date(r.t).toISOString()} ${r.method} ${r.call} ${r.status} ${r.caller}`);
    seenRequests = reqs.length;
    const events = sim.history.events();
    for (const e of events.slice(seenEvents)) out(`${new Date(e.t).toISOString()} ${e.cause}: ${e.resource} held by ${e.holders.join(', ') || '-'}`);
    seenEvents = events.length;
  }, 250);
  await untilStopped(io.signal);
  clearInterval(timer);
  await sim.close();
  out('AWS EC2 simulator stopped');
  return 0;
}
