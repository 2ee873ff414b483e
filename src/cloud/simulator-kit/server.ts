/**
 * The HTTP shell every cloud simulator shares. A cloud supplies a spec (its routes, error shape,
 * rate-limit headers, metadata paths, admin extras); the kit supplies the pipeline:
 *
 *   request ─► /_sim/…   admin API (no auth: a loopback lab tool)
 *           ─► metadata  `<spec.metadata.prefix>…` answered per caller: `/_meta/<target>/<prefix>…` names
 *                        the caller explicitly (loopback labs), else the caller is found by source address
 *           ─► API       route → request log → faults (latency, error, 429, hang, lose-answer)
 *                        → rate-limit budget → the cloud's handler
 *
 * Shared admin routes (each simulator may add its own through `spec.admin`):
 *   GET    /_sim/requests?since=MS       the request log {t, method, path, call, status, caller}
 *   GET    /_sim/history?since=MS&resource=R   holder changes; with resource also the timeline
 *   GET    /_sim/faults | POST /_sim/faults (a rule or {faults:[…]}) | DELETE /_sim/faults[/ID]
 *   GET    /_sim/config | PATCH /_sim/config {changeDelayMs?, rateLimit?: {limit, refillPerSecond}}
 *   POST   /_sim/reset                   the spec's reset (world back to its seed), history, faults, log
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { faultsAdmin, type KitFaultSet, type KitRequestOutcome } from './faults.js';
import type { HolderHistory } from './history.js';
import type { RateBudget, RateDecision } from './rate-limit.js';
import { BodyTooLargeError, parseJsonBody, readBody, sendJson } from './respond.js';

/** One API request as a cloud handler sees it. */
export interface SimCall {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  method: string;
  body: Buffer;
  /** The caller's source address (IPv4-mapped prefix removed). */
  callerAddress: string;
}

export interface SimRoute {
  /** The call's name, as fault rules and the request log know it ("assign-floating-ip"). */
  call: string;
  handle(call: SimCall): void | Promise<void>;
}

export interface MetadataCall {
  res: ServerResponse;
  method: string;
  /** Headers of the request (IMDSv2 tokens). */
  headers: IncomingMessage['headers'];
  /** Path after the prefix, without leading slash ("instance-id"). */
  path: string;
  /** The target named by /_meta/<target>/, if the request used that form. */
  target?: string;
  callerAddress: string;
}

export interface AdminAnswer {
  status?: number;
  body: unknown;
}

export interface CloudSimulatorSpec {
  cloud: string;
  faults: KitFaultSet;
  history: HolderHistory;
  /** Finds the route of an API request; undefined answers the cloud's 404. `body`: for clouds naming the call in it. */
  route(method: string, url: URL, body: Buffer): SimRoute | undefined;
  /** Writes an error in the cloud's own shape. */
  sendError(res: ServerResponse, status: number, code: string, message: string): void;
  /** The answer of a request refused by a fault or the budget (429 / throttling), in the cloud's shape. */
  sendRateLimited(res: ServerResponse, retryAfterMs: number, decision?: RateDecision): void;
  rateLimit?: {
    budget: RateBudget;
    /** Headers the cloud puts on every API answer. */
    headers(decision: RateDecision): Record<string, string>;
  };
  metadata?: {
    /** Path prefix of the metadata service ("/hetzner/v1/metadata/", "/metadata/v1/", "/latest/"). */
    prefix: string;
    handle(call: MetadataCall): void | Promise<void>;
  };
  /** Cloud-specific admin routes under /_sim/ (parts after "_sim"); undefined = not mine. */
  admin?(method: string, parts: string[], query: URLSearchParams, body: unknown): AdminAnswer | undefined;
  /** Puts the world back to its seed. */
  reset?(): void;
  /** Current change delay, and a setter (admin config). */
  changeDelay?: { get(): number; set(ms: number): void };
  /** Stops timers (close). */
  close?(): void;
}

export interface RequestRecord {
  t: number;
  method: string;
  path: string;
  call: string;
  status: number;
  caller: string;
}

export interface RunningCloudSimulator {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  port: number;
  host: string;
  requests(sinceMs?: number): RequestRecord[];
  /**
   * Serves a connection accepted elsewhere (a relay's Unix socket) as if it had arrived on the
   * listening port: one hop instead of a second connection to that port. Its caller address is empty.
   */
  accept(socket: Duplex): void;
  close(): Promise<void>;
}

export interface StartOptions {
  host?: string;
  /** 0 = any free port. */
  port?: number;
  now?: () => number;
}

export function callerAddressOf(req: IncomingMessage): string {
  const a = req.socket.remoteAddress ?? '';
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}

export async function startCloudSimulator(spec: CloudSimulatorSpec, opts: StartOptions = {}): Promise<RunningCloudSimulator> {
  const now = opts.now ?? Date.now;
  const log: RequestRecord[] = [];
  const hanging = new Set<ServerResponse>();

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) spec.sendError(res, 500, 'internal', `simulator error: ${(err as Error).message}`);
    });
  });
  server.keepAliveTimeout = 30_000;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sim');
    const method = req.method ?? 'GET';
    if (url.pathname.startsWith('/_sim/') || url.pathname === '/_sim') return admin(req, res, url, method);
    if (spec.metadata && (url.pathname.startsWith('/_meta/') || url.pathname.startsWith(spec.metadata.prefix))) {
      return metadata(req, res, url, method);
    }
    let body: Buffer;
    try {
      body = await readBody(req);
    } catch (err) {
      if (err instanceof BodyTooLargeError) return spec.sendError(res, 413, 'body_too_large', err.message);
      throw err;
    }
    // The body is passed for protocols that name the call in it (EC2 Query: Action=…).
    const route = spec.route(method, url, body);
    const record: RequestRecord = { t: now(), method, path: url.pathname, call: route?.call ?? 'unknown', status: 0, caller: callerAddressOf(req) };
    log.push(record);
    res.on('finish', () => (record.status = res.statusCode));
    if (!route) return spec.sendError(res, 404, 'not_found', `no route ${method} ${url.pathname}`);
    const faults = spec.faults.forRequest(route.call);
    if (faults.delayMs > 0) await sleep(faults.delayMs);
    if (faults.outcome && faults.outcome.kind !== 'lose-answer') return answerFault(res, faults.outcome);
    let decision: RateDecision | undefined;
    if (spec.rateLimit) {
      decision = spec.rateLimit.budget.take();
      for (const [k, v] of Object.entries(spec.rateLimit.headers(decision))) res.setHeader(k, v);
      if (!decision.allowed) return spec.sendRateLimited(res, decision.retryAfterMs, decision);
    }
    if (faults.outcome?.kind === 'lose-answer') {
      // Apply the call, then cut the connection before the answer leaves: "change applied, answer lost".
      const sink = new http.ServerResponse(req);
      await route.handle({ req, res: sink, url, method, body, callerAddress: callerAddressOf(req) });
      record.status = -1;
      req.socket.destroy();
      return;
    }
    await route.handle({ req, res, url, method, body, callerAddress: callerAddressOf(req) });
  }

  function answerFault(res: ServerResponse, outcome: KitRequestOutcome): void {
    if (outcome.kind === 'error') spec.sendError(res, outcome.status, 'unavailable', outcome.message);
    else if (outcome.kind === 'rate-limit') spec.sendRateLimited(res, outcome.retryAfterSeconds * 1000);
    else if (outcome.kind === 'hang') {
      hanging.add(res);
      res.on('close', () => hanging.delete(res));
    }
  }

  async function metadata(req: IncomingMessage, res: ServerResponse, url: URL, method: string): Promise<void> {
    const m = spec.metadata!;
    let path = url.pathname;
    let target: string | undefined;
    if (path.startsWith('/_meta/')) {
      const rest = path.slice('/_meta/'.length);
      const slash = rest.indexOf('/');
      target = decodeURIComponent(slash < 0 ? rest : rest.slice(0, slash));
      path = slash < 0 ? '/' : rest.slice(slash);
    }
    await readBody(req).catch(() => Buffer.alloc(0));
    const record: RequestRecord = { t: now(), method, path: url.pathname, call: 'metadata', status: 0, caller: callerAddressOf(req) };
    log.push(record);
    res.on('finish', () => (record.status = res.statusCode));
    if (!path.startsWith(m.prefix)) return spec.sendError(res, 404, 'not_found', `no metadata path ${path}`);
    const faults = spec.faults.forRequest('metadata');
    if (faults.delayMs > 0) await sleep(faults.delayMs);
    if (faults.outcome && faults.outcome.kind !== 'lose-answer') return answerFault(res, faults.outcome);
    await m.handle({
      res,
      method,
      headers: req.headers,
      path: path.slice(m.prefix.length),
      ...(target !== undefined ? { target } : {}),
      callerAddress: callerAddressOf(req),
    });
  }

  async function admin(req: IncomingMessage, res: ServerResponse, url: URL, method: string): Promise<void> {
    try {
      const parts = url.pathname.split('/').slice(2).filter((p) => p !== '').map(decodeURIComponent);
      let body: unknown;
      try {
        body = parseJsonBody(await readBody(req));
      } catch {
        return sendJson(res, 400, { error: 'body is not valid JSON' });
      }
      const answer = sharedAdmin(method, parts, url.searchParams, body) ?? spec.admin?.(method, parts, url.searchParams, body);
      if (!answer) return sendJson(res, 404, { error: `no admin route ${method} /_sim/${parts.join('/')}` });
      sendJson(res, answer.status ?? 200, answer.body);
    } catch (err) {
      sendJson(res, 400, { error: (err as Error).message });
    }
  }

  function sharedAdmin(method: string, parts: string[], query: URLSearchParams, body: unknown): AdminAnswer | undefined {
    const [head] = parts;
    const since = Number(query.get('since') ?? 0);
    if (head === 'requests' && method === 'GET' && parts.length === 1) return { body: { requests: log.filter((r) => r.t >= since) } };
    if (head === 'history' && method === 'GET' && parts.length === 1) {
      const resource = query.get('resource') ?? undefined;
      return {
        body: {
          events: spec.history.events(since, resource),
          ...(resource !== undefined ? { timeline: spec.history.timeline(resource, since || undefined) } : {}),
        },
      };
    }
    const faultsAnswer = faultsAdmin(spec.faults, method, parts, body);
    if (faultsAnswer) return faultsAnswer;
    if (head === 'config' && parts.length === 1) {
      if (method === 'PATCH' || method === 'PUT') {
        const b = (body ?? {}) as { changeDelayMs?: unknown; rateLimit?: { limit?: unknown; refillPerSecond?: unknown } };
        if (b.changeDelayMs !== undefined) {
          if (typeof b.changeDelayMs !== 'number' || !(b.changeDelayMs >= 0)) throw new Error('config changeDelayMs: expected a number >= 0');
          if (!spec.changeDelay) throw new Error('config changeDelayMs: this simulator applies changes synchronously');
          spec.changeDelay.set(b.changeDelayMs);
        }
        if (b.rateLimit !== undefined) {
          if (!spec.rateLimit) throw new Error('config rateLimit: this simulator has no rate limit');
          const { limit, refillPerSecond } = b.rateLimit;
          if ((limit !== undefined && !(typeof limit === 'number' && limit > 0)) || (refillPerSecond !== undefined && !(typeof refillPerSecond === 'number' && refillPerSecond > 0))) {
            throw new Error('config rateLimit: limit and refillPerSecond must be numbers > 0');
          }
          spec.rateLimit.budget.configure({ ...(limit !== undefined ? { limit } : {}), ...(refillPerSecond !== undefined ? { refillPerSecond } : {}) });
        }
      }
      if (method === 'GET' || method === 'PATCH' || method === 'PUT') {
        return {
          body: {
            ...(spec.changeDelay ? { changeDelayMs: spec.changeDelay.get() } : {}),
            ...(spec.rateLimit ? { rateLimit: spec.rateLimit.budget.settings } : {}),
          },
        };
      }
    }
    if (head === 'reset' && method === 'POST' && parts.length === 1) {
      spec.reset?.();
      spec.history.clear();
      spec.faults.clear();
      log.length = 0;
      return { body: { ok: true } };
    }
    return undefined;
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${host}:${addr.port}`,
    port: addr.port,
    host: addr.address,
    requests: (sinceMs = 0) => log.filter((r) => r.t >= sinceMs),
    accept: (socket) => void server.emit('connection', socket),
    close: async () => {
      spec.close?.();
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
