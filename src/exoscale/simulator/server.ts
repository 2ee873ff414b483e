/**
 * A local Exoscale API v2 simulator (node:http, no dependencies) on one port:
 *   /v2/...                  the API subset ipwarden uses, same paths, methods, JSON shapes,
 *                            EXO2-HMAC-SHA256 verification, async operations, fault injection
 *   /_meta/<id>/latest/meta-data/<key>   the metadata server of one simulated instance
 *   /latest/meta-data/<key>  the metadata server answering by source address (public IP)
 *   /_sim/...                the admin API (see admin.ts, SIMULATOR.md)
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { silentLogger, type Logger } from '../../log.js';
import { verifyRequest, type VerifyFailure } from '../signature.js';
import { isUuid } from '../types.js';
import { handleAdmin } from './admin.js';
import type { FaultRuleInput } from './faults.js';
import { BodyTooLargeError, parseJsonBody, readBody, sendJson, sendText } from '../../cloud/simulator-kit/respond.js';
import { callerAddressOf } from '../../cloud/simulator-kit/server.js';
import {
  DEFAULT_SIM_API_KEY,
  DEFAULT_SIM_API_SECRET,
  DEFAULT_SIM_ZONE,
  defaultSeed,
  type ElasticIpInput,
  type InstanceInput,
  type SecurityGroupInput,
} from './seed.js';
import {
  SimulatorState,
  renderElasticIp,
  renderInstance,
  renderInstanceSummary,
  renderSecurityGroup,
  type DuplicateMode,
  type SimInstance,
} from './state.js';

export const ZONES = ['at-vie-1', 'at-vie-2', 'bg-sof-1', 'ch-dk-2', 'ch-gva-2', 'de-fra-1', 'de-muc-1', 'hr-zag-1'];

export interface SimulatorOptions {
  /** Default 0 (an ephemeral port). */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default ch-gva-2. */
  zone?: string;
  /** API key -> secret (default: the simulator test key, see seed.ts). */
  keys?: Record<string, string>;
  /** World to start with. When none of the three is given, the default lab seed is used. */
  securityGroups?: SecurityGroupInput[];
  instances?: InstanceInput[];
  elasticIps?: ElasticIpInput[];
  /** Alias of elasticIps. */
  eips?: ElasticIpInput[];
  /** Time from attach/detach to the operation's completion (default 300 ms). */
  operationDelayMs?: number;
  /** Duplicate attach / detach-not-attached behaviour (default operation-failure). */
  duplicates?: DuplicateMode;
  faults?: FaultRuleInput[];
  /** Seed of the fault PRNG (reproducible rate-based faults). */
  faultSeed?: number;
  /** Require signed-query-args to list every single-valued query parameter (default true). */
  strictSignedQuery?: boolean;
  /** Accept expired signatures up to this many seconds late (default 0). */
  clockSkewSeconds?: number;
  /** Reject expiries further ahead than this (default: no limit; the real limit is unknown). */
  maxExpirySeconds?: number;
  log?: Logger;
}

export interface RunningSimulator {
  /** http://host:port (no path). */
  url: string;
  /** The API endpoint to give the client: url + "/v2". */
  endpoint: string;
  host: string;
  port: number;
  zone: string;
  state: SimulatorState;
  /** API key -> secret; mutable at runtime (also via /_sim/keys). */
  keys: Map<string, string>;
  /** Metadata URL of a simulated instance (id or name) for a key (default instance-id). */
  metadataUrl(instance: string, key?: string): string;
  /**
   * Serves a connection accepted elsewhere (a relay's Unix socket) as if it had arrived on the
   * listening port: one hop instead of a second connection to that port. Its caller address is empty.
   */
  accept(socket: Duplex): void;
  close(): Promise<void>;
}

const AUTH_MESSAGES: Record<VerifyFailure, string> = {
  missing: 'Missing request signature',
  malformed: 'Invalid request signature',
  'unknown-key': 'Invalid API key',
  'bad-signature': 'Invalid request signature',
  'unsigned-query': 'Invalid request signature',
  expired: 'Request expired',
};

interface ApiContext {
  state: SimulatorState;
  params: string[];
  query: URLSearchParams;
  body: Buffer;
  req: IncomingMessage;
}

interface ApiAnswer {
  status: number;
  body: unknown;
}

interface Route {
  call: string;
  handler: (ctx: ApiContext) => ApiAnswer;
  params: string[];
}

export async function startSimulator(opts: SimulatorOptions = {}): Promise<RunningSimulator> {
  const zone = opts.zone ?? DEFAULT_SIM_ZONE;
  const host = opts.host ?? '127.0.0.1';
  const log = opts.log ?? silentLogger;
  const elasticIps = opts.elasticIps ?? opts.eips;
  const seeded = opts.securityGroups === undefined && opts.instances === undefined && elasticIps === undefined;
  const seed = seeded
    ? defaultSeed()
    : {
        securityGroups: opts.securityGroups ?? [],
        instances: opts.instances ?? [],
        elasticIps: elasticIps ?? [],
      };
  const state = new SimulatorState({
    zone,
    seed,
    config: {
      ...(opts.operationDelayMs !== undefined ? { operationDelayMs: opts.operationDelayMs } : {}),
      ...(opts.duplicates !== undefined ? { duplicates: opts.duplicates } : {}),
    },
    ...(opts.faults ? { faults: opts.faults } : {}),
    ...(opts.faultSeed !== undefined ? { faultSeed: opts.faultSeed } : {}),
  });
  const keys = new Map(Object.entries(opts.keys ?? { [DEFAULT_SIM_API_KEY]: DEFAULT_SIM_API_SECRET }));
  const closing = new AbortController();

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err: (err as Error).message }, 'simulator: request handler failed');
      sendJson(res, 500, { message: 'Internal simulator error' });
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const rawUrl = req.url ?? '/';
    const path = rawUrl.split('?', 1)[0]!;
    if (path === '/_sim' || path.startsWith('/_sim/')) return handleAdmin(req, res, { state, keys });
    if (path.startsWith('/_meta/') || /^\/(latest|1\.0)\/meta-data(\/|$)/.test(path)) return handleMetadata(req, res, path);
    if (path === '/v2' || path.startsWith('/v2/')) return handleApi(req, res, rawUrl, path);
    sendText(res, 404, 'Not Found');
  }

  /** `loseAnswer`: go on with the call, then drop the connection instead of answering. */
  async function applyRequestFaults(call: string, res: ServerResponse): Promise<{ done: boolean; fault?: string; loseAnswer?: boolean }> {
    const faults = state.faults.forRequest(call);
    if (faults.delayMs > 0) {
      try {
        await sleep(faults.delayMs, undefined, { signal: closing.signal });
      } catch {
        return { done: true };
      }
    }
    const outcome = faults.outcome;
    if (!outcome) return { done: false };
    switch (outcome.kind) {
      case 'hang':
        // never answered: the socket stays open until the client gives up or the simulator closes
        return { done: true, fault: 'hang' };
      case 'rate-limit':
        sendJson(
          res,
          429,
          { error: 'Too Many Requests', retry_after: outcome.retryAfterSeconds },
          outcome.retryAfterSeconds > 0 ? { 'retry-after': String(outcome.retryAfterSeconds) } : {},
        );
        return { done: true, fault: 'rate-limit' };
      case 'error':
        sendJson(res, outcome.status, { message: outcome.message });
        return { done: true, fault: `error ${outcome.status}` };
      case 'lose-answer':
        return { done: false, fault: 'lose-answer', loseAnswer: true };
    }
  }

  async function handleApi(req: IncomingMessage, res: ServerResponse, rawUrl: string, path: string): Promise<void> {
    const started = performance.now();
    const method = req.method ?? 'GET';
    let route: Route | 'bad-path' | undefined;
    try {
      route = matchRoute(method, path);
    } catch {
      route = 'bad-path';
    }
    const call = typeof route === 'object' ? route.call : 'unknown';
    const record = (status: number | null, extra: { apiKey?: string; fault?: string } = {}): void => {
      state.recordRequest({ method, path, call, status, caller: callerAddressOf(req), ...extra, durationMs: Math.round(performance.now() - started) });
    };

    let body: Buffer;
    try {
      body = await readBody(req);
    } catch (err) {
      if (err instanceof BodyTooLargeError) {
        sendJson(res, 413, { message: 'Request body too large' });
        record(413);
        return;
      }
      throw err;
    }

    const fault = await applyRequestFaults(call, res);
    if (fault.done) {
      record(res.headersSent ? res.statusCode : null, fault.fault ? { fault: fault.fault } : {});
      return;
    }

    const authorization = req.headers.authorization;
    let apiKey: string | undefined;
    if (!(call === 'list-zones' && authorization === undefined)) {
      const nowSeconds = Math.floor(Date.now() / 1000);
      const verdict = verifyRequest({
        authorization,
        method,
        rawUrl,
        body,
        lookupSecret: (k) => keys.get(k),
        nowSeconds,
        strictQuery: opts.strictSignedQuery ?? true,
        clockSkewSeconds: opts.clockSkewSeconds ?? 0,
        ...(opts.maxExpirySeconds !== undefined ? { maxExpirySeconds: opts.maxExpirySeconds } : {}),
      });
      if (!verdict.ok) {
        log.debug({ call, failure: verdict.failure, detail: verdict.detail }, 'simulator: request rejected');
        if (fault.loseAnswer) return loseAnswer(req, () => record(null, { fault: `auth ${verdict.failure}; lose-answer` }));
        sendJson(res, 403, { message: AUTH_MESSAGES[verdict.failure] });
        record(403, { fault: `auth ${verdict.failure}` });
        return;
      }
      apiKey = verdict.apiKey;
    }

    let answer: ApiAnswer;
    if (route === 'bad-path') answer = { status: 400, body: { message: 'Invalid path encoding' } };
    else if (route === undefined) answer = { status: 404, body: { message: 'Not found' } };
    else {
      const query = new URLSearchParams(rawUrl.includes('?') ? rawUrl.slice(rawUrl.indexOf('?') + 1) : '');
      answer = route.handler({ state, params: route.params, query, body, req });
    }
    if (fault.loseAnswer) return loseAnswer(req, () => record(null, { ...(apiKey ? { apiKey } : {}), fault: 'lose-answer' }));
    sendJson(res, answer.status, answer.body);
    record(answer.status, apiKey ? { apiKey } : {});
  }

  /** "Change applied, answer lost": the call ran; the client sees the connection drop. */
  function loseAnswer(req: IncomingMessage, record?: () => void): void {
    record?.();
    req.socket.destroy();
  }

  async function handleMetadata(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const fault = await applyRequestFaults('metadata', res);
    if (fault.done) return;
    if (fault.loseAnswer) return loseAnswer(req);
    let inst: SimInstance | undefined;
    let rest: string;
    const m = /^\/_meta\/([^/]+)(\/.*)?$/.exec(path);
    if (m) {
      inst = state.findInstance(decodeURIComponent(m[1]!));
      rest = m[2] ?? '/';
    } else {
      inst = state.instanceByAddress(req.socket.remoteAddress ?? '');
      rest = path;
    }
    const km = /^\/(latest|1\.0)\/meta-data\/?([^/]*)$/.exec(rest);
    if (!inst || !km || (req.method !== 'GET' && req.method !== 'HEAD')) return sendText(res, 404, 'Not Found');
    const values = metadataValues(inst, zone);
    const key = km[2]!;
    if (key === '') return sendText(res, 200, Object.keys(values).join('\n'));
    const value = values[key];
    if (value === undefined) return sendText(res, 404, 'Not Found');
    sendText(res, 200, value);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;
  const url = `http://${urlHost}:${port}`;
  let closed: Promise<void> | undefined;

  return {
    url,
    endpoint: `${url}/v2`,
    host,
    port,
    zone,
    state,
    keys,
    metadataUrl(instance: string, key = 'instance-id'): string {
      const id = state.findInstance(instance)?.id ?? instance;
      return `${url}/_meta/${encodeURIComponent(id)}/latest/meta-data/${key}`;
    },
    accept: (socket) => void server.emit('connection', socket),
    close(): Promise<void> {
      closed ??= new Promise<void>((resolve) => {
        closing.abort();
        state.dispose();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

// ---------------------------------------------------------------- API routes

const OK = (body: unknown): ApiAnswer => ({ status: 200, body });
const ERR = (status: number, message: string): ApiAnswer => ({ status, body: { message } });

function matchRoute(method: string, path: string): Route | undefined {
  const segs = path.split('/').slice(2).map(decodeURIComponent); // after "", "v2"
  const [resource, id, ...extra] = segs;
  if (extra.length > 0 || (segs.length === 2 && id === '')) return undefined;
  const get = method === 'GET' || method === 'HEAD';
  const r = (call: string, handler: Route['handler'], params: string[] = []): Route => ({ call, handler, params });
  switch (resource) {
    case 'zone':
      if (id === undefined && get) return r('list-zones', listZones);
      break;
    case 'elastic-ip': {
      if (id === undefined) return get ? r('list-elastic-ips', listElasticIps) : undefined;
      const action = /^(.*):(attach|detach)$/.exec(id);
      if (action && method === 'PUT') {
        return action[2] === 'attach'
          ? r('attach-instance-to-elastic-ip', attachOrDetach('attach'), [action[1]!])
          : r('detach-instance-from-elastic-ip', attachOrDetach('detach'), [action[1]!]);
      }
      if (!action && get) return r('get-elastic-ip', getElasticIp, [id]);
      break;
    }
    case 'instance':
      if (id === undefined && get) return r('list-instances', listInstances);
      if (id !== undefined && get) return r('get-instance', getInstance, [id]);
      break;
    case 'security-group':
      if (id === undefined && get) return r('list-security-groups', listSecurityGroups);
      if (id !== undefined && get) return r('get-security-group', getSecurityGroup, [id]);
      break;
    case 'operation':
      if (id !== undefined && get) return r('get-operation', getOperation, [id]);
      break;
  }
  return undefined;
}

function badId(id: string): ApiAnswer | undefined {
  return isUuid(id) ? undefined : ERR(400, `Invalid id: ${JSON.stringify(id.slice(0, 64))} is not a UUID`);
}

function listZones({ state, req }: ApiContext): ApiAnswer {
  const self = `http://${req.headers.host ?? 'localhost'}/v2`;
  return OK({
    zones: ZONES.map((name) => ({
      name,
      'api-endpoint': name === state.zone ? self : `https://api-${name}.exoscale.com/v2`,
      'sos-endpoint': `https://sos-${name}.exo.io`,
    })),
  });
}

function listElasticIps({ state }: ApiContext): ApiAnswer {
  return OK({ 'elastic-ips': state.elasticIps().map(renderElasticIp) });
}

function getElasticIp({ state, params }: ApiContext): ApiAnswer {
  const id = params[0]!;
  const bad = badId(id);
  if (bad) return bad;
  const eip = state.findElasticIp(id.toLowerCase());
  return eip ? OK(renderElasticIp(eip)) : ERR(404, 'Elastic IP not found');
}

function attachOrDetach(kind: 'attach' | 'detach'): Route['handler'] {
  return ({ state, params, body }) => {
    const id = params[0]!;
    const bad = badId(id);
    if (bad) return bad;
    const eip = state.findElasticIp(id.toLowerCase());
    if (!eip) return ERR(404, 'Elastic IP not found');
    let json: unknown;
    try {
      json = parseJsonBody(body);
    } catch {
      return ERR(400, 'Invalid request body: not valid JSON');
    }
    const instance = (json as { instance?: { id?: unknown } } | undefined)?.instance;
    if (!instance || typeof instance !== 'object') return ERR(400, 'Invalid request body: instance is required');
    if (typeof instance.id !== 'string') return ERR(400, 'Invalid request body: instance.id is required');
    if (!isUuid(instance.id)) return ERR(400, `Invalid request body: instance.id ${JSON.stringify(instance.id.slice(0, 64))} is not a UUID`);
    const inst = state.findInstance(instance.id.toLowerCase());
    if (!inst || inst.id !== instance.id.toLowerCase()) return ERR(404, 'Instance not found');
    if (state.config.duplicates === 'http-conflict') {
      const attached = eip.holders.has(inst.id);
      if (kind === 'attach' && attached) return ERR(409, 'Instance is already attached to this Elastic IP');
      if (kind === 'detach' && !attached) return ERR(409, 'Instance is not attached to this Elastic IP');
    }
    const call = kind === 'attach' ? 'attach-instance-to-elastic-ip' : 'detach-instance-from-elastic-ip';
    return OK(state.startOperation(kind, eip.id, inst.id, state.faults.forOperation(call)));
  };
}

/** `labels` filter: space-separated k=v pairs, all must match (format per Exoscale's karpenter provider). */
function labelsMatch(filter: string, labels: Record<string, string>): boolean {
  return filter
    .split(' ')
    .filter((p) => p !== '')
    .every((pair) => {
      const eq = pair.indexOf('=');
      return eq < 0 ? pair in labels : labels[pair.slice(0, eq)] === pair.slice(eq + 1);
    });
}

function listInstances({ state, query }: ApiContext): ApiAnswer {
  const ip = query.get('ip-address');
  const managerId = query.get('manager-id');
  const managerType = query.get('manager-type');
  const labels = query.get('labels');
  if (managerType !== null && managerType !== 'instance-pool') {
    return ERR(400, `Invalid value for manager-type: ${JSON.stringify(managerType)}`);
  }
  if (managerId !== null && !isUuid(managerId)) return ERR(400, `Invalid value for manager-id: not a UUID`);
  const eipIps = (inst: SimInstance): string[] =>
    state.elasticIpsOf(inst.id).map((id) => state.findElasticIp(id)!.ip);
  const list = state.instances().filter(
    (i) =>
      (ip === null || i.publicIp === ip || i.ipv6Address === ip || eipIps(i).includes(ip)) &&
      (managerId === null || i.manager?.id === managerId.toLowerCase()) &&
      (managerType === null || i.manager?.type === managerType) &&
      (labels === null || labelsMatch(labels, i.labels)),
  );
  return OK({ instances: list.map(renderInstanceSummary) });
}

function getInstance({ state, params }: ApiContext): ApiAnswer {
  const id = params[0]!;
  const bad = badId(id);
  if (bad) return bad;
  const inst = state.findInstance(id.toLowerCase());
  if (!inst || inst.id !== id.toLowerCase()) return ERR(404, 'Instance not found');
  return OK(renderInstance(inst, state.elasticIpsOf(inst.id)));
}

function listSecurityGroups({ state, query }: ApiContext): ApiAnswer {
  const visibility = query.get('visibility');
  if (visibility !== null && visibility !== 'private' && visibility !== 'public') {
    return ERR(400, `Invalid value for visibility: ${JSON.stringify(visibility)}`);
  }
  return OK({ 'security-groups': visibility === 'public' ? [] : state.securityGroups().map(renderSecurityGroup) });
}

function getSecurityGroup({ state, params }: ApiContext): ApiAnswer {
  const id = params[0]!;
  const bad = badId(id);
  if (bad) return bad;
  const group = state.findSecurityGroup(id.toLowerCase());
  if (!group || group.id !== id.toLowerCase()) return ERR(404, 'Security Group not found');
  return OK(renderSecurityGroup(group));
}

function getOperation({ state, params }: ApiContext): ApiAnswer {
  const id = params[0]!;
  const bad = badId(id);
  if (bad) return bad;
  const op = state.getOperation(id);
  return op ? OK(op) : ERR(404, 'Operation not found');
}

// ---------------------------------------------------------------- metadata

function metadataValues(inst: SimInstance, zone: string): Record<string, string> {
  return {
    'availability-zone': zone,
    'instance-id': inst.id,
    'local-hostname': inst.name,
    ...(inst.publicIp ? { 'local-ipv4': inst.publicIp } : {}),
    'public-hostname': inst.name,
    ...(inst.publicIp ? { 'public-ipv4': inst.publicIp } : {}),
    'service-offering': 'standard.small',
    'vm-id': inst.id,
  };
}
