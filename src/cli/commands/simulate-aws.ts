/** `ipwarden simulate aws`: the EC2 Query API + IMDSv2 simulator in the foreground (src/aws/simulator/). */
import type { Command } from '../command.js';
import { AWS_SIMULATOR_FLAGS, runAwsSimulatorCli } from '../../aws/simulator/cli.js';
import { simulatorArgv } from './simulate.js';

const { help: _help, ...flags } = AWS_SIMULATOR_FLAGS;

export const simulateAwsCommand: Command = {
  name: 'simulate aws',
  summary: 'run a local AWS EC2 + IMDSv2 simulator (labs, tests, the AWS CLI with --endpoint-url)',
  usage: '[--port N] [--host ADDR] [--region REGION] [--instances N] [--fault SPEC]... [--verbose]',
  details: `Serves the EC2 Query API subset ipwarden uses (DescribeAddresses, AssociateAddress, DisassociateAddress,
DescribeInstances, DescribeNetworkInterfaces, Assign/UnassignPrivateIpAddresses, DescribeRouteTables,
ReplaceRoute, CreateRoute, DeleteRoute) with full SigV4 verification (session tokens, the 15-minute window),
IMDSv2 per simulated instance (/_meta/<instance-id>/latest/..., IMDSv1 refused), RequestLimitExceeded
throttling, fault injection and an admin API (/_sim/...). It prints its endpoint and test credentials.
Loopback only by default; no TLS, and its admin API has no authentication.`,
  flags,
  run(ctx) {
    return runAwsSimulatorCli(simulatorArgv(ctx.values), { stdout: ctx.stdout, stderr: ctx.stderr });
  },
};
