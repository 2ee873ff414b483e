/**
 * Asynchronous changes as clouds run them (Hetzner/DigitalOcean actions, Exoscale operations): a change
 * is created `running`, holds a lock on its resource while it runs (a second change on a locked
 * resource is refused with the cloud's "locked"/"pending event" error), and is applied at completion,
 * after `delayMs`, unless a change fault fails or stalls it. Synchronous clouds (AWS) call `apply`
 * directly instead.
 */
import type { KitChangeFault } from './faults.js';

export type ChangeStatus = 'running' | 'success' | 'error';

export interface Change {
  id: number;
  /** The simulator's call name ("assign-floating-ip"). */
  call: string;
  /** The locked resources (e.g. "floating_ip:42", "server:7"). */
  resources: string[];
  status: ChangeStatus;
  startedMs: number;
  finishedMs: number | null;
  error: string | null;
  /** Progress 0..100, by time. */
  progress: number;
}

export interface StartChange {
  call: string;
  resources: string[];
  /** Applies the change to the world; throwing ends the change in error with that message. */
  apply: () => void;
  delayMs: number;
  fault?: KitChangeFault;
}

export class ChangeQueue {
  #changes = new Map<number, Change & { timer?: NodeJS.Timeout }>();
  #next: number;
  #locks = new Map<string, number>();

  constructor(
    private readonly now: () => number = Date.now,
    firstId = 1,
  ) {
    this.#next = firstId;
  }

  /** The running change holding `resource`, if any. */
  lockedBy(resource: string): Change | undefined {
    const id = this.#locks.get(resource);
    return id === undefined ? undefined : this.get(id);
  }

  /** Starts a change; the caller checks lockedBy() first (the error shape is the cloud's). */
  start(s: StartChange): Change {
    const change: Change & { timer?: NodeJS.Timeout } = {
      id: this.#next++,
      call: s.call,
      resources: [...s.resources],
      status: 'running',
      startedMs: this.now(),
      finishedMs: null,
      error: null,
      progress: 0,
    };
    this.#changes.set(change.id, change);
    for (const r of s.resources) this.#locks.set(r, change.id);
    if (s.fault?.kind === 'stall-change') return this.get(change.id)!;
    const finish = (): void => {
      if (change.status !== 'running') return;
      if (s.fault?.kind === 'fail-change') {
        change.status = 'error';
        change.error = s.fault.message;
      } else {
        try {
          s.apply();
          change.status = 'success';
        } catch (err) {
          change.status = 'error';
          change.error = (err as Error).message;
        }
      }
      change.finishedMs = this.now();
      change.progress = 100;
      for (const r of change.resources) if (this.#locks.get(r) === change.id) this.#locks.delete(r);
    };
    if (s.delayMs <= 0) finish();
    else {
      change.timer = setTimeout(finish, s.delayMs);
      change.timer.unref();
    }
    return this.get(change.id)!;
  }

  get(id: number): Change | undefined {
    const c = this.#changes.get(id);
    if (!c) return undefined;
    const { timer: _timer, ...copy } = c;
    if (copy.status === 'running') copy.progress = Math.min(99, Math.floor(((this.now() - copy.startedMs) / 1000) * 50));
    return copy;
  }

  list(): Change[] {
    return [...this.#changes.keys()].map((id) => this.get(id)!);
  }

  /** Cancels timers and forgets every change and lock (simulator reset/close). */
  clear(): void {
    for (const c of this.#changes.values()) if (c.timer) clearTimeout(c.timer);
    this.#changes.clear();
    this.#locks.clear();
  }
}
