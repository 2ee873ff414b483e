/**
 * Keeps one etcd lease alive (imperative shell): grants it, sends a keepalive every renewMs,
 * re-grants it when etcd says it is gone, revokes it on request.
 *
 * It knows a lower bound of the lease's server-side life: every acknowledged keepalive extends
 * the lease to at least (when that request was SENT) + TTL, so `validFrom` is the send time of
 * the newest acknowledged grant or keepalive. Keepalives overlap: a slow answer (up to
 * answerTimeoutMs) still counts for the time it was sent, and the next one does not wait for it,
 * so a loaded etcd or host delays renewals without making them fail.
 */
import { EventEmitter } from 'node:events';
import type { Etcd3 } from 'etcd3';
import { withDeadline } from '../util/deadline.js';

export interface LeaseInfo {
  /** Decimal, as etcd's API carries it. */
  id: string;
  /** TTL granted by etcd, ms (may exceed the one asked for). */
  grantedTtlMs: number;
  /** Send time (monotonic ms) of the newest acknowledged grant or renewal. */
  validFrom: number;
  /** Round trip of the last acknowledged grant or renewal, ms. */
  lastLatencyMs: number;
}

export interface LeaseKeeperTimers {
  ttlMs: number;
  /** Keepalive period. */
  renewMs: number;
  /** How long an answer to a grant or keepalive is awaited. */
  answerTimeoutMs: number;
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

/** Keepalives in flight at most (a hung etcd must not pile them up). */
const MAX_IN_FLIGHT = 3;

const monotonic = (): number => performance.now();

export class LeaseKeeper extends EventEmitter<LeaseKeeperEvents> {
  lease: LeaseInfo | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private granting = false;
  private inFlight = 0;
  private failing = false;

  constructor(
    private readonly client: Etcd3,
    private readonly timers: LeaseKeeperTimers,
  ) {
    super();
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  /** Renew (or grant) now, e.g. after etcd said our lease is unknown. */
  poke(): void {
    if (this.running) this.schedule(0);
  }

  /** Whether the last attempt failed. */
  get inTrouble(): boolean {
    return this.failing;
  }

  /** Stops renewing and revokes the lease (its keys go at once). Resolves when done or timed out. */
  async revoke(): Promise<void> {
    this.halt();
    const lease = this.lease;
    this.lease = undefined;
    if (!lease) return;
    await withTimeout(this.client.leaseClient.leaseRevoke({ ID: lease.id }), this.timers.answerTimeoutMs, 'lease revoke');
  }

  /** Stops renewing; the lease expires on its own. */
  halt(): void {
    this.running = false;
    clearTimeout(this.timer);
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    if (!this.running) return;
    this.timer = setTimeout(() => this.step(), Math.max(0, Math.ceil(delayMs)));
  }

  private step(): void {
    if (!this.running) return;
    const lease = this.lease;
    if (!lease) {
      if (!this.granting) void this.grant();
      return; // grant() schedules what comes next
    }
    if (this.inFlight < MAX_IN_FLIGHT) void this.renew(lease);
    this.schedule(this.timers.renewMs);
  }

  private onFailure(err: unknown): void {
    this.failing = true;
    if (!this.running) return;
    this.emit('failed', err);
    this.schedule(this.timers.retryMs);
  }

  private async grant(): Promise<void> {
    this.granting = true;
    const sentAt = monotonic();
    try {
      const res = await withTimeout(this.client.leaseClient.leaseGrant({ TTL: this.timers.ttlMs / 1000 }), this.timers.answerTimeoutMs, 'lease grant');
      if (!this.running) {
        // stopped meanwhile: do not leave a lease behind
        void this.client.leaseClient.leaseRevoke({ ID: res.ID }).catch(() => undefined);
        return;
      }
      this.lease = { id: String(res.ID), grantedTtlMs: Number(res.TTL) * 1000, validFrom: sentAt, lastLatencyMs: monotonic() - sentAt };
      this.failing = false;
      this.emit('granted', this.lease);
      this.schedule(this.timers.renewMs);
    } catch (err) {
      this.onFailure(err);
    } finally {
      this.granting = false;
    }
  }

  private async renew(lease: LeaseInfo): Promise<void> {
    this.inFlight++;
    const sentAt = monotonic();
    try {
      const ttl = await this.keepaliveOnce(lease.id);
      if (this.lease !== lease || !this.running) return;
      if (ttl <= 0) {
        this.lease = undefined;
        this.emit('lost', lease.id);
        this.schedule(0);
        return;
      }
      if (sentAt <= lease.validFrom) return; // a newer one was acknowledged first
      lease.validFrom = sentAt;
      lease.grantedTtlMs = ttl * 1000;
      lease.lastLatencyMs = monotonic() - sentAt;
      this.failing = false;
      this.emit('renewed', lease);
    } catch (err) {
      if (this.lease === lease) this.onFailure(err);
    } finally {
      this.inFlight--;
    }
  }

  /** One keepalive on its own short stream, answered within answerTimeoutMs; returns the TTL (0 = gone). */
  private async keepaliveOnce(id: string): Promise<number> {
    const limit = this.timers.answerTimeoutMs;
    const started = monotonic();
    const stream = await withTimeout(this.client.leaseClient.leaseKeepAlive({ deadline: Date.now() + limit }), limit, 'lease keepalive');
    const left = Math.max(1, limit - (monotonic() - started));
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

/** Rejects with "<what> timed out after N ms (DEADLINE)" when `p` takes longer (the one deadline helper, worded for etcd). */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return withDeadline(p, { ms, timeoutMessage: `${what} timed out after ${Math.round(ms)} ms (DEADLINE)` });
}
