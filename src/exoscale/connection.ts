/**
 * The connection keys shared by the Exoscale plugins (exoscale-eip, exoscale-security-group)
 * and the one-off commands: zone, apiKey, apiSecret, endpoint.
 *
 *   zone       zone name ("ch-gva-2"); default $EXOSCALE_ZONE
 *   apiKey     secret reference (env:NAME, file:PATH, credential:NAME); default env:EXOSCALE_API_KEY
 *   apiSecret  secret reference; default env:EXOSCALE_API_SECRET
 *   endpoint   API base URL with "/v2"; default $EXOSCALE_API_ENDPOINT, else https://api-<zone>.exoscale.com/v2
 *              (point it at `ipwarden simulate exoscale` to dry-run a config)
 */
import { z } from 'zod';
import type { Logger } from '../plugins/api.js';
import { FAILOVER_FIRST_TIMEOUT_MS } from '../cloud/http.js';
import type { ApiCallEvent, ExoscaleClientOptions } from './client.js';
import { defaultEndpoint } from './client.js';

export const ZONE_NAME_RE = /^[a-z]{2}-[a-z]{3}-\d+$/;
export const DEFAULT_API_KEY_REF = 'env:EXOSCALE_API_KEY';
export const DEFAULT_API_SECRET_REF = 'env:EXOSCALE_API_SECRET';

function isHttpUrl(text: string): boolean {
  try {
    const u = new URL(text);
    return (u.protocol === 'http:' || u.protocol === 'https:') && !u.search && !u.hash && !u.username && !u.password;
  } catch {
    return false;
  }
}

/** The zod shape of the connection keys (spread into a plugin's schema). */
export const connectionShape = {
  zone: z.string({ error: 'expected a zone name like "ch-gva-2"' }).regex(ZONE_NAME_RE, { error: 'expected a zone name like "ch-gva-2"' }).optional(),
  apiKey: z.string({ error: 'expected a secret reference like env:EXOSCALE_API_KEY' }).min(1).default(DEFAULT_API_KEY_REF),
  apiSecret: z.string({ error: 'expected a secret reference like env:EXOSCALE_API_SECRET' }).min(1).default(DEFAULT_API_SECRET_REF),
  endpoint: z
    .string({ error: 'expected an http(s) URL like "https://api-ch-gva-2.exoscale.com/v2"' })
    .refine(isHttpUrl, { error: 'expected an http(s) URL without query or credentials, like "https://api-ch-gva-2.exoscale.com/v2"' })
    .optional(),
};

/** The connection keys as written (secret references unresolved). */
export interface ConnectionInput {
  zone?: string | undefined;
  apiKey: string;
  apiSecret: string;
  endpoint?: string | undefined;
}

/** Resolved: what an ExoscaleClient needs. */
export interface ConnectionSettings {
  zone: string;
  endpoint: string;
  apiKey: string;
  apiSecret: string;
}

/** A config problem of the connection keys (path inside the plugin config). */
export interface ConnectionIssue {
  path: string[];
  message: string;
}

/**
 * Resolves the connection keys: secret references through `resolveSecret` (which throws a
 * SecretError naming the key when a variable/file is missing), the zone and endpoint
 * defaults from the environment. Returns issues instead of throwing for a missing zone.
 */
export function resolveConnection(
  input: ConnectionInput,
  resolveSecret: (ref: string, at: string) => string,
  env: NodeJS.ProcessEnv = process.env,
): { ok: true; connection: ConnectionSettings } | { ok: false; issues: ConnectionIssue[] } {
  const issues: ConnectionIssue[] = [];
  const zone = input.zone ?? env.EXOSCALE_ZONE;
  if (zone === undefined || zone === '') {
    issues.push({ path: ['zone'], message: 'required: the zone of the Elastic IP and instances, like "ch-gva-2" (or set EXOSCALE_ZONE)' });
  } else if (!ZONE_NAME_RE.test(zone)) {
    issues.push({ path: ['zone'], message: `expected a zone name like "ch-gva-2", got ${JSON.stringify(zone)} (from EXOSCALE_ZONE)` });
  }
  const envEndpoint = env.EXOSCALE_API_ENDPOINT;
  if (input.endpoint === undefined && envEndpoint && !isHttpUrl(envEndpoint)) {
    issues.push({ path: ['endpoint'], message: `EXOSCALE_API_ENDPOINT ${JSON.stringify(envEndpoint)} is not an http(s) URL` });
  }
  const apiKey = resolveSecret(input.apiKey, 'apiKey');
  const apiSecret = resolveSecret(input.apiSecret, 'apiSecret');
  if (/\s/.test(apiKey)) issues.push({ path: ['apiKey'], message: 'the API key contains whitespace' });
  if (issues.length) return { ok: false, issues };
  const endpoint = input.endpoint ?? (envEndpoint || defaultEndpoint(zone!));
  return { ok: true, connection: { zone: zone!, endpoint: endpoint.replace(/\/+$/, ''), apiKey, apiSecret } };
}

/** Client options for a long-running daemon: short per-call budgets, so a hung API never blocks a transition for long. */
export function daemonClientOptions(
  c: ConnectionSettings,
  log: Logger,
  onCall: (event: ApiCallEvent) => void,
): ExoscaleClientOptions {
  return {
    apiKey: c.apiKey,
    apiSecret: c.apiSecret,
    zone: c.zone,
    endpoint: c.endpoint,
    log,
    timeoutMs: 5_000,
    firstTimeoutMs: FAILOVER_FIRST_TIMEOUT_MS,
    deadlineMs: 15_000,
    retries: 6,
    retryMinDelayMs: 200,
    retryMaxDelayMs: 2_000,
    pollIntervalMs: 1_000,
    waitTimeoutMs: 30_000,
    onCall,
  };
}
