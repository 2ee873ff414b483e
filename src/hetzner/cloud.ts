/** Hetzner Cloud's entry in the cloud registry (src/cloud/registry.ts): the CLI connection, the simulator, the lab. */
import type { CloudModule } from '../cloud/registry.js';
import { UsageError } from '../cli/command.js';
import { resolveSecret, SecretError } from '../config/secret.js';
import { HetznerClient } from './client.js';
import { isHttpUrl, resolveHetznerConnection } from './connection.js';
import { HetznerAliasIpProvider, HetznerFloatingIpProvider } from './provider.js';
import { DEFAULT_TOKEN_REF, isHetznerId } from './types.js';

export const cloudModule: CloudModule = {
  cli: {
    async connect(address, ctx) {
      const s = (k: string) => (typeof ctx.values[k] === 'string' ? (ctx.values[k] as string) : undefined);
      const tokenRef = s('token') ?? DEFAULT_TOKEN_REF;
      if (!/^(env|file|credential):/.test(tokenRef)) throw new UsageError('--token: expected env:NAME, file:PATH or credential:NAME (a literal token would show in the process list)');
      const endpoint = s('endpoint');
      if (endpoint !== undefined && !isHttpUrl(endpoint)) throw new UsageError(`--endpoint: expected an http(s) URL like https://api.hetzner.cloud/v1, got ${JSON.stringify(endpoint)}`);
      const metadataUrl = s('metadata-url');
      if (metadataUrl !== undefined && !isHttpUrl(metadataUrl)) throw new UsageError(`--metadata-url: expected an http(s) URL, got ${JSON.stringify(metadataUrl)}`);
      const target = s('target');
      if (target !== undefined && !isHetznerId(target)) throw new UsageError(`--target: expected a server id (a number), got ${JSON.stringify(target)}`);
      let resolved;
      try {
        resolved = resolveHetznerConnection({ token: tokenRef, ...(endpoint ? { endpoint } : {}) }, (ref, at) => resolveSecret(ref, `--${at}`, { baseDir: process.cwd(), env: ctx.env }), ctx.env);
      } catch (err) {
        if (err instanceof SecretError) throw new UsageError(`${err.message} (set HCLOUD_TOKEN or pass --token env:NAME|file:PATH)`);
        throw err;
      }
      if (!resolved.ok) throw new UsageError(resolved.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('; '));
      const c = resolved.connection;
      const client = new HetznerClient({ token: c.token, tokenRef: c.tokenRef, endpoint: c.endpoint, pollIntervalMs: 250, actionTimeoutMs: 60_000 });
      const settings = { ...(metadataUrl ? { metadataUrl } : {}) };
      const network = s('network');
      return network !== undefined ? new HetznerAliasIpProvider(client, address, settings, network) : new HetznerFloatingIpProvider(client, address, settings);
    },
    async describeTarget(provider, target) {
      if (!(provider instanceof HetznerFloatingIpProvider || provider instanceof HetznerAliasIpProvider) || !isHetznerId(target)) return target;
      const server = await provider.server(target).catch(() => undefined);
      return server ? `${target} (${server.name})` : target;
    },
  },
  simulate: {
    summary: 'the Hetzner Cloud API simulator (see ipwarden simulate hetzner --help)',
    async run(argv, io) {
      const { runHetznerSimulatorCli } = await import('./simulator/index.js');
      return runHetznerSimulatorCli(argv, io);
    },
  },
  async lab(opts) {
    const { startHetznerLab } = await import('./lab.js');
    return startHetznerLab(opts);
  },
};
