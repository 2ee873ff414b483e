/**
 * DigitalOcean's entry in the cloud registry (src/cloud/registry.ts): the CLI connection for
 * `ipwarden ip ... --provider digitalocean` (the same token/endpoint defaults as the plugins) and
 * `ipwarden simulate digitalocean` and `ipwarden lab --provider digitalocean`.
 */
import { UsageError } from '../cli/command.js';
import type { CloudModule } from '../cloud/registry.js';
import { resolveSecret } from '../config/secret.js';
import { isHttpUrl, resolveConnection } from './connection.js';
import { DigitalOceanReservedIpProvider } from './provider.js';

export const cloudModule: CloudModule = {
  cli: {
    async connect(address, ctx) {
      const s = (k: string) => (typeof ctx.values[k] === 'string' ? (ctx.values[k] as string) : undefined);
      const token = s('token');
      const endpoint = s('endpoint');
      const metadataUrl = s('metadata-url');
      if (token !== undefined && !/^(env|file|credential):/.test(token)) {
        throw new UsageError('--token: expected env:NAME, file:PATH or credential:NAME (a literal token would show in the process list)');
      }
      if (endpoint !== undefined && !isHttpUrl(endpoint)) throw new UsageError(`--endpoint: expected an http(s) URL, got ${JSON.stringify(endpoint)}`);
      if (metadataUrl !== undefined && !isHttpUrl(metadataUrl)) throw new UsageError(`--metadata-url: expected an http(s) URL, got ${JSON.stringify(metadataUrl)}`);
      const conn = resolveConnection(
        { ...(token !== undefined ? { token } : {}), ...(endpoint !== undefined ? { endpoint } : {}) },
        (ref) => resolveSecret(ref, '--token', { baseDir: process.cwd(), env: ctx.env }),
        ctx.env,
      );
      if (!conn.ok) throw new UsageError(conn.issues.map((i) => `--${i.path[0]}: ${i.message}`).join('; '));
      return new DigitalOceanReservedIpProvider({
        connection: conn.connection,
        address,
        ...(metadataUrl !== undefined ? { metadataUrl } : {}),
        timeoutMs: 10_000,
        poll: { fastIntervalMs: 250, fastForMs: 15_000, slowIntervalMs: 1_000, timeoutMs: 120_000 },
      });
    },
    async describeTarget(provider, target) {
      if (!(provider instanceof DigitalOceanReservedIpProvider)) return target;
      const d = await provider.client.droplet(target).catch(() => undefined);
      return d ? `${target} (${d.name})` : target;
    },
  },
  simulate: {
    summary: 'the DigitalOcean API v2 simulator (see ipwarden simulate digitalocean --help)',
    async run(argv, io) {
      const { runDigitalOceanSimulatorCli } = await import('./simulator/cli.js');
      return runDigitalOceanSimulatorCli(argv, io);
    },
  },
  async lab(opts) {
    const { startDigitalOceanCloudLab } = await import('./lab.js');
    return startDigitalOceanCloudLab(opts);
  },
};
