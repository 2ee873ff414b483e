/**
 * The Hetzner Cloud API calls ipwarden makes, on the one cloud HTTP layer (keep-alive, timeouts,
 * retries honouring RateLimit-Reset, `locked` answers waited out, the token redacted):
 * floating IPs (find by address, assign, unassign), servers (get, list by label selector, change
 * alias IPs), networks (by id or name) and actions (polled until done through src/cloud/poll.ts).
 */
import { CloudHttpClient, type CloudRequest, type RetryPolicy } from '../cloud/http.js';
import { pollUntilDone } from '../cloud/poll.js';
import { CloudApiError } from '../cloud/provider.js';
import type { ApiCallSample } from '../plugins/api.js';
import { classifyHetzner } from './errors.js';
import type { Action, FloatingIp, ListMeta, Network, Server } from './types.js';
import { DEFAULT_HETZNER_ENDPOINT, DEFAULT_TOKEN_REF } from './types.js';

export interface HetznerClientOptions {
  token: string;
  /** Where the token came from, named in auth errors (default env:HCLOUD_TOKEN). */
  tokenRef?: string;
  /** Base URL with /v1 (default https://api.hetzner.cloud/v1). */
  endpoint?: string;
  /** Per-request timeout, ms (default 10 000). */
  timeoutMs?: number;
  /** The first attempt's timeout, doubled per retry up to timeoutMs (CloudHttpOptions.firstTimeoutMs). */
  firstTimeoutMs?: number;
  retry?: RetryPolicy;
  /** Action polling: fast interval (default 250 ms) and overall timeout (default 60 s). */
  pollIntervalMs?: number;
  actionTimeoutMs?: number;
  /** One sample per API request attempt (the action's ipwarden_api_* metrics), from the HTTP layer. */
  onCall?: (sample: ApiCallSample) => void;
  /** Called before a retry (a debug line). */
  onRetry?: (info: { attempt: number; error: CloudApiError; delayMs?: number }) => void;
}

interface CallOptions {
  signal?: AbortSignal;
  /** Mutations: once aborted, the HTTP layer sends no further attempt (provider.ts CallOptions.resend). */
  resend?: AbortSignal;
  /** One attempt only: the caller retries itself (after re-reading the state). */
  once?: boolean;
}

const PER_PAGE = 50;
/** Pages read at most per list (50 per page): a runaway pagination ends with a clear error. */
const MAX_PAGES = 100;

export class HetznerClient {
  readonly http: CloudHttpClient;
  readonly endpoint: string;
  readonly #opts: HetznerClientOptions;

  constructor(opts: HetznerClientOptions) {
    this.#opts = opts;
    this.endpoint = (opts.endpoint ?? DEFAULT_HETZNER_ENDPOINT).replace(/\/+$/, '');
    this.http = new CloudHttpClient({
      cloud: 'hetzner',
      baseUrl: this.endpoint,
      timeoutMs: opts.timeoutMs ?? 10_000,
      ...(opts.firstTimeoutMs !== undefined ? { firstTimeoutMs: opts.firstTimeoutMs } : {}),
      ...(opts.retry ? { retry: opts.retry } : {}),
      authorize: () => ({ authorization: `Bearer ${opts.token}` }),
      classify: classifyHetzner(opts.tokenRef ?? DEFAULT_TOKEN_REF),
      secrets: () => [opts.token],
      ...(opts.onRetry ? { onRetry: opts.onRetry } : {}),
      ...(opts.onCall ? { onCall: opts.onCall } : {}),
      headers: { 'user-agent': 'ipwarden' },
    });
  }

  close(): void {
    this.http.close();
  }

  /** How often a running action is polled (also how often a `locked` resource is tried again). */
  get pollIntervalMs(): number {
    return this.#opts.pollIntervalMs ?? 250;
  }

  /** Every floating IP of the project (all pages). */
  listFloatingIps(opts: CallOptions = {}): Promise<FloatingIp[]> {
    return this.#listAll<FloatingIp>('list-floating-ips', 'floating_ips', 'floating_ips', {}, opts);
  }

  /** The floating IP with this address, or undefined (Hetzner has no filter by address: the list is read). */
  async floatingIpByAddress(address: string, opts: CallOptions = {}): Promise<FloatingIp | undefined> {
    return (await this.listFloatingIps(opts)).find((f) => f.ip === address);
  }

  async getFloatingIp(id: number, opts: CallOptions = {}): Promise<FloatingIp> {
    return (await this.#get<{ floating_ip: FloatingIp }>('get-floating-ip', `floating_ips/${id}`, {}, opts)).floating_ip;
  }

  async getServer(id: number, opts: CallOptions = {}): Promise<Server> {
    return (await this.#get<{ server: Server }>('get-server', `servers/${id}`, {}, opts)).server;
  }

  /** Servers, optionally those matching a label selector (all pages). */
  listServers(labelSelector?: string, opts: CallOptions = {}): Promise<Server[]> {
    return this.#listAll<Server>('list-servers', 'servers', 'servers', labelSelector ? { label_selector: labelSelector } : {}, opts);
  }

  /** A private network by id or name; a missing one is a not-found error naming it. */
  async findNetwork(idOrName: string, opts: CallOptions = {}): Promise<Network> {
    if (/^\d+$/.test(idOrName)) return (await this.#get<{ network: Network }>('get-network', `networks/${idOrName}`, {}, opts)).network;
    const found = await this.#listAll<Network>('list-networks', 'networks', 'networks', { name: idOrName }, opts);
    const net = found.find((n) => n.name === idOrName);
    if (!net) throw new CloudApiError('hetzner', 'not-found', `hetzner: no network named ${JSON.stringify(idOrName)} in this project`);
    return net;
  }

  /** POST /floating_ips/{id}/actions/assign: the action (poll it with waitAction). */
  assignFloatingIp(id: number, server: number, opts: CallOptions = {}): Promise<Action> {
    return this.#action('assign-floating-ip', `floating_ips/${id}/actions/assign`, { server }, opts);
  }

  unassignFloatingIp(id: number, opts: CallOptions = {}): Promise<Action> {
    return this.#action('unassign-floating-ip', `floating_ips/${id}/actions/unassign`, {}, opts);
  }

  /** Replaces the server's whole alias IP list on `network` (keep the ones you do not mean to drop). */
  changeAliasIps(server: number, network: number, aliasIps: string[], opts: CallOptions = {}): Promise<Action> {
    return this.#action('change-alias-ips', `servers/${server}/actions/change_alias_ips`, { network, alias_ips: aliasIps }, opts);
  }

  /** Polls GET /actions/{id} until success; an action ending in error is an `invalid` error with its code. */
  async waitAction(action: Action, what: string, opts: CallOptions = {}): Promise<Action> {
    if (action.status === 'success') return action;
    if (action.status === 'error') throw actionFailed(action, what);
    return pollUntilDone<Action>(
      async () => {
        const { action: a } = await this.#get<{ action: Action }>('get-action', `actions/${action.id}`, {}, opts);
        if (a.status === 'running') return { done: false };
        if (a.status === 'error') throw actionFailed(a, what);
        return { done: true, value: a };
      },
      {
        cloud: 'hetzner',
        what: `hetzner: ${what} (action ${action.id})`,
        fastIntervalMs: this.pollIntervalMs,
        fastForMs: 10_000,
        slowIntervalMs: 1_000,
        timeoutMs: this.#opts.actionTimeoutMs ?? 60_000,
        ...(opts.signal ? { signal: opts.signal } : {}),
      },
    );
  }

  // ------------------------------------------------------------------ plumbing

  #get<T>(call: string, path: string, query: CloudRequest['query'], opts: CallOptions): Promise<T> {
    return this.http.getJson<T>(path, { call, ...(query ? { query } : {}), ...(opts.signal ? { signal: opts.signal } : {}) });
  }

  async #action(call: string, path: string, json: unknown, opts: CallOptions): Promise<Action> {
    const res = await this.http.request('POST', path, { call, json, ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.resend ? { resend: opts.resend } : {}), ...(opts.once ? { retry: false as const } : {}) });
    const body = this.http.parseJson<{ action?: Action }>(res, `POST ${path}`);
    if (!body.action || typeof body.action.id !== 'number') {
      throw new CloudApiError('hetzner', 'invalid', `hetzner: POST ${path}: the answer has no action`, { status: res.status });
    }
    return body.action;
  }

  async #listAll<T>(call: string, path: string, key: string, query: Record<string, string>, opts: CallOptions): Promise<T[]> {
    const out: T[] = [];
    for (let page = 1; page <= MAX_PAGES; page++) {
      const body = await this.#get<Record<string, unknown> & { meta?: ListMeta }>(call, path, { ...query, page, per_page: PER_PAGE }, opts);
      const items = body[key];
      if (!Array.isArray(items)) throw new CloudApiError('hetzner', 'invalid', `hetzner: GET /${path}: the answer has no "${key}" list`);
      out.push(...(items as T[]));
      const next = body.meta?.pagination?.next_page;
      if (next === null || next === undefined) return out;
    }
    throw new CloudApiError('hetzner', 'invalid', `hetzner: GET /${path}: more than ${MAX_PAGES} pages`);
  }
}

function actionFailed(a: Action, what: string): CloudApiError {
  return new CloudApiError('hetzner', 'invalid', `hetzner: ${what}: action ${a.id} (${a.command}) failed: ${a.error?.code ?? 'error'}: ${a.error?.message ?? 'no message'}`, {
    code: a.error?.code ?? 'action_failed',
  });
}
