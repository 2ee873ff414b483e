/**
 * AWS's entry in the cloud registry (src/cloud/registry.ts): `ipwarden ip … --provider aws
 * [--mode eip|private-ip|route]` and `ipwarden simulate aws`. Flags shared with other clouds keep
 * their meaning: --endpoint (default $AWS_ENDPOINT_URL_EC2 / $AWS_ENDPOINT_URL), --metadata-url
 * (default $AWS_EC2_METADATA_SERVICE_ENDPOINT); credentials come from the standard chain.
 */
import { isIP } from 'node:net';
import { UsageError } from '../cli/command.js';
import type { CloudModule } from '../cloud/registry.js';
import { AwsConnection, type AwsConnectionSettings } from './connection.js';
import { REGION_RE, ROUTE_TABLE_ID_RE } from './plugin.js';
import { AwsEipProvider, AwsPrivateIpProvider, AwsRouteProvider } from './providers.js';

export const AWS_MODES = ['eip', 'private-ip', 'route'] as const;

export const cloudModule: CloudModule = {
  cli: {
    async connect(address, ctx) {
      const s = (k: string): string | undefined => (typeof ctx.values[k] === 'string' ? (ctx.values[k] as string) : undefined);
      if (isIP(address) !== 4) throw new UsageError(`--address: expected an IPv4 address, got ${JSON.stringify(address)}`);
      const mode = s('mode') ?? 'eip';
      if (!(AWS_MODES as readonly string[]).includes(mode)) throw new UsageError(`--mode: expected ${AWS_MODES.join(', ')}, got ${JSON.stringify(mode)}`);
      const region = s('region');
      if (region !== undefined && !REGION_RE.test(region)) throw new UsageError(`--region: expected a region name like eu-west-1, got ${JSON.stringify(region)}`);
      for (const flag of ['endpoint', 'metadata-url']) {
        const v = s(flag);
        if (v !== undefined && !(/^https?:\/\//.test(v) && URL.canParse(v))) throw new UsageError(`--${flag}: expected an http(s) URL, got ${JSON.stringify(v)}`);
      }
      const settings: AwsConnectionSettings = {
        ...(region ? { region } : {}),
        ...(s('endpoint') ? { endpoint: s('endpoint')! } : {}),
        ...(s('metadata-url') ? { metadataUrl: s('metadata-url')! } : {}),
        timeoutMs: 10_000,
      };
      const conn = new AwsConnection(settings, ctx.env);
      if (mode === 'eip') return new AwsEipProvider(conn, { address });
      if (mode === 'private-ip') return new AwsPrivateIpProvider(conn, { address });
      const ids = (s('route-table-ids') ?? '').split(',').map((x) => x.trim()).filter((x) => x !== '');
      if (ids.length === 0) throw new UsageError('--route-table-ids: required with --mode route (comma-separated rtb-… ids)');
      const bad = ids.find((id) => !ROUTE_TABLE_ID_RE.test(id));
      if (bad) throw new UsageError(`--route-table-ids: ${JSON.stringify(bad)} is not a route table id like rtb-0123456789abcdef0`);
      return new AwsRouteProvider(conn, { address, routeTableIds: ids });
    },
  },
  simulate: {
    summary: 'the AWS EC2 Query API + IMDSv2 simulator (see ipwarden simulate aws --help)',
    async run(argv, io) {
      const { runAwsSimulatorCli } = await import('./simulator/cli.js');
      return runAwsSimulatorCli(argv, io);
    },
  },
};
