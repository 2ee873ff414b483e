/**
 * `ipwarden ip show|attach|detach --provider CLOUD --address IP [--target ID]`: one-off floating-IP
 * operations through a cloud's FloatingIpProvider (the same client, credentials and defaults as its
 * action). API failures are one line, exit 1; bad usage exits 2.
 *
 * PROVIDERS is the clouds this command knows; the provider registry (branch `controller`) replaces it.
 */
import { isIP } from 'node:net';
import type { Command, CommandContext, FlagSpec } from '../command.js';
import { CliError, EXIT, UsageError } from '../command.js';
import { CloudApiError, type FloatingIpProvider } from '../../cloud/provider.js';
import { SecretError } from '../../config/secret.js';
import { digitalOceanCliProvider } from '../../digitalocean/cli-provider.js';

interface IpInput {
  address: string;
  token?: string;
  endpoint?: string;
  metadataUrl?: string;
}

const PROVIDERS: Record<string, (input: IpInput, env: NodeJS.ProcessEnv) => FloatingIpProvider> = {
  digitalocean: digitalOceanCliProvider,
};

const FLAGS: Record<string, FlagSpec> = {
  provider: { type: 'string', arg: 'CLOUD', description: `the cloud: ${Object.keys(PROVIDERS).join(', ')}` },
  address: { type: 'string', arg: 'IP', description: 'the floating/reserved IP address' },
  token: { type: 'string', arg: 'REF', description: 'API token as env:NAME, file:PATH or credential:NAME (default: the cloud\'s variables, e.g. DIGITALOCEAN_TOKEN, DIGITALOCEAN_ACCESS_TOKEN)' },
  endpoint: { type: 'string', arg: 'URL', description: 'API endpoint (default: the cloud\'s, e.g. $DIGITALOCEAN_API_URL, else https://api.digitalocean.com)' },
  'metadata-url': { type: 'string', arg: 'URL', description: 'metadata service base URL (default http://169.254.169.254)' },
  json: { type: 'boolean', description: 'print JSON' },
};
const TARGET: FlagSpec = { type: 'string', arg: 'ID', description: 'what takes/leaves the address, e.g. a droplet id (default: this machine, from the metadata service)' };

function providerOf(ctx: CommandContext): FloatingIpProvider {
  const s = (k: string) => (typeof ctx.values[k] === 'string' ? (ctx.values[k] as string) : undefined);
  const cloud = s('provider');
  if (cloud === undefined) throw new UsageError(`--provider: required (${Object.keys(PROVIDERS).join(', ')})`);
  const make = PROVIDERS[cloud];
  if (!make) throw new UsageError(`--provider: unknown cloud ${JSON.stringify(cloud)} (known: ${Object.keys(PROVIDERS).join(', ')})`);
  const address = s('address');
  if (address === undefined) throw new UsageError('--address: required (the floating IP)');
  if (isIP(address) === 0) throw new UsageError(`--address: expected an IP address, got ${JSON.stringify(address)}`);
  try {
    return make(
      {
        address,
        ...(s('token') !== undefined ? { token: s('token')! } : {}),
        ...(s('endpoint') !== undefined ? { endpoint: s('endpoint')! } : {}),
        ...(s('metadata-url') !== undefined ? { metadataUrl: s('metadata-url')! } : {}),
      },
      ctx.env,
    );
  } catch (err) {
    if (err instanceof SecretError) throw new CliError(err.message);
    throw new UsageError((err as Error).message);
  }
}

async function step<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof CloudApiError) throw new CliError(err.message);
    throw err;
  }
}

async function withProvider(ctx: CommandContext, fn: (p: FloatingIpProvider, target: () => Promise<string>) => Promise<void>): Promise<number> {
  const p = providerOf(ctx);
  const flag = typeof ctx.values.target === 'string' ? ctx.values.target : undefined;
  try {
    await fn(p, () => step(() => (flag !== undefined ? Promise.resolve(flag) : p.self())));
    return EXIT.OK;
  } finally {
    await p.close?.();
  }
}

const holdersText = (h: string[]): string => (h.length ? h.join(', ') : 'nobody');

export const ipShowCommand: Command = {
  name: 'ip show',
  summary: 'show who holds a floating IP (--provider digitalocean)',
  usage: '--provider CLOUD --address IP [--json]',
  flags: FLAGS,
  run: (ctx) =>
    withProvider(ctx, async (p) => {
      const holders = await step(() => p.holders());
      ctx.stdout.write(ctx.values.json ? `${JSON.stringify({ cloud: p.cloud, address: p.address, holders })}\n` : `${p.describe()}: held by ${holdersText(holders)}\n`);
    }),
};

export const ipAttachCommand: Command = {
  name: 'ip attach',
  summary: 'move a floating IP to a target, awaited until done (--provider digitalocean)',
  usage: '--provider CLOUD --address IP [--target ID] [--json]',
  flags: { ...FLAGS, target: TARGET },
  run: (ctx) =>
    withProvider(ctx, async (p, target) => {
      const t = await target();
      const before = await step(() => p.holders());
      const start = performance.now();
      await step(() => p.attach(t));
      const after = await step(() => p.holders());
      const ms = Math.round(performance.now() - start);
      if (!after.includes(t)) throw new CliError(`${p.describe()}: the change completed but the IP is held by ${holdersText(after)}, not ${t}`);
      ctx.stdout.write(ctx.values.json ? `${JSON.stringify({ cloud: p.cloud, address: p.address, target: t, before, holders: after, ms })}\n` : `${p.describe()} attached to ${t} (was: ${holdersText(before)}) in ${ms} ms\n`);
    }),
};

export const ipDetachCommand: Command = {
  name: 'ip detach',
  summary: 'release a floating IP from a target, if it holds it (--provider digitalocean)',
  usage: '--provider CLOUD --address IP [--target ID] [--json]',
  flags: { ...FLAGS, target: TARGET },
  run: (ctx) =>
    withProvider(ctx, async (p, target) => {
      const t = await target();
      const before = await step(() => p.holders());
      await step(() => p.detach(t));
      const after = await step(() => p.holders());
      const text = before.includes(t) ? `${p.describe()} detached from ${t}; held by ${holdersText(after)}` : `${p.describe()} is not on ${t} (held by ${holdersText(before)}): nothing to do`;
      ctx.stdout.write(ctx.values.json ? `${JSON.stringify({ cloud: p.cloud, address: p.address, target: t, before, holders: after })}\n` : `${text}\n`);
    }),
};
