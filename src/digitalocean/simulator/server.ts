/**
 * The DigitalOcean API v2 simulator on the shared simulator kit: the subset ipwarden and
 * python3-digitalocean use, with DigitalOcean's shapes.
 *
 *   GET  /v2/account
 *   GET  /v2/reserved_ips[?page&per_page]           GET /v2/reserved_ips/{ip}
 *   POST /v2/reserved_ips/{ip}/actions {"type":"assign","droplet_id":N} | {"type":"unassign"}  -> 201 action
 *   GET  /v2/reserved_ips/{ip}/actions[/{id}]       GET /v2/actions/{id}
 *   the same under /v2/floating_ips (the older name of the same resources, `floating_ip` keys)
 *   GET  /v2/droplets[?tag_name&page&per_page]      GET /v2/droplets/{id}
 *   metadata (no auth): /metadata/v1/id, /metadata/v1/interfaces/public/0/anchor_ipv4/address, … and
 *   /metadata/v1.json, per caller (source address, or /_meta/<droplet-id>/metadata/v1/…)
 *
 * Trailing slashes are accepted (python3-digitalocean sends "floating_ips/IP/actions/"). Actions are
 * created "in-progress", lock the IP and the target droplet (a second action gets 422 "… already has a
 * pending event."), and complete after the change delay ("completed", or "errored" with a fail-change
 * fault). Errors are {"id", "message"}; every API answer carries ratelimit-limit/-remaining/-reset and
 * a spent budget answers 429 too_many_requests. Bearer tokens: full, or read-only (403 on a POST).
 *
 * Admin extras (besides the kit's /_sim/requests, history, faults, config, reset):
 *   GET  /_sim/world                          droplets and reserved IPs
 *   POST /_sim/droplets {droplet | {droplets:[…]}}   add droplets
 *   PATCH /_sim/droplets/{id} {status?, tags?}
 *   PUT  /_sim/reserved_ips/{ip} {droplet_id: N|null}   set the holder at once (cause "admin")
 */
import type { ServerResponse } from 'node:http';
import {
  ChangeQueue,
  HolderHistory,
  KitFaultSet,
  RateBudget,
  parseJsonBody,
  sendJson,
  sendText,
  startCloudSimulator,
  type AdminAnswer,
  type Change,
  type KitFaultRule,
  type RequestRecord,
  type RunningCloudSimulator,
  type SimCall,
  type SimRoute,
} from '../../cloud/simulator-kit/index.js';
import {
  DEFAULT_SIM_READONLY_TOKEN,
  DEFAULT_SIM_REGION,
  DEFAULT_SIM_TOKEN,
  World,
  defaultSeed,
  dropletJson,
  metadataJson,
  metadataLeaf,
  regionJson,
  reservedIpJson,
  type DropletInput,
  type SimSeed,
} from './world.js';
import { ipv4ToInt } from '../../util/ipv4.js';

/** Call names, as fault rules and the request log know them. */
export const DO_SIM_CALLS = [
  'get-account',
  'list-reserved-ips',
  'get-reserved-ip',
  'reserved-ip-action',
  'list-reserved-ip-actions',
  'get-action',
  'list-droplets',
  'get-droplet',
  'metadata',
] as const;
export const DO_SIM_MUTATING = ['reserved-ip-action'] as const;

export interface DigitalOceanSimulatorOptions {
  host?: string;
  port?: number;
  /** Tokens with read and write scope (default: DEFAULT_SIM_TOKEN). */
  tokens?: string[];
  /** Read-only tokens (default: DEFAULT_SIM_READONLY_TOKEN): 403 on every POST. */
  readOnlyTokens?: string[];
  region?: string;
  /** How long an action stays in-progress (default 3000 ms, DigitalOcean's usual). */
  actionDelayMs?: number;
  /** Requests per minute before 429 (default 250, DigitalOcean's per-minute limit). */
  ratePerMinute?: number;
  seed?: SimSeed;
  faults?: KitFaultRule[];
  faultSeed?: number;
}

export interface ActionRecord {
  change: number;
  type: 'assign_ip' | 'unassign_ip';
  ip: string;
  dropletId: number | null;
  /** "reserved_ip" or "floating_ip": the name of the path the action was created through. */
  resourceType: 'reserved_ip' | 'floating_ip';
}

export interface DigitalOceanSimEvent {
  t: number;
  ip: string;
  dropletId: number | null;
  previous: number | null;
  cause: string;
}

export interface RunningDigitalOceanSimulator {
  url: string;
  /** What python3-digitalocean's DIGITALOCEAN_END_POINT and ipwarden's endpoint take. */
  endpoint: string;
  port: number;
  tokens: { full: string[]; readOnly: string[] };
  world: World;
  history: HolderHistory;
  faults: KitFaultSet;
  requests(sinceMs?: number): RequestRecord[];
  /** Puts `ip` on `dropletId` (or none) at once, as a change by hand (cause "admin"). */
  setHolder(ip: string, dropletId: number | null): void;
  /** Called at each holder change (CLI prints them). */
  onChange(fn: (e: DigitalOceanSimEvent) => void): () => void;
  /** Serves a connection accepted elsewhere (a relay's Unix socket): RunningCloudSimulator.accept. */
  accept: RunningCloudSimulator['accept'];
  close(): Promise<void>;
}

const ACTION_ID_BASE = 2_100_000_001;
const MAX_PER_PAGE = 200;
const DEFAULT_PER_PAGE = 20;

function sendError(res: ServerResponse, status: number, id: string, message: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, { id, message, request_id: requestId() }, headers);
}

let requestCounter = 0;
function requestId(): string {
  requestCounter = (requestCounter + 1) % 0xffffffff;
  return `0c0ffee0-0000-4000-8000-${requestCounter.toString(16).padStart(12, '0')}`;
}

export async function startDigitalOceanSimulator(opts: DigitalOceanSimulatorOptions = {}): Promise<RunningDigitalOceanSimulator> {
  const region = opts.region ?? DEFAULT_SIM_REGION;
  const world = new World(region);
  const seed = opts.seed ?? defaultSeed();
  world.load(seed);
  const full = new Set(opts.tokens ?? [DEFAULT_SIM_TOKEN]);
  const readOnly = new Set(opts.readOnlyTokens ?? [DEFAULT_SIM_READONLY_TOKEN]);
  const faults = new KitFaultSet({ calls: DO_SIM_CALLS, mutating: DO_SIM_MUTATING }, opts.faults ?? [], opts.faultSeed);
  const history = new HolderHistory();
  const changes = new ChangeQueue(Date.now, ACTION_ID_BASE);
  const actions = new Map<number, ActionRecord>();
  const perMinute = opts.ratePerMinute ?? 250;
  const budget = new RateBudget({ limit: perMinute, refillPerSecond: perMinute / 60 });
  let delayMs = opts.actionDelayMs ?? 3000;
  const listeners = new Set<(e: DigitalOceanSimEvent) => void>();

  const recordAll = (cause: string): void => {
    for (const r of world.reservedIps.values()) history.record(r.ip, r.dropletId === null ? [] : [String(r.dropletId)], cause);
  };
  recordAll('seed');

  const setHolder = (ip: string, dropletId: number | null, cause: string): void => {
    const rip = world.reservedIps.get(ip)!;
    const previous = rip.dropletId;
    rip.dropletId = dropletId;
    history.record(ip, dropletId === null ? [] : [String(dropletId)], cause);
    if (previous !== dropletId) for (const fn of listeners) fn({ t: Date.now(), ip, dropletId, previous, cause });
  };

  const actionJson = (c: Change, a: ActionRecord): Record<string, unknown> => ({
    id: c.id,
    status: c.status === 'running' ? 'in-progress' : c.status === 'success' ? 'completed' : 'errored',
    type: a.type,
    started_at: iso(c.startedMs),
    completed_at: c.finishedMs === null ? null : iso(c.finishedMs),
    resource_id: ipv4ToInt(a.ip),
    resource_type: a.resourceType,
    region: regionJson(region),
    region_slug: region,
  });

  /** Authenticates; answers 401/403 itself and returns false when refused. */
  const authorized = (call: SimCall): boolean => {
    const auth = call.req.headers.authorization ?? '';
    const m = /^Bearer (.+)$/.exec(auth);
    const token = m?.[1]?.trim();
    if (!token || (!full.has(token) && !readOnly.has(token))) {
      sendError(call.res, 401, 'unauthorized', 'Unable to authenticate you.');
      return false;
    }
    if (call.method !== 'GET' && !full.has(token)) {
      sendError(call.res, 403, 'forbidden', 'You do not have access for the attempted action.');
      return false;
    }
    return true;
  };

  const route = (call: string, handle: (c: SimCall) => void): SimRoute => ({
    call,
    handle: (c) => {
      if (authorized(c)) handle(c);
    },
  });

  /** Pagination of a list: `links.pages` with absolute URLs, `meta.total`; bad paging answers 400/422. */
  const page = <T>(c: SimCall, key: string, items: T[], render: (item: T) => unknown): void => {
    const perText = c.url.searchParams.get('per_page');
    const pageText = c.url.searchParams.get('page');
    const perPage = perText === null ? DEFAULT_PER_PAGE : Number(perText);
    const pageNo = pageText === null ? 1 : Number(pageText);
    if (!Number.isInteger(perPage) || perPage < 1) return sendError(c.res, 400, 'bad_request', 'per_page must be a positive integer');
    if (!Number.isInteger(pageNo) || pageNo < 1) return sendError(c.res, 400, 'bad_request', 'page must be a positive integer');
    const per = Math.min(perPage, MAX_PER_PAGE);
    const last = Math.max(1, Math.ceil(items.length / per));
    const slice = items.slice((pageNo - 1) * per, pageNo * per);
    const link = (p: number): string => {
      const u = new URL(`http://${c.req.headers.host ?? 'localhost'}${c.url.pathname}`);
      for (const [k, v] of c.url.searchParams) if (k !== 'page' && k !== 'per_page') u.searchParams.set(k, v);
      u.searchParams.set('page', String(p));
      u.searchParams.set('per_page', String(per));
      return u.toString();
    };
    const pages: Record<string, string> = {};
    if (pageNo > 1) Object.assign(pages, { first: link(1), prev: link(Math.min(pageNo - 1, last)) });
    if (pageNo < last) Object.assign(pages, { next: link(pageNo + 1), last: link(last) });
    sendJson(c.res, 200, { [key]: slice.map(render), links: Object.keys(pages).length ? { pages } : {}, meta: { total: items.length } });
  };

  const keyOf = (resourceType: 'reserved_ip' | 'floating_ip'): string => resourceType;
  const nameOf = (resourceType: 'reserved_ip' | 'floating_ip'): string => (resourceType === 'reserved_ip' ? 'reserved IP' : 'floating IP');

  const ipAction = (c: SimCall, ip: string, resourceType: 'reserved_ip' | 'floating_ip'): void => {
    const rip = world.reservedIps.get(ip);
    if (!rip) return sendError(c.res, 404, 'not_found', 'The resource you were accessing could not be found.');
    let body: unknown;
    try {
      body = parseJsonBody(c.body);
    } catch {
      return sendError(c.res, 400, 'bad_request', 'unexpected end of JSON input');
    }
    const b = (body ?? {}) as { type?: unknown; droplet_id?: unknown };
    if (b.type !== 'assign' && b.type !== 'unassign') {
      return sendError(c.res, 422, 'unprocessable_entity', `${JSON.stringify(b.type ?? '')} is not a valid action type. Must be one of: assign, unassign`);
    }
    let target: number | null = null;
    if (b.type === 'assign') {
      const id = typeof b.droplet_id === 'string' && /^\d+$/.test(b.droplet_id) ? Number(b.droplet_id) : b.droplet_id;
      if (typeof id !== 'number' || !Number.isSafeInteger(id)) return sendError(c.res, 422, 'unprocessable_entity', 'droplet_id is required to assign a reserved IP');
      const d = world.droplets.get(id);
      if (!d) return sendError(c.res, 422, 'unprocessable_entity', 'The droplet you are trying to assign to does not exist.');
      if (d.region !== rip.region) return sendError(c.res, 422, 'unprocessable_entity', 'The droplet and the reserved IP must be in the same region.');
      target = id;
    } else if (rip.dropletId === null) {
      return sendError(c.res, 422, 'unprocessable_entity', `The ${nameOf(resourceType)} is not assigned to a droplet.`);
    }
    if (changes.lockedBy(`ip:${ip}`)) {
      return sendError(c.res, 422, 'unprocessable_entity', `The ${nameOf(resourceType)} already has a pending event.`);
    }
    const lockedDroplets = [target, rip.dropletId].filter((x): x is number => x !== null);
    if (lockedDroplets.some((id) => changes.lockedBy(`droplet:${id}`))) {
      return sendError(c.res, 422, 'unprocessable_entity', 'Droplet already has a pending event.');
    }
    const fault = faults.forChange('reserved-ip-action');
    const type = b.type === 'assign' ? 'assign_ip' : 'unassign_ip';
    const change = changes.start({
      call: 'reserved-ip-action',
      resources: [`ip:${ip}`, ...lockedDroplets.map((id) => `droplet:${id}`)],
      delayMs,
      ...(fault ? { fault } : {}),
      apply: () => {
        if (target !== null && !world.droplets.has(target)) throw new Error('the droplet no longer exists');
        setHolder(ip, target, type);
      },
    });
    const record: ActionRecord = { change: change.id, type, ip, dropletId: target, resourceType };
    actions.set(change.id, record);
    sendJson(c.res, 201, { action: actionJson(change, record) });
  };

  const getAction = (c: SimCall, id: number, ip?: string): void => {
    const a = actions.get(id);
    const ch = changes.get(id);
    if (!a || !ch || (ip !== undefined && a.ip !== ip)) return sendError(c.res, 404, 'not_found', 'The resource you were accessing could not be found.');
    sendJson(c.res, 200, { action: actionJson(ch, a) });
  };

  const ipRoutes = (method: string, parts: string[], resourceType: 'reserved_ip' | 'floating_ip'): SimRoute | undefined => {
    const key = keyOf(resourceType);
    const [ip, sub, actionId] = parts;
    if (ip === undefined) {
      if (method === 'GET') {
        return route('list-reserved-ips', (c) =>
          page(c, `${key}s`, [...world.reservedIps.values()], (r) => reservedIpJson(r, world, !!changes.lockedBy(`ip:${r.ip}`))),
        );
      }
      return undefined;
    }
    const notFound = (call: string): SimRoute => route(call, (c) => sendError(c.res, 404, 'not_found', 'The resource you were accessing could not be found.'));
    if (sub === undefined && method === 'GET') {
      return route('get-reserved-ip', (c) => {
        const r = world.reservedIps.get(ip);
        if (!r) return sendError(c.res, 404, 'not_found', 'The resource you were accessing could not be found.');
        sendJson(c.res, 200, { [key]: reservedIpJson(r, world, !!changes.lockedBy(`ip:${r.ip}`)) });
      });
    }
    if (sub !== 'actions') return undefined;
    if (actionId === undefined && method === 'POST') return route('reserved-ip-action', (c) => ipAction(c, ip, resourceType));
    if (actionId === undefined && method === 'GET') {
      return route('list-reserved-ip-actions', (c) => {
        if (!world.reservedIps.has(ip)) return sendError(c.res, 404, 'not_found', 'The resource you were accessing could not be found.');
        const mine = [...actions.values()].filter((a) => a.ip === ip).reverse();
        page(c, 'actions', mine, (a) => actionJson(changes.get(a.change)!, a));
      });
    }
    if (actionId !== undefined && method === 'GET') {
      if (!/^\d+$/.test(actionId)) return notFound('get-action');
      return route('get-action', (c) => getAction(c, Number(actionId), ip));
    }
    return undefined;
  };

  const spec = {
    cloud: 'digitalocean',
    faults,
    history,
    changeDelay: { get: () => delayMs, set: (ms: number) => void (delayMs = ms) },
    rateLimit: {
      budget,
      headers: (d: { limit: number; remaining: number; resetAtMs: number }) => ({
        'ratelimit-limit': String(d.limit),
        'ratelimit-remaining': String(d.remaining),
        'ratelimit-reset': String(Math.ceil(d.resetAtMs / 1000)),
      }),
    },
    sendError: (res: ServerResponse, status: number, code: string, message: string) =>
      sendError(res, status, status === 404 ? 'not_found' : status >= 500 ? 'server_error' : code, message),
    sendRateLimited: (res: ServerResponse, retryAfterMs: number) =>
      sendError(res, 429, 'too_many_requests', 'API Rate limit exceeded.', {
        'ratelimit-limit': String(budget.settings.limit),
        'ratelimit-remaining': '0',
        'ratelimit-reset': String(Math.ceil((Date.now() + retryAfterMs) / 1000)),
      }),
    route(method: string, url: URL): SimRoute | undefined {
      const parts = url.pathname.split('/').filter((p) => p !== '').map(decodeURIComponent);
      if (parts[0] !== 'v2') return undefined;
      const [, head, ...rest] = parts;
      if (head === 'reserved_ips') return ipRoutes(method, rest, 'reserved_ip');
      if (head === 'floating_ips') return ipRoutes(method, rest, 'floating_ip');
      if (head === 'account' && rest.length === 0 && method === 'GET') {
        return route('get-account', (c) =>
          sendJson(c.res, 200, {
            account: { droplet_limit: 25, floating_ip_limit: 3, reserved_ip_limit: 3, email: 'sim@example.com', uuid: 'a1b2c3d4-0000-4000-8000-00000000acc7', email_verified: true, status: 'active', status_message: '' },
          }),
        );
      }
      if (head === 'actions' && rest.length === 1 && method === 'GET' && /^\d+$/.test(rest[0]!)) {
        return route('get-action', (c) => getAction(c, Number(rest[0])));
      }
      if (head === 'droplets' && method === 'GET') {
        if (rest.length === 0) {
          return route('list-droplets', (c) => {
            const tag = c.url.searchParams.get('tag_name');
            const list = [...world.droplets.values()].filter((d) => tag === null || d.tags.includes(tag)).sort((a, b) => a.id - b.id);
            page(c, 'droplets', list, (d) => dropletJson(d, world));
          });
        }
        if (rest.length === 1) {
          return route('get-droplet', (c) => {
            const d = /^\d+$/.test(rest[0]!) ? world.droplets.get(Number(rest[0])) : undefined;
            if (!d) return sendError(c.res, 404, 'not_found', 'The resource you were accessing could not be found.');
            sendJson(c.res, 200, { droplet: dropletJson(d, world) });
          });
        }
      }
      return undefined;
    },
    metadata: {
      prefix: '/metadata/',
      handle: ({ res, path, target, callerAddress }: { res: ServerResponse; path: string; target?: string; callerAddress: string }) => {
        const d = target !== undefined ? world.findDroplet(target) : world.dropletByAddress(callerAddress);
        if (!d) return sendText(res, 404, target !== undefined ? `no droplet ${target}\n` : `no droplet has address ${callerAddress}\n`);
        if (path === 'v1.json') return sendJson(res, 200, metadataJson(d, world));
        if (!path.startsWith('v1/')) return sendText(res, 404, 'not found\n');
        const leaf = metadataLeaf(d, world, path.slice(3));
        if (leaf === undefined) return sendText(res, 404, 'not found\n');
        sendText(res, 200, leaf);
      },
    },
    admin(method: string, parts: string[], _query: URLSearchParams, body: unknown): AdminAnswer | undefined {
      const [head, id] = parts;
      if (head === 'world' && method === 'GET' && parts.length === 1) {
        return {
          body: {
            droplets: [...world.droplets.values()],
            reservedIps: [...world.reservedIps.values()].map((r) => ({ ...r, locked: !!changes.lockedBy(`ip:${r.ip}`) })),
          },
        };
      }
      if (head === 'droplets' && method === 'POST' && parts.length === 1) {
        const list = body && typeof body === 'object' && Array.isArray((body as { droplets?: unknown }).droplets) ? (body as { droplets: unknown[] }).droplets : [body];
        return { status: 201, body: { droplets: list.map((d) => world.addDroplet(d as DropletInput)) } };
      }
      if (head === 'droplets' && method === 'PATCH' && id !== undefined && parts.length === 2) {
        const d = world.findDroplet(id);
        if (!d) return { status: 404, body: { error: `no droplet ${JSON.stringify(id)}` } };
        const b = (body ?? {}) as { status?: unknown; tags?: unknown };
        if (b.status !== undefined) {
          if (!['new', 'active', 'off', 'archive'].includes(b.status as string)) throw new Error('status: expected new, active, off or archive');
          d.status = b.status as typeof d.status;
        }
        if (b.tags !== undefined) {
          if (!Array.isArray(b.tags) || !b.tags.every((t) => typeof t === 'string')) throw new Error('tags: expected an array of strings');
          d.tags = [...(b.tags as string[])];
        }
        return { body: { droplet: d } };
      }
      if (head === 'reserved_ips' && method === 'PUT' && id !== undefined && parts.length === 2) {
        if (!world.reservedIps.has(id)) return { status: 404, body: { error: `no reserved IP ${id}` } };
        const target = (body as { droplet_id?: unknown } | undefined)?.droplet_id;
        if (target !== null && !(typeof target === 'number' && world.droplets.has(target))) throw new Error('droplet_id: expected an existing droplet id or null');
        setHolder(id, target, 'admin');
        return { body: { reservedIp: world.reservedIps.get(id) } };
      }
      return undefined;
    },
    reset() {
      changes.clear();
      actions.clear();
      world.load(seed);
      recordAll('seed');
    },
    close() {
      changes.clear();
    },
  };

  const sim = await startCloudSimulator(spec, { ...(opts.host !== undefined ? { host: opts.host } : {}), ...(opts.port !== undefined ? { port: opts.port } : {}) });
  return {
    url: sim.url,
    accept: sim.accept,
    endpoint: `${sim.url}/v2/`,
    port: sim.port,
    tokens: { full: [...full], readOnly: [...readOnly] },
    world,
    history,
    faults,
    requests: (since) => sim.requests(since),
    setHolder(ip, dropletId) {
      if (!world.reservedIps.has(ip)) throw new Error(`no reserved IP ${ip}`);
      if (dropletId !== null && !world.droplets.has(dropletId)) throw new Error(`no droplet ${dropletId}`);
      setHolder(ip, dropletId, 'admin');
    },
    onChange(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    close: () => sim.close(),
  };
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

