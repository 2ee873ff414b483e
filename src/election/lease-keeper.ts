/**
 * Keeps one etcd lease alive (imperative shell): grants it, renews it every renewMs with a
 * keepalive that must be answered within callTimeoutMs, re-grants it when etcd says it is gone,
 * revokes it on request. It knows the lower bound of the lease's server-side life: every
 * acknowledged renewal extends the lease to at least (when the request was SENT) + TTL, so
 * `validFrom` is the send time of the last acknowledged grant or keepalive.
 */
import { EventEmitter } from 'node:events';
import type { Etcd3 } from 'etcd3';

export interface LeaseInfo {
  /** Decimal, as etcd's API carries it. */
  id: string;
  /** TTL granted by etcd, ms (may exceed the one asked for). */
  grantedTtlMs: number;
  /** Send time (monotonic ms) of the last acknowledged grant or renewal. */
  validFrom: number;
  /** Round trip of the last acknowledged grant or renewal, ms. */
  lastLatencyMs: number;
}

export interface LeaseKeeperTimers {
  ttlMs: number;
  renewMs: number;
  callTimeoutMs: number;
  /** Pause after a failed attempt before the next one. */
  retryMs: number;
}

export interface LeaseKeeperEvents {
  /** A new lease (first one, or after the previous one was lost). */
  granted: [LeaseInfo];
  renewed: [LeaseInfo];
  /** etcd says the lease no longer exists (expired or revoked). */
  lost: [id: string];
  /** A grant or renewal failed (etcd unreachable, TLS, auth...). */
  failed: [err: unknown];
}

const monotonic = (): number => performance.now();

export class LeaseKeeper extends EventEmitter<LeaseKeeperEvents> {
  lease: LeaseInfo | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;
  private busy = false;
  private failing = false;

  constructor(
    private readonly client: Etcd3,
    private readonly timers: LeaseKeeperTimers,
  ) {
    super();
  }

  start(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    this.schedule(0);
  }

  /** Renew (or grant) now, e.g. after etcd came back. */
  poke(): void {
    if (this.running && !this.busy) this.schedule(0);
  }

  /** Stops renewing and revokes the lease (its keys go at once). Resolves when done or timed out. */
  async revoke(): Promise<void> {
    this.halt();
    const lease = this.lease;
    this.lease = undefined;
    if (!lease) return;
    await withTimeout(this.client.leaseClient.leaseRevoke({ ID: lease.id }), this.timers.callTimeoutMs * 2, 'lease revoke');
  }

  /** Stops renewing; the lease expires on its own (crash-like; used by tests and on close). */
  halt(): void {
    this.stopped = true;
    this.running = false;
    clearTimeout(this.timer);
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    if (!this.running) return;
    this.timer = setTimeout(() => void this.step(), Math.max(0, Math.ceil(delayMs)));
  }

  private async step(): Promise<void> {
    if (this.busy || !this.running) return;
    this.busy = true;
    let next = this.timers.renewMs;
    try {
      if (this.lease) await this.renew(this.lease);
      else await this.grant();
      if (this.lease) next = Math.max(0, this.lease.validFrom + this.timers.renewMs - monotonic());
    } catch (err) {
      this.failing = true;
      next = this.timers.retryMs;
      if (this.running) this.emit('failed', err);
    } finally {
      this.busy = false;
      this.schedule(next);
    }
  }

  /** Whether the last attempt failed. */
  get inTrouble(): boolean {
    return this.failing;
  }

  private async grant(): Promise<void> {
    const sentAt = monotonic();
    const res = await withTimeout(this.client.leaseClient.leaseGrant({ TTL: this.timers.ttlMs / 1000 }), this.timers.callTimeoutMs, 'lease grant');
    if (!this.running) {
      // stopped meanwhile: do not leave a lease behind
      void this.client.leaseClient.leaseRevoke({ ID: res.ID }).catch(() => undefined);
      return;
    }
    this.lease = { id: String(res.ID), grantedTtlMs: Number(res.TTL) * 1000, validFrom: sentAt, lastLatencyMs: monotonic() - sentAt };
    this.failing = false;
    this.emit('granted', this.lease);
  }

  private async renew(lease: LeaseInfo): Promise<void> {
    const sentAt = monotonic();
    const ttl = await this.keepaliveOnce(lease.id);
    if (this.lease !== lease || !this.running) return;
    if (ttl <= 0) {
      this.lease = undefined;
      this.emit('lost', lease.id);
      await this.grant();
      return;
    }
    lease.validFrom = sentAt;
    lease.grantedTtlMs = ttl * 1000;
    lease.lastLatencyMs = monotonic() - sentAt;
    this.failing = false;
    this.emit('renewed', lease);
  }

  /** One keepalive on its own short stream, answered within callTimeoutMs; returns the TTL (0 = gone). */
  private async keepaliveOnce(id: string): Promise<number> {
    const deadline = this.timers.callTimeoutMs;
    const started = monotonic();
    const stream = await withTimeout(this.client.leaseClient.leaseKeepAlive({ deadline: Date.now() + deadline }), deadline, 'lease keepalive');
    const left = Math.max(1, deadline - (monotonic() - started));
    try {
      const res = await withTimeout(
        new Promise<{ TTL: string }>((resolve, reject) => {
          stream.on('data', resolve);
          stream.on('error', reject);
          stream.on('end', () => reject(new Error('lease keepalive stream ended without an answer')));
          stream.write({ ID: id });
        }),
        left,
        'lease keepalive',
      );
      return Number(res.TTL);
    } finally {
      stream.on('error', () => undefined); // late errors (deadline, cancel) are expected
      try {
        stream.end();
      } catch {
        /* already closed */
      }
    }
  }
}

/** Rejects with "<what> timed out after N ms" (a DEADLINE-like error) when `p` takes longer. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what} timed out after ${Math.round(ms)} ms (DEADLINE)`)), Math.max(1, ms));
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (err) => {
        clearTimeout(t);
        reject(err);
      },
    );
  });
}
