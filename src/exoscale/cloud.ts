/** Exoscale's entry in the cloud registry (src/cloud/registry.ts): the CLI connection, the simulator, the lab. */
import { isIP } from 'node:net';
import type { CloudModule } from '../cloud/registry.js';
import { UsageError } from '../cli/command.js';
import { cliClient, cliCredentials, cliZone, metadataUrlOf, type ExoscaleCliInput } from '../cli/commands/eip.js';
import { ExoscaleEipProvider } from './provider.js';
import { isUuid } from './types.js';

function inputOf(values: Record<string, unknown>): ExoscaleCliInput {
  const s = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const out: ExoscaleCliInput = {};
  if (s('zone') !== undefined) out.zone = s('zone')!;
  if (s('endpoint') !== undefined) out.endpoint = s('endpoint')!;
  if (s('metadata-url') !== undefined) out.metadataUrl = s('metadata-url')!;
  if (s('api-key') !== undefined) out.apiKey = s('api-key')!;
  if (s('api-secret') !== undefined) out.apiSecret = s('api-secret')!;
  return out;
}

export const cloudModule: CloudModule = {
  cli: {
    async connect(address, ctx) {
      if (isIP(address) === 0) throw new UsageError(`--address: expected an IP address, got ${JSON.stringify(address)}`);
      const input = inputOf(ctx.values);
      const creds = cliCredentials(input, ctx.env);
      const zone = await cliZone(input, ctx.env);
      const endpoint = input.endpoint ?? (ctx.env.EXOSCALE_API_ENDPOINT || undefined);
      const client = cliClient({ zone, ...(endpoint ? { endpoint } : {}), ...creds });
      const metadataUrl = metadataUrlOf(input, ctx.env);
      return new ExoscaleEipProvider(client, { address, nodeId: '', ...(metadataUrl ? { metadataUrl } : {}), pollIntervalMs: 250, fastPollMs: 5_000 });
    },
    async describeTarget(provider, target) {
      if (!(provider instanceof ExoscaleEipProvider) || !isUuid(target)) return target;
      const inst = await provider.client.getInstance(target).catch(() => undefined);
      return inst?.name ? `${target} (${inst.name})` : target;
    },
  },
  simulate: {
    summary: 'the Exoscale API v2 simulator (see ipwarden simulate exoscale --help)',
    async run(argv, io) {
      const { runSimulatorCli } = await import('./simulator/index.js');
      return runSimulatorCli(argv, io);
    },
  },
  async lab(opts) {
    const { startExoscaleCloudLab } = await import('../lab/exoscale-lab.js');
    return startExoscaleCloudLab(opts);
  },
};
