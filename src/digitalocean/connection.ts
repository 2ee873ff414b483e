/**
 * The connection keys shared by the DigitalOcean plugins (digitalocean-reserved-ip, digitalocean-tag)
 * and `ipwarden ip --provider digitalocean`:
 *
 *   token     secret reference (env:NAME, file:PATH, credential:NAME); default env:DIGITALOCEAN_TOKEN
 *             (Terraform's), else env:DIGITALOCEAN_ACCESS_TOKEN (doctl's)
 *   endpoint  API base URL; default $DIGITALOCEAN_API_URL (doctl's), else https://api.digitalocean.com
 *             (point it at `ipwarden simulate digitalocean` to dry-run a config)
 */
import { z } from 'zod';

export const DEFAULT_ENDPOINT = 'https://api.digitalocean.com';
export const TOKEN_ENV = 'DIGITALOCEAN_TOKEN';
export const ACCESS_TOKEN_ENV = 'DIGITALOCEAN_ACCESS_TOKEN';
export const API_URL_ENV = 'DIGITALOCEAN_API_URL';

export function isHttpUrl(text: string): boolean {
  try {
    const u = new URL(text);
    return (u.protocol === 'http:' || u.protocol === 'https:') && !u.search && !u.hash && !u.username && !u.password;
  } catch {
    return false;
  }
}

const URL_ERROR = 'expected an http(s) URL without query or credentials, like "https://api.digitalocean.com"';

/** The zod shape of the connection keys (spread into a plugin's schema). */
export const connectionShape = {
  token: z.string({ error: 'expected a secret reference like env:DIGITALOCEAN_TOKEN' }).min(1, { error: 'expected a secret reference like env:DIGITALOCEAN_TOKEN' }).optional(),
  endpoint: z.string({ error: URL_ERROR }).refine(isHttpUrl, { error: URL_ERROR }).optional(),
};

export interface ConnectionInput {
  token?: string | undefined;
  endpoint?: string | undefined;
}

/** Resolved: what a DigitalOceanClient needs. `tokenRef` is what errors name (never the value). */
export interface ConnectionSettings {
  endpoint: string;
  token: string;
  tokenRef: string;
}

export interface ConnectionIssue {
  path: string[];
  message: string;
}

/**
 * Resolves the keys: the token through `resolveSecret` (which throws a SecretError naming the key), the
 * endpoint from the environment. A default token with neither variable set is an issue naming both.
 */
export function resolveConnection(
  input: ConnectionInput,
  resolveSecret: (ref: string, at: string) => string,
  env: NodeJS.ProcessEnv = process.env,
): { ok: true; connection: ConnectionSettings } | { ok: false; issues: ConnectionIssue[] } {
  const issues: ConnectionIssue[] = [];
  const envEndpoint = env[API_URL_ENV];
  if (input.endpoint === undefined && envEndpoint && !isHttpUrl(envEndpoint)) {
    issues.push({ path: ['endpoint'], message: `${API_URL_ENV} ${JSON.stringify(envEndpoint)} is not an http(s) URL` });
  }
  let tokenRef = input.token ?? `env:${TOKEN_ENV}`;
  let token = '';
  if (input.token !== undefined) token = resolveSecret(input.token, 'token');
  else {
    // the defaults are tried through the same resolver (and so the same environment) as every secret
    const tried = [`env:${TOKEN_ENV}`, `env:${ACCESS_TOKEN_ENV}`];
    for (const ref of tried) {
      try {
        token = resolveSecret(ref, 'token');
        tokenRef = ref;
        break;
      } catch {
        /* try the next */
      }
    }
    if (token === '') {
      issues.push({ path: ['token'], message: `no API token: set ${TOKEN_ENV} or ${ACCESS_TOKEN_ENV}, or token: to a secret reference (env:NAME, file:PATH, credential:NAME)` });
    }
  }
  if (/\s/.test(token)) issues.push({ path: ['token'], message: `the token from ${tokenRef} contains whitespace` });
  if (issues.length) return { ok: false, issues };
  const endpoint = (input.endpoint ?? (envEndpoint || DEFAULT_ENDPOINT)).replace(/\/+$/, '');
  return { ok: true, connection: { endpoint, token, tokenRef } };
}
