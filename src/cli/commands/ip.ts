/**
 * `ipwarden ip show|attach|detach --provider <cloud>`: one-off operations on a floating IP of any
 * registered cloud (src/cloud/registry.ts), through the same provider the cloud's action uses.
 * The target defaults to this machine (the cloud's metadata service). Every change is verified by
 * reading the holders back. API failures are one line (exit 1); bad usage exits 2.
 */
import { isIP } from 'node:net';
import type { Command, CommandContext, FlagSpec } from '../command.js';
import { CliError, EXIT, UsageError } from '../command.js';
import { CLOUDS, cloudCliFlags, cloudNames, findCloud, type CloudCli, type CloudRegistration } from '../../cloud/registry.js';
import { CloudApiError, type FloatingIpProvider } from '../../cloud/provider.js';

const COMMON: Record<string, FlagSpec> = {
  provider: { type: 'string', arg: 'CLOUD', description: `the cloud: ${cloudNames().join(', ')}` },
  address: { type: 'string', arg: 'IP', description: 'the floating IP address' },
};
const TARGET: FlagSpec = { type: 'string', arg: 'ID', description: 'the instance / server / network interface id (default: this machine, from the cloud\'s metadata service)' };

interface Connected {
  cloud: CloudRegistration;
  cli: CloudCli;
  provider: FloatingIpProvider;
}

async function connect(ctx: CommandContext): Promise<Connected> {
  const name = ctx.values.provider;
  if (typeof name !== 'string' || name === '') throw new UsageError(`--provider is required (${cloudNames().join(', ')})`);
  const cloud = findCloud(name);
  if (!cloud) throw new UsageError(`--provider: unknown cloud ${JSON.stringify(name)} (known: ${cloudNames().join(', ')})`);
  const address = ctx.values.address;
  if (typeof address !== 'string' || address === '') throw new UsageError(`--address is required (the ${cloud.addressNoun})`);
  if (isIP(address) === 0) throw new UsageError(`--address: expected an IP address, got ${JSON.stringify(address)}`);
  const { cli } = await cloud.load();
  return { cloud, cli, provider: await step(() => cli.connect(address, ctx)) };
}

/** Runs an API step; a cloud or metadata failure becomes one CLI line. */
async function step<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof UsageError || err instanceof CliError) throw err;
    if (err instanceof CloudApiError) throw new CliError(err.message);
    if (err instanceof Error && /^(Metadata|Exoscale|Secret)/.test(err.name)) throw new CliError(err.message);
    throw err;
  }
}

async function target(ctx: CommandContext, provider: FloatingIpProvider): Promise<string> {
  const t = ctx.values.target;
  if (typeof t === 'string') {
    if (t === '') throw new UsageError('--target: empty');
    return t.toLowerCase();
  }
  return step(() => provider.self());
}

async function holdersLine(c: Connected, holders: string[]): Promise<string> {
  if (!holders.length) return 'none';
  const labels = await Promise.all(holders.map((h) => (c.cli.describeTarget ? c.cli.describeTarget(c.provider, h).catch(() => h) : Promise.resolve(h))));
  return labels.join(', ');
}

async function withProvider(ctx: CommandContext, fn: (c: Connected) => Promise<number>): Promise<number> {
  const c = await connect(ctx);
  try {
    return await fn(c);
  } finally {
    await c.provider.close?.();
  }
}

const details = (extra: string) => `${extra}
Credentials: ${CLOUDS.map((c) => `${c.cloud}: ${c.credentials}`).join('; ')}.
\`ipwarden eip ...\` is the Exoscale spelling.`;

export const ipShowCommand: Command = {
  name: 'ip show',
  summary: 'show a floating IP and what holds it, on any registered cloud',
  usage: '--provider CLOUD --address IP [--json] [cloud flags]',
  details: details('Reads the holders the cloud lists for the address (the same read every controller pass starts with).'),
  flags: { ...COMMON, json: { type: 'boolean', description: 'print JSON' }, ...cloudCliFlags() },
  run: (ctx) =>
    withProvider(ctx, async (c) => {
      const holders = await step(() => c.provider.holders());
      if (ctx.values.json) {
        ctx.stdout.write(`${JSON.stringify({ provider: c.cloud.cloud, address: c.provider.address, holderMode: c.provider.holderMode, holders }, null, 2)}\n`);
        return EXIT.OK;
      }
      ctx.stdout.write(`${c.provider.describe()}  (${c.provider.holderMode === 'multi' ? 'may sit on several targets' : 'one target at a time'})\n`);
      ctx.stdout.write(`holders: ${await holdersLine(c, holders)}\n`);
      return EXIT.OK;
    }),
};

export const ipAttachCommand: Command = {
  name: 'ip attach',
  summary: 'attach a floating IP to this machine (or --target) and exit, on any registered cloud',
  usage: '--provider CLOUD --address IP [--target ID] [--exclusive] [cloud flags]',
  details: details(`Idempotent: already attached is success; verified by reading the holders back. On clouds where the
address sits on one target at a time, attaching moves it. --exclusive also detaches it from every other
holder afterwards (make-before-break), for clouds where it may sit on several.`),
  flags: { ...COMMON, target: TARGET, exclusive: { type: 'boolean', description: 'detach it from every other holder afterwards' }, ...cloudCliFlags() },
  run: (ctx) =>
    withProvider(ctx, async (c) => {
      const to = await target(ctx, c.provider);
      let holders = await step(() => c.provider.holders());
      const already = holders.includes(to);
      if (!already) {
        await step(() => c.provider.attach(to));
        holders = await step(() => c.provider.holders());
        if (!holders.includes(to)) throw new CliError(`attach ${c.provider.describe()} to ${to}: the change completed but the cloud does not list ${to} as a holder`);
      }
      const detached: string[] = [];
      if (ctx.values.exclusive) {
        for (const other of holders.filter((h) => h !== to)) {
          await step(() => c.provider.detach(other));
          detached.push(other);
        }
        if (detached.length) {
          holders = await step(() => c.provider.holders());
          const left = detached.filter((h) => holders.includes(h));
          if (left.length) throw new CliError(`detach ${c.provider.describe()}: the cloud still lists ${left.join(', ')}`);
        }
      }
      ctx.stdout.write(`${already ? 'already attached:' : 'attached'} ${c.provider.address} ${already ? 'on' : 'to'} ${to}${detached.length ? `; detached from ${detached.join(', ')}` : ''}\n`);
      ctx.stdout.write(`holders: ${await holdersLine(c, holders)}\n`);
      return EXIT.OK;
    }),
};

export const ipDetachCommand: Command = {
  name: 'ip detach',
  summary: 'detach a floating IP from this machine (or --target) and exit, on any registered cloud',
  usage: '--provider CLOUD --address IP [--target ID] [cloud flags]',
  details: details('Idempotent: not attached is success; verified by reading the holders back.'),
  flags: { ...COMMON, target: TARGET, ...cloudCliFlags() },
  run: (ctx) =>
    withProvider(ctx, async (c) => {
      const from = await target(ctx, c.provider);
      let holders = await step(() => c.provider.holders());
      const held = holders.includes(from);
      if (held) {
        await step(() => c.provider.detach(from));
        holders = await step(() => c.provider.holders());
        if (holders.includes(from)) throw new CliError(`detach ${c.provider.describe()} from ${from}: the change completed but the cloud still lists it`);
      }
      ctx.stdout.write(`${held ? 'detached' : 'not attached:'} ${c.provider.address} ${held ? 'from' : 'on'} ${from}\n`);
      ctx.stdout.write(`holders: ${await holdersLine(c, holders)}\n`);
      return EXIT.OK;
    }),
};
