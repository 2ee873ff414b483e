/**
 * When did an address appear on / vanish from a host? One `ip -ts -o monitor address` per lab host,
 * started inside the host's namespace: the kernel reports every change as it happens, stamped by
 * iproute2 (microseconds, local time), so the bench needs no polling and pays no sampling error.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Lab, LabHost } from '../../test/lib/netns.js';

export interface AddressEvent {
  /** Host index in the lab. */
  host: number;
  added: boolean;
  /** Epoch ms (iproute2's stamp when it parses, else when the line arrived). */
  t: number;
}

/**
 * The epoch ms of an `ip -ts` line's stamp ("[2026-11-25T12:00:50.742627] ..."); the arrival time when
 * it has none or it is more than 5 s off (another clock). iproute2 prints local time without a zone,
 * and Date parses a zone-less date-time as local time.
 */
function stampOf(line: string, receivedAt: number): number {
  const stamp = /^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)\]/.exec(line)?.[1];
  const parsed = stamp ? Date.parse(stamp.replace(/(\.\d{3})\d+$/, '$1')) : NaN;
  return Number.isFinite(parsed) && Math.abs(parsed - receivedAt) < 5000 ? parsed : receivedAt;
}

/**
 * Parses one line of `ip -ts -o monitor address` for `address`/32 ("[2026-11-25T12:00:50.742627] 2: e0 inet
 * 198.51.100.50/32 ..." or "... Deleted 2: e0 inet ..."). Undefined for lines about other addresses.
 */
export function parseMonitorLine(line: string, address: string, receivedAt: number): { added: boolean; t: number } | undefined {
  const escaped = address.replace(/\./g, '\\.');
  if (!new RegExp(`\\sinet ${escaped}/32\\s`).test(`${line} `)) return undefined;
  return { added: !/\bDeleted\b/.test(line), t: stampOf(line, receivedAt) };
}

/** Watches one address on every host of a lab. */
/** Whoever waits for a monitor's next event: `next(ms)` resolves on `notify()` or after `ms`. */
class NextEvent {
  readonly #waiters = new Set<() => void>();

  notify(): void {
    for (const w of [...this.#waiters]) w();
  }

  next(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#waiters.add(done);
    });
  }
}

export class AddressMonitor {
  readonly events: AddressEvent[] = [];
  readonly #present = new Map<number, boolean>();
  readonly #children: ChildProcess[] = [];
  readonly #event = new NextEvent();

  constructor(
    private readonly lab: Lab,
    readonly address: string,
  ) {}

  /** Starts the monitors, then reads the current state (an event racing the read is caught by the monitor). */
  async start(): Promise<void> {
    for (const h of this.lab.hosts) {
      const child = this.lab.spawn(h, ['ip', '-ts', '-o', 'monitor', 'address'], { stdio: ['ignore', 'pipe', 'ignore'] });
      this.#children.push(child);
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const e = parseMonitorLine(line, this.address, Date.now());
        if (!e) return;
        this.events.push({ host: h.index, ...e });
        this.#present.set(h.index, e.added);
        this.#event.notify();
      });
    }
    await new Promise((r) => setTimeout(r, 200));
    for (const h of this.lab.hosts) this.#present.set(h.index, await this.#query(h));
  }

  async #query(h: LabHost): Promise<boolean> {
    const { stdout } = await this.lab.exec(h, ['ip', '-o', '-4', 'addr', 'show', 'dev', 'e0']);
    return stdout.includes(` ${this.address}/32 `);
  }

  /** Hosts holding the address now. */
  holders(): number[] {
    return [...this.#present].filter(([, p]) => p).map(([h]) => h).sort();
  }

  /** First time after `since` the address was added on `host`. */
  addedAfter(host: number, since: number): number | undefined {
    return this.events.find((e) => e.host === host && e.added && e.t >= since)?.t;
  }

  /** First host (other than `except`) that got the address at or after `since`, with the time. */
  firstAddAfter(since: number, except: number): AddressEvent | undefined {
    return this.events.find((e) => e.added && e.host !== except && e.t >= since);
  }

  /** Resolves on the next event (or after ms). */
  changed(ms: number): Promise<void> {
    return this.#event.next(ms);
  }

  /** Removes the address from a host by hand (a crashed daemon leaves it behind). */
  async remove(host: number): Promise<void> {
    if (await this.#query(this.lab.hosts[host]!)) {
      await this.lab.exec(host, ['ip', 'addr', 'del', `${this.address}/32`, 'dev', 'e0']).catch(() => undefined);
    }
  }

  stop(): void {
    for (const c of this.#children) c.kill('SIGKILL');
  }
}

/** One `ip -ts -o monitor link` line: the link's name and whether it is administratively up. */
export function parseLinkLine(line: string, receivedAt: number): { name: string; up: boolean; t: number } | undefined {
  const m = /^\[[^\]]*\]\s+(?:Deleted\s+)?\d+:\s+([^\s:@]+)(?:@\S*)?:\s+<([^>]*)>/.exec(line);
  if (!m) return undefined;
  return { name: m[1]!, up: m[2]!.split(',').includes('UP'), t: stampOf(line, receivedAt) };
}

/**
 * When did a link of the root namespace go down? The host-loss fault is `ip link set <bridge-side
 * veth> down`, a process the bench starts: the link goes down 5-15 ms after the start of that
 * command (fork, exec, netlink). Failover times count from the kernel's event instead, stamped by
 * iproute2 like the address events, so the command's start-up is in neither tool's figure.
 */
export class LinkMonitor {
  readonly #downs: { name: string; t: number }[] = [];
  #child: ChildProcess | undefined;
  readonly #event = new NextEvent();

  async start(): Promise<void> {
    const child = spawn('ip', ['-ts', '-o', 'monitor', 'link'], { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` } });
    this.#child = child;
    child.unref();
    (child.stdout as unknown as { unref?: () => void }).unref?.();
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const e = parseLinkLine(line, Date.now());
      if (!e || e.up) return;
      this.#downs.push({ name: e.name, t: e.t });
      this.#event.notify();
    });
    await new Promise((r) => setTimeout(r, 200));
  }

  /** The first time at or after `since` the link `name` was reported down, waiting up to `timeoutMs` for it. */
  async downAfter(name: string, since: number, timeoutMs: number): Promise<number | undefined> {
    const find = () => this.#downs.find((d) => d.name === name && d.t >= since)?.t;
    const deadline = Date.now() + timeoutMs;
    for (let t = find(); ; t = find()) {
      if (t !== undefined || Date.now() >= deadline) return t;
      await this.#event.next(Math.max(1, deadline - Date.now()));
    }
  }

  stop(): void {
    this.#child?.kill('SIGKILL');
    this.#child = undefined;
  }
}
