/**
 * When did an address appear on / vanish from a host? One `ip -ts -o monitor address` per lab host,
 * started inside the host's namespace: the kernel reports every change as it happens, stamped by
 * iproute2 (microseconds, local time), so the bench needs no polling and pays no sampling error.
 */
import type { ChildProcess } from 'node:child_process';
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
 * Parses one line of `ip -ts -o monitor address` for `address`/32 ("[2026-11-25T12:00:50.742627] 2: e0 inet
 * 198.51.100.50/32 ..." or "... Deleted 2: e0 inet ..."). Undefined for lines about other addresses.
 */
export function parseMonitorLine(line: string, address: string, receivedAt: number): { added: boolean; t: number } | undefined {
  const escaped = address.replace(/\./g, '\\.');
  if (!new RegExp(`\\sinet ${escaped}/32\\s`).test(`${line} `)) return undefined;
  const stamp = /^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)\]/.exec(line)?.[1];
  // iproute2 prints local time without a zone; Date parses a zone-less date-time as local time.
  const parsed = stamp ? Date.parse(stamp.replace(/(\.\d{3})\d+$/, '$1')) : NaN;
  return { added: !/\bDeleted\b/.test(line), t: Number.isFinite(parsed) && Math.abs(parsed - receivedAt) < 5000 ? parsed : receivedAt };
}

/** Watches one address on every host of a lab. */
export class AddressMonitor {
  readonly events: AddressEvent[] = [];
  readonly #present = new Map<number, boolean>();
  readonly #children: ChildProcess[] = [];
  readonly #waiters = new Set<() => void>();

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
        for (const w of [...this.#waiters]) w();
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
