/**
 * IMDSv2, the EC2 instance metadata service, session-token only:
 *   PUT  <base>/latest/api/token   X-aws-ec2-metadata-token-ttl-seconds: N   → a token
 *   GET  <base>/latest/meta-data/… X-aws-ec2-metadata-token: <token>
 * The token is fetched once and reused until shortly before it expires (Pacemaker's agents fetched one
 * per call: resource-agents #1990); a 401 (token expired or revoked early) drops it and fetches a new
 * one, once. IMDSv1 (a GET without a token) is never tried: an instance that enforces v2 refuses it and
 * one that does not should not be asked in the weaker way.
 *
 * `baseUrl` is `metadataUrl` (default $AWS_EC2_METADATA_SERVICE_ENDPOINT, else http://169.254.169.254);
 * the simulator's per-caller form http://127.0.0.1:PORT/_meta/<instance-id> works the same.
 */
import { CloudHttpClient } from '../cloud/http.js';
import { CloudApiError, type CallOptions } from '../cloud/provider.js';

export const DEFAULT_METADATA_URL = 'http://169.254.169.254';
export const TOKEN_TTL_HEADER = 'x-aws-ec2-metadata-token-ttl-seconds';
export const TOKEN_HEADER = 'x-aws-ec2-metadata-token';

export interface ImdsOptions {
  baseUrl?: string;
  /** Token lifetime asked for, s (default 21600, the maximum). */
  tokenTtlSeconds?: number;
  /** Per-attempt timeout, ms (default 1000: the service is link-local). */
  timeoutMs?: number;
  /** Attempts after the first (default 2). */
  retries?: number;
  now?: () => number;
}

/** Role credentials as IMDS serves them. */
export interface ImdsRoleCredentials {
  Code?: string;
  AccessKeyId: string;
  SecretAccessKey: string;
  Token: string;
  Expiration: string;
}

export class ImdsClient {
  readonly baseUrl: string;
  readonly #http: CloudHttpClient;
  readonly #ttl: number;
  readonly #now: () => number;
  #token: { value: string; expiresMs: number } | undefined;
  #tokenFetch: Promise<string> | undefined;
  /** Tokens fetched so far (tests and `status`: one per TTL, not one per call). */
  tokensFetched = 0;

  constructor(opts: ImdsOptions = {}) {
    this.baseUrl = (opts.baseUrl ?? DEFAULT_METADATA_URL).replace(/\/+$/, '');
    this.#ttl = opts.tokenTtlSeconds ?? 21_600;
    if (!Number.isInteger(this.#ttl) || this.#ttl < 1 || this.#ttl > 21_600) {
      throw new Error(`aws metadata tokenTtlSeconds: expected an integer 1..21600, got ${this.#ttl}`);
    }
    this.#now = opts.now ?? Date.now;
    this.#http = new CloudHttpClient({
      cloud: 'aws',
      baseUrl: `${this.baseUrl}/`,
      timeoutMs: opts.timeoutMs ?? 1000,
      retry: { retries: opts.retries ?? 2, minDelayMs: 50, maxDelayMs: 500, deadlineMs: 5000 },
      classify: (res, req) => {
        const what = `instance metadata ${req.method} ${req.url.pathname}`;
        if (res.status === 401) return new CloudApiError('aws', 'auth', `${what}: 401 (IMDSv2 token refused)`, { status: 401, code: 'IMDS_TOKEN' });
        if (res.status === 403) return new CloudApiError('aws', 'auth', `${what}: 403 (the metadata service is disabled or the token PUT was refused)`, { status: 403 });
        if (res.status === 404) return new CloudApiError('aws', 'not-found', `${what}: 404 not found`, { status: 404 });
        if (res.status === 429 || res.status >= 500) return new CloudApiError('aws', 'retryable', `${what}: ${res.status}`, { status: res.status });
        return new CloudApiError('aws', 'invalid', `${what}: ${res.status} ${res.body.slice(0, 200)}`, { status: res.status });
      },
      secrets: () => [this.#token?.value],
    });
  }

  /** The session token, fetched when missing or within a minute (or 10% of the TTL) of its expiry. */
  async token(opts: CallOptions = {}): Promise<string> {
    const margin = Math.min(60_000, this.#ttl * 100);
    if (this.#token && this.#now() < this.#token.expiresMs - margin) return this.#token.value;
    this.#tokenFetch ??= (async () => {
      try {
        const res = await this.#http.request('PUT', 'latest/api/token', {
          headers: { [TOKEN_TTL_HEADER]: String(this.#ttl) },
          ...(opts.signal ? { signal: opts.signal } : {}),
        });
        const value = res.body.trim();
        if (value === '') throw new CloudApiError('aws', 'invalid', 'instance metadata PUT /latest/api/token: empty token');
        this.tokensFetched++;
        this.#token = { value, expiresMs: this.#now() + this.#ttl * 1000 };
        return value;
      } finally {
        this.#tokenFetch = undefined;
      }
    })();
    return this.#tokenFetch;
  }

  /** GET latest/<path> with the token; one new token on a 401. */
  async get(path: string, opts: CallOptions = {}): Promise<string> {
    const rel = `latest/${path.replace(/^\/+/, '')}`;
    for (let attempt = 0; ; attempt++) {
      const token = await this.token(opts);
      try {
        const res = await this.#http.request('GET', rel, { headers: { [TOKEN_HEADER]: token }, ...(opts.signal ? { signal: opts.signal } : {}) });
        return res.body;
      } catch (err) {
        if (attempt === 0 && err instanceof CloudApiError && err.code === 'IMDS_TOKEN') {
          this.#token = undefined;
          continue;
        }
        throw err;
      }
    }
  }

  async instanceId(opts?: CallOptions): Promise<string> {
    return (await this.get('meta-data/instance-id', opts)).trim();
  }

  async region(opts?: CallOptions): Promise<string> {
    return (await this.get('meta-data/placement/region', opts)).trim();
  }

  /** The primary network interface (the one of the instance's `mac`). */
  async primaryInterfaceId(opts?: CallOptions): Promise<string> {
    const mac = (await this.get('meta-data/mac', opts)).trim();
    return (await this.get(`meta-data/network/interfaces/macs/${mac}/interface-id`, opts)).trim();
  }

  async localIpv4(opts?: CallOptions): Promise<string> {
    return (await this.get('meta-data/local-ipv4', opts)).trim();
  }

  /** The instance profile's role name (the first line of iam/security-credentials/). */
  async roleName(opts?: CallOptions): Promise<string> {
    const body = await this.get('meta-data/iam/security-credentials/', opts);
    const name = body.split('\n').map((l) => l.trim()).find((l) => l !== '');
    if (!name) throw new CloudApiError('aws', 'not-found', 'instance metadata: no IAM role is attached to this instance');
    return name;
  }

  async roleCredentials(role: string, opts?: CallOptions): Promise<ImdsRoleCredentials> {
    const body = await this.get(`meta-data/iam/security-credentials/${encodeURIComponent(role)}`, opts);
    let parsed: Partial<ImdsRoleCredentials>;
    try {
      parsed = JSON.parse(body) as Partial<ImdsRoleCredentials>;
    } catch {
      throw new CloudApiError('aws', 'invalid', `instance metadata: credentials of role ${role} are not JSON`);
    }
    if (parsed.Code !== undefined && parsed.Code !== 'Success') {
      throw new CloudApiError('aws', 'auth', `instance metadata: credentials of role ${role}: Code ${parsed.Code}`);
    }
    for (const k of ['AccessKeyId', 'SecretAccessKey', 'Token', 'Expiration'] as const) {
      if (typeof parsed[k] !== 'string' || parsed[k] === '') {
        throw new CloudApiError('aws', 'invalid', `instance metadata: credentials of role ${role} lack ${k}`);
      }
    }
    if (!Number.isFinite(Date.parse(parsed.Expiration!))) {
      throw new CloudApiError('aws', 'invalid', `instance metadata: credentials of role ${role}: Expiration ${JSON.stringify(parsed.Expiration)} is not a date`);
    }
    return parsed as ImdsRoleCredentials;
  }

  close(): void {
    this.#http.close();
  }
}
