/**
 * The DigitalOcean provider for one-off commands (`ipwarden ip ... --provider digitalocean`): the same
 * connection defaults as the plugins (token env:DIGITALOCEAN_TOKEN else env:DIGITALOCEAN_ACCESS_TOKEN,
 * endpoint $DIGITALOCEAN_API_URL else https://api.digitalocean.com), quick action polls.
 */
import { resolveSecret } from '../config/secret.js';
import { isHttpUrl, resolveConnection } from './connection.js';
import { DigitalOceanReservedIpProvider } from './provider.js';

export interface CliProviderInput {
  address: string;
  /** Secret reference (env:NAME, file:PATH, credential:NAME). */
  token?: string;
  endpoint?: string;
  metadataUrl?: string;
}

/** Throws an Error naming the flag for bad input (the command maps it to a usage error). */
export function digitalOceanCliProvider(input: CliProviderInput, env: NodeJS.ProcessEnv): DigitalOceanReservedIpProvider {
  if (input.token !== undefined && !/^(env|file|credential):/.test(input.token)) {
    throw new Error('--token: expected env:NAME, file:PATH or credential:NAME (a literal token would show in the process list)');
  }
  if (input.endpoint !== undefined && !isHttpUrl(input.endpoint)) throw new Error(`--endpoint: expected an http(s) URL, got ${JSON.stringify(input.endpoint)}`);
  if (input.metadataUrl !== undefined && !isHttpUrl(input.metadataUrl)) throw new Error(`--metadata-url: expected an http(s) URL, got ${JSON.stringify(input.metadataUrl)}`);
  const conn = resolveConnection(
    { ...(input.token !== undefined ? { token: input.token } : {}), ...(input.endpoint !== undefined ? { endpoint: input.endpoint } : {}) },
    (ref) => resolveSecret(ref, '--token', { baseDir: process.cwd(), env }),
    env,
  );
  if (!conn.ok) throw new Error(conn.issues.map((i) => `--${i.path[0]}: ${i.message}`).join('; '));
  return new DigitalOceanReservedIpProvider({
    connection: conn.connection,
    address: input.address,
    ...(input.metadataUrl !== undefined ? { metadataUrl: input.metadataUrl } : {}),
    timeoutMs: 10_000,
    poll: { fastIntervalMs: 250, fastForMs: 15_000, slowIntervalMs: 1_000, timeoutMs: 120_000 },
  });
}
