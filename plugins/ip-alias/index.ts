/**
 * `ip-alias` action: puts the instance address on a local interface while MASTER.
 *
 *   device     interface (default "lo", as Exoscale's Elastic IP docs advise; "eth0" etc. for LAN setups)
 *   garp       false (default) | true | "request" | "reply": after adding the address, announce it with
 *              gratuitous ARP (iputils `arping -U` = request, like keepalived; `-A` = reply). IPv4 only,
 *              not on lo.
 *   garpCount  gratuitous ARP packets to send (1..10, default 3; arping sends one per second, so the
 *              action takes garpCount - 1 seconds: keep it low, and give actions that must not wait for
 *              it no `after:` on it)
 *
 * MASTER adds ADDRESS/32 (IPv6: /128, nodad) on the device; BACKUP, FAULT and STOP remove it. One
 * `ip` command per transition, on the failover path: MASTER runs `addr add` and takes the kernel's
 * EEXIST ("File exists", or with extended acks "Address already assigned") as "already present";
 * the others run `addr del` and take EADDRNOTAVAIL ("Cannot assign requested address", or "Address
 * not found") as "already absent". So both are idempotent.
 * The `ip` process is started ahead: one `ip -batch -` waits on its stdin (a standby, started at
 * create and after each use), and a transition writes its one command line and closes stdin, so the
 * takeover pays a pipe write instead of a fork and exec of `ip` (about 10 ms from a 60 MB daemon on
 * the benchmark's machine, the largest cost between the election and the address). Starting a
 * process blocks the daemon's event loop for the fork (4-20 ms measured from a 60-100 MB Node.js
 * process, more on a loaded machine), so after an add (a takeover) the next standby is started
 * STANDBY_RESPAWN_MS later, not while the takeover's other actions (a cloud API's first calls) wait
 * for their answers; after a removal it is started at once, ready for the next takeover. In batch
 * mode ip exits 1 for any failure, so "already present/absent" is told by the kernel's text alone.
 * When no standby is ready (it exited, the previous one is still in use, or the address is removed
 * within a second of being added), `ip` is run directly.
 * Only that exact address/prefix is added or removed: the same IPv4 address configured by hand
 * with another prefix stays. IPv6 allows an address once per device, so one already there with
 * another prefix counts as present on MASTER (it answers) and is left in place otherwise.
 * Runs iproute2's `ip` (needs CAP_NET_ADMIN: root, or the capability granted to the service) with
 * node:child_process, in the C locale (the texts above are matched), cut off by the transition's
 * AbortSignal or after IP_TIMEOUT_MS.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { defineAction, type ActionHandlers, type TransitionEvent, type Logger } from '../../src/index.js';
import { zodConfig, canonicalAddress, formatDuration, runCommand, startStandby, type CommandResult, type StandbyCommand } from '../../src/kit.js';

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

/** An `ip` run's result. */
export type IpResult = CommandResult;

/** The environment ip and arping run with: C locale, as the texts matched below are English. */
export const COMMAND_ENV = { LC_ALL: 'C' };

/** Longest an `ip` run may take (it normally takes a few ms). */
export const IP_TIMEOUT_MS = 10_000;
/** After an add, the next standby `ip` is started this long later (its fork blocks the event loop). */
export const STANDBY_RESPAWN_MS = 1_000;
/** Longest an arping run may take beyond its one-per-second packets. */
const ARPING_SLACK_MS = 5_000;

/** iproute2 exits 2 when the kernel refused the request (netlink error); 1 for its own errors. */
const NETLINK_ERROR_EXIT = 2;
/** EEXIST on RTM_NEWADDR: without and with the kernel's extended ack message. */
const ALREADY_PRESENT = /File exists|Address already assigned/i;
/** EADDRNOTAVAIL on RTM_DELADDR: without and with the kernel's extended ack message. */
const ALREADY_ABSENT = /Cannot assign requested address|Address not found/i;

function ip(args: string[], signal: AbortSignal): Promise<IpResult> {
  return runCommand(['ip', ...args], { signal, timeoutMs: IP_TIMEOUT_MS, env: COMMAND_ENV });
}

/** `ip -<family> -batch -`, started ahead, waiting for its one command line. */
function ipStandby(family: 4 | 6): StandbyCommand {
  return startStandby(['ip', `-${family}`, '-batch', '-'], { env: COMMAND_ENV });
}

/** A one-line reason for a failed `ip` run, naming what to fix. */
export function explainIpFailure(what: string, r: IpResult, device: string): string {
  if (r.code === 'ENOENT') return `${what}: the ip command was not found (install iproute2)`;
  if (r.timedOut) return `${what}: ip did not finish within ${formatDuration(IP_TIMEOUT_MS)}`;
  if (r.aborted) return `${what}: aborted`;
  const msg = r.stderr.split('\n').find(Boolean) ?? `exit ${r.exitCode ?? r.signal ?? r.code ?? '?'}`;
  if (/Operation not permitted|Permission denied/i.test(msg)) {
    return `${what}: permission denied: changing addresses needs CAP_NET_ADMIN (run ipwarden as root or grant it the capability) (${msg})`;
  }
  if (/Cannot find device|Device "[^"]*" does not exist/i.test(msg)) return `${what}: no such interface ${JSON.stringify(device)} (check device:)`;
  return `${what}: ${msg}`;
}

/** In batch mode (`ip -batch`) iproute2 exits 1 for every failed line: only the text tells. */
const BATCH_FAILURE_EXIT = 1;

/** The kernel refused the request (netlink error): exit 2 from `ip`, 1 from `ip -batch`. */
function netlinkRefusal(r: IpResult, batch: boolean): boolean {
  return r.exitCode === (batch ? BATCH_FAILURE_EXIT : NETLINK_ERROR_EXIT);
}

/** `ip addr add` failed only because the kernel has the address already (EEXIST). */
export function alreadyPresent(r: IpResult, batch = false): boolean {
  return netlinkRefusal(r, batch) && ALREADY_PRESENT.test(r.stderr);
}

/** `ip addr del` failed only because the kernel has no such address (EADDRNOTAVAIL). */
export function alreadyAbsent(r: IpResult, batch = false): boolean {
  return netlinkRefusal(r, batch) && ALREADY_ABSENT.test(r.stderr);
}

/** Adds, removes and announces one address on one device; every step idempotent. */
export class IpAlias {
  readonly family: 4 | 6;
  readonly cidr: string;
  /** The `ip -batch -` waiting for the next transition's command (undefined after close). */
  private standby: StandbyCommand | undefined;
  /** Starts the next standby, STANDBY_RESPAWN_MS after an add. */
  private respawn: NodeJS.Timeout | undefined;
  private closed = false;

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

  /** Starts the standby `ip` for the next transition (the first one at create). */
  prepare(): void {
    this.cancelRespawn();
    if (this.closed || this.standby?.ready) return;
    this.standby = ipStandby(this.family);
  }

  /** prepare() a little later: off the event loop while this transition's other actions run. */
  private prepareLater(): void {
    this.cancelRespawn();
    if (this.closed) return;
    this.respawn = setTimeout(() => this.prepare(), STANDBY_RESPAWN_MS);
    this.respawn.unref();
  }

  private cancelRespawn(): void {
    if (this.respawn !== undefined) clearTimeout(this.respawn);
    this.respawn = undefined;
  }

  /**
   * One `ip` command: through the standby when it is ready, else a fresh `ip`; then the next standby
   * is started (`later`: after STANDBY_RESPAWN_MS).
   */
  private async run(args: string[], signal: AbortSignal, respawn: 'now' | 'later'): Promise<{ r: IpResult; batch: boolean }> {
    const next = () => (respawn === 'now' ? this.prepare() : this.prepareLater());
    const standby = this.standby;
    this.standby = undefined;
    if (standby?.ready && !signal.aborted) {
      const r = await standby.run(`${args.join(' ')}\n`, { signal, timeoutMs: IP_TIMEOUT_MS });
      next();
      return { r, batch: true };
    }
    standby?.dispose();
    const r = await ip([`-${this.family}`, ...args], signal);
    next();
    return { r, batch: false };
  }

  /** One `ip addr add`; EEXIST means the address is there already. */
  async add(signal: AbortSignal): Promise<'added' | 'present'> {
    const { device } = this.config;
    const { r, batch } = await this.run(['addr', 'add', this.cidr, 'dev', device, ...(this.family === 6 ? ['nodad'] : [])], signal, 'later');
    if (!r.failed) return 'added';
    if (alreadyPresent(r, batch)) return 'present';
    throw new IpAliasError(explainIpFailure(`ip addr add ${this.cidr} dev ${device}`, r, device));
  }

  /** One `ip addr del`; EADDRNOTAVAIL means the address (with this prefix) is not there. */
  async remove(signal: AbortSignal): Promise<'removed' | 'absent'> {
    const { device } = this.config;
    const { r, batch } = await this.run(['addr', 'del', this.cidr, 'dev', device], signal, 'now');
    if (!r.failed) return 'removed';
    if (alreadyAbsent(r, batch)) return 'absent';
    throw new IpAliasError(explainIpFailure(`ip addr del ${this.cidr} dev ${device}`, r, device));
  }

  /** Ends the standby (it reads end-of-file and exits); later commands start `ip` directly. */
  close(): void {
    this.closed = true;
    this.cancelRespawn();
    this.standby?.dispose();
    this.standby = undefined;
  }

  /** Gratuitous ARP with iputils arping (-U request / -A reply), source = target = the address. */
  async announce(signal: AbortSignal): Promise<void> {
    const mode = this.config.garp;
    if (!mode) return;
    const args = [mode === 'reply' ? '-A' : '-U', '-q', '-c', String(this.config.garpCount), '-I', this.config.device, this.address];
    const r = await runCommand(['arping', ...args], { signal, env: COMMAND_ENV, timeoutMs: (this.config.garpCount - 1) * 1000 + ARPING_SLACK_MS });
    if (r.code === 'ENOENT') throw new IpAliasError('garp: the arping command was not found (install iputils-arping)');
    if (r.exitCode !== 0) {
      const stopped = r.timedOut ? 'did not finish in time' : r.aborted ? 'aborted' : undefined;
      const msg = stopped ?? (r.stderr.split('\n')[0] || `exit ${r.exitCode ?? r.signal ?? r.code ?? '?'}`);
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
    alias.prepare();
    const on = async (e: TransitionEvent) => {
      const result = await alias.add(e.signal);
      log.info({ device: config.device, address: alias.cidr, result }, `${alias.cidr} ${result === 'added' ? 'added on' : 'already on'} ${config.device}`);
      await alias.announce(e.signal);
    };
    const off = async (e: TransitionEvent) => {
      const result = await alias.remove(e.signal);
      log.info({ device: config.device, address: alias.cidr, result }, `${alias.cidr} ${result === 'removed' ? 'removed from' : 'already absent from'} ${config.device}`);
    };
    return { onMaster: on, onBackup: off, onFault: off, onStop: off, close: async () => alias.close() };
  },
});
