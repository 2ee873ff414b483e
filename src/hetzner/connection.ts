/**
 * The connection keys shared by the Hetzner plugins (hetzner-floating-ip, hetzner-label) and
 * `ipwarden ip ... --provider hetzner`:
 *
 *   token     secret reference (env:NAME, file:PATH, credential:NAME); default env:HCLOUD_TOKEN
 *             (the official CLI's variable). A Read & Write API token of the project.
 *   endpoint  API base URL with /v1; default $HCLOUD_ENDPOINT, else https://api.hetzner.cloud/v1
 *             (point it at `ipwarden simulate hetzner` to dry-run a config)
 */
import { z } from 'zod';
import type { Logger } from '../plugins/api.js';
import type { ApiCallSample } from '../plugins/api.js';
import { FAILOVER_FIRST_TIMEOUT_MS } from '../cloud/http.js';
import type { HetznerClientOptions } from './client.js';
import { DEFAULT_HETZNER_ENDPOINT, DEFAULT_TOKEN_REF, HETZNER_ID_RE } from './types.js';

export function isHttpUrl(text: string): boolean {
  try {
    const u = new URL(text);
    return (u.protocol === 'http:' || u.protocol === 'https:') && !u.search && !u.hash && !u.username && !u.password;
  } catch {
    return false;
  }
}

const SERVER_ID = 'expected a server id (a number)';

/** `serverId:` a server id as a number or a decimal string; kept as a string. */
export const serverIdSchema = z
  .union([z.int({ error: SERVER_ID }).positive({ error: SERVER_ID }), z.string({ error: SERVER_ID }).regex(HETZNER_ID_RE, { error: SERVER_ID })], { error: SERVER_ID })
  .transform(String);

/** The zod shape of the connection keys (spread into a plugin's schema). */
export const hetznerConnectionShape = {
  token: z.string({ error: 'expected a secret reference like env:HCLOUD_TOKEN' }).min(1, { error: 'expected a secret reference like env:HCLOUD_TOKEN' }).default(DEFAULT_TOKEN_REF),
  endpoint: z
    .string({ error: 'expected an http(s) URL like "https://api.hetzner.cloud/v1"' })
    .refine(isHttpUrl, { error: 'expected an http(s) URL without query or credentials, like "https://api.hetzner.cloud/v1"' })
    .optional(),
};

export interface HetznerConnection {
  endpoint: string;
  token: string;
  /** The reference the token came from (named in auth errors). */
  tokenRef: string;
}

/**
 * Resolves the keys: the token through `resolveSecret` (throws a SecretError naming the key when the
 * variable/file is missing), the endpoint from the key, $HCLOUD_ENDPOINT or the default.
 */
export function resolveHetznerConnection(
  input: { token: string; endpoint?: string | undefined },
  resolveSecret: (ref: string, at: string) => string,
  env: NodeJS.ProcessEnv = process.env,
): { ok: true; connection: HetznerConnection } | { ok: false; issues: Array<{ path: string[]; message: string }> } {
  const envEndpoint = env.HCLOUD_ENDPOINT;
  if (input.endpoint === undefined && envEndpoint && !isHttpUrl(envEndpoint)) {
    return { ok: false, issues: [{ path: ['endpoint'], message: `HCLOUD_ENDPOINT ${JSON.stringify(envEndpoint)} is not an http(s) URL` }] };
  }
  const token = resolveSecret(input.token, 'token');
  if (/\s/.test(token)) return { ok: false, issues: [{ path: ['token'], message: `the token from ${input.token} contains whitespace` }] };
  const endpoint = (input.endpoint ?? (envEndpoint || DEFAULT_HETZNER_ENDPOINT)).replace(/\/+$/, '');
  return { ok: true, connection: { endpoint, token, tokenRef: input.token } };
}

/** Client options for a long-running daemon: short per-call budgets, so a hung API never blocks a transition for long. */
export function daemonHetznerClientOptions(c: HetznerConnection, log: Logger, onCall?: (sample: ApiCallSample) => void): HetznerClientOptions {
  return {
    token: c.token,
    tokenRef: c.tokenRef,
    endpoint: c.endpoint,
    timeoutMs: 5_000,
    firstTimeoutMs: FAILOVER_FIRST_TIMEOUT_MS,
    retry: { retries: 6, minDelayMs: 200, maxDelayMs: 2_000, deadlineMs: 15_000 },
    pollIntervalMs: 250,
    actionTimeoutMs: 30_000,
    ...(onCall ? { onCall } : {}),
    onRetry: ({ attempt, error, delayMs }) => log.debug({ attempt, err: error.message, kind: error.kind, ...(delayMs !== undefined ? { delayMs } : {}) }, 'hetzner API call retried'),
  };
}
