/**
 * `ip-alias` action: puts the instance address on a local interface while MASTER.
 *
 *   device     interface (default "lo", as Exoscale's Elastic IP docs advise; "eth0" etc. for LAN setups)
 *   garp       false (default) | true | "request" | "reply": after adding the address, announce it with
 *              gratuitous ARP (iputils `arping -U` = request, like keepalived; `-A` = reply). IPv4 only,
 *              not on lo.
 *   garpCount  gratuitous ARP packets to send (1..10, default 3; arping sends one per second, so the
 *              action takes garpCount - 1 seconds: keep it low, or list ip-alias last)
 *
 * MASTER adds ADDRESS/32 (IPv6: /128, nodad) on the device; BACKUP, FAULT and STOP remove it. Both are
 * idempotent: an address already present (or already absent) is success. Only that exact
 * address/prefix is touched, so the same address configured by hand with another prefix stays.
 * Runs iproute2's `ip` (needs CAP_NET_ADMIN: root, or the capability granted to the service).
 */
import { isIP } from 'node:net';
import { execa } from 'execa';
import { z } from 'zod';
import { defineAction, type ActionHandlers, type TransitionEvent } from '../../src/plugins/api.js';
import { zodConfig } from '../../src/plugins/zod-config.js';
import { canonicalAddress } from '../../src/config/endpoint.js';
import type { Logger } from '../../src/log.js';

/** Linux interface names: 1..15 bytes, no '/', ':' or blanks. */
const DEVICE_NAME = /^[^\s/:]{1,15}$/;

export const ipAliasSchema = z
  .object({
    device: z.string().regex(DEVICE_NAME, 'expected an interface name (1..15 characters, no "/", ":" or spaces)').default('lo'),
    garp: z.union([z.boolean(), z.enum(['request', 'reply'])]).default(false),
    garpCount: z.int().min(1).max(10).default(3),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.garp !== false && c.device === 'lo') {
      ctx.addIssue({ code: 'custom', path: ['garp'], message: 'gratuitous ARP needs a LAN interface (set device, e.g. eth0); lo is not ARPable' });
    }
  });

export interface IpAliasConfig {
  device: string;
  /** Gratuitous ARP mode, or undefined for none. */
  garp?: 'request' | 'reply';
  garpCount: number;
}

const parseRaw = zodConfig(ipAliasSchema);

export class IpAliasError extends Error {
  override name = 'IpAliasError';
}

interface IpResult {
  exitCode?: number;
  stdout: string;
  stderr: string;
  failed: boolean;
  code?: string;
}

async function ip(args: string[], signal: AbortSignal): Promise<IpResult> {
  const r = await execa('ip', args, { reject: false, stdin: 'ignore', cancelSignal: signal, forceKillAfterDelay: 500, timeout: 10_000 });
  return {
    failed: r.failed,
    stdout: String(r.stdout ?? ''),
    stderr: String(r.stderr ?? '').trim(),
    ...(r.exitCode !== undefined ? { exitCode: r.exitCode } : {}),
    ...((r as { code?: string }).code ? { code: (r as { code?: string }).code! } : {}),
  };
}

/** A one-line reason for a failed `ip` run, naming what to fix. */
export function explainIpFailure(what: string, r: IpResult, device: string): string {
  if (r.code === 'ENOENT') return `${what}: the ip command was not found (install iproute2)`;
  const msg = r.stderr.split('\n').find(Boolean) ?? `exit ${r.exitCode ?? '?'}`;
  if (/Operation not permitted|Permission denied/i.test(msg)) {
    return `${what}: permission denied: changing addresses needs CAP_NET_ADMIN (run ipwarden as root or grant it the capability) (${msg})`;
  }
  if (/Cannot find device|Device "[^"]*" does not exist/i.test(msg)) return `${what}: no such interface ${JSON.stringify(device)} (check device:)`;
  return `${what}: ${msg}`;
}

/** The addresses on `device` as "address/prefix", canonical spelling. */
async function addressesOn(device: string, family: 4 | 6, signal: AbortSignal): Promise<Set<string>> {
  const r = await ip([`-${family}`, '-j', 'addr', 'show', 'dev', device], signal);
  if (r.failed) throw new IpAliasError(explainIpFailure(`ip addr show dev ${device}`, r, device));
  let data: unknown;
  try {
    data = JSON.parse(r.stdout || '[]');
  } catch {
    throw new IpAliasError(`ip -j addr show dev ${device}: output is not JSON (iproute2 too old?)`);
  }
  const out = new Set<string>();
  for (const link of Array.isArray(data) ? data : []) {
    for (const a of (link as { addr_info?: { local?: string; prefixlen?: number }[] }).addr_info ?? []) {
      if (a.local && a.prefixlen !== undefined) out.add(`${canonicalAddress(a.local)}/${a.prefixlen}`);
    }
  }
  return out;
}

/** Adds, removes and announces one address on one device; every step idempotent. */
export class IpAlias {
  readonly family: 4 | 6;
  readonly cidr: string;

  constructor(
    readonly address: string,
    readonly config: IpAliasConfig,
    private readonly log: Logger,
  ) {
    const family = isIP(address);
    if (family === 0) throw new IpAliasError(`ip-alias: ${JSON.stringify(address)} is not an IP address`);
    this.family = family as 4 | 6;
    this.cidr = `${canonicalAddress(address)}/${family === 4 ? 32 : 128}`;
    if (this.family === 6 && config.garp) {
      throw new IpAliasError(`ip-alias garp: gratuitous ARP is IPv4 only, the instance address ${address} is IPv6`);
    }
  }

  /** True when the address (with this prefix) is on the device. */
  async present(signal: AbortSignal): Promise<boolean> {
    return (await addressesOn(this.config.device, this.family, signal)).has(this.cidr);
  }

  async add(signal: AbortSignal): Promise<'added' | 'present'> {
    const { device } = this.config;
    if (await this.present(signal)) return 'present';
    const r = await ip([`-${this.family}`, 'addr', 'add', this.cidr, 'dev', device, ...(this.family === 6 ? ['nodad'] : [])], signal);
    if (r.failed) {
      if (!signal.aborted && (await this.present(signal).catch(() => false))) return 'present';
      throw new IpAliasError(explainIpFailure(`ip addr add ${this.cidr} dev ${device}`, r, device));
    }
    return 'added';
  }

  async remove(signal: AbortSignal): Promise<'removed' | 'absent'> {
    const { device } = this.config;
    if (!(await this.present(signal))) return 'absent';
    const r = await ip([`-${this.family}`, 'addr', 'del', this.cidr, 'dev', device], signal);
    if (r.failed) {
      if (!signal.aborted && !(await this.present(signal).catch(() => true))) return 'absent';
      throw new IpAliasError(explainIpFailure(`ip addr del ${this.cidr} dev ${device}`, r, device));
    }
    return 'removed';
  }

  /** Gratuitous ARP with iputils arping (-U request / -A reply), source = target = the address. */
  async announce(signal: AbortSignal): Promise<void> {
    const mode = this.config.garp;
    if (!mode) return;
    const args = [mode === 'reply' ? '-A' : '-U', '-q', '-c', String(this.config.garpCount), '-I', this.config.device, this.address];
    const r = await execa('arping', args, { reject: false, stdin: 'ignore', cancelSignal: signal, forceKillAfterDelay: 500, timeout: 15_000 });
    const code = (r as { code?: string }).code;
    if (code === 'ENOENT') throw new IpAliasError('garp: the arping command was not found (install iputils-arping)');
    if (r.exitCode !== 0) {
      const msg = String(r.stderr ?? '').trim().split('\n')[0] || `exit ${r.exitCode ?? r.signal ?? '?'}`;
      if (/not permitted|permission/i.test(msg)) throw new IpAliasError(`garp: arping: permission denied: needs CAP_NET_RAW (run as root) (${msg})`);
      throw new IpAliasError(`garp: arping ${args.join(' ')}: ${msg}`);
    }
    this.log.debug({ device: this.config.device, count: this.config.garpCount }, `gratuitous ARP for ${this.address} sent on ${this.config.device}`);
  }
}

export default defineAction<IpAliasConfig>({
  kind: 'action',
  name: 'ip-alias',
  description: 'Adds the instance address (/32 or /128) on an interface while MASTER, removes it otherwise',
  parseConfig(raw) {
    const r = parseRaw(raw);
    if (!r.ok) return r;
    const { device, garp, garpCount } = r.config;
    const config: IpAliasConfig = { device, garpCount };
    if (garp !== false) config.garp = garp === true ? 'request' : garp;
    return { ok: true, config };
  },
  create({ config, instance, log }): ActionHandlers {
    const alias = new IpAlias(instance.address, config, log);
    const on = async (e: TransitionEvent) => {
      const result = await alias.add(e.signal);
      log.info({ device: config.device, address: alias.cidr, result }, `${alias.cidr} ${result === 'added' ? 'added on' : 'already on'} ${config.device}`);
      await alias.announce(e.signal);
    };
    const off = async (e: TransitionEvent) => {
      const result = await alias.remove(e.signal);
      log.info({ device: config.device, address: alias.cidr, result }, `${alias.cidr} ${result === 'removed' ? 'removed from' : 'already absent from'} ${config.device}`);
    };
    return { onMaster: on, onBackup: off, onFault: off, onStop: off };
  },
});
