/**
 * A lab of N "hosts" on one machine, for multi-host tests: one network namespace per host, each joined to a
 * bridge in the root namespace by a veth pair (see shared/reference/test-network.md). Needs root, iproute2,
 * and nftables for setLoss.
 *
 *   root ns:  bridge ipw<pid><L>br [198.51.100.1/24 when bridgeAddress]
 *               ├── ipw<pid><L>v0 ══ e0 in netns ipw<pid><L>h0  198.51.100.10/24
 *               ├── ipw<pid><L>v1 ══ e0 in netns ipw<pid><L>h1  198.51.100.11/24
 *               └── …
 *
 * <L> is a letter (a, b, …) telling apart the labs one process has alive at the same time; the PID tells
 * apart concurrent test runs. Interface names stay within 15 characters for any PID and up to 90 hosts.
 *
 * Cleanup: destroy() kills every process still running in the lab's namespaces (whether started with
 * spawn/exec or not), deletes the veths, namespaces and bridge, then checks that none is left. Labs not
 * destroyed are torn down synchronously on process exit and on SIGINT/SIGTERM/SIGHUP. A process killed with
 * SIGKILL cannot clean up: sweepStaleLabs() removes what dead PIDs left behind.
 *
 * Traffic rule: the lab uses only 198.51.100.0/24 or 203.0.113.0/24 (documentation ranges).
 */
import { execFile, execFileSync, spawn as spawnChild, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { ipv4ToInt } from '../../src/util/ipv4.js';

export interface LabOptions {
  /** Number of hosts, 1..90. */
  hosts: number;
  /**
   * '198.51.100.0/24' (default), '203.0.113.0/24', or an aligned /25../27 inside one of them (e.g.
   * '198.51.100.64/26', so concurrent labs with a bridge address do not collide). Host i gets the
   * subnet's address + 10 + i.
   */
  subnet?: string;
  /** Put the subnet's first address (.1/prefix) on the bridge in the root namespace, e.g. for a simulator the hosts call. Default false; only inside 198.51.100.0/24 (see createLab). */
  bridgeAddress?: boolean;
}

export interface LabHost {
  /** 0-based position in `lab.hosts`. */
  index: number;
  /** Short name for messages: 'h0', 'h1', … */
  name: string;
  /** Network namespace name, for `ip netns exec` / `ip -n`. */
  ns: string;
  /** The host's address on e0, without prefix length (e.g. '198.51.100.10'). */
  address: string;
  /** Root-namespace end of the host's veth pair (attached to the bridge); its state is the host's link. */
  rootVeth: string;
}

/** A host given by object, index, short name ('h1') or namespace name. */
export type HostRef = LabHost | number | string;

export interface ExecOptions {
  /** Written to the command's stdin. */
  input?: string | Buffer;
  /** Kill the command (SIGKILL) after this many ms. Default 30 000. */
  timeoutMs?: number;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
}

export interface Lab {
  hosts: LabHost[];
  /** Bridge name in the root namespace. */
  bridge: string;
  /** The bridge's address (.1) when created with bridgeAddress, else undefined. */
  bridgeAddress: string | undefined;
  /** Subnet in CIDR form, e.g. '198.51.100.0/24'. */
  subnet: string;
  /** Resolves a HostRef; throws on an unknown one. */
  host(ref: HostRef): LabHost;
  /** Runs argv inside the host's namespace and waits; rejects (with stderr in the message) on non-zero exit. */
  exec(host: HostRef, argv: string[], options?: ExecOptions): Promise<ExecResult>;
  /** Starts argv inside the host's namespace (`ip netns exec`); the child is killed by destroy(). */
  spawn(host: HostRef, argv: string[], options?: SpawnOptions): ChildProcess;
  /** Partitions the host: its bridge-side veth goes down. */
  cut(host: HostRef): Promise<void>;
  /** Ends a cut: the bridge-side veth comes back up. */
  heal(host: HostRef): Promise<void>;
  /**
   * Drops about `percent` % (0..100, steps of 0.01) of the UDP datagrams the host receives (nftables input
   * hook in its namespace: `meta l4proto udp numgen random mod 10000 < percent*100 drop`; 100 drops all UDP);
   * 0 removes the rule.
   */
  setLoss(host: HostRef, percent: number): Promise<void>;
  /** Tears everything down and verifies nothing is left; idempotent (later calls return the same promise). */
  destroy(): Promise<void>;
}

const ALLOWED_SUBNETS = ['198.51.100.0/24', '203.0.113.0/24'];
const MAX_HOSTS = 90;
const LOSS_TABLE = 'ipwlab';
const ENV = { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` };
const NAME_RE = /^ipw(\d+)([a-z])(?:br|h\d+|v\d+)$/;

function run(argv: string[], options: ExecOptions = {}): Promise<ExecResult> {
  const [file, ...args] = argv as [string, ...string[]];
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { env: ENV, timeout: options.timeoutMs ?? 30_000, killSignal: 'SIGKILL', maxBuffer: 16 << 20, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error) {
          const how = error.killed ? 'timed out' : `exit ${String(error.code ?? error.signal)}`;
          reject(new Error(`${argv.join(' ')}: ${how}${stderr.trim() ? `: ${stderr.trim()}` : ''}`));
        } else resolve({ stdout, stderr });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
    else child.stdin?.end();
  });
}

function runSync(argv: string[]): string | undefined {
  const [file, ...args] = argv as [string, ...string[]];
  try {
    return execFileSync(file, args, { env: ENV, stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000, encoding: 'utf8' });
  } catch {
    return undefined;
  }
}

/** Tolerates "already gone" errors during teardown. */
async function quietly(argv: string[]): Promise<void> {
  try {
    await run(argv);
  } catch {
    // already removed
  }
}

interface ParsedSubnet {
  /** First three octets ('198.51.100'). */
  prefix24: string;
  /** Last octet of the network address. */
  first: number;
  /** Prefix length, 24..27. */
  bits: number;
  /** Addresses in the subnet. */
  size: number;
}

function parseSubnet(subnet: string): ParsedSubnet {
  const m = /^(\d+\.\d+\.\d+)\.(\d+)\/(\d+)$/.exec(subnet);
  const bits = Number(m?.[3]);
  const first = Number(m?.[2]);
  const size = 2 ** (32 - bits);
  if (!m || !ALLOWED_SUBNETS.includes(`${m[1]}.0/24`) || bits < 24 || bits > 27 || first % size !== 0) {
    throw new Error(`createLab subnet: expected one of ${ALLOWED_SUBNETS.join(', ')} or an aligned /25../27 inside one of them, got ${JSON.stringify(subnet)}`);
  }
  return { prefix24: m[1]!, first, bits, size };
}


/**
 * Lab bridges (ipw…br, any process's) whose address range overlaps `subnet`, from `ip -o -4 addr show`
 * ("12: ipw123abr    inet 198.51.100.193/26 brd … scope global ipw123abr"), as "NAME (ADDR/BITS)".
 */
export function overlappingBridges(subnet: string, ipO4Addr: string): string[] {
  const [net, bitsText] = subnet.split('/') as [string, string];
  const size = 2 ** (32 - Number(bitsText));
  const start = Math.floor(ipv4ToInt(net) / size) * size;
  const out: string[] = [];
  for (const m of ipO4Addr.matchAll(/^\d+:\s+(ipw\w+br)\s+inet\s+(\d+\.\d+\.\d+\.\d+)\/(\d+)/gm)) {
    const otherSize = 2 ** (32 - Number(m[3]));
    const otherStart = Math.floor(ipv4ToInt(m[2]!) / otherSize) * otherSize;
    if (start < otherStart + otherSize && otherStart < start + size) out.push(`${m[1]} (${m[2]}/${m[3]})`);
  }
  return out;
}

/** Namespace names present (`ip netns list`). */
export async function listNamespaces(): Promise<string[]> {
  const { stdout } = await run(['ip', 'netns', 'list']);
  return stdout.split('\n').map((l) => l.split(' ')[0]!).filter(Boolean);
}

/** Link names present in the root namespace (`ip -o link show`). */
export async function listLinks(): Promise<string[]> {
  const { stdout } = await run(['ip', '-o', 'link', 'show']);
  return linkNames(stdout);
}

function linkNames(ipOLink: string): string[] {
  return ipOLink
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined);
}

// ---- process-wide registry, for exit/signal cleanup -------------------------------------------------

const liveLabs = new Set<LabImpl>();
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
let hooked = false;
let labCounter = 0;

function destroyAllSync(): void {
  for (const lab of [...liveLabs]) lab.destroySync();
}

/**
 * Runs first (prepended), cleans up, then steps aside: with no other listener the signal is re-raised and
 * kills the process as it would have without the lab; otherwise the remaining listeners (e.g. signal-exit,
 * which only acts when it is alone) handle it as if the lab had never hooked in.
 */
function onSignal(signal: NodeJS.Signals): void {
  destroyAllSync();
  unhook();
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function hook(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', destroyAllSync);
  for (const s of SIGNALS) process.prependListener(s, onSignal);
}

function unhook(): void {
  if (!hooked) return;
  hooked = false;
  process.off('exit', destroyAllSync);
  for (const s of SIGNALS) process.off(s, onSignal);
}

function nextLetter(): string {
  const used = new Set([...liveLabs].map((l) => l.letter));
  for (let i = 0; i < 26; i++) {
    const letter = String.fromCharCode(97 + ((labCounter + i) % 26));
    if (!used.has(letter)) {
      labCounter += i + 1;
      return letter;
    }
  }
  throw new Error('createLab: 26 labs are alive in this process already; destroy some first');
}

// ---- the lab ----------------------------------------------------------------------------------------

class LabImpl implements Lab {
  readonly hosts: LabHost[];
  readonly bridge: string;
  readonly bridgeAddress: string | undefined;
  readonly subnet: string;
  readonly letter: string;
  /** Resources actually created, so a half-built lab is torn down exactly. */
  readonly #made = { bridge: false, ns: new Set<string>(), veth: new Set<string>() };
  readonly #children = new Set<ChildProcess>();
  readonly #bits: number;
  #destroying: Promise<void> | undefined;

  constructor(options: Required<LabOptions>, letter: string) {
    const { prefix24, first, bits } = parseSubnet(options.subnet);
    this.#bits = bits;
    const tag = `ipw${process.pid}${letter}`;
    this.letter = letter;
    this.subnet = options.subnet;
    this.bridge = `${tag}br`;
    this.bridgeAddress = options.bridgeAddress ? `${prefix24}.${first + 1}` : undefined;
    this.hosts = Array.from({ length: options.hosts }, (_, i) => ({
      index: i,
      name: `h${i}`,
      ns: `${tag}h${i}`,
      address: `${prefix24}.${first + 10 + i}`,
      rootVeth: `${tag}v${i}`,
    }));
  }

  async build(): Promise<void> {
    await run(['ip', 'link', 'add', this.bridge, 'type', 'bridge']);
    this.#made.bridge = true;
    // No STP: ports forward at once after heal().
    await run(['ip', 'link', 'set', this.bridge, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
    if (this.bridgeAddress) await run(['ip', 'addr', 'add', `${this.bridgeAddress}/${this.#bits}`, 'dev', this.bridge]);
    await run(['ip', 'link', 'set', this.bridge, 'up']);
    for (const h of this.hosts) {
      await run(['ip', 'netns', 'add', h.ns]);
      this.#made.ns.add(h.ns);
      await run(['ip', 'link', 'add', h.rootVeth, 'type', 'veth', 'peer', 'name', 'e0', 'netns', h.ns]);
      this.#made.veth.add(h.rootVeth);
      await run(['ip', 'link', 'set', h.rootVeth, 'master', this.bridge, 'up']);
      await run(['ip', '-n', h.ns, 'addr', 'add', `${h.address}/${this.#bits}`, 'dev', 'e0']);
      await run(['ip', '-n', h.ns, 'link', 'set', 'e0', 'up']);
      await run(['ip', '-n', h.ns, 'link', 'set', 'lo', 'up']);
    }
  }

  host(ref: HostRef): LabHost {
    const found =
      typeof ref === 'number'
        ? this.hosts[ref]
        : typeof ref === 'string'
          ? this.hosts.find((h) => h.name === ref || h.ns === ref)
          : this.hosts.find((h) => h.ns === ref.ns);
    if (!found) throw new Error(`lab: no host ${typeof ref === 'object' ? ref.ns : String(ref)} in ${this.bridge}`);
    return found;
  }

  #live(what: string): void {
    if (this.#destroying) throw new Error(`lab ${this.bridge}: ${what} after destroy()`);
  }

  exec(ref: HostRef, argv: string[], options: ExecOptions = {}): Promise<ExecResult> {
    this.#live('exec');
    return run(['ip', 'netns', 'exec', this.host(ref).ns, ...argv], options);
  }

  spawn(ref: HostRef, argv: string[], options: SpawnOptions = {}): ChildProcess {
    this.#live('spawn');
    const env = options.env ? { ...options.env, PATH: options.env.PATH ?? ENV.PATH } : ENV;
    const child = spawnChild('ip', ['netns', 'exec', this.host(ref).ns, ...argv], { ...options, env });
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
    child.once('error', () => this.#children.delete(child));
    return child;
  }

  async cut(ref: HostRef): Promise<void> {
    this.#live('cut');
    await run(['ip', 'link', 'set', this.host(ref).rootVeth, 'down']);
  }

  async heal(ref: HostRef): Promise<void> {
    this.#live('heal');
    await run(['ip', 'link', 'set', this.host(ref).rootVeth, 'up']);
  }

  async setLoss(ref: HostRef, percent: number): Promise<void> {
    this.#live('setLoss');
    if (!Number.isFinite(percent) || percent < 0 || percent > 100) {
      throw new Error(`setLoss percent: expected 0..100, got ${String(percent)}`);
    }
    const h = this.host(ref);
    const threshold = Math.round(percent * 100);
    if (threshold === 0) {
      // "No such file or directory" when no loss was set: nothing to remove.
      await quietly(['ip', 'netns', 'exec', h.ns, 'nft', 'delete', 'table', 'inet', LOSS_TABLE]);
      return;
    }
    const script = [
      `table inet ${LOSS_TABLE} {`,
      '  chain in { type filter hook input priority 0; policy accept; }',
      '}',
      `flush chain inet ${LOSS_TABLE} in`,
      threshold >= 10000
        ? `add rule inet ${LOSS_TABLE} in meta l4proto udp counter drop`
        : `add rule inet ${LOSS_TABLE} in meta l4proto udp numgen random mod 10000 < ${threshold} counter drop`,
      '',
    ].join('\n');
    await run(['ip', 'netns', 'exec', h.ns, 'nft', '-f', '-'], { input: script });
  }

  destroy(): Promise<void> {
    this.#destroying ??= this.#teardown();
    return this.#destroying;
  }

  async #teardown(): Promise<void> {
    const exits = [...this.#children].map(
      (c) => new Promise<void>((resolve) => (c.exitCode !== null || c.signalCode !== null ? resolve() : c.once('exit', () => resolve()))),
    );
    for (const c of this.#children) c.kill('SIGKILL');
    for (const ns of this.#made.ns) {
      const { stdout } = await run(['ip', 'netns', 'pids', ns]).catch(() => ({ stdout: '' }));
      for (const pid of stdout.split(/\s+/).filter(Boolean)) killQuietly(Number(pid));
    }
    await Promise.race([Promise.all(exits), new Promise((r) => setTimeout(r, 5000).unref())]);
    for (const veth of this.#made.veth) await quietly(['ip', 'link', 'del', veth]);
    for (const ns of this.#made.ns) await quietly(['ip', 'netns', 'del', ns]);
    if (this.#made.bridge) await quietly(['ip', 'link', 'del', this.bridge]);
    liveLabs.delete(this);
    if (liveLabs.size === 0) unhook();

    const namespaces = new Set(await listNamespaces());
    const links = new Set(await listLinks());
    const left = [
      ...[...this.#made.ns].filter((n) => namespaces.has(n)),
      ...[...this.#made.veth, this.bridge].filter((l) => links.has(l)),
    ];
    if (left.length > 0) throw new Error(`lab ${this.bridge}: destroy() left behind ${left.join(', ')}`);
  }

  /** For exit/signal handlers: same teardown, synchronously, best effort. */
  destroySync(): void {
    liveLabs.delete(this);
    if (this.#destroying) return;
    this.#destroying = Promise.resolve();
    for (const c of this.#children) if (c.pid !== undefined) killQuietly(c.pid);
    for (const ns of this.#made.ns) {
      for (const pid of (runSync(['ip', 'netns', 'pids', ns]) ?? '').split(/\s+/).filter(Boolean)) killQuietly(Number(pid));
    }
    for (const veth of this.#made.veth) runSync(['ip', 'link', 'del', veth]);
    for (const ns of this.#made.ns) runSync(['ip', 'netns', 'del', ns]);
    if (this.#made.bridge) runSync(['ip', 'link', 'del', this.bridge]);
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/**
 * Creates a lab. On failure, whatever was made is removed before the error is rethrown.
 * Registers exit/signal cleanup for as long as a lab is alive.
 */
export async function createLab(options: LabOptions): Promise<Lab> {
  const { hosts, subnet = ALLOWED_SUBNETS[0]!, bridgeAddress = false } = options;
  if (!Number.isInteger(hosts) || hosts < 1 || hosts > MAX_HOSTS) {
    throw new Error(`createLab hosts: expected an integer 1..${MAX_HOSTS}, got ${String(hosts)}`);
  }
  const parsed = parseSubnet(subnet);
  if (hosts > parsed.size - 11) throw new Error(`createLab hosts: ${subnet} has room for ${parsed.size - 11} hosts (from its address + 10), got ${hosts}`);
  if (bridgeAddress && `${parsed.prefix24}.0/24` !== ALLOWED_SUBNETS[0]) {
    // An address on the root-namespace bridge adds a route for the whole /24 to this machine. On
    // these machines the package registry itself answers from 203.0.113.0/24, so such a route
    // would cut the machine off from it while the lab lives. Put helpers in a namespace instead.
    throw new Error(`createLab: bridgeAddress is only allowed inside ${ALLOWED_SUBNETS[0]} (a root route for ${subnet} would shadow real hosts in that range)`);
  }
  if (bridgeAddress) {
    const clash = overlappingBridges(subnet, (await run(['ip', '-o', '-4', 'addr', 'show'])).stdout);
    if (clash.length) {
      // Two root-namespace routes into one range: replies meant for one lab's hosts go to the other's
      // bridge (a chaos campaign on 198.51.100.192/26 lost its API for 45 s while a test lab on
      // 198.51.100.192/27 lived). Refuse instead of misrouting someone else's run.
      throw new Error(`createLab: ${subnet} overlaps the live lab bridge ${clash.join(', ')}; use another subnet (e.g. npm run chaos -- --subnet) or wait for that lab to end`);
    }
  }
  const lab = new LabImpl({ hosts, subnet, bridgeAddress }, nextLetter());
  liveLabs.add(lab);
  hook();
  try {
    await lab.build();
  } catch (error) {
    await lab.destroy().catch(() => undefined);
    throw error;
  }
  return lab;
}

/**
 * Removes namespaces and links named like a lab's (`ipw<pid><letter>…`) whose PID is no longer running:
 * leftovers of test processes killed with SIGKILL (their processes inside those namespaces are killed too).
 * `only` restricts the sweep to the given PIDs. Returns the names removed. Never touches live PIDs' labs.
 * Not run automatically: a PID from another PID namespace would look dead.
 */
export async function sweepStaleLabs(options: { only?: number[] } = {}): Promise<string[]> {
  const dead = (name: string): boolean => {
    const m = NAME_RE.exec(name);
    if (!m) return false;
    const pid = Number(m[1]);
    if (pid === process.pid || (options.only && !options.only.includes(pid))) return false;
    try {
      process.kill(pid, 0);
      return false;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'ESRCH';
    }
  };
  const removed: string[] = [];
  for (const ns of (await listNamespaces()).filter(dead)) {
    const { stdout } = await run(['ip', 'netns', 'pids', ns]).catch(() => ({ stdout: '' }));
    for (const pid of stdout.split(/\s+/).filter(Boolean)) killQuietly(Number(pid));
    await quietly(['ip', 'netns', 'del', ns]);
    removed.push(ns);
  }
  for (const link of (await listLinks()).filter(dead)) {
    await quietly(['ip', 'link', 'del', link]);
    removed.push(link);
  }
  return removed;
}
