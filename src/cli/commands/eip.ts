/**
 * `ipwarden eip attach|detach|show`: one-off Elastic IP operations (exoip -A / -D parity), the
 * same client and credentials as the exoscale-eip action. Every API failure is one line, exit 1;
 * bad usage exits 2.
 */
import { isIP } from 'node:net';
import type { Command, CommandContext, FlagSpec } from '../command.js';
import { CliError, EXIT, UsageError } from '../command.js';
import { ExoscaleClient, type ExoscaleClientOptions } from '../../exoscale/client.js';
import { ZONE_NAME_RE } from '../../exoscale/connection.js';
import { ExoscaleConfigError, ExoscaleError } from '../../exoscale/errors.js';
import { fetchInstanceId, fetchMetadata, MetadataError } from '../../exoscale/metadata.js';
import type { InstanceSummary } from '../../exoscale/types.js';
import { isUuid } from '../../exoscale/types.js';
import { resolveSecret, SecretError } from '../../config/secret.js';

/** Flags shared by the eip commands. */
export const EXOSCALE_FLAGS: Record<string, FlagSpec> = {
  zone: { type: 'string', arg: 'ZONE', description: 'zone of the Elastic IP (default $EXOSCALE_ZONE, else the metadata server\'s availability-zone)' },
  endpoint: { type: 'string', arg: 'URL', description: 'API endpoint (default $EXOSCALE_API_ENDPOINT, else https://api-<zone>.exoscale.com/v2)' },
  'metadata-url': { type: 'string', arg: 'URL', description: 'metadata server URL (default $EXOSCALE_METADATA_URL, else http://169.254.169.254/latest/meta-data/instance-id)' },
  'api-key': { type: 'string', arg: 'KEY', description: 'API key, or env:NAME / file:PATH (default $EXOSCALE_API_KEY)' },
  'api-secret': { type: 'string', arg: 'REF', description: 'API secret as env:NAME, file:PATH or credential:NAME, never a literal (default $EXOSCALE_API_SECRET)' },
};

const ADDRESS_FLAG: FlagSpec = { type: 'string', arg: 'IP', description: 'the Elastic IP address (or its UUID)' };
const INSTANCE_FLAG: FlagSpec = { type: 'string', arg: 'ID', description: 'instance UUID (default: this instance, from the metadata server)' };

/** Where the CLI's Exoscale settings come from: flags, then the environment. */
export interface ExoscaleCliInput {
  zone?: string;
  endpoint?: string;
  metadataUrl?: string;
  apiKey?: string;
  apiSecret?: string;
}

/** API key and secret: flags (references) or EXOSCALE_API_KEY / EXOSCALE_API_SECRET. Throws UsageError when missing. */
export function cliCredentials(input: ExoscaleCliInput, env: NodeJS.ProcessEnv): { apiKey: string; apiSecret: string } {
  const ctx = { baseDir: process.cwd(), env };
  if (input.apiSecret !== undefined && !/^(env|file|credential):/.test(input.apiSecret)) {
    throw new UsageError('--api-secret: expected env:NAME, file:PATH or credential:NAME (a literal secret would show in the process list)');
  }
  const keyRef = input.apiKey ?? (env.EXOSCALE_API_KEY ? 'env:EXOSCALE_API_KEY' : undefined);
  const secretRef = input.apiSecret ?? (env.EXOSCALE_API_SECRET ? 'env:EXOSCALE_API_SECRET' : undefined);
  if (!keyRef) throw new UsageError('no API key: set EXOSCALE_API_KEY or pass --api-key');
  if (!secretRef) throw new UsageError('no API secret: set EXOSCALE_API_SECRET or pass --api-secret env:NAME|file:PATH');
  try {
    return { apiKey: resolveSecret(keyRef, '--api-key', ctx), apiSecret: resolveSecret(secretRef, '--api-secret', ctx) };
  } catch (err) {
    if (err instanceof SecretError) throw new CliError(err.message);
    throw err;
  }
}

/** The metadata URL from the flag or EXOSCALE_METADATA_URL (undefined = the default 169.254.169.254). */
export function metadataUrlOf(input: ExoscaleCliInput, env: NodeJS.ProcessEnv): string | undefined {
  return input.metadataUrl ?? (env.EXOSCALE_METADATA_URL || undefined);
}

/** The zone: flag, $EXOSCALE_ZONE, else the metadata server's availability-zone. */
export async function cliZone(input: ExoscaleCliInput, env: NodeJS.ProcessEnv): Promise<string> {
  const given = input.zone ?? (env.EXOSCALE_ZONE || undefined);
  if (given !== undefined) {
    if (!ZONE_NAME_RE.test(given)) throw new UsageError(`--zone: expected a zone name like ch-gva-2, got ${JSON.stringify(given)}`);
    return given;
  }
  const url = metadataUrlOf(input, env);
  try {
    const zone = await fetchMetadata('availability-zone', { ...(url ? { url } : {}), retries: 1 });
    if (!ZONE_NAME_RE.test(zone)) throw new MetadataError(`availability-zone ${JSON.stringify(zone.slice(0, 40))} is not a zone name`);
    return zone;
  } catch (err) {
    if (err instanceof MetadataError) throw new UsageError(`--zone: not given and not readable from the metadata server (${err.message}); pass --zone or set EXOSCALE_ZONE`);
    throw err;
  }
}

/** This instance's id: the flag, else the metadata server. */
export async function cliInstance(instance: string | undefined, input: ExoscaleCliInput, env: NodeJS.ProcessEnv): Promise<string> {
  if (instance !== undefined) {
    if (!isUuid(instance)) throw new UsageError(`--instance: expected an instance UUID, got ${JSON.stringify(instance)}`);
    return instance.toLowerCase();
  }
  const url = metadataUrlOf(input, env);
  try {
    return await fetchInstanceId({ ...(url ? { url } : {}), retries: 1 });
  } catch (err) {
    if (err instanceof MetadataError) throw new CliError(`${err.message}; or pass --instance ID`);
    throw err;
  }
}

/** A client for one-off commands (10 s per request, 30 s per call, quick operation polls). */
export function cliClient(conn: { zone: string; endpoint?: string; apiKey: string; apiSecret: string }, extra: Partial<ExoscaleClientOptions> = {}): ExoscaleClient {
  try {
    return new ExoscaleClient({ ...conn, timeoutMs: 10_000, deadlineMs: 30_000, pollIntervalMs: 250, waitTimeoutMs: 60_000, ...extra });
  } catch (err) {
    if (err instanceof ExoscaleConfigError) throw new UsageError(err.message.replace(/^exoscale: /, ''));
    throw err;
  }
}

/** Runs an API action, turning every Exoscale/metadata failure into one CLI line (exit 1). */
export async function apiStep<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ExoscaleError || err instanceof MetadataError) throw new CliError(err.message);
    if (err instanceof ExoscaleConfigError) throw new UsageError(err.message.replace(/^exoscale: /, ''));
    throw err;
  }
}

function inputOf(ctx: CommandContext): ExoscaleCliInput {
  const v = ctx.values;
  const s = (k: string) => (typeof v[k] === 'string' ? (v[k] as string) : undefined);
  return {
    ...(s('zone') !== undefined ? { zone: s('zone')! } : {}),
    ...(s('endpoint') !== undefined ? { endpoint: s('endpoint')! } : {}),
    ...(s('metadata-url') !== undefined ? { metadataUrl: s('metadata-url')! } : {}),
    ...(s('api-key') !== undefined ? { apiKey: s('api-key')! } : {}),
    ...(s('api-secret') !== undefined ? { apiSecret: s('api-secret')! } : {}),
  };
}

function requireAddress(ctx: CommandContext): string {
  const a = ctx.values.address;
  if (typeof a !== 'string' || a === '') throw new UsageError('--address is required (the Elastic IP)');
  if (isIP(a) === 0 && !isUuid(a)) throw new UsageError(`--address: expected an IP address or an Elastic IP UUID, got ${JSON.stringify(a)}`);
  return a;
}

async function connect(ctx: CommandContext): Promise<{ client: ExoscaleClient; input: ExoscaleCliInput }> {
  const input = inputOf(ctx);
  const creds = cliCredentials(input, ctx.env);
  const zone = await cliZone(input, ctx.env);
  const endpoint = input.endpoint ?? (ctx.env.EXOSCALE_API_ENDPOINT || undefined);
  return { client: cliClient({ zone, ...(endpoint ? { endpoint } : {}), ...creds }), input };
}

function describe(i: InstanceSummary): string {
  return `${i.id}${i.name ? ` (${i.name})` : ''}`;
}

async function holdersLine(client: ExoscaleClient, ip: string): Promise<string> {
  const holders = await client.instancesHolding(ip);
  return holders.length ? holders.map(describe).join(', ') : 'none';
}

export const eipAttachCommand: Command = {
  name: 'eip attach',
  summary: 'attach an Elastic IP to this (or another) instance and exit (exoip -A)',
  usage: '--address IP [--instance ID] [--exclusive] [--zone ZONE] [--endpoint URL] [--metadata-url URL]',
  details: `Idempotent: an EIP already attached is success. The attachment is verified by reading the
instance back. --exclusive also detaches it from every other instance (a manual move, make-before-break).
Credentials: $EXOSCALE_API_KEY / $EXOSCALE_API_SECRET or --api-key / --api-secret references.`,
  flags: {
    address: ADDRESS_FLAG,
    instance: INSTANCE_FLAG,
    exclusive: { type: 'boolean', description: 'detach it from every other instance afterwards' },
    ...EXOSCALE_FLAGS,
  },
  async run(ctx) {
    const address = requireAddress(ctx);
    const { client, input } = await connect(ctx);
    try {
      const instance = await cliInstance(typeof ctx.values.instance === 'string' ? ctx.values.instance : undefined, input, ctx.env);
      let ip: string;
      if (ctx.values.exclusive) {
        const r = await apiStep(() => client.ensureExclusive(address, instance));
        ip = r.elasticIp.ip;
        ctx.stdout.write(
          `${r.attached ? 'attached' : 'already attached:'} ${ip} ${r.attached ? 'to' : 'on'} ${instance}` +
            `${r.detachedFrom.length ? `; detached from ${r.detachedFrom.join(', ')}` : ''}\n`,
        );
      } else {
        const r = await apiStep(() => client.ensureAttached(address, instance));
        ip = r.elasticIp.ip;
        ctx.stdout.write(`${r.changed ? 'attached' : 'already attached:'} ${ip} ${r.changed ? 'to' : 'on'} ${instance}\n`);
      }
      ctx.stdout.write(`holders: ${await apiStep(() => holdersLine(client, ip))}\n`);
      return EXIT.OK;
    } finally {
      client.close();
    }
  },
};

export const eipDetachCommand: Command = {
  name: 'eip detach',
  summary: 'detach an Elastic IP from this (or another) instance and exit (exoip -D)',
  usage: '--address IP [--instance ID] [--zone ZONE] [--endpoint URL] [--metadata-url URL]',
  details: 'Idempotent: an EIP not attached to the instance is success. Verified by reading the instance back.',
  flags: { address: ADDRESS_FLAG, instance: INSTANCE_FLAG, ...EXOSCALE_FLAGS },
  async run(ctx) {
    const address = requireAddress(ctx);
    const { client, input } = await connect(ctx);
    try {
      const instance = await cliInstance(typeof ctx.values.instance === 'string' ? ctx.values.instance : undefined, input, ctx.env);
      const r = await apiStep(() => client.ensureDetached(address, instance));
      ctx.stdout.write(`${r.changed ? 'detached' : 'not attached:'} ${r.elasticIp.ip} ${r.changed ? 'from' : 'on'} ${instance}\n`);
      ctx.stdout.write(`holders: ${await apiStep(() => holdersLine(client, r.elasticIp.ip))}\n`);
      return EXIT.OK;
    } finally {
      client.close();
    }
  },
};

export const eipShowCommand: Command = {
  name: 'eip show',
  summary: 'show an Elastic IP and the instances holding it',
  usage: '--address IP [--json] [--zone ZONE] [--endpoint URL]',
  flags: { address: ADDRESS_FLAG, json: { type: 'boolean', description: 'print JSON' }, ...EXOSCALE_FLAGS },
  async run(ctx) {
    const address = requireAddress(ctx);
    const { client } = await connect(ctx);
    try {
      const eip = await apiStep(() => client.resolveElasticIp(address));
      const holders = await apiStep(() => client.instancesHolding(eip.ip));
      if (ctx.values.json) {
        ctx.stdout.write(
          `${JSON.stringify(
            {
              elasticIp: { id: eip.id, ip: eip.ip, zone: client.zone, type: eip.healthcheck ? 'managed' : 'manual', ...(eip.description ? { description: eip.description } : {}) },
              holders: holders.map((h) => ({ id: h.id, name: h.name, publicIp: h['public-ip'], state: h.state })),
            },
            null,
            2,
          )}\n`,
        );
        return EXIT.OK;
      }
      const lines = [`elastic IP ${eip.ip}  id ${eip.id}  ${eip.healthcheck ? 'managed' : 'manual'}  zone ${client.zone}${eip.description ? `  "${eip.description}"` : ''}`];
      if (holders.length === 0) lines.push('holders: none');
      else {
        lines.push(`holders: ${holders.length}${holders.length > 1 ? ' (more than one: traffic is split between them)' : ''}`);
        for (const h of holders) lines.push(`  ${h.id}  ${(h.name ?? '-').padEnd(12)} ${(h['public-ip'] ?? '-').padEnd(15)} ${h.state ?? '-'}`);
      }
      ctx.stdout.write(`${lines.join('\n')}\n`);
      return EXIT.OK;
    } finally {
      client.close();
    }
  },
};
