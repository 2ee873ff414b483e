/**
 * DigitalOcean API v2 over the one cloud HTTP layer: reserved IPs, their actions, droplets by tag.
 *
 * Errors (`{"id", "message"}` bodies) map to CloudApiError kinds:
 *   401 / 403                          auth: one message naming the token reference, never its value
 *   422 "... already has a pending event."   conflict: an action runs on the IP or droplet; waited and retried
 *   429 (ratelimit-reset)              rate-limited: retried after the reset the answer names
 *   404                                not-found        5xx, network, timeout: retryable
 *   other 4xx                          invalid
 */
import { CloudHttpClient, retryAfterFromHeaders, type CloudRequest, type HttpResponse, type OutgoingRequest, type RetryPolicy } from '../cloud/http.js';
import { pollUntilDone } from '../cloud/poll.js';
import { CloudApiError } from '../cloud/provider.js';
import type { ConnectionSettings } from './connection.js';

export const CLOUD = 'digitalocean';

export interface ReservedIp {
  ip: string;
  /** Droplet id holding it, or null. */
  dropletId: string | null;
  locked: boolean;
  region?: string;
}

export interface Droplet {
  id: string;
  name: string;
  status: string;
  publicIpv4?: string;
  privateIpv4?: string;
  tags: string[];
}

export type ActionStatus = 'in-progress' | 'completed' | 'errored';

export interface DoAction {
  id: number;
  status: ActionStatus;
  type: string;
}

export interface ApiCallEvent {
  call: string;
  status?: number;
  durationMs: number;
  error?: boolean;
}

export interface DigitalOceanClientOptions {
  connection: ConnectionSettings;
  timeoutMs?: number;
  /** The first attempt's timeout, doubled per retry up to timeoutMs (CloudHttpOptions.firstTimeoutMs). */
  firstTimeoutMs?: number;
  retry?: RetryPolicy;
  /** Action polling (tests shorten it). */
  poll?: { fastIntervalMs?: number; fastForMs?: number; slowIntervalMs?: number; timeoutMs?: number };
  onRetry?: (info: { attempt: number; error: CloudApiError; delayMs?: number }) => void;
  /** Every attempt, for ipwarden_api_* metrics (the HTTP layer's hook). */
  onCall?: (e: ApiCallEvent) => void;
}

/** Pure: a non-2xx answer as a CloudApiError (the message names the call, and the token reference on 401/403). */
export function classifyDigitalOcean(res: HttpResponse, req: OutgoingRequest, tokenRef: string): CloudApiError {
  const what = `${req.method} ${req.url.pathname}`;
  let id: string | undefined;
  let message = res.body.slice(0, 200);
  try {
    const b = JSON.parse(res.body) as { id?: unknown; message?: unknown };
    if (typeof b.id === 'string') id = b.id;
    if (typeof b.message === 'string') message = b.message;
  } catch {
    /* not JSON: keep the text */
  }
  const details = { status: res.status, ...(id ? { code: id } : {}) };
  const said = `${res.status}${id ? ` ${id}` : ''}: ${message}`;
  if (res.status === 401) {
    return new CloudApiError(CLOUD, 'auth', `DigitalOcean refused the API token from ${tokenRef} (${what}: ${said}); check that it is valid and not revoked`, details);
  }
  if (res.status === 403) {
    return new CloudApiError(CLOUD, 'auth', `the API token from ${tokenRef} may not do ${what} (${said}); it needs write scope (a read-only token cannot assign reserved IPs)`, details);
  }
  if (res.status === 429) {
    const wait = retryAfterFromHeaders(res.headers);
    return new CloudApiError(CLOUD, 'rate-limited', `${what}: rate limited (${said})`, { ...details, ...(wait !== undefined ? { retryAfterMs: wait } : {}) });
  }
  if (res.status === 404) return new CloudApiError(CLOUD, 'not-found', `${what}: not found (${said})`, details);
  if (res.status === 422 && /pending event/i.test(message)) return new CloudApiError(CLOUD, 'conflict', `${what}: ${said}`, details);
  if (res.status === 409 || res.status === 423) return new CloudApiError(CLOUD, 'conflict', `${what}: ${said}`, details);
  if (res.status >= 500) return new CloudApiError(CLOUD, 'retryable', `${what}: ${said}`, details);
  return new CloudApiError(CLOUD, 'invalid', `${what}: ${said}`, details);
}

interface ReservedIpJson {
  ip: string;
  droplet: { id: number } | null;
  locked?: boolean;
  region?: { slug?: string };
}

interface DropletJson {
  id: number;
  name: string;
  status: string;
  tags?: string[];
  networks?: { v4?: Array<{ ip_address: string; type: string }> };
}

export class DigitalOceanClient {
  readonly http: CloudHttpClient;
  readonly #opts: DigitalOceanClientOptions;

  constructor(opts: DigitalOceanClientOptions) {
    this.#opts = opts;
    const conn = opts.connection;
    this.http = new CloudHttpClient({
      cloud: CLOUD,
      baseUrl: `${conn.endpoint}/v2/`,
      timeoutMs: opts.timeoutMs ?? 10_000,
      ...(opts.firstTimeoutMs !== undefined ? { firstTimeoutMs: opts.firstTimeoutMs } : {}),
      ...(opts.retry ? { retry: opts.retry } : {}),
      authorize: () => ({ authorization: `Bearer ${conn.token}` }),
      classify: (res, req) => classifyDigitalOcean(res, req, conn.tokenRef),
      secrets: () => [conn.token],
      ...(opts.onRetry ? { onRetry: opts.onRetry } : {}),
      headers: { 'user-agent': 'ipwarden' },
      ...(opts.onCall ? { onCall: opts.onCall } : {}),
    });
  }

  get endpoint(): string {
    return this.#opts.connection.endpoint;
  }

  #call(call: string, method: string, path: string, req: CloudRequest = {}): Promise<HttpResponse> {
    return this.http.request(method, path, { ...req, call });
  }

  async #json<T>(call: string, method: string, path: string, req: CloudRequest = {}): Promise<T> {
    return this.http.parseJson<T>(await this.#call(call, method, path, req), `${method} ${path}`);
  }

  /** GET /v2/account: a cheap credentials check. */
  async account(signal?: AbortSignal): Promise<{ email?: string; status?: string }> {
    const b = await this.#json<{ account: { email?: string; status?: string } }>('get-account', 'GET', 'account', signal ? { signal } : {});
    return b.account;
  }

  async reservedIp(ip: string, signal?: AbortSignal): Promise<ReservedIp> {
    const b = await this.#json<{ reserved_ip?: ReservedIpJson }>('get-reserved-ip', 'GET', `reserved_ips/${encodeURIComponent(ip)}`, signal ? { signal } : {});
    const r = b.reserved_ip;
    if (!r || typeof r.ip !== 'string') throw new CloudApiError(CLOUD, 'invalid', `GET /v2/reserved_ips/${ip}: answer has no reserved_ip`);
    return {
      ip: r.ip,
      dropletId: r.droplet && r.droplet.id !== undefined ? String(r.droplet.id) : null,
      locked: r.locked === true,
      ...(r.region?.slug ? { region: r.region.slug } : {}),
    };
  }

  /**
   * POST /v2/reserved_ips/{ip}/actions, then polls the action until `completed`. A 422 pending event
   * (another action on the IP or droplet) is waited out by the HTTP layer's retries; an `errored`
   * action is started again (up to `attempts` times) before it fails as `retryable`.
   */
  async ipAction(ip: string, body: { type: 'assign'; droplet_id: number } | { type: 'unassign' }, opts: { signal?: AbortSignal; resend?: AbortSignal; attempts?: number; retry?: RetryPolicy | false } = {}): Promise<DoAction> {
    const attempts = opts.attempts ?? 3;
    let last: DoAction | undefined;
    for (let i = 0; i < attempts; i++) {
      // an errored action is sent again only while the caller still wants it (see CallOptions.resend)
      if (i > 0 && opts.resend?.aborted) break;
      const started = await this.#json<{ action: DoAction }>('reserved-ip-action', 'POST', `reserved_ips/${encodeURIComponent(ip)}/actions`, {
        json: body,
        // a pending event lasts an action's few seconds: wait longer than the default budget
        retry: opts.retry ?? { retries: 10, minDelayMs: 250, maxDelayMs: 2_000, deadlineMs: 60_000, ...this.#opts.retry },
        ...(opts.signal ? { signal: opts.signal } : {}),
        ...(opts.resend ? { resend: opts.resend } : {}),
      });
      last = await this.waitAction(started.action, opts.signal);
      if (last.status === 'completed') return last;
    }
    throw new CloudApiError(CLOUD, 'retryable', `reserved IP ${ip}: ${body.type} action ${last!.id} errored${opts.resend?.aborted ? ' (not sent again: no longer wanted)' : ` ${attempts} times`}`, { code: 'ACTION_ERRORED' });
  }

  /** Polls GET /v2/actions/{id} until completed or errored. */
  async waitAction(action: DoAction, signal?: AbortSignal): Promise<DoAction> {
    if (action.status !== 'in-progress') return action;
    const p = this.#opts.poll ?? {};
    return pollUntilDone<DoAction>(
      async () => {
        const { action: a } = await this.#json<{ action: DoAction }>('get-action', 'GET', `actions/${action.id}`, signal ? { signal } : {});
        return a.status === 'in-progress' ? { done: false } : { done: true, value: a };
      },
      {
        cloud: CLOUD,
        what: `DigitalOcean action ${action.id} (${action.type})`,
        fastIntervalMs: p.fastIntervalMs ?? 250,
        fastForMs: p.fastForMs ?? 10_000,
        slowIntervalMs: p.slowIntervalMs ?? 2_000,
        timeoutMs: p.timeoutMs ?? 120_000,
        ...(signal ? { signal } : {}),
      },
    );
  }

  /** GET /v2/droplets?tag_name=T, every page (links.pages.next). */
  async dropletsByTag(tag: string, signal?: AbortSignal): Promise<Droplet[]> {
    const out: Droplet[] = [];
    for (let page = 1; page <= 100; page++) {
      const b = await this.#json<{ droplets: DropletJson[]; links?: { pages?: { next?: string } } }>('list-droplets', 'GET', 'droplets', {
        query: { tag_name: tag, per_page: 200, page },
        ...(signal ? { signal } : {}),
      });
      if (!Array.isArray(b.droplets)) throw new CloudApiError(CLOUD, 'invalid', 'GET /v2/droplets: answer has no droplets list');
      out.push(...b.droplets.map(toDroplet));
      if (!b.links?.pages?.next) return out;
    }
    return out;
  }

  async droplet(id: string, signal?: AbortSignal): Promise<Droplet> {
    const b = await this.#json<{ droplet: DropletJson }>('get-droplet', 'GET', `droplets/${encodeURIComponent(id)}`, signal ? { signal } : {});
    return toDroplet(b.droplet);
  }

  close(): void {
    this.http.close();
  }
}

function toDroplet(d: DropletJson): Droplet {
  const v4 = d.networks?.v4 ?? [];
  // the first public entry is the droplet's own address (a reserved IP is listed after it)
  const pub = v4.find((n) => n.type === 'public')?.ip_address;
  const priv = v4.find((n) => n.type === 'private')?.ip_address;
  return { id: String(d.id), name: d.name, status: d.status, tags: d.tags ?? [], ...(pub ? { publicIpv4: pub } : {}), ...(priv ? { privateIpv4: priv } : {}) };
}
