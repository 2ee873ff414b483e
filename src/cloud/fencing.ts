/**
 * Fencing tokens (etcd election backend): every MASTER term has a token that grows with each new
 * term of any node, and transitions carry it (TransitionEvent.fencingToken). The action acts on a
 * transition only if its token is not older than the newest one it has already seen: a late
 * MASTER (or release) of a finished term must not move the floating IP. Transitions without a
 * token (heartbeat backend, plain BACKUP/FAULT) always pass.
 */
import type { Logger } from '../plugins/api.js';

export class FencingGuard {
  private newest: bigint | undefined;

  constructor(private readonly log: Logger) {}

  /** True when a transition with this token may act; logs the token either way. */
  admit(to: string, token: bigint | undefined): boolean {
    if (token === undefined) return true;
    if (this.newest !== undefined && token < this.newest) {
      this.log.warn({ fencingToken: String(token), newestToken: String(this.newest), to }, `refusing ${to}: fencing token ${token} is older than ${this.newest} (a newer term exists)`);
      return false;
    }
    this.newest = token;
    this.log.info({ fencingToken: String(token), to }, `${to} under fencing token ${token}`);
    return true;
  }

  /** The newest token seen (undefined without an etcd election). */
  get newestToken(): bigint | undefined {
    return this.newest;
  }
}
