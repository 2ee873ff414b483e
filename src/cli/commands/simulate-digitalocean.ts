/** `ipwarden simulate digitalocean`: the local DigitalOcean API v2 simulator in the foreground (src/digitalocean/simulator). */
import type { Command } from '../command.js';
import { DO_SIMULATOR_FLAGS, runDigitalOceanSimulatorCli } from '../../digitalocean/simulator/cli.js';
import { simulatorArgv } from './simulate.js';

const { help: _doHelp, ...doFlags } = DO_SIMULATOR_FLAGS;

export const simulateDigitalOceanCommand: Command = {
  name: 'simulate digitalocean',
  summary: 'run a local DigitalOcean API v2 simulator (reserved IPs, droplets, actions, metadata)',
  usage: '[--port N] [--host ADDR] [--action-delay DURATION] [--token T] [--fault SPEC]... [--verbose]',
  details: `Serves what ipwarden and python3-digitalocean use: reserved IPs (and the older floating_ips
paths), their assign/unassign actions (in-progress, then completed after --action-delay; a second
action meanwhile gets 422 "pending event"), droplets by tag with pagination, {"id","message"} errors,
Bearer tokens (full and read-only), ratelimit-* headers and 429, and the droplet metadata service
(/_meta/<droplet-id>/metadata/v1/...). Point a config at it with endpoint: (or DIGITALOCEAN_API_URL)
and metadataUrl:. Loopback only by default; no TLS, and its admin API (/_sim/...) has no authentication.`,
  flags: doFlags,
  run(ctx) {
    return runDigitalOceanSimulatorCli(simulatorArgv(ctx.values), { stdout: ctx.stdout, stderr: ctx.stderr });
  },
};
