/** `ipwarden simulate exoscale`: the local Exoscale API simulator in the foreground (see src/exoscale/SIMULATOR.md). */
import type { Command } from '../command.js';
import { EXIT, UsageError } from '../command.js';
import { formatHelp } from '../help.js';
import { CLOUDS, cloudNames, findCloud } from '../../cloud/registry.js';
import { SIMULATOR_FLAGS } from '../../exoscale/simulator/index.js';

const { help: _help, ...flags } = SIMULATOR_FLAGS;

/** parseArgs values back into argv for the simulator's own parser (one parser, one set of messages). */
export function simulatorArgv(values: Record<string, unknown>): string[] {
  const argv: string[] = [];
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined || value === false) continue;
    if (value === true) argv.push(`--${name}`);
    else if (Array.isArray(value)) for (const v of value) argv.push(`--${name}`, String(v));
    else argv.push(`--${name}`, String(value));
  }
  return argv;
}

export const simulateExoscaleCommand: Command = {
  name: 'simulate exoscale',
  summary: 'run a local Exoscale API v2 simulator (dry-run a config, labs, tests)',
  usage: '[--port N] [--host ADDR] [--operation-delay DURATION] [--fault SPEC]... [--state FILE | --empty] [--verbose]',
  details: `Serves the API subset ipwarden uses (Elastic IPs, instances, security groups, operations) with real
EXO2-HMAC-SHA256 signature checks, asynchronous operations, a metadata server per simulated instance
(/_meta/<instance>/latest/meta-data/...), fault injection and an admin API (/_sim/...). It prints its
endpoint and test credentials; point a config at it with endpoint: (or EXOSCALE_API_ENDPOINT) and
EXOSCALE_METADATA_URL. Loopback only by default; it has no TLS and its admin API no authentication.`,
  flags,
  async run(ctx) {
    // through the registry, like every other cloud (its flags are parsed here for the detailed --help)
    const mod = await findCloud('exoscale')!.load();
    return mod.simulate!.run(simulatorArgv(ctx.values), { stdout: ctx.stdout, stderr: ctx.stderr });
  },
};

/** `ipwarden simulate <cloud> [flags]`: any registered cloud's simulator (src/cloud/registry.ts). */
export const simulateCommand: Command = {
  name: 'simulate',
  summary: 'run a cloud\'s API simulator in the foreground: simulate CLOUD [its flags]',
  usage: 'CLOUD [flags of that simulator]',
  details: `CLOUD is one of: ${CLOUDS.map((c) => c.cloud).join(', ')}. \`ipwarden simulate CLOUD --help\` lists that simulator's flags.`,
  flags: {},
  rawArgs: true,
  ownHelp: true,
  async run(ctx) {
    const [name, ...rest] = ctx.positionals;
    if (name === undefined || name === '--help' || name === '-h') {
      ctx.stdout.write(formatHelp(simulateCommand));
      return name === undefined ? EXIT.USAGE : EXIT.OK;
    }
    const cloud = findCloud(name);
    if (!cloud) throw new UsageError(`unknown cloud ${JSON.stringify(name)} (known: ${cloudNames().join(', ')})`);
    const mod = await cloud.load();
    if (!mod.simulate) throw new UsageError(`${cloud.cloud} has no simulator`);
    return mod.simulate.run(rest, { stdout: ctx.stdout, stderr: ctx.stderr });
  },
};
