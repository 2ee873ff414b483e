/**
 * What the AWS action plugins (aws-eip, aws-private-ip, aws-route) and the aws-tag discovery share:
 * the common rc-file keys and their resolution, and the action built on the shared controller.
 *
 * Common keys (a contract):
 *   region            default $AWS_REGION / $AWS_DEFAULT_REGION, else the shared config file's profile
 *                     region, else IMDSv2 placement/region
 *   endpoint          default $AWS_ENDPOINT_URL_EC2 / $AWS_ENDPOINT_URL, else https://ec2.<region>.amazonaws.com
 *   metadataUrl       default $AWS_EC2_METADATA_SERVICE_ENDPOINT, else http://169.254.169.254
 *   accessKeyId, secretAccessKey, sessionToken
 *                     secret references (env:, file:, credential:) overriding the standard chain
 *                     (env, shared files with AWS_PROFILE, the instance role from IMDSv2)
 *   release, onApiUnreachable, reconcile, startupGrace, strategy (move only: AWS moves on attach)
 *                     the shared controller's keys
 */
import { z } from 'zod';
import { redactSecretRef } from '../config/secret.js';
import { FloatingIpController, type FloatingIpControllerSettings } from '../cloud/controller.js';
import { floatingIpHandlers } from '../cloud/action.js';
import { FAILOVER_FIRST_TIMEOUT_MS } from '../cloud/http.js';
import { controllerKeysShape, httpUrlKey, singleHolderStrategy } from '../cloud/action-config.js';
import type { FloatingIpProvider } from '../cloud/provider.js';
import type { ActionHandlers, ConfigIssue, DoctorFinding, ParseResult, PluginEnvironment, ActionContext } from '../plugins/api.js';
import { zodConfig } from '../plugins/zod-config.js';
import { AwsConnection, type AwsConnectionSettings } from './connection.js';
import type { ExplicitCredentials } from './credentials.js';
import type { Logger } from '../plugins/api.js';


const httpUrl = httpUrlKey;
const secretRef = z.string({ error: 'expected a secret reference (env:NAME, file:PATH, credential:NAME)' }).min(1);

export const REGION_RE = /^[a-z]{2}(-[a-z]+)+-\d+$/;
export const INSTANCE_ID_RE = /^i-[0-9a-f]{8,17}$/;
export const ENI_ID_RE = /^eni-[0-9a-f]{8,17}$/;
export const ROUTE_TABLE_ID_RE = /^rtb-[0-9a-f]{8,17}$/;
export const ALLOCATION_ID_RE = /^eipalloc-[0-9a-f]{8,17}$/;

export const awsConnectionShape = {
  region: z.string({ error: 'expected a region name like "eu-west-1"' }).regex(REGION_RE, { error: 'expected a region name like "eu-west-1"' }).optional(),
  endpoint: httpUrl.optional(),
  metadataUrl: httpUrl.optional(),
  accessKeyId: secretRef.optional(),
  secretAccessKey: secretRef.optional(),
  sessionToken: secretRef.optional(),
};

export const awsControllerShape = {
  strategy: singleHolderStrategy('AWS moves the address on attach'),
  ...controllerKeysShape,
};

export const instanceIdKey = z.string({ error: 'expected an instance id like "i-0123456789abcdef0"' }).regex(INSTANCE_ID_RE, { error: 'expected an instance id like "i-0123456789abcdef0"' });
export const eniIdKey = z.string({ error: 'expected a network interface id like "eni-0123456789abcdef0"' }).regex(ENI_ID_RE, { error: 'expected a network interface id like "eni-0123456789abcdef0"' });

interface ConnectionInput {
  region?: string | undefined;
  endpoint?: string | undefined;
  metadataUrl?: string | undefined;
  accessKeyId?: string | undefined;
  secretAccessKey?: string | undefined;
  sessionToken?: string | undefined;
}

/** The connection keys with their secret references resolved; issues name the key. */
export function resolveAwsConnection(c: ConnectionInput, env: PluginEnvironment): { ok: true; settings: AwsConnectionSettings } | { ok: false; issues: ConfigIssue[] } {
  if ((c.accessKeyId === undefined) !== (c.secretAccessKey === undefined)) {
    const missing = c.accessKeyId === undefined ? 'accessKeyId' : 'secretAccessKey';
    return { ok: false, issues: [{ path: [missing], message: 'accessKeyId and secretAccessKey go together (or leave both out for the standard credential chain)' }] };
  }
  if (c.sessionToken !== undefined && c.accessKeyId === undefined) {
    return { ok: false, issues: [{ path: ['sessionToken'], message: 'sessionToken needs accessKeyId and secretAccessKey' }] };
  }
  let explicit: ExplicitCredentials | undefined;
  if (c.accessKeyId !== undefined && c.secretAccessKey !== undefined) {
    const accessKeyId = env.resolveSecret(c.accessKeyId, 'accessKeyId');
    const secretAccessKey = env.resolveSecret(c.secretAccessKey, 'secretAccessKey');
    const sessionToken = c.sessionToken !== undefined ? env.resolveSecret(c.sessionToken, 'sessionToken') : undefined;
    if (/\s/.test(accessKeyId)) return { ok: false, issues: [{ path: ['accessKeyId'], message: 'the access key id contains whitespace' }] };
    const refs = [`accessKeyId ${redactSecretRef(c.accessKeyId)}`, `secretAccessKey ${redactSecretRef(c.secretAccessKey)}`];
    if (c.sessionToken !== undefined) refs.push(`sessionToken ${redactSecretRef(c.sessionToken)}`);
    explicit = { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}), source: refs.join(', ') };
  }
  return {
    ok: true,
    settings: {
      ...(c.region ? { region: c.region } : {}),
      ...(c.endpoint ? { endpoint: c.endpoint.replace(/\/+$/, '') } : {}),
      ...(c.metadataUrl ? { metadataUrl: c.metadataUrl.replace(/\/+$/, '') } : {}),
      ...(explicit ? { explicit } : {}),
      timeoutMs: 5000,
      firstTimeoutMs: FAILOVER_FIRST_TIMEOUT_MS,
    },
  };
}

export interface AwsActionConfig<P> {
  connection: AwsConnectionSettings;
  provider: P;
  controller: Omit<FloatingIpControllerSettings, 'clock'>;
}

interface ControllerInput {
  strategy: 'move';
  release: boolean;
  onApiUnreachable: 'hold' | 'release';
  reconcile: number;
  startupGrace: number;
}

/** parseConfig of an AWS action: schema, then connection, then the action's own `provider` settings. */
export function parseAwsAction<S extends z.ZodObject, P>(
  schema: S,
  raw: Record<string, unknown>,
  env: PluginEnvironment,
  provider: (c: z.output<S>) => ParseResult<P>,
): ParseResult<AwsActionConfig<P>> {
  const shape = zodConfig(schema)(raw);
  if (!shape.ok) return shape;
  const c = shape.config as z.output<S> & ConnectionInput & ControllerInput;
  const conn = resolveAwsConnection(c, env);
  if (!conn.ok) return conn;
  const p = provider(shape.config);
  if (!p.ok) return p;
  return {
    ok: true,
    config: {
      connection: conn.settings,
      provider: p.config,
      controller: { strategy: c.strategy, release: c.release, onApiUnreachable: c.onApiUnreachable, reconcileMs: c.reconcile, startupGraceMs: c.startupGrace },
    },
  };
}

/** The action's handlers: the provider on the shared controller, fencing included. */
export function awsActionHandlers(provider: FloatingIpProvider, settings: AwsActionConfig<unknown>['controller'], log: Logger): ActionHandlers & { controller: FloatingIpController } {
  const controller = new FloatingIpController(provider, settings, log);
  const { fencing: _fencing, ...handlers } = floatingIpHandlers(controller, provider, log);
  return { controller, ...handlers };
}

/** `ipwarden doctor` for an AWS action: credentials (one read through the provider), this node's target, holders. */
export async function awsDoctor(provider: FloatingIpProvider, ctx: ActionContext<unknown>): Promise<DoctorFinding[]> {
  const out: DoctorFinding[] = [];
  const oneLine = (err: unknown): string => ((err as Error)?.message ?? String(err)).split('\n')[0]!;
  try {
    let self: string;
    try {
      self = await provider.self();
      out.push({ ok: true, item: 'this node', detail: self });
    } catch (err) {
      out.push({ ok: false, item: 'this node', detail: oneLine(err), fix: 'set instanceId / networkInterfaceId, or allow IMDSv2 (HttpTokens=required, hop limit >= 1)' });
      return out;
    }
    try {
      const holders = await provider.holders();
      out.push({ ok: true, item: 'AWS API credentials', detail: `accepted (${provider.describe()})` });
      out.push({ ok: holders.length <= 1, item: `holders of ${ctx.instance.address}`, detail: holders.length ? holders.join(', ') : 'none' });
    } catch (err) {
      out.push({ ok: false, item: 'AWS API credentials', detail: oneLine(err), fix: 'check the credentials (see contrib/aws/iam-policy-*.json for the least-privilege policy), region and endpoint' });
    }
    return out;
  } finally {
    await provider.close?.();
  }
}

export { AwsConnection };
