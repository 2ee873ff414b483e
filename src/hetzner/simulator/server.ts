/**
 * The Hetzner Cloud API simulator, on the shared simulator kit (src/cloud/simulator-kit): the subset
 * ipwarden uses, with the real paths under /v1, JSON shapes, `meta.pagination`, Bearer tokens (read-write
 * and read-only), asynchronous actions (running -> success after the action delay) that lock their
 * resources (423 `locked`), `RateLimit-*` headers and 429 `rate_limit_exceeded`, error bodies
 * `{"error": {"code", "message", "details"}}`, and the metadata service (/hetzner/v1/metadata/...).
 *
 *   GET  /v1/floating_ips[?name=&label_selector=&page=&per_page=]     GET /v1/floating_ips/{id}
 *   POST /v1/floating_ips/{id}/actions/assign {"server": id}            .../actions/unassign
 *   GET  /v1/actions?id=N[&id=M]   GET /v1/actions/{id}   GET /v1/{floating_ips|servers}/{id}/actions/{aid}
 *   GET  /v1/servers[?name=&label_selector=&status=&page=&per_page=]   GET /v1/servers/{id}
 *   POST /v1/servers/{id}/actions/change_alias_ips {"network": id, "alias_ips": [...]}
 *   GET  /v1/networks[?name=&label_selector=]   GET /v1/networks/{id}
 *   GET  /hetzner/v1/metadata/{instance-id|hostname|public-ipv4|region|availability-zone|private-networks}
 *
 * Admin (besides the kit's /_sim/requests, history, faults, config, reset):
 *   GET   /_sim/state                       the world and the actions
 *   PATCH /_sim/servers/{id|name}           {labels?, status?}  (discovery tests: a label changes)
 *   PATCH /_sim/floating_ips/{id|name|ip}   {server: id|name|null}  (drift: someone moved it by hand)
 */
import { isIP } from 'node:net';
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
  type HolderEvent,
  type KitFaultRule,
  type RunningCloudSimulator,
  type SimCall,
  type SimRoute,
} from '../../cloud/simulator-kit/index.js';
import { matchesLabels, parseLabelSelector, type LabelRequirement } from '../label-selector.js';
import { DEFAULT_SIM_READONLY_TOKEN, DEFAULT_SIM_TOKEN, HetznerWorld, defaultHetznerSeed, type HetznerSimSeed, type SimServer, type TokenScope } from './world.js';
import { inIpv4Cidr } from '../../util/ipv4.js';

export const HETZNER_SIM_CALLS = [
  'list-floating-ips',
  'get-floating-ip',
  'assign-floating-ip',
  'unassign-floating-ip',
  'list-actions',
  'get-action',
  'list-servers',
  'get-server',
  'change-alias-ips',
  'list-networks',
  'get-network',
  'metadata',
] as const;
export const HETZNER_SIM_MUTATING = ['assign-floating-ip', 'unassign-floating-ip', 'change-alias-ips'] as const;

const COMMANDS: Record<string, string> = {
  'assign-floating-ip': 'assign_floating_ip',
  'unassign-floating-ip': 'unassign_floating_ip',
  'change-alias-ips': 'change_alias_ips',
};

export interface HetznerSimulatorOptions {
  host?: string;
  port?: number;
  /** The world to start with (default: the lab seed). */
  seed?: HetznerSimSeed;
  /** token -> scope (default: the two simulator test tokens). */
  tokens?: Record<string, TokenScope>;
  /** How long an action stays `running` (default 1000 ms). */
  actionDelayMs?: number;
  /** Rate budget (default Hetzner's: 3600 per hour, refilled 1 per second). */
  rateLimit?: { limit: number; refillPerSecond: number };
  faults?: KitFaultRule[];
  faultSeed?: number;
  /** Called when an action finishes (the CLI prints one line per move). */
  onAction?: (event: { action: Record<string, unknown>; holders: Record<string, string[]> }) => void;
}

export interface RunningHetznerSimulator extends RunningCloudSimulator {
  /** http://HOST:PORT/v1: HCLOUD_ENDPOINT / the action's `endpoint`. */
  endpoint: string;
  world: HetznerWorld;
  tokens: Map<string, TokenScope>;
  faults: KitFaultSet;
  history: HolderHistory;
  changes: ChangeQueue;
  /** Metadata base URL naming a server (id or name) explicitly: `metadataUrl:` of a loopback lab node. */
  metadataUrl(server: string): string;
  /** Sets the action delay. */
  setActionDelay(ms: number): void;
  /** Calls `listener` at the instant an address's holders change (assign, unassign, alias change, admin); returns the unsubscribe. */
  onHolderChange(listener: (event: HolderEvent) => void): () => void;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

function sendHetznerError(res: ServerResponse, status: number, code: string, message: string, details: Record<string, unknown> = {}): void {
  sendJson(res, status, { error: { code, message, details } });
}

function invalidInput(field: string, message: string): ApiError {
  return new ApiError(400, 'invalid_input', `invalid input in field '${field}'`, { fields: [{ name: field, messages: [message] }] });
}

const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, '+00:00');

/** Pages a list the Hetzner way (page from 1, per_page default 25, max 50). */
function paginate<T>(items: T[], query: URLSearchParams): { page: T[]; meta: Record<string, unknown> } {
  const num = (name: string, fallback: number, max: number): number => {
    const raw = query.get(name);
    if (raw === null) return fallback;
    if (!/^\d+$/.test(raw) || Number(raw) < 1) throw invalidInput(name, `${name} must be a positive integer`);
    return Math.min(Number(raw), max);
  };
  const perPage = num('per_page', 25, 50);
  const page = num('page', 1, Number.MAX_SAFE_INTEGER);
  const last = Math.max(1, Math.ceil(items.length / perPage));
  return {
    page: items.slice((page - 1) * perPage, page * perPage),
    meta: {
      pagination: {
        page,
        per_page: perPage,
        previous_page: page > 1 ? page - 1 : null,
        next_page: page < last ? page + 1 : null,
        last_page: last,
        total_entries: items.length,
      },
    },
  };
}

function selectorOf(query: URLSearchParams): LabelRequirement[] | undefined {
  const raw = query.get('label_selector');
  if (raw === null || raw === '') return undefined;
  try {
    return parseLabelSelector(raw);
  } catch (err) {
    throw invalidInput('label_selector', (err as Error).message);
  }
}

function idIn(path: string, re: RegExp): number | undefined {
  const m = re.exec(path);
  return m ? Number(m[1]) : undefined;
}

export async function startHetznerSimulator(opts: HetznerSimulatorOptions = {}): Promise<RunningHetznerSimulator> {
  const seed = opts.seed ?? defaultHetznerSeed();
  let world = new HetznerWorld(seed);
  const tokens = new Map<string, TokenScope>(
    Object.entries(opts.tokens ?? { [DEFAULT_SIM_TOKEN]: 'read_write', [DEFAULT_SIM_READONLY_TOKEN]: 'read' }),
  );
  const faults = new KitFaultSet({ calls: HETZNER_SIM_CALLS, mutating: HETZNER_SIM_MUTATING }, opts.faults ?? [], opts.faultSeed);
  const history = new HolderHistory();
  const changes = new ChangeQueue(Date.now, 13_000_001);
  const budget = new RateBudget(opts.rateLimit ?? { limit: 3600, refillPerSecond: 1 });
  let actionDelayMs = opts.actionDelayMs ?? 1000;

  const renderAction = (c: Change): Record<string, unknown> => ({
    id: c.id,
    command: COMMANDS[c.call] ?? c.call,
    status: c.status,
    progress: c.progress,
    started: iso(c.startedMs),
    finished: c.finishedMs === null ? null : iso(c.finishedMs),
    resources: c.resources.map((r) => {
      const [type, id] = r.split(':');
      return { id: Number(id), type };
    }),
    error: c.status === 'error' ? { code: 'action_failed', message: c.error ?? 'action failed' } : null,
  });

  const listeners = new Set<(event: HolderEvent) => void>();
  /** history.record plus the listeners, when the holders changed. */
  const record = (resource: string, holders: string[], cause: string): void => {
    const before = history.events().length;
    history.record(resource, holders, cause);
    const events = history.events();
    if (events.length > before) for (const l of listeners) l(events[events.length - 1]!);
  };
  const recordFloating = (ip: string, server: number | null, cause: string): void => record(ip, server === null ? [] : [String(server)], cause);
  for (const f of world.floatingIps.values()) recordFloating(f.ip, f.server, 'seed');

  /** Starts an action (locks checked first); answers 201 {action}. */
  function startAction(call: SimCall, name: (typeof HETZNER_SIM_MUTATING)[number], resources: string[], apply: () => Record<string, string[]>): void {
    for (const r of resources) {
      const holder = changes.lockedBy(r);
      if (holder) {
        const [type, id] = r.split(':');
        throw new ApiError(423, 'locked', `${type} ${id} is locked by action ${holder.id} (${COMMANDS[holder.call] ?? holder.call})`);
      }
    }
    const fault = faults.forChange(name);
    let changeId = 0;
    const change = changes.start({
      call: name,
      resources,
      delayMs: actionDelayMs,
      ...(fault ? { fault } : {}),
      apply: () => {
        const holders = apply();
        // after start() returned (a zero delay applies inside it) and the change is marked done
        queueMicrotask(() => {
          const done = changes.get(changeId);
          if (done) opts.onAction?.({ action: renderAction(done), holders });
        });
      },
    });
    changeId = change.id;
    sendJson(call.res, 201, { action: renderAction(change) });
  }

  function auth(call: SimCall, write: boolean): void {
    const header = call.req.headers.authorization ?? '';
    const m = /^Bearer (\S+)$/.exec(header);
    const scope = m ? tokens.get(m[1]!) : undefined;
    if (!scope) throw new ApiError(401, 'unauthorized', 'unable to authenticate');
    if (write && scope !== 'read_write') throw new ApiError(403, 'token_readonly', 'The token you are using is read-only.');
  }

  function jsonBody(call: SimCall): Record<string, unknown> {
    let body: unknown;
    try {
      body = parseJsonBody(call.body);
    } catch {
      throw new ApiError(400, 'json_error', 'unable to parse JSON body');
    }
    if (body === undefined) return {};
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw new ApiError(400, 'json_error', 'expected a JSON object');
    return body as Record<string, unknown>;
  }

  const floatingIp = (id: number) => {
    const f = world.floatingIps.get(id);
    if (!f) throw new ApiError(404, 'not_found', `Floating IP with ID ${id} not found`);
    return f;
  };
  const server = (id: number): SimServer => {
    const s = world.servers.get(id);
    if (!s) throw new ApiError(404, 'not_found', `server with ID ${id} not found`);
    return s;
  };

  /** A route whose handler throws ApiError for error answers. */
  const route = (callName: (typeof HETZNER_SIM_CALLS)[number], write: boolean, fn: (call: SimCall) => void): SimRoute => ({
    call: callName,
    handle: (call) => {
      try {
        auth(call, write);
        fn(call);
      } catch (err) {
        if (err instanceof ApiError) sendHetznerError(call.res, err.status, err.code, err.message, err.details);
        else throw err;
      }
    },
  });

  const list = (key: string, items: Record<string, unknown>[], call: SimCall): void => {
    const { page, meta } = paginate(items, call.url.searchParams);
    sendJson(call.res, 200, { [key]: page, meta });
  };

  function routeOf(method: string, url: URL): SimRoute | undefined {
    const p = url.pathname.replace(/\/+$/, '');
    const q = url.searchParams;
    if (method === 'GET' && p === '/v1/floating_ips') {
      return route('list-floating-ips', false, (call) => {
        const sel = selectorOf(q);
        const name = q.get('name');
        const items = [...world.floatingIps.values()].filter((f) => (name === null || f.name === name) && (!sel || matchesLabels(sel, f.labels)));
        list('floating_ips', items.map((f) => world.renderFloatingIp(f)), call);
      });
    }
    let id = idIn(p, /^\/v1\/floating_ips\/(\d+)$/);
    if (method === 'GET' && id !== undefined) return route('get-floating-ip', false, (call) => sendJson(call.res, 200, { floating_ip: world.renderFloatingIp(floatingIp(id!)) }));
    id = idIn(p, /^\/v1\/floating_ips\/(\d+)\/actions\/assign$/);
    if (method === 'POST' && id !== undefined) {
      return route('assign-floating-ip', true, (call) => {
        const f = floatingIp(id!);
        const b = jsonBody(call);
        if (typeof b.server !== 'number' || !Number.isInteger(b.server)) throw invalidInput('server', 'server is required and must be an integer');
        const s = server(b.server);
        startAction(call, 'assign-floating-ip', [`floating_ip:${f.id}`, `server:${s.id}`], () => {
          f.server = s.id;
          recordFloating(f.ip, f.server, 'assign-floating-ip');
          return { [f.ip]: [String(s.id)] };
        });
      });
    }
    id = idIn(p, /^\/v1\/floating_ips\/(\d+)\/actions\/unassign$/);
    if (method === 'POST' && id !== undefined) {
      return route('unassign-floating-ip', true, (call) => {
        const f = floatingIp(id!);
        jsonBody(call);
        if (f.server === null) throw new ApiError(422, 'service_error', `Floating IP ${f.ip} is not assigned to a server`);
        startAction(call, 'unassign-floating-ip', [`floating_ip:${f.id}`], () => {
          f.server = null;
          recordFloating(f.ip, null, 'unassign-floating-ip');
          return { [f.ip]: [] };
        });
      });
    }
    if (method === 'GET' && p === '/v1/actions') {
      return route('list-actions', false, (call) => {
        const ids = q.getAll('id');
        if (ids.length === 0) throw invalidInput('id', 'listing actions requires at least one id');
        if (ids.some((i) => !/^\d+$/.test(i))) throw invalidInput('id', 'id must be an integer');
        const items = ids.map((i) => changes.get(Number(i))).filter((c): c is Change => c !== undefined);
        list('actions', items.map(renderAction), call);
      });
    }
    const actionId = idIn(p, /^\/v1\/(?:(?:floating_ips|servers)\/\d+\/)?actions\/(\d+)$/);
    if (method === 'GET' && actionId !== undefined) {
      return route('get-action', false, (call) => {
        const c = changes.get(actionId);
        if (!c) throw new ApiError(404, 'not_found', `action with ID ${actionId} not found`);
        sendJson(call.res, 200, { action: renderAction(c) });
      });
    }
    if (method === 'GET' && p === '/v1/servers') {
      return route('list-servers', false, (call) => {
        const sel = selectorOf(q);
        const name = q.get('name');
        const statuses = q.getAll('status');
        const items = [...world.servers.values()].filter(
          (s) => (name === null || s.name === name) && (statuses.length === 0 || statuses.includes(s.status)) && (!sel || matchesLabels(sel, s.labels)),
        );
        list('servers', items.map((s) => world.renderServer(s)), call);
      });
    }
    id = idIn(p, /^\/v1\/servers\/(\d+)$/);
    if (method === 'GET' && id !== undefined) return route('get-server', false, (call) => sendJson(call.res, 200, { server: world.renderServer(server(id!)) }));
    id = idIn(p, /^\/v1\/servers\/(\d+)\/actions\/change_alias_ips$/);
    if (method === 'POST' && id !== undefined) {
      return route('change-alias-ips', true, (call) => {
        const s = server(id!);
        const b = jsonBody(call);
        if (typeof b.network !== 'number' || !Number.isInteger(b.network)) throw invalidInput('network', 'network is required and must be an integer');
        if (!Array.isArray(b.alias_ips) || b.alias_ips.some((a) => typeof a !== 'string' || isIP(a) !== 4)) {
          throw invalidInput('alias_ips', 'alias_ips is required and must be a list of IPv4 addresses');
        }
        const net = world.networks.get(b.network);
        if (!net) throw new ApiError(404, 'not_found', `network with ID ${b.network} not found`);
        const attachment = s.privateNet.find((pn) => pn.network === net.id);
        if (!attachment) throw new ApiError(422, 'server_not_attached_to_network', `server ${s.id} is not attached to network ${net.id}`);
        const wanted = [...new Set(b.alias_ips as string[])];
        for (const ip of wanted) {
          if (!inIpv4Cidr(ip, net.ipRange)) throw new ApiError(422, 'invalid_input', `alias IP ${ip} is not in the network's range ${net.ipRange}`);
          const other = [...world.servers.values()].find((o) => o.id !== s.id && o.privateNet.some((pn) => pn.network === net.id && (pn.ip === ip || pn.aliasIps.includes(ip))));
          if (other || ip === attachment.ip) throw new ApiError(422, 'ip_not_available', `IP ${ip} is already in use in network ${net.id}${other ? ` (server ${other.id})` : ''}`);
        }
        startAction(call, 'change-alias-ips', [`server:${s.id}`], () => {
          const touched = new Set([...attachment.aliasIps, ...wanted]);
          attachment.aliasIps = wanted;
          const holders: Record<string, string[]> = {};
          for (const ip of touched) {
            holders[ip] = world.aliasHolders(ip);
            record(ip, holders[ip]!, 'change-alias-ips');
          }
          return holders;
        });
      });
    }
    if (method === 'GET' && p === '/v1/networks') {
      return route('list-networks', false, (call) => {
        const sel = selectorOf(q);
        const name = q.get('name');
        const items = [...world.networks.values()].filter((n) => (name === null || n.name === name) && (!sel || matchesLabels(sel, n.labels)));
        list('networks', items.map((n) => world.renderNetwork(n)), call);
      });
    }
    id = idIn(p, /^\/v1\/networks\/(\d+)$/);
    if (method === 'GET' && id !== undefined) {
      return route('get-network', false, (call) => {
        const n = world.networks.get(id!);
        if (!n) throw new ApiError(404, 'not_found', `network with ID ${id} not found`);
        sendJson(call.res, 200, { network: world.renderNetwork(n) });
      });
    }
    return undefined;
  }

  function admin(method: string, parts: string[], _query: URLSearchParams, body: unknown): AdminAnswer | undefined {
    const [head, key] = parts;
    const b = (body ?? {}) as Record<string, unknown>;
    if (head === 'state' && method === 'GET' && parts.length === 1) {
      return { body: { ...world.snapshot(), actions: changes.list().map(renderAction), actionDelayMs } };
    }
    if (head === 'servers' && method === 'PATCH' && key !== undefined && parts.length === 2) {
      const s = world.findServer(key);
      if (!s) return { status: 404, body: { error: `no server ${JSON.stringify(key)}` } };
      if (b.labels !== undefined) {
        if (!b.labels || typeof b.labels !== 'object' || Object.values(b.labels).some((v) => typeof v !== 'string')) throw new Error('labels: expected an object of strings');
        s.labels = { ...(b.labels as Record<string, string>) };
      }
      if (b.status !== undefined) {
        if (typeof b.status !== 'string') throw new Error('status: expected a string');
        s.status = b.status;
      }
      return { body: { server: world.renderServer(s) } };
    }
    if (head === 'floating_ips' && method === 'PATCH' && key !== undefined && parts.length === 2) {
      const f = world.findFloatingIp(key);
      if (!f) return { status: 404, body: { error: `no floating IP ${JSON.stringify(key)}` } };
      if (b.server === null) f.server = null;
      else {
        const s = world.findServer(String(b.server));
        if (!s) throw new Error(`server: no server ${JSON.stringify(b.server)}`);
        f.server = s.id;
      }
      recordFloating(f.ip, f.server, 'admin');
      return { body: { floating_ip: world.renderFloatingIp(f) } };
    }
    return undefined;
  }

  function metadataServer(target: string | undefined, callerAddress: string): SimServer | undefined {
    return target !== undefined ? world.findServer(target) : world.serverByAddress(callerAddress);
  }

  const sim = await startCloudSimulator(
    {
      cloud: 'hetzner',
      faults,
      history,
      route: routeOf,
      sendError: (res, status, code, message) => sendHetznerError(res, status, code, message),
      sendRateLimited: (res, retryAfterMs, decision) => {
        if (!decision) {
          res.setHeader('RateLimit-Limit', String(budget.settings.limit));
          res.setHeader('RateLimit-Remaining', '0');
          res.setHeader('RateLimit-Reset', String(Math.ceil((Date.now() + retryAfterMs) / 1000)));
        }
        sendHetznerError(res, 429, 'rate_limit_exceeded', 'limit of requests per hour reached');
      },
      rateLimit: {
        budget,
        headers: (d) => ({
          'RateLimit-Limit': String(d.limit),
          'RateLimit-Remaining': String(d.remaining),
          // When refused: the instant one request is allowed again; else when the budget is full again.
          'RateLimit-Reset': String(Math.ceil((d.allowed ? d.resetAtMs : Date.now() + d.retryAfterMs) / 1000)),
        }),
      },
      metadata: {
        prefix: '/hetzner/v1/metadata/',
        handle: ({ res, path, target, callerAddress }) => {
          const s = metadataServer(target, callerAddress);
          if (!s) return sendText(res, 404, `no simulated server ${target !== undefined ? JSON.stringify(target) : `with address ${callerAddress}`}\n`);
          const values: Record<string, string> = {
            'instance-id': String(s.id),
            hostname: s.name,
            'public-ipv4': s.publicIpv4,
            region: 'eu-central',
            'availability-zone': 'fsn1-dc14',
            'private-networks': privateNetworksYaml(world, s),
          };
          if (path === '') {
            const text = Object.entries(values)
              .filter(([k]) => k !== 'private-networks')
              .map(([k, v]) => `${k}: ${v}`)
              .join('\n');
            return sendText(res, 200, `${text}\nprivate-networks:\n${values['private-networks']!.replace(/^/gm, '  ')}\n`);
          }
          const v = values[path];
          if (v === undefined) return sendText(res, 404, 'not found\n');
          sendText(res, 200, v);
        },
      },
      admin,
      reset: () => {
        changes.clear();
        world = new HetznerWorld(seed);
        handle.world = world;
        history.clear();
        for (const f of world.floatingIps.values()) recordFloating(f.ip, f.server, 'seed');
      },
      changeDelay: { get: () => actionDelayMs, set: (ms) => (actionDelayMs = ms) },
      close: () => changes.clear(),
    },
    { ...(opts.host !== undefined ? { host: opts.host } : {}), ...(opts.port !== undefined ? { port: opts.port } : {}) },
  );
  const handle: RunningHetznerSimulator = {
    ...sim,
    endpoint: `${sim.url}/v1`,
    world,
    tokens,
    faults,
    history,
    changes,
    metadataUrl: (s) => `${sim.url}/_meta/${encodeURIComponent(s)}/hetzner/v1/metadata/`,
    setActionDelay: (ms) => (actionDelayMs = ms),
    onHolderChange: (listener) => {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
  };
  return handle;
}

function privateNetworksYaml(world: HetznerWorld, s: SimServer): string {
  if (s.privateNet.length === 0) return '[]';
  return s.privateNet
    .map((p, i) => {
      const n = world.networks.get(p.network);
      return [
        `- ip: ${p.ip}`,
        `  alias_ips: [${p.aliasIps.join(', ')}]`,
        `  interface_num: ${i + 1}`,
        `  network_id: ${p.network}`,
        `  network_name: ${n?.name ?? ''}`,
        `  network: ${n?.ipRange ?? ''}`,
      ].join('\n');
    })
    .join('\n');
}

