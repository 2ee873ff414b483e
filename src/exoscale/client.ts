/**
 * Exoscale API v2 client: the calls an Elastic-IP mover needs, signed with
 * EXO2-HMAC-SHA256, each retried (network errors, 429 honouring Retry-After, 5xx)
 * under an overall deadline through src/util/retry.ts; 4xx fail fast.
 *
 * The secret lives in a private field and never reaches a log line or an error message.
 */
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { silentLogger } from '../log.js';
import type { Logger } from '../plugins/api.js';
import { retry } from '../util/retry.js';
import {
  ExoscaleApiError,
  ExoscaleConfigError,
  ExoscaleError,
  ExoscaleNetworkError,
  ExoscaleNotFoundError,
  ExoscaleOperationError,
  ExoscaleTimeoutError,
  ExoscaleVerifyError,
  ExoscaleWaitTimeoutError,
  bodyMessage,
  isRetryable,
  parseRetryAfter,
  redactSecrets,
} from './errors.js';
import { HttpAbortError, HttpTimeoutError, httpRequest } from '../cloud/http-exchange.js';
import { attemptTimeoutMs } from '../cloud/http.js';
import { DEFAULT_EXPIRY_SECONDS, expiryFrom, signRequest } from './signature.js';
import type { ElasticIp, Instance, InstanceSummary, Operation, SecurityGroup, Zone } from './types.js';
import { isUuid } from './types.js';

/** `https://api-<zone>.exoscale.com/v2`. */
export function defaultEndpoint(zone: string): string {
  return `https://api-${zone}.exoscale.com/v2`;
}

/** One HTTP attempt, reported to `onCall` (for metrics). */
export interface ApiCallEvent {
  /** OpenAPI operation id, e.g. "attach-instance-to-elastic-ip". */
  call: string;
  method: string;
  /** Path without the endpoint prefix, e.g. "/elastic-ip/<id>:attach". */
  path: string;
  /** 1 for the first try. */
  attempt: number;
  /** HTTP status; undefined when no response arrived (network error, timeout). */
  status?: number;
  durationMs: number;
  /** One-line error message when the attempt failed (never contains secrets). */
  error?: string;
}

export interface ExoscaleClientOptions {
  /** API key ("EXO…"). */
  apiKey: string;
  /** API secret; kept private, never logged. */
  apiSecret: string;
  /** Zone name, e.g. "ch-gva-2". */
  zone: string;
  /** Base URL including "/v2" (default https://api-<zone>.exoscale.com/v2); e.g. a simulator. */
  endpoint?: string;
  log?: Logger;
  /** Budget of one HTTP attempt (default 10 s): with firstTimeoutMs, the longest an attempt waits. */
  timeoutMs?: number;
  /** The first attempt's budget, doubled per retry up to timeoutMs (default: timeoutMs for every attempt). */
  firstTimeoutMs?: number;
  /** Budget of one call, retries included (default 30 s). */
  deadlineMs?: number;
  /** Retries after the first attempt (default 6), within the deadline. */
  retries?: number;
  /** First backoff (default 200 ms); doubles, jittered, up to retryMaxDelayMs (default 5 s). */
  retryMinDelayMs?: number;
  retryMaxDelayMs?: number;
  /** Interval between operation polls (default 1 s). */
  pollIntervalMs?: number;
  /** How long waitOperation waits for a pending operation (default 120 s). */
  waitTimeoutMs?: number;
  /** Signature validity (default 600 s, as the official clients). */
  expirySeconds?: number;
  userAgent?: string;
  /** Called after every HTTP attempt (exceptions it throws are ignored). */
  onCall?: (event: ApiCallEvent) => void;
  /** Wall clock in ms used for signing (default Date.now; tests use it to skew the clock). */
  clock?: () => number;
}

/** Per-call options. */
export interface CallOptions {
  signal?: AbortSignal;
  /** Overrides the client's deadlineMs for this call. */
  deadlineMs?: number;
  /**
   * Once aborted, no further attempt is sent (the last attempt's error is thrown); an attempt in flight
   * is not cut. For changes: a node that left MASTER must not re-send a timed-out detach or attach,
   * which would land after it (src/cloud/provider.ts CallOptions.resend).
   */
  resend?: AbortSignal;
}

export interface WaitOptions extends CallOptions {
  timeoutMs?: number;
  pollIntervalMs?: number;
  /** Human action named in errors (default "wait for operation <id>"). */
  what?: string;
  /** Operation id named in errors (default "get-operation"). */
  call?: string;
}

export interface ListInstancesFilter {
  /** Server-side `ip-address` filter: instances whose public IP or attached Elastic IP is this address. */
  ipAddress?: string;
  managerId?: string;
  managerType?: 'instance-pool';
  /** Client-side filter: every label must match (the server-side format is not documented). */
  labels?: Record<string, string>;
}

export interface EnsureResult {
  /** False when the state was already as wanted. */
  changed: boolean;
  elasticIp: ElasticIp;
  /** The operation that made the change, when there was one. */
  operation?: Operation;
}

export interface ExclusiveResult {
  /** Whether this call attached the EIP to the instance. */
  attached: boolean;
  elasticIp: ElasticIp;
  /** Instances it was detached from. */
  detachedFrom: string[];
}

// ---------------------------------------------------------------- response shapes

const refSchema = z.looseObject({ id: z.string() });
const zoneSchema = z.looseObject({ name: z.string() });
const elasticIpSchema = z.looseObject({ id: z.string(), ip: z.string() });
const instanceSummarySchema = z.looseObject({
  id: z.string(),
  name: z.string().optional(),
  state: z.string().optional(),
  'public-ip': z.string().optional(),
  'security-groups': z.array(refSchema).optional(),
  labels: z.record(z.string(), z.string()).optional(),
});
const instanceSchema = instanceSummarySchema.extend({ 'elastic-ips': z.array(refSchema).optional() });
const securityGroupSchema = z.looseObject({ id: z.string(), name: z.string() });
const operationSchema = z.looseObject({
  id: z.string(),
  state: z.enum(['pending', 'success', 'failure', 'timeout']),
  reason: z.string().optional(),
  message: z.string().optional(),
});

const listOf = <S extends z.ZodType>(key: string, item: S) => z.looseObject({ [key]: z.array(item).optional() });

interface RequestSpec {
  call: string;
  what: string;
  method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  path: string;
  query?: Record<string, string | undefined>;
  body?: unknown;
  schema: z.ZodType;
}

const ZONE_RE = /^[a-z]{2}-[a-z]{3}-\d+$/;

function positive(name: string, value: number | undefined, fallback: number, allowZero = false): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new ExoscaleConfigError(`exoscale: ${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${value}`);
  }
  return value;
}

export class ExoscaleClient {
  readonly zone: string;
  /** Base URL, "/v2" included, no trailing slash. */
  readonly endpoint: string;
  readonly apiKey: string;
  readonly #secret: string;
  readonly #agent: http.Agent;
  readonly #log: Logger;
  readonly #timeoutMs: number;
  readonly #firstTimeoutMs: number | undefined;
  readonly #deadlineMs: number;
  readonly #retries: number;
  readonly #minDelay: number;
  readonly #maxDelay: number;
  readonly #pollIntervalMs: number;
  readonly #waitTimeoutMs: number;
  readonly #expirySeconds: number;
  readonly #userAgent: string;
  readonly #onCall: ((event: ApiCallEvent) => void) | undefined;
  readonly #clock: () => number;
  /** EIP id -> address, learnt from responses, to name EIPs by address in messages. */
  readonly #eipNames = new Map<string, string>();

  constructor(opts: ExoscaleClientOptions) {
    if (typeof opts.apiKey !== 'string' || !/^\S+$/.test(opts.apiKey)) {
      throw new ExoscaleConfigError('exoscale: apiKey is missing or contains whitespace');
    }
    if (typeof opts.apiSecret !== 'string' || opts.apiSecret === '') {
      throw new ExoscaleConfigError('exoscale: apiSecret is missing');
    }
    if (typeof opts.zone !== 'string' || !ZONE_RE.test(opts.zone)) {
      throw new ExoscaleConfigError(`exoscale: zone ${JSON.stringify(opts.zone)} is not a zone name like "ch-gva-2"`);
    }
    const endpoint = opts.endpoint ?? defaultEndpoint(opts.zone);
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw new ExoscaleConfigError(`exoscale: endpoint ${JSON.stringify(endpoint)} is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new ExoscaleConfigError(`exoscale: endpoint ${JSON.stringify(endpoint)} must be http:// or https://`);
    }
    if (url.search || url.hash || url.username || url.password) {
      throw new ExoscaleConfigError(`exoscale: endpoint ${JSON.stringify(endpoint)} must not carry a query, fragment or credentials`);
    }
    this.zone = opts.zone;
    this.endpoint = url.toString().replace(/\/+$/, '');
    this.apiKey = opts.apiKey;
    this.#secret = opts.apiSecret;
    this.#log = opts.log ?? silentLogger;
    this.#timeoutMs = positive('timeoutMs', opts.timeoutMs, 10_000);
    this.#firstTimeoutMs = opts.firstTimeoutMs === undefined ? undefined : positive('firstTimeoutMs', opts.firstTimeoutMs, 10_000);
    this.#deadlineMs = positive('deadlineMs', opts.deadlineMs, 30_000);
    this.#retries = Math.floor(positive('retries', opts.retries, 6, true));
    this.#minDelay = positive('retryMinDelayMs', opts.retryMinDelayMs, 200, true);
    this.#maxDelay = Math.max(this.#minDelay, positive('retryMaxDelayMs', opts.retryMaxDelayMs, 5_000, true));
    this.#pollIntervalMs = positive('pollIntervalMs', opts.pollIntervalMs, 1_000);
    this.#waitTimeoutMs = positive('waitTimeoutMs', opts.waitTimeoutMs, 120_000);
    this.#expirySeconds = Math.floor(positive('expirySeconds', opts.expirySeconds, DEFAULT_EXPIRY_SECONDS));
    this.#userAgent = opts.userAgent ?? `ipwarden (node ${process.version}; ${process.platform}/${process.arch})`;
    this.#onCall = opts.onCall;
    this.#clock = opts.clock ?? Date.now;
    const agentOpts = { keepAlive: true, maxSockets: 8 };
    this.#agent = url.protocol === 'https:' ? new https.Agent(agentOpts) : new http.Agent(agentOpts);
  }

  /** Closes idle keep-alive connections. The client stays usable (new connections are opened). */
  close(): void {
    this.#agent.destroy();
  }

  /** Never shows the secret when the client is logged or inspected. */
  toJSON(): Record<string, string> {
    return { zone: this.zone, endpoint: this.endpoint, apiKey: this.apiKey };
  }

  // ------------------------------------------------------------------ zones

  async listZones(opts?: CallOptions): Promise<Zone[]> {
    const res = await this.#request<{ zones?: Zone[] }>(
      { call: 'list-zones', what: 'list zones', method: 'GET', path: '/zone', schema: listOf('zones', zoneSchema) },
      opts,
    );
    return res.zones ?? [];
  }

  // ------------------------------------------------------------------ elastic IPs

  async listElasticIps(opts?: CallOptions): Promise<ElasticIp[]> {
    const res = await this.#request<{ 'elastic-ips'?: ElasticIp[] }>(
      {
        call: 'list-elastic-ips',
        what: 'list elastic-ips',
        method: 'GET',
        path: '/elastic-ip',
        schema: listOf('elastic-ips', elasticIpSchema),
      },
      opts,
    );
    const list = res['elastic-ips'] ?? [];
    for (const e of list) this.#eipNames.set(e.id, e.ip);
    return list;
  }

  async getElasticIp(id: string, opts?: CallOptions): Promise<ElasticIp> {
    const what = `get elastic-ip ${this.#eipName(id)}`;
    requireUuid(id, what, 'elastic-ip id');
    const eip = await this.#request<ElasticIp>(
      { call: 'get-elastic-ip', what, method: 'GET', path: `/elastic-ip/${id}`, schema: elasticIpSchema },
      opts,
    );
    this.#eipNames.set(eip.id, eip.ip);
    return eip;
  }

  /** The EIP whose `ip` is this address, or undefined. */
  async findElasticIpByAddress(address: string, opts?: CallOptions): Promise<ElasticIp | undefined> {
    requireIp(address, `find elastic-ip ${address}`);
    const wanted = address.toLowerCase();
    return (await this.listElasticIps(opts)).find((e) => e.ip.toLowerCase() === wanted);
  }

  /** An EIP by UUID or by address; throws ExoscaleNotFoundError when there is none. */
  async resolveElasticIp(idOrAddress: string, opts?: CallOptions): Promise<ElasticIp> {
    if (isUuid(idOrAddress)) return this.getElasticIp(idOrAddress, opts);
    const eip = await this.findElasticIpByAddress(idOrAddress, opts);
    if (!eip) {
      throw new ExoscaleNotFoundError(
        'list-elastic-ips',
        `find elastic-ip ${idOrAddress}`,
        `no elastic-ip with this address in zone ${this.zone}`,
      );
    }
    return eip;
  }

  /** PUT /elastic-ip/{id}:attach. Returns the operation (see waitOperation). */
  async attachElasticIp(eipId: string, instanceId: string, opts?: CallOptions): Promise<Operation> {
    const what = `attach elastic-ip ${this.#eipName(eipId)} to instance ${instanceId}`;
    requireUuid(eipId, what, 'elastic-ip id');
    requireUuid(instanceId, what, 'instance id');
    return this.#request<Operation>(
      {
        call: 'attach-instance-to-elastic-ip',
        what,
        method: 'PUT',
        path: `/elastic-ip/${eipId}:attach`,
        body: { instance: { id: instanceId } },
        schema: operationSchema,
      },
      opts,
    );
  }

  /** PUT /elastic-ip/{id}:detach. Returns the operation (see waitOperation). */
  async detachElasticIp(eipId: string, instanceId: string, opts?: CallOptions): Promise<Operation> {
    const what = `detach elastic-ip ${this.#eipName(eipId)} from instance ${instanceId}`;
    requireUuid(eipId, what, 'elastic-ip id');
    requireUuid(instanceId, what, 'instance id');
    return this.#request<Operation>(
      {
        call: 'detach-instance-from-elastic-ip',
        what,
        method: 'PUT',
        path: `/elastic-ip/${eipId}:detach`,
        body: { instance: { id: instanceId } },
        schema: operationSchema,
      },
      opts,
    );
  }

  // ------------------------------------------------------------------ instances

  async listInstances(filter: ListInstancesFilter = {}, opts?: CallOptions): Promise<InstanceSummary[]> {
    const what = filter.ipAddress ? `list instances holding ${filter.ipAddress}` : 'list instances';
    if (filter.ipAddress !== undefined) requireIp(filter.ipAddress, what);
    if (filter.managerId !== undefined) requireUuid(filter.managerId, what, 'manager id');
    const res = await this.#request<{ instances?: InstanceSummary[] }>(
      {
        call: 'list-instances',
        what,
        method: 'GET',
        path: '/instance',
        query: { 'ip-address': filter.ipAddress, 'manager-id': filter.managerId, 'manager-type': filter.managerType },
        schema: listOf('instances', instanceSummarySchema),
      },
      opts,
    );
    const list = res.instances ?? [];
    const labels = Object.entries(filter.labels ?? {});
    return labels.length === 0 ? list : list.filter((i) => labels.every(([k, v]) => i.labels?.[k] === v));
  }

  /** Instances an address is attached to (GET /instance?ip-address=<ip>). */
  async instancesHolding(address: string, opts?: CallOptions): Promise<InstanceSummary[]> {
    return this.listInstances({ ipAddress: address }, opts);
  }

  async getInstance(id: string, opts?: CallOptions): Promise<Instance> {
    const what = `get instance ${id}`;
    requireUuid(id, what, 'instance id');
    return this.#request<Instance>(
      { call: 'get-instance', what, method: 'GET', path: `/instance/${id}`, schema: instanceSchema },
      opts,
    );
  }

  // ------------------------------------------------------------------ security groups

  async listSecurityGroups(opts?: CallOptions): Promise<SecurityGroup[]> {
    const res = await this.#request<{ 'security-groups'?: SecurityGroup[] }>(
      {
        call: 'list-security-groups',
        what: 'list security-groups',
        method: 'GET',
        path: '/security-group',
        schema: listOf('security-groups', securityGroupSchema),
      },
      opts,
    );
    return res['security-groups'] ?? [];
  }

  async getSecurityGroup(id: string, opts?: CallOptions): Promise<SecurityGroup> {
    const what = `get security-group ${id}`;
    requireUuid(id, what, 'security-group id');
    return this.#request<SecurityGroup>(
      { call: 'get-security-group', what, method: 'GET', path: `/security-group/${id}`, schema: securityGroupSchema },
      opts,
    );
  }

  async findSecurityGroupByName(name: string, opts?: CallOptions): Promise<SecurityGroup | undefined> {
    return (await this.listSecurityGroups(opts)).find((g) => g.name === name);
  }

  /**
   * Instances of this zone in a security group (by name or id): there is no members
   * endpoint, so this lists the groups, then the instances, and keeps those whose
   * `security-groups[].id` contains the group (running ones only unless includeStopped).
   */
  async securityGroupMembers(
    nameOrId: string,
    opts: CallOptions & { includeStopped?: boolean } = {},
  ): Promise<InstanceSummary[]> {
    const groups = await this.listSecurityGroups(opts);
    const group = groups.find((g) => g.id === nameOrId) ?? groups.find((g) => g.name === nameOrId);
    if (!group) {
      throw new ExoscaleNotFoundError('list-security-groups', `find security-group ${nameOrId}`, 'no such security-group');
    }
    const instances = await this.listInstances({}, opts);
    return instances.filter(
      (i) =>
        (i['security-groups'] ?? []).some((g) => g.id === group.id) && (opts.includeStopped || i.state === 'running'),
    );
  }

  // ------------------------------------------------------------------ operations

  async getOperation(id: string, opts?: CallOptions): Promise<Operation> {
    const what = `get operation ${id}`;
    requireUuid(id, what, 'operation id');
    return this.#request<Operation>(
      { call: 'get-operation', what, method: 'GET', path: `/operation/${id}`, schema: operationSchema },
      opts,
    );
  }

  /**
   * Polls GET /operation/{id} until the operation leaves `pending`. Resolves with the
   * operation on success; throws ExoscaleOperationError on failure/timeout, and
   * ExoscaleWaitTimeoutError when still pending after timeoutMs. Tolerates up to 5
   * consecutive transient poll errors.
   */
  async waitOperation(op: Operation | string, opts: WaitOptions = {}): Promise<Operation> {
    const id = typeof op === 'string' ? op : op.id;
    const what = opts.what ?? `wait for operation ${id}`;
    const call = opts.call ?? 'get-operation';
    const timeoutMs = opts.timeoutMs ?? this.#waitTimeoutMs;
    const interval = opts.pollIntervalMs ?? this.#pollIntervalMs;
    const started = performance.now();
    const elapsed = (): number => performance.now() - started;
    let current: Operation | undefined = typeof op === 'string' ? undefined : op;
    let polls = 0;
    let errors = 0;
    for (;;) {
      if (current && current.state !== 'pending') return settle(current, call, what);
      const left = timeoutMs - elapsed();
      if (left <= 0) throw new ExoscaleWaitTimeoutError(call, what, id, elapsed());
      if (current || polls > 0) await sleep(Math.min(interval, left), undefined, { signal: opts.signal });
      polls++;
      try {
        const budget = Math.max(1, Math.min(opts.deadlineMs ?? this.#deadlineMs, timeoutMs - elapsed()));
        current = await this.getOperation(id, { signal: opts.signal, deadlineMs: budget });
        errors = 0;
      } catch (err) {
        if (!isRetryable(err) || ++errors >= 5) throw err;
        if (elapsed() >= timeoutMs) throw new ExoscaleWaitTimeoutError(call, what, id, elapsed());
      }
    }
  }

  // ------------------------------------------------------------------ idempotent helpers

  /**
   * Makes sure the EIP (address or UUID) is attached to the instance: already attached
   * is success (changed=false). After attaching, waits for the operation and reads the
   * instance back to verify. A conflicting answer (duplicate attach from a retried PUT
   * or another actor) is success if the read-back shows the EIP attached.
   */
  async ensureAttached(address: string, instanceId: string, opts: CallOptions = {}): Promise<EnsureResult> {
    const elasticIp = await this.resolveElasticIp(address, opts);
    const what = `attach elastic-ip ${elasticIp.ip} to instance ${instanceId}`;
    requireUuid(instanceId, what, 'instance id');
    if (await this.#holds(instanceId, elasticIp.id, false, opts)) return { changed: false, elasticIp };
    let operation: Operation;
    try {
      const op = await this.attachElasticIp(elasticIp.id, instanceId, opts);
      operation = await this.waitOperation(op, { ...opts, what, call: 'attach-instance-to-elastic-ip' });
    } catch (err) {
      if (isStateConflict(err) && (await this.#holds(instanceId, elasticIp.id, false, opts))) {
        return { changed: true, elasticIp };
      }
      throw err;
    }
    if (!(await this.#holds(instanceId, elasticIp.id, false, opts))) {
      throw new ExoscaleVerifyError(
        'get-instance',
        what,
        `operation ${operation.id} succeeded but the instance does not list the elastic-ip`,
      );
    }
    return { changed: true, elasticIp, operation };
  }

  /**
   * Makes sure the EIP (address or UUID) is not attached to the instance: not attached
   * (or the instance does not exist) is success (changed=false). Verifies by reading back.
   */
  async ensureDetached(address: string, instanceId: string, opts: CallOptions = {}): Promise<EnsureResult> {
    const elasticIp = await this.resolveElasticIp(address, opts);
    return this.#ensureDetached(elasticIp, instanceId, opts);
  }

  /**
   * Make-before-break move: attaches the EIP to the instance (ensureAttached), then
   * detaches it from every other instance holding it.
   */
  async ensureExclusive(address: string, instanceId: string, opts: CallOptions = {}): Promise<ExclusiveResult> {
    const attached = await this.ensureAttached(address, instanceId, opts);
    const holders = await this.instancesHolding(attached.elasticIp.ip, opts);
    const detachedFrom: string[] = [];
    for (const other of holders) {
      if (other.id === instanceId) continue;
      const res = await this.#ensureDetached(attached.elasticIp, other.id, opts);
      if (res.changed) detachedFrom.push(other.id);
    }
    return { attached: attached.changed, elasticIp: attached.elasticIp, detachedFrom };
  }

  async #ensureDetached(elasticIp: ElasticIp, instanceId: string, opts: CallOptions): Promise<EnsureResult> {
    const what = `detach elastic-ip ${elasticIp.ip} from instance ${instanceId}`;
    requireUuid(instanceId, what, 'instance id');
    if (!(await this.#holds(instanceId, elasticIp.id, true, opts))) return { changed: false, elasticIp };
    let operation: Operation;
    try {
      const op = await this.detachElasticIp(elasticIp.id, instanceId, opts);
      operation = await this.waitOperation(op, { ...opts, what, call: 'detach-instance-from-elastic-ip' });
    } catch (err) {
      if (isStateConflict(err) && !(await this.#holds(instanceId, elasticIp.id, true, opts))) {
        return { changed: true, elasticIp };
      }
      throw err;
    }
    if (await this.#holds(instanceId, elasticIp.id, true, opts)) {
      throw new ExoscaleVerifyError(
        'get-instance',
        what,
        `operation ${operation.id} succeeded but the instance still lists the elastic-ip`,
      );
    }
    return { changed: true, elasticIp, operation };
  }

  /** Whether the instance lists the EIP; a missing instance holds nothing when missingIsFalse. */
  async #holds(instanceId: string, eipId: string, missingIsFalse: boolean, opts: CallOptions): Promise<boolean> {
    try {
      const inst = await this.getInstance(instanceId, opts);
      return (inst['elastic-ips'] ?? []).some((e) => e.id === eipId);
    } catch (err) {
      if (missingIsFalse && err instanceof ExoscaleApiError && err.status === 404) return false;
      throw err;
    }
  }

  // ------------------------------------------------------------------ transport

  #eipName(id: string): string {
    return this.#eipNames.get(id) ?? id;
  }

  async #request<T>(spec: RequestSpec, opts: CallOptions = {}): Promise<T> {
    const started = performance.now();
    const deadline = opts.deadlineMs ?? this.#deadlineMs;
    const remaining = (): number => deadline - (performance.now() - started);
    let attempts = 0;
    let lastError: unknown;
    try {
      return await retry(
        async (attempt) => {
          // no longer wanted (resend aborted during the backoff): the last attempt's error stands
          if (attempt > 1 && opts.resend?.aborted) throw lastError;
          attempts = attempt;
          try {
            return (await this.#attempt(spec, attempt, remaining, opts.signal)) as T;
          } catch (err) {
            lastError = err;
            throw err;
          }
        },
        {
          retries: this.#retries,
          minDelay: this.#minDelay,
          maxDelay: this.#maxDelay,
          deadline,
          ...(opts.signal ? { signal: opts.signal } : {}),
          shouldRetry: (err) =>
            isRetryable(err) &&
            !opts.resend?.aborted &&
            remaining() > 0 &&
            !(err instanceof ExoscaleApiError && err.retryAfterMs !== undefined && err.retryAfterMs >= remaining()),
          onRetry: ({ error, attempt, retriesLeft }) =>
            this.#log.warn(
              { call: spec.call, attempt, retriesLeft, err: error instanceof Error ? error.message : String(error) },
              'exoscale API call failed, retrying',
            ),
        },
      );
    } catch (err) {
      if (err instanceof ExoscaleError) throw err.noteAttempts(attempts, performance.now() - started);
      throw err;
    }
  }

  async #attempt(spec: RequestSpec, attempt: number, remaining: () => number, signal?: AbortSignal): Promise<unknown> {
    const url = new URL(this.endpoint + spec.path);
    for (const [k, v] of Object.entries(spec.query ?? {})) if (v !== undefined && v !== '') url.searchParams.set(k, v);
    const body = spec.body === undefined ? undefined : JSON.stringify(spec.body);
    const headers: Record<string, string> = {
      accept: 'application/json',
      'user-agent': this.#userAgent,
      authorization: signRequest({
        apiKey: this.apiKey,
        apiSecret: this.#secret,
        method: spec.method,
        url,
        body: body ?? '',
        expires: expiryFrom(this.#clock(), this.#expirySeconds),
      }),
    };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const timeoutMs = Math.max(50, Math.min(attemptTimeoutMs(attempt, this.#timeoutMs, this.#firstTimeoutMs), remaining()));
    const t0 = performance.now();
    const report = (status: number | undefined, error?: Error): void => {
      const durationMs = performance.now() - t0;
      this.#log.debug({ call: spec.call, attempt, status, ms: Math.round(durationMs) }, 'exoscale API call');
      try {
        this.#onCall?.({
          call: spec.call,
          method: spec.method,
          path: spec.path,
          attempt,
          ...(status !== undefined ? { status } : {}),
          durationMs,
          ...(error ? { error: error.message } : {}),
        });
      } catch {
        // a metrics hook must not break API calls
      }
    };

    let res;
    try {
      res = await httpRequest({
        method: spec.method,
        url,
        headers,
        ...(body !== undefined ? { body } : {}),
        timeoutMs,
        ...(signal ? { signal } : {}),
        agent: this.#agent,
      });
    } catch (err) {
      if (err instanceof HttpAbortError) throw err;
      const e =
        err instanceof HttpTimeoutError
          ? new ExoscaleTimeoutError(spec.call, spec.what, timeoutMs)
          : new ExoscaleNetworkError(
              spec.call,
              spec.what,
              (err as NodeJS.ErrnoException).code,
              this.#redact(err instanceof Error ? err.message : String(err)),
            );
      report(undefined, e);
      throw e;
    }

    if (res.status < 200 || res.status > 299) {
      const retryAfterHeader = res.headers['retry-after'];
      const e = new ExoscaleApiError(
        spec.call,
        spec.what,
        res.status,
        this.#redact(bodyMessage(res.body)),
        res.status === 429 || res.status === 503
          ? parseRetryAfter(Array.isArray(retryAfterHeader) ? retryAfterHeader[0] : retryAfterHeader, res.body, Date.now())
          : undefined,
      );
      report(res.status, e);
      // Honour Retry-After when another attempt will fit in the deadline (the retry
      // helper's own, shorter backoff follows).
      if (e.retryable && e.retryAfterMs !== undefined && e.retryAfterMs < remaining() && attempt <= this.#retries) {
        await sleep(e.retryAfterMs, undefined, signal ? { signal } : {});
      }
      throw e;
    }

    let json: unknown;
    try {
      json = res.body.trim() === '' ? {} : JSON.parse(res.body);
    } catch {
      const e = new ExoscaleApiError(spec.call, spec.what, res.status, 'response body is not JSON');
      report(res.status, e);
      throw e;
    }
    const parsed = spec.schema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const e = new ExoscaleApiError(
        spec.call,
        spec.what,
        res.status,
        `unexpected response: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`,
      );
      report(res.status, e);
      throw e;
    }
    report(res.status);
    return parsed.data;
  }

  #redact(text: string): string {
    return redactSecrets(text, [this.#secret]);
  }
}

function settle(op: Operation, call: string, what: string): Operation {
  if (op.state === 'success') return op;
  throw new ExoscaleOperationError(call, what, op.id, op.state, op.reason, op.message);
}

/** Answers that may mean "already in the wanted state": failed operation, 400, 409. */
function isStateConflict(err: unknown): boolean {
  return (
    (err instanceof ExoscaleOperationError && err.state === 'failure') ||
    (err instanceof ExoscaleApiError && (err.status === 400 || err.status === 409))
  );
}

function requireUuid(id: string, what: string, field: string): void {
  if (typeof id !== 'string' || !isUuid(id)) {
    throw new ExoscaleConfigError(`exoscale: ${what}: ${field} ${JSON.stringify(id)} is not a UUID`);
  }
}

function requireIp(address: string, what: string): void {
  if (typeof address !== 'string' || isIP(address) === 0) {
    throw new ExoscaleConfigError(`exoscale: ${what}: ${JSON.stringify(address)} is not an IP address`);
  }
}
