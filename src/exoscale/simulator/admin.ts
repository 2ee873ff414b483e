/**
 * The simulator's admin API under /_sim/ (no authentication: a loopback lab tool).
 * Lets tests and the lab change the world and faults at runtime and read the state,
 * the event log (attach/detach with timestamps) and the request log. See SIMULATOR.md.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { faultsAdmin } from '../../cloud/simulator-kit/faults.js';
import { parseJsonBody, readBody, sendJson } from '../../cloud/simulator-kit/respond.js';
import {
  configPatchSchema,
  holdersSchema,
  instancePatchSchema,
  keySchema,
  parseElasticIpInput,
  parseInstanceInput,
  parseSecurityGroupInput,
  parseWith,
} from './schemas.js';
import { renderElasticIp, renderInstance, renderSecurityGroup, type SimulatorState } from './state.js';

export interface AdminContext {
  state: SimulatorState;
  keys: Map<string, string>;
}

class AdminError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function handleAdmin(req: IncomingMessage, res: ServerResponse, ctx: AdminContext): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://sim');
  const method = req.method ?? 'GET';
  try {
    const parts = url.pathname.split('/').slice(2).filter((p) => p !== '').map(decodeURIComponent); // after "", "_sim"
    const raw = await readBody(req);
    let body: unknown;
    try {
      body = parseJsonBody(raw);
    } catch {
      throw new AdminError(400, 'body is not valid JSON');
    }
    const result = route(method, parts, url.searchParams, body, ctx);
    sendJson(res, result.status ?? 200, result.body);
  } catch (err) {
    const status = err instanceof AdminError ? err.status : 400;
    sendJson(res, status, { error: (err as Error).message });
  }
}

interface AdminResult {
  status?: number;
  body: unknown;
}

function route(method: string, parts: string[], query: URLSearchParams, body: unknown, ctx: AdminContext): AdminResult {
  const { state } = ctx;
  const [head, id, sub] = parts;
  const since = Number(query.get('since') ?? 0);
  const is = (m: string, n: number): boolean => method === m && parts.length === n;

  switch (head) {
    case 'state':
      if (is('GET', 1)) return { body: { ...state.snapshot(), keys: [...ctx.keys.keys()] } };
      break;
    case 'reset':
      if (is('POST', 1)) {
        state.reset();
        return { body: { ok: true } };
      }
      break;
    case 'events':
      if (is('GET', 1)) return { body: { events: state.events(since) } };
      break;
    case 'requests':
      if (is('GET', 1)) return { body: { requests: state.requests(since) } };
      break;
    case 'config':
      if (is('GET', 1)) return { body: state.config };
      if (is('PATCH', 1) || is('PUT', 1)) return { body: state.setConfig(parseWith(configPatchSchema, body, 'config')) };
      break;
    case 'instances':
      if (is('GET', 1)) return { body: { instances: state.instances().map((i) => full(state, i.id)) } };
      if (is('POST', 1)) return { status: 201, body: full(state, state.addInstance(parseInstanceInput(body)).id) };
      if (id !== undefined && parts.length === 2) {
        const inst = state.findInstance(id);
        if (!inst) throw new AdminError(404, `no instance ${JSON.stringify(id)}`);
        if (method === 'GET') return { body: full(state, inst.id) };
        if (method === 'PATCH') {
          state.updateInstance(inst.id, parseWith(instancePatchSchema, body ?? {}, 'instance'));
          return { body: full(state, inst.id) };
        }
        if (method === 'DELETE') return { body: { removed: state.removeInstance(inst.id) } };
      }
      break;
    case 'security-groups':
      if (is('GET', 1)) return { body: { securityGroups: state.securityGroups().map(renderSecurityGroup) } };
      if (is('POST', 1)) return { status: 201, body: renderSecurityGroup(state.addSecurityGroup(parseSecurityGroupInput(body))) };
      break;
    case 'elastic-ips': {
      if (is('GET', 1)) return { body: { elasticIps: state.elasticIps().map((e) => ({ ...renderElasticIp(e), holders: [...e.holders] })) } };
      if (is('POST', 1)) {
        const e = state.addElasticIp(parseElasticIpInput(body));
        return { status: 201, body: { ...renderElasticIp(e), holders: [...e.holders] } };
      }
      if (id === undefined) break;
      const eip = state.findElasticIp(id);
      if (!eip) throw new AdminError(404, `no elastic IP ${JSON.stringify(id)}`);
      if (parts.length === 2 && method === 'GET') return { body: { ...renderElasticIp(eip), holders: [...eip.holders] } };
      if (sub === 'holders' && parts.length === 3) {
        if (method === 'GET') return { body: { holders: state.holdersOf(eip.id) } };
        if (method === 'PUT') return { body: { holders: state.setHolders(eip.id, parseWith(holdersSchema, body, 'holders').instances) } };
      }
      if (sub === 'history' && parts.length === 3 && method === 'GET') {
        const from = query.get('since');
        return { body: state.history(eip.id, from === null ? undefined : Number(from)) };
      }
      break;
    }
    case 'faults': {
      // the kit's routes; its 404 answer becomes this API's AdminError
      const answer = faultsAdmin(state.faults, method, parts, body);
      if (answer?.status === 404) throw new AdminError(404, (answer.body as { error: string }).error);
      if (answer) return answer;
      break;
    }
    case 'keys':
      if (is('GET', 1)) return { body: { keys: [...ctx.keys.keys()] } };
      if (is('POST', 1)) {
        const k = parseWith(keySchema, body, 'key');
        ctx.keys.set(k.key, k.secret);
        return { status: 201, body: { keys: [...ctx.keys.keys()] } };
      }
      if (method === 'DELETE' && id !== undefined && parts.length === 2) {
        if (!ctx.keys.delete(id)) throw new AdminError(404, `no key ${JSON.stringify(id)}`);
        return { body: { keys: [...ctx.keys.keys()] } };
      }
      break;
  }
  throw new AdminError(404, `no admin route ${method} /_sim/${parts.join('/')}`);
}

/** The API's view of an instance plus the simulator's extras (metadata-relevant name/IP). */
function full(state: SimulatorState, id: string): unknown {
  const inst = state.findInstance(id)!;
  return {
    ...renderInstance(inst, state.elasticIpsOf(inst.id)),
    securityGroupNames: inst.securityGroupIds.map((g) => state.findSecurityGroup(g)?.name ?? g),
  };
}
