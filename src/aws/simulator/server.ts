/**
 * `ipwarden simulate aws`: an EC2 Query API and an IMDSv2 service on the shared simulator kit, faithful
 * enough that the AWS CLI v2 (`--endpoint-url`) and ipwarden's own client cannot tell it from EC2 for
 * the calls ipwarden makes.
 *
 * API (POST /, form-encoded, XML answers), every request SigV4-verified like EC2 does it:
 *   - Authorization header parsed (malformed → IncompleteSignature), access key known (AuthFailure),
 *     scope region/service = the simulator's region / "ec2" (AuthFailure), x-amz-date present and within
 *     15 minutes of the simulator's clock (RequestExpired), host and x-amz-date signed;
 *   - session credentials: x-amz-security-token must be present, signed and equal (AuthFailure), and
 *     the credentials unexpired (ExpiredToken);
 *   - the signature recomputed over the received request (AuthFailure when it differs: a wrong secret);
 *   - read-only keys get UnauthorizedOperation (403) on every mutating call.
 * Throttling: the kit's rate budget and `rate-limit` faults answer 503 RequestLimitExceeded.
 *
 * IMDSv2 under /latest/ (per caller: /_meta/<instance-id>/latest/… or by source address):
 *   PUT api/token with X-aws-ec2-metadata-token-ttl-seconds (1..21600) → token bound to that instance;
 *   every GET needs a valid, unexpired token of the same instance, else 401 (IMDSv1 is refused);
 *   meta-data/instance-id, placement/region, placement/availability-zone, mac, local-ipv4,
 *   network/interfaces/macs/<mac>/interface-id, iam/security-credentials/[<role>] (temporary
 *   credentials valid `roleCredentialTtlMs`, rotated 5 minutes before they expire).
 *
 * Admin (besides the kit's /_sim/requests, history, faults, config, reset):
 *   GET  /_sim/world                    the whole world (instances, interfaces, addresses, routes, keys)
 *   POST /_sim/access-keys {accessKeyId, secretAccessKey, sessionToken?, expiresInMs?, readOnly?}
 *   PATCH /_sim/imds {roleCredentialTtlMs?}  role credential lifetime (tests of the refresh)
 *   POST /_sim/instances/<id>/state {state}  e.g. "stopped"
 */
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import {
  HolderHistory,
  KitFaultSet,
  RateBudget,
  sendText,
  startCloudSimulator,
  type KitFaultRule,
  type MetadataCall,
  type RunningCloudSimulator,
  type SimCall,
} from '../../cloud/simulator-kit/index.js';
import { decodeQuery } from '../query.js';
import { parseAmzDate, parseAuthorization, signatureParts, signaturesEqual } from '../sigv4.js';
import { EC2_CALLS, Ec2Fault, Ec2World, errorXml, isEc2Action, MUTATING_ACTIONS } from './ec2.js';
import { seedWorld, type AwsWorld, type SeedOptions, type SimAccessKey, type SimInstance } from './world.js';

export const MAX_CLOCK_SKEW_MS = 15 * 60_000;
const DEFAULT_ROLE_TTL_MS = 6 * 3600_000;
const ROLE_ROTATE_BEFORE_MS = 5 * 60_000;

export interface AwsSimulatorOptions {
  host?: string;
  port?: number;
  seed?: SeedOptions;
  /** A whole world instead of the seed. */
  world?: AwsWorld;
  faults?: KitFaultRule[];
  faultSeed?: number;
  /** Token bucket of the account (default 100 requests, refilled 20/s: EC2's order of magnitude). */
  rateLimit?: { limit: number; refillPerSecond: number };
  /** Lifetime of instance-role credentials, ms (default 6 h). */
  roleCredentialTtlMs?: number;
  now?: () => number;
}

export interface RunningAwsSimulator extends RunningCloudSimulator {
  readonly region: string;
  /** The live world (tests may read it; change it through the API or admin routes). */
  world(): AwsWorld;
  history: HolderHistory;
  faults: KitFaultSet;
  /** IMDS base URL answering as `instanceId` (the /_meta/<id> form). */
  metadataUrl(instanceId: string): string;
  /** IMDS tokens issued so far, per instance. */
  tokensIssued(instanceId: string): number;
}

export const AWS_CALLS = [...Object.values(EC2_CALLS), 'metadata'] as const;

function sendXml(res: ServerResponse, status: number, xml: string): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'content-type': 'text/xml;charset=UTF-8', 'content-length': String(Buffer.byteLength(xml)), server: 'AmazonEC2' });
  res.end(xml);
}

function sendEc2Error(res: ServerResponse, status: number, code: string, message: string): void {
  sendXml(res, status, errorXml(code, message));
}

const KIT_CODES: Record<string, string> = { unavailable: 'Unavailable', internal: 'InternalError', not_found: 'InvalidAction', body_too_large: 'InvalidParameterValue' };

export async function startAwsSimulator(opts: AwsSimulatorOptions = {}): Promise<RunningAwsSimulator> {
  const now = opts.now ?? Date.now;
  const seed = (): AwsWorld => structuredClone(opts.world ?? seedWorld(opts.seed));
  const history = new HolderHistory(now);
  const ec2 = new Ec2World(seed(), history);
  ec2.recordAll('seed');
  const faults = new KitFaultSet({ calls: AWS_CALLS, mutating: [...MUTATING_ACTIONS].map((a) => EC2_CALLS[a]) }, opts.faults ?? [], opts.faultSeed);
  const budget = new RateBudget({ ...(opts.rateLimit ?? { limit: 100, refillPerSecond: 20 }), now });
  let roleTtlMs = opts.roleCredentialTtlMs ?? DEFAULT_ROLE_TTL_MS;
  const tokens = new Map<string, { instanceId: string; expiresMs: number }>();
  const tokensIssued = new Map<string, number>();
  /** Current role credentials per instance. */
  const roleKeys = new Map<string, SimAccessKey>();

  const keyOf = (id: string): SimAccessKey | undefined => ec2.world.accessKeys.find((k) => k.accessKeyId === id);

  /** SigV4 verification; an Ec2Fault when the request is not authentic. */
  function authenticate(call: SimCall): SimAccessKey {
    const authz = call.req.headers.authorization;
    if (!authz) throw new Ec2Fault(401, 'AuthFailure', 'AWS was not able to validate the provided access credentials');
    const parsed = parseAuthorization(authz);
    if (typeof parsed === 'string') throw new Ec2Fault(400, 'IncompleteSignature', parsed);
    const key = keyOf(parsed.accessKeyId);
    if (!key) throw new Ec2Fault(401, 'AuthFailure', 'AWS was not able to validate the provided access credentials');
    const dateHeader = call.req.headers['x-amz-date'];
    const date = typeof dateHeader === 'string' ? parseAmzDate(dateHeader) : undefined;
    if (!date) throw new Ec2Fault(400, 'IncompleteSignature', 'Authorization header requires existence of either a \'X-Amz-Date\' or a \'Date\' header.');
    if (Math.abs(date.getTime() - now()) > MAX_CLOCK_SKEW_MS) {
      throw new Ec2Fault(400, 'RequestExpired', `Request has expired. Timestamp date is ${dateHeader}`);
    }
    if (parsed.day !== (dateHeader as string).slice(0, 8)) throw new Ec2Fault(401, 'AuthFailure', 'Credential should be scoped to a valid date');
    if (parsed.region !== ec2.world.region) throw new Ec2Fault(401, 'AuthFailure', `Credential should be scoped to a valid region, not '${parsed.region}'.`);
    if (parsed.service !== 'ec2') throw new Ec2Fault(401, 'AuthFailure', `Credential should be scoped to correct service: 'ec2'.`);
    for (const h of ['host', 'x-amz-date']) {
      if (!parsed.signedHeaders.includes(h)) throw new Ec2Fault(401, 'AuthFailure', `The '${h}' header must be signed`);
    }
    const token = call.req.headers['x-amz-security-token'];
    if (key.sessionToken !== undefined) {
      if (token !== key.sessionToken || !parsed.signedHeaders.includes('x-amz-security-token')) {
        throw new Ec2Fault(401, 'AuthFailure', 'AWS was not able to validate the provided access credentials');
      }
    } else if (token !== undefined) throw new Ec2Fault(401, 'AuthFailure', 'AWS was not able to validate the provided access credentials');
    const headers: Record<string, string> = {};
    for (const name of parsed.signedHeaders) {
      const v = call.req.headers[name];
      headers[name] = Array.isArray(v) ? v.join(',') : (v ?? '');
    }
    const parts = signatureParts(
      { method: call.method, url: call.url, headers, body: call.body.toString('utf8') },
      key.secretAccessKey,
      { day: parsed.day, region: parsed.region, service: parsed.service, amzDate: dateHeader as string },
      parsed.signedHeaders,
    );
    if (!signaturesEqual(parts.signature, parsed.signature)) {
      throw new Ec2Fault(401, 'AuthFailure', 'AWS was not able to validate the provided access credentials');
    }
    if (key.expiresMs !== undefined && now() >= key.expiresMs) throw new Ec2Fault(400, 'ExpiredToken', 'The security token included in the request is expired');
    return key;
  }

  function caller(call: MetadataCall): SimInstance | undefined {
    if (call.target !== undefined) return ec2.world.instances.find((i) => i.instanceId === call.target);
    const eni = ec2.world.interfaces.find((e) => e.privateIps[0] === call.callerAddress && e.instanceId);
    return eni ? ec2.world.instances.find((i) => i.instanceId === eni.instanceId) : undefined;
  }

  function roleCredentials(inst: SimInstance): SimAccessKey {
    let k = roleKeys.get(inst.instanceId);
    if (!k || (k.expiresMs ?? 0) - now() < Math.min(ROLE_ROTATE_BEFORE_MS, roleTtlMs / 2)) {
      k = {
        accessKeyId: `ASIA${randomBytes(8).toString('hex').toUpperCase()}`,
        secretAccessKey: randomBytes(30).toString('base64'),
        sessionToken: `IQoJsim${randomBytes(48).toString('base64')}`,
        expiresMs: now() + roleTtlMs,
        owner: `role ${inst.role} for ${inst.instanceId}`,
      };
      roleKeys.set(inst.instanceId, k);
      ec2.world.accessKeys.push(k);
    }
    return k;
  }

  function metadata(call: MetadataCall): void {
    const { res } = call;
    const inst = caller(call);
    if (!inst) return sendText(res, 404, 'Not Found');
    if (call.path === 'api/token') {
      if (call.method !== 'PUT') return sendText(res, 405, 'Method Not Allowed');
      const ttlText = call.headers['x-aws-ec2-metadata-token-ttl-seconds'];
      const ttl = Number(ttlText);
      if (typeof ttlText !== 'string' || !Number.isInteger(ttl) || ttl < 1 || ttl > 21600) return sendText(res, 400, 'Bad Request');
      const token = randomBytes(42).toString('base64url');
      tokens.set(token, { instanceId: inst.instanceId, expiresMs: now() + ttl * 1000 });
      tokensIssued.set(inst.instanceId, (tokensIssued.get(inst.instanceId) ?? 0) + 1);
      res.setHeader('x-aws-ec2-metadata-token-ttl-seconds', String(ttl));
      return sendText(res, 200, token);
    }
    if (call.method !== 'GET') return sendText(res, 405, 'Method Not Allowed');
    const tokenHeader = call.headers['x-aws-ec2-metadata-token'];
    const token = typeof tokenHeader === 'string' ? tokens.get(tokenHeader) : undefined;
    // IMDSv1 (no token) and foreign or expired tokens: 401, as an instance with HttpTokens=required.
    if (!token || token.instanceId !== inst.instanceId || now() >= token.expiresMs) return sendText(res, 401, 'Unauthorized');
    const primary = ec2.world.interfaces.find((e) => e.networkInterfaceId === inst.interfaceIds[0]);
    const subnet = ec2.world.subnets.find((s) => s.subnetId === primary?.subnetId);
    const p = call.path.replace(/^meta-data\//, 'meta-data/');
    const macMatch = /^meta-data\/network\/interfaces\/macs\/([^/]+)\/interface-id$/.exec(p);
    let value: string | undefined;
    if (p === 'meta-data/instance-id') value = inst.instanceId;
    else if (p === 'meta-data/placement/region') value = ec2.world.region;
    else if (p === 'meta-data/placement/availability-zone') value = subnet?.availabilityZone;
    else if (p === 'meta-data/mac') value = primary?.mac;
    else if (p === 'meta-data/local-ipv4') value = primary?.privateIps[0];
    else if (macMatch) {
      value = ec2.world.interfaces.find((e) => e.mac === macMatch[1] && e.instanceId === inst.instanceId)?.networkInterfaceId;
    } else if (p === 'meta-data/iam/security-credentials/' || p === 'meta-data/iam/security-credentials') value = inst.role;
    else if (inst.role && p === `meta-data/iam/security-credentials/${inst.role}`) {
      const k = roleCredentials(inst);
      value = JSON.stringify(
        {
          Code: 'Success',
          LastUpdated: new Date(now()).toISOString().replace(/\.\d{3}Z$/, 'Z'),
          Type: 'AWS-HMAC',
          AccessKeyId: k.accessKeyId,
          SecretAccessKey: k.secretAccessKey,
          Token: k.sessionToken,
          Expiration: new Date(k.expiresMs!).toISOString().replace(/\.\d{3}Z$/, 'Z'),
        },
        null,
        2,
      );
    }
    if (value === undefined) return sendText(res, 404, 'Not Found');
    sendText(res, 200, value);
  }

  const sim = await startCloudSimulator(
    {
      cloud: 'aws',
      faults,
      history,
      rateLimit: { budget, headers: () => ({}) },
      sendError: (res, status, code, message) => sendEc2Error(res, status, KIT_CODES[code] ?? code, message),
      sendRateLimited: (res) => sendEc2Error(res, 503, 'RequestLimitExceeded', 'Request limit exceeded.'),
      route(method, url, body) {
        if (url.pathname !== '/' || (method !== 'POST' && method !== 'GET')) return undefined;
        const params = method === 'POST' ? decodeQuery(body.toString('utf8')) : new Map(url.searchParams);
        const action = params.get('Action');
        if (!isEc2Action(action)) {
          return {
            call: 'unknown',
            handle: ({ res }) =>
              action ? sendEc2Error(res, 400, 'InvalidAction', `The action ${action} is not valid for this web service.`) : sendEc2Error(res, 400, 'MissingAction', 'The request must contain the parameter Action'),
          };
        }
        return {
          call: EC2_CALLS[action],
          handle: (call) => {
            try {
              const key = authenticate(call);
              if (key.readOnly && MUTATING_ACTIONS.has(action)) {
                throw new Ec2Fault(403, 'UnauthorizedOperation', 'You are not authorized to perform this operation.');
              }
              const fault = MUTATING_ACTIONS.has(action) ? faults.forChange(EC2_CALLS[action]) : undefined;
              if (fault?.kind === 'fail-change') throw new Ec2Fault(500, 'InternalError', fault.message);
              if (fault?.kind === 'stall-change') throw new Ec2Fault(503, 'Unavailable', 'The service is unavailable. Please try again shortly.');
              sendXml(call.res, 200, ec2.handle(action, params));
            } catch (err) {
              if (err instanceof Ec2Fault) return sendEc2Error(call.res, err.status, err.code, err.message);
              throw err;
            }
          },
        };
      },
      metadata: { prefix: '/latest/', handle: metadata },
      admin(method, parts, _query, body) {
        const [head, id, sub] = parts;
        if (head === 'world' && method === 'GET' && parts.length === 1) {
          return { body: { ...ec2.world, accessKeys: ec2.world.accessKeys.map((k) => ({ accessKeyId: k.accessKeyId, readOnly: k.readOnly ?? false, owner: k.owner ?? null, expiresMs: k.expiresMs ?? null })) } };
        }
        if (head === 'access-keys' && method === 'POST' && parts.length === 1) {
          const b = (body ?? {}) as { accessKeyId?: unknown; secretAccessKey?: unknown; sessionToken?: unknown; expiresInMs?: unknown; readOnly?: unknown };
          if (typeof b.accessKeyId !== 'string' || typeof b.secretAccessKey !== 'string') throw new Error('access-keys: accessKeyId and secretAccessKey (strings) are required');
          if (b.sessionToken !== undefined && typeof b.sessionToken !== 'string') throw new Error('access-keys sessionToken: expected a string');
          if (b.expiresInMs !== undefined && typeof b.expiresInMs !== 'number') throw new Error('access-keys expiresInMs: expected a number');
          ec2.world.accessKeys = ec2.world.accessKeys.filter((k) => k.accessKeyId !== b.accessKeyId);
          ec2.world.accessKeys.push({
            accessKeyId: b.accessKeyId,
            secretAccessKey: b.secretAccessKey,
            ...(b.sessionToken ? { sessionToken: b.sessionToken } : {}),
            ...(typeof b.expiresInMs === 'number' ? { expiresMs: now() + b.expiresInMs } : {}),
            ...(b.readOnly === true ? { readOnly: true } : {}),
            owner: 'admin',
          });
          return { status: 201, body: { accessKeyId: b.accessKeyId } };
        }
        if (head === 'imds' && (method === 'PATCH' || method === 'PUT') && parts.length === 1) {
          const b = (body ?? {}) as { roleCredentialTtlMs?: unknown };
          if (b.roleCredentialTtlMs !== undefined) {
            if (typeof b.roleCredentialTtlMs !== 'number' || !(b.roleCredentialTtlMs > 0)) throw new Error('imds roleCredentialTtlMs: expected a number > 0');
            roleTtlMs = b.roleCredentialTtlMs;
            roleKeys.clear();
          }
          return { body: { roleCredentialTtlMs: roleTtlMs } };
        }
        if (head === 'instances' && id !== undefined && sub === 'state' && method === 'POST') {
          const inst = ec2.world.instances.find((i) => i.instanceId === id);
          if (!inst) return { status: 404, body: { error: `no instance ${id}` } };
          const state = (body as { state?: unknown } | undefined)?.state;
          if (!['pending', 'running', 'stopping', 'stopped', 'terminated'].includes(state as string)) throw new Error('state: expected pending|running|stopping|stopped|terminated');
          inst.state = state as SimInstance['state'];
          return { body: { instanceId: id, state } };
        }
        return undefined;
      },
      reset() {
        ec2.world = seed();
        tokens.clear();
        tokensIssued.clear();
        roleKeys.clear();
        budget.configure(opts.rateLimit ?? { limit: 100, refillPerSecond: 20 });
        queueMicrotask(() => ec2.recordAll('seed'));
      },
    },
    { ...(opts.host ? { host: opts.host } : {}), ...(opts.port !== undefined ? { port: opts.port } : {}), now },
  );
  return {
    ...sim,
    region: ec2.world.region,
    world: () => ec2.world,
    history,
    faults,
    metadataUrl: (instanceId) => `${sim.url}/_meta/${encodeURIComponent(instanceId)}`,
    tokensIssued: (instanceId) => tokensIssued.get(instanceId) ?? 0,
  };
}

