/**
 * The floating-IP controller shared by every cloud: one per instance that lists a cloud action
 * (exoscale-eip, ...). It turns the node's state into a desired attachment (decisions.ts, pure) and
 * converges the cloud to it through a FloatingIpProvider (provider.ts). Everything about *when* to
 * attach, fence, verify, retry and reconcile lives here; a provider only answers holders / attach /
 * detach / self for one address. Multi-holder clouds (Exoscale) make before they break; on
 * single-holder clouds (Hetzner, DigitalOcean, AWS) one attach moves the address.
 *
 * Desired attachment, by strategy and state:
 *
 * | state                     | move (default)                              | all-healthy                          |
 * |---------------------------|---------------------------------------------|--------------------------------------|
 * | MASTER                    | attached here, detached from every other    | attached here; dead peers revoked    |
 * | BACKUP, left MASTER       | handover: let go once another holder shows  | attached here                        |
 * | STOP, a live peer takes over (cause handover) | handover                | released                             |
 * | BACKUP (otherwise)        | released (detached from here)               | attached here                        |
 * | FAULT, STOP               | released                                    | released                             |
 *
 * `release: false` turns "released"/"handover" into "leave it as it is". A state entered at startup
 * (from INIT) releases only after `startupGrace`: a restarted master does not drop the address while
 * it listens for peers (exoip did), and whoever becomes MASTER fences it anyway (move).
 *
 * Every convergence pass reads the holders from the API first (provider.holders()), the source
 * of truth, so it is level-triggered: a revocation that failed is retried by the next pass,
 * drift is repaired. Make-before-break: attach here, read back, then detach the others, read back.
 * One exception saves a round trip on the failover path: a node whose last read did not list it,
 * and which has sent no attach since, attaches without reading first (only a node attaches itself;
 * other nodes only ever detach it, so "not held here" stays true until it attaches). The read-back
 * after the attach is the pass's first read then; an attach a human made meanwhile is answered as a
 * duplicate or as a no-op, and the read-back decides.
 * Passes run one at a time (a lane); mutations are never interrupted half-way (an attach whose
 * operation is still pending when a newer state arrives completes first, so a following pass sees
 * it), aborts take effect between steps.
 *
 * Why concurrent passes of several nodes converge on "held by the MASTER" (issue 22)
 *
 * The only changes a node makes: as MASTER, attach itself and detach others (fencing); as a node
 * leaving MASTER, detach itself; as FAULT/STOP, detach itself. A node stops *sending* changes as soon
 * as it leaves MASTER (its epoch is aborted between steps), but a change already sent lands later:
 * an "interfering change" is one that lands after the MASTER read the holders.
 *  1. A MASTER pass ends only on a read that shows the desired set (here; for move nobody else):
 *     every step is followed by a read, and the next step is chosen from that read (at most four
 *     rounds, then a verify error and a retry with backoff). "What I did succeeded" is never
 *     enough: an attach that another node's fencing undid is redone in the next round.
 *  2. While its fencing detaches are in flight, a MASTER reads the holders every poll interval; if
 *     its own attachment vanished (the old master resuming during our fencing, or a peer that still
 *     believes it is MASTER fencing us), it re-attaches at once, in parallel with its own detaches,
 *     instead of after them. So after the last interfering change lands, the MASTER holds the
 *     address again within one watch interval + one attach (+ the verifying read).
 *  3. A node that leaves MASTER for a better peer (MASTER -> BACKUP) does not drop the address while
 *     it is the only holder: it makes no API call at the transition (its successor, elected just
 *     now, holds nothing yet, so a read could only say "keep it") and leaves the move to the new
 *     MASTER's attach (single-holder) or make-before-break fencing (multi-holder). One settle time
 *     later it reads once: on a multi-holder cloud it detaches itself if the API lists another
 *     holder by then. Its own in-flight changes complete before that read (the lane), so the read
 *     sees them. The yielding node therefore never opens an unheld window of its own. A MASTER that
 *     stops while a live peer takes over makes no call at all: the successor's changes move it.
 *  4. One confirming pass follows every MASTER pass run for a transition (or a re-assert) after the
 *     settle time (twice the longest attach/detach seen, at least 1 s): a change another node sent
 *     before our read lands within one operation, after which this pass repairs it with one change +
 *     verify, without waiting for `reconcile`.
 *  5. Retries after API faults and reconcile passes are full passes (1.) from a fresh read, so a step
 *     half-done by a failed pass (an attach applied but its answer lost) is seen, not repeated blindly.
 * Pairs: old master resuming vs new master fencing (2., 3.); two masters fencing each other during a
 * split brain (1., 2.: after the loser yields, its last detach lands, the winner re-attaches); a third
 * node that is BACKUP sends nothing (move) and one that was briefly MASTER is one more "other MASTER";
 * retries and reconcile (5.); a stray change by hand (reconcile, or 4. when it lands during settle).
 * Each converges to "held by the MASTER" within one change + verify after the last interfering change
 * lands; test/exoscale-integration/eip-interleavings.test.ts forces each interleaving on Exoscale,
 * resume-race.test.ts reproduces the first one with real daemons (SIGSTOP/SIGCONT), and
 * test/cloud/controller-suite.ts runs the failover family against every provider's simulator.
 *
 * all-healthy revocations: a dead peer's instance is queued and detached by every MASTER pass until
 * the API no longer lists it. A peer that comes back before a failed revocation finally succeeds
 * is detached once more and re-attaches itself on its next pass (BACKUP reconciles too).
 *
 * Timers (unref'd, cleared on every transition and on close): the reconcile pass every
 * `reconcile` while holding (MASTER; MASTER or BACKUP with all-healthy), and retries with
 * backoff after a failed pass, one confirming pass after a MASTER transition (4.). Converged with
 * reconcile 0: after that, no timer, zero API calls.
 */
import type { Logger } from '../plugins/api.js';
import type { InstanceState } from '../plugins/api.js';
import { formatDuration } from '../util/duration.js';
import { CloudApiError, isApiUnreachable, type FloatingIpProvider } from './provider.js';
import { desiredFor, nextStep, reconcilesIn, type Desired, type OnApiUnreachable, type Strategy } from './decisions.js';
import { systemClock, type TimerClock } from '../util/clock.js';

export { desiredFor, nextStep, reconcilesIn } from './decisions.js';
export type { Desired, OnApiUnreachable, Step, Strategy } from './decisions.js';

/** A MASTER pass gives up (and retries with backoff) after this many steps without reaching the desired holders. */
export const MAX_ROUNDS = 4;

/** The process's clock, with unref'd timers: a pending reconcile never keeps the daemon alive. */
export const realClock: TimerClock = {
  now: systemClock.now,
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface FloatingIpControllerSettings {
  strategy: Strategy;
  release: boolean;
  onApiUnreachable: OnApiUnreachable;
  /** ms; 0 = off. */
  reconcileMs: number;
  /** ms a state entered at startup waits before releasing; 0 = at once. */
  startupGraceMs: number;
  /** While fencing: how often our own attachment is re-read (default 150 ms). */
  watchIntervalMs?: number;
  /** Backoff of background retries after a failed pass: first, cap (ms). */
  retryMinMs?: number;
  retryMaxMs?: number;
  /**
   * ms after a MASTER pass driven by a transition (or a re-assert) before one confirming pass: another
   * node's change sent before it yielded lands within one operation. Default: twice the longest
   * attach/detach seen, at least 1 s, at most 30 s.
   */
  settleMs?: number;
  clock?: TimerClock;
}

/** A pass could not reach the desired holders (the API disagrees with what was done). */
export class CloudVerifyError extends Error {
  override name = 'CloudVerifyError';
  constructor(
    readonly cloud: string,
    /** What was being done ("attach Exoscale Elastic IP 198.51.100.50 to 1000…"). */
    readonly what: string,
    /** What the API showed instead. */
    readonly detail: string,
  ) {
    super(`${cloud}: ${what}: ${detail}`);
  }
}

/** Errors that mean "the API is unreachable or overloaded" (after the HTTP layer's own retries). */
export function isUnreachable(err: unknown): boolean {
  return isApiUnreachable(err);
}

/** Answers that may mean "already in the wanted state" (a duplicate attach/detach): the read-back decides. */
function mayBeDuplicate(err: unknown): boolean {
  return err instanceof CloudApiError && (err.kind === 'conflict' || err.kind === 'invalid');
}

export interface ControllerStats {
  /** Convergence passes run. */
  passes: number;
  /** Passes that changed something (attach or detach). */
  changes: number;
  failures: number;
  lastError?: string;
  /** Wall clock ms of the last successful pass. */
  lastConvergedAt?: number;
  /** Holders seen by the last pass. */
  holders: string[];
}

/** A pass result, for logs and tests. */
export interface PassResult {
  desired: Desired;
  attached: boolean;
  detached: string[];
  holders: string[];
}

export class FloatingIpController {
  readonly stats: ControllerStats = { passes: 0, changes: 0, failures: 0, holders: [] };
  #state: InstanceState = 'INIT';
  #from: InstanceState = 'INIT';
  #cause: string | undefined;
  /** The state was entered from INIT and its release waits for the startup grace. */
  #graceUntil = 0;
  #lane: Promise<unknown> = Promise.resolve();
  #epoch = new AbortController();
  #timer: unknown;
  #consecutiveFailures = 0;
  #closed = false;
  /** all-healthy: targets of dead peers still to revoke (retried until done). */
  readonly #revoke = new Set<string>();
  #lastLoggedError = '';
  /** A confirming pass is due one settle time after the last successful MASTER pass of a hook. */
  #confirmDue = false;
  /** Longest attach/detach seen (ms): how long another node's in-flight change may take to land. */
  #longestMutationMs = 0;
  /**
   * The last read did not list this node and it has sent no attach since: it is still not a holder
   * (no other node ever attaches it), so a pass that wants it attached may attach without reading.
   */
  #knownUnheld = false;
  readonly #clock: TimerClock;

  constructor(
    readonly provider: FloatingIpProvider,
    private readonly settings: FloatingIpControllerSettings,
    private readonly log: Logger,
  ) {
    if (settings.strategy === 'all-healthy' && provider.holderMode === 'single') {
      throw new Error(`strategy all-healthy needs a cloud whose address can sit on several targets; ${provider.describe()} moves on attach (use strategy: move)`);
    }
    this.#clock = settings.clock ?? realClock;
  }

  get state(): InstanceState {
    return this.#state;
  }

  /** Targets queued for revocation (all-healthy). */
  get pendingRevocations(): string[] {
    return [...this.#revoke];
  }

  /**
   * A state change. Resolves when the API matches the new state (verified), or, for MASTER with
   * onApiUnreachable "hold", also when the API stays unreachable (retried in the background).
   */
  async transition(from: InstanceState, to: InstanceState, signal: AbortSignal, cause?: string): Promise<void> {
    if (this.#closed) return;
    this.#newEpoch();
    this.#confirmDue = false;
    this.#from = from;
    this.#cause = cause;
    this.#state = to;
    this.#consecutiveFailures = 0;
    const desired = this.desired();
    const now = this.#clock.now();
    this.#graceUntil = from === 'INIT' && to !== 'STOP' && desired === 'released' && this.settings.startupGraceMs > 0 ? now + this.settings.startupGraceMs : 0;
    if (this.#graceUntil) {
      this.log.info(
        { state: to, graceMs: this.settings.startupGraceMs },
        `${to} at startup: keeping any attachment of ${this.provider.address} for ${formatDuration(this.settings.startupGraceMs)} (startupGrace) before releasing it`,
      );
      this.#schedule();
      this.#prepare();
      return;
    }
    if (desired === 'keep') {
      if (from === 'INIT' && to !== 'STOP') this.#prepare();
      return;
    }
    if (desired === 'handover') return this.#handOver(to);
    await this.#run(`${to}`, signal, to === 'MASTER');
  }

  /**
   * At startup, when no pass runs yet (startup grace, or nothing to release): one read, so that this
   * node knows its target, the address's id and whether it holds it before it is needed. A MASTER
   * pass soon after then attaches at once instead of paying those round trips on the failover path.
   * A failure is logged at debug level only: the first pass does the same reads again.
   */
  #prepare(): void {
    const signal = this.#epoch.signal;
    this.#enqueue(async () => {
      const self = await this.provider.self({ signal });
      await this.#holders(self, signal);
    }).catch((err: unknown) => this.log.debug({ err: (err as Error)?.message ?? String(err) }, `${this.provider.describe()}: the startup read failed; the first pass reads again`));
  }

  /**
   * A MASTER hands over (it yielded to a better peer, or it stops while a live peer takes over): no
   * API call now. The successor was elected just now and holds nothing yet, so a read would only say
   * "keep it" (nextStep: hand-over-later); its attach (single-holder) or fencing (multi-holder) moves
   * the address. A node that stays up checks once after the settle time (the confirming pass): it
   * detaches itself if another holder shows by then (multi-holder) and learns whether it still holds
   * the address, so that its next MASTER pass may attach without reading first.
   */
  #handOver(to: InstanceState): void {
    const how = this.provider.holderMode === 'single' ? 'attach moves' : 'fencing detaches';
    this.log.info({ event: 'ip-handover', address: this.provider.address, state: to }, `${this.provider.describe()} stays where it is until the new MASTER holds it: its ${how} it`);
    if (to === 'STOP') return;
    this.#confirmDue = true;
    this.#schedule();
  }

  /** A peer was declared dead. As MASTER: revoke its attachment (all-healthy: that peer; move: fence). */
  async peerDead(peer: { id: string; address: string }, engineState: InstanceState, signal: AbortSignal): Promise<void> {
    if (this.#closed) return;
    const master = this.#state === 'MASTER' || engineState === 'MASTER';
    if (!master) return; // a backup leaves revocations to the master: zero API calls
    if (this.settings.strategy === 'all-healthy') {
      await this.#enqueue(async () => {
        const target = this.provider.targetOfPeer ? await this.provider.targetOfPeer(peer, { signal }) : undefined;
        if (target && target !== (await this.provider.self({ signal }))) this.#revoke.add(target);
        else if (!target) this.log.warn({ peer: peer.id, address: peer.address }, `peer ${peer.id} (${peer.address}) is not a known target of ${this.provider.describe()}: cannot revoke its attachment (set node.id to its id)`);
      });
    }
    // the MASTER transition that usually follows converges anyway; a pass now only if we already are
    if (this.#state === 'MASTER') await this.#run(`peer ${peer.id} dead`, signal, true);
  }

  /** Stops timers and waits for the pass in progress. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#clock.clearTimeout(this.#timer);
    this.#epoch.abort(new Error('closed'));
    await this.#lane.catch(() => undefined);
  }

  desired(): Desired {
    const d = desiredFor(this.#state, this.settings.strategy, this.settings.release, this.#from, this.#cause);
    if (d === 'released' && this.#graceUntil > this.#clock.now()) return 'keep';
    return d;
  }

  /** One convergence pass now (tests, the reconcile timer). */
  converge(reason: string, signal?: AbortSignal): Promise<PassResult> {
    return this.#enqueue(() => this.#pass(reason, signal ? AbortSignal.any([signal, this.#epoch.signal]) : this.#epoch.signal));
  }

  // ------------------------------------------------------------------ scheduling

  #newEpoch(): void {
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#epoch.abort(new Error('superseded by a newer state'));
    this.#epoch = new AbortController();
  }

  #enqueue<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#lane.then(work, work);
    this.#lane = run.catch(() => undefined);
    return run;
  }

  /** A pass for a hook: failures schedule retries; MASTER + hold swallows "unreachable". */
  async #run(reason: string, signal: AbortSignal, master: boolean): Promise<void> {
    const epoch = this.#epoch;
    try {
      await this.converge(reason, signal);
      if (epoch === this.#epoch) {
        this.#consecutiveFailures = 0;
        this.#confirmDue = master;
      }
    } catch (err) {
      if (epoch !== this.#epoch || signal.aborted) throw err;
      this.#consecutiveFailures++;
      if (master && this.settings.onApiUnreachable === 'hold' && isUnreachable(err)) {
        this.log.error(
          { err: (err as Error).message, event: 'api-unreachable' },
          `${this.provider.cloud} API unreachable: holding MASTER for ${this.provider.address}, retrying in the background (onApiUnreachable: hold)`,
        );
        return;
      }
      throw err;
    } finally {
      if (epoch === this.#epoch && !this.#closed) this.#schedule();
    }
  }

  #schedule(): void {
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#closed) return;
    let delay: number | undefined;
    let why = '';
    const now = this.#clock.now();
    if (this.#consecutiveFailures > 0 && this.desired() !== 'keep') {
      const min = this.settings.retryMinMs ?? 1_000;
      const max = Math.max(min, this.settings.retryMaxMs ?? 30_000);
      delay = Math.min(max, min * 2 ** (this.#consecutiveFailures - 1));
      delay = Math.round(delay * (0.8 + Math.random() * 0.4));
      why = 'retry';
    } else if (this.#confirmDue) {
      // never later than the reconcile pass it stands in for: the settle time grows with the longest
      // change seen (a Hetzner assign waiting out a lock, an API latency spike), up to 30 s
      const reconcile = this.settings.reconcileMs > 0 && reconcilesIn(this.#state, this.settings.strategy) ? this.settings.reconcileMs : Infinity;
      delay = Math.min(this.#settleMs(), reconcile);
      why = 'confirm';
    } else if (this.#graceUntil > now) {
      delay = this.#graceUntil - now + 1;
      why = 'startup grace over';
    } else if (this.settings.reconcileMs > 0 && reconcilesIn(this.#state, this.settings.strategy)) {
      delay = this.settings.reconcileMs;
      why = 'reconcile';
    }
    if (delay === undefined) return;
    const epoch = this.#epoch;
    this.#timer = this.#clock.setTimeout(() => {
      if (epoch !== this.#epoch || this.#closed) return;
      if (why === 'startup grace over') this.#graceUntil = 0;
      if (why === 'confirm') this.#confirmDue = false;
      this.converge(why)
        .then(() => {
          if (epoch === this.#epoch) this.#consecutiveFailures = 0;
        })
        .catch((err: unknown) => {
          if (epoch !== this.#epoch) return;
          this.#consecutiveFailures++;
          this.#logFailure(why, err);
        })
        .finally(() => {
          if (epoch === this.#epoch) this.#schedule();
        });
    }, delay);
  }

  #settleMs(): number {
    return this.settings.settleMs ?? Math.min(30_000, Math.max(1_000, 2 * this.#longestMutationMs));
  }

  #logFailure(why: string, err: unknown): void {
    const msg = (err as Error)?.message ?? String(err);
    const repeated = msg === this.#lastLoggedError;
    this.#lastLoggedError = msg;
    this.log[repeated ? 'debug' : 'error']({ err: msg, pass: why, failures: this.#consecutiveFailures }, `${this.provider.describe()}: ${why} failed, retrying with backoff`);
  }

  /** Resolves after `ms`, or at once when `cancel` settles first (its timer then cleared). */
  async #delay(ms: number, cancel?: Promise<unknown>): Promise<void> {
    let timer: unknown;
    const elapsed = new Promise<void>((r) => (timer = this.#clock.setTimeout(r, ms)));
    if (!cancel) return elapsed;
    try {
      await Promise.race([elapsed, cancel.then(() => undefined, () => undefined)]);
    } finally {
      this.#clock.clearTimeout(timer);
    }
  }

  // ------------------------------------------------------------------ the pass

  /**
   * One pass, level-triggered to the end: every round starts from the holders the API listed last,
   * takes the step nextStep() names, reads back, and the pass ends only when a read shows the desired
   * set. A step undone by another node's in-flight change is redone in the next round.
   */
  async #pass(reason: string, signal: AbortSignal): Promise<PassResult> {
    this.stats.passes++;
    const desired = this.desired();
    const result: PassResult = { desired, attached: false, detached: [], holders: [] };
    if (desired === 'keep') return result;
    const what = this.provider.describe();
    try {
      signal.throwIfAborted();
      const self = await this.provider.self({ signal });
      let before: string[] | undefined; // the pass's first read (none when it attached first)
      let holders: string[] | undefined;
      let problem = '';
      for (let round = 0; ; ) {
        const step = nextStep({ desired, holders, knownUnheld: this.#knownUnheld, self, mode: this.provider.holderMode, ...(this.#state === 'MASTER' ? { revoke: this.#revoke } : {}) });
        if (step.kind === 'read') {
          holders = before = await this.#holders(self, signal);
          continue;
        }
        if (step.kind === 'done') break;
        if (step.kind === 'hand-over-later') {
          this.log.info({ event: 'ip-handover', address: this.provider.address, holders }, `${what} stays on this instance (${self}) until the new MASTER holds it: its ${this.provider.holderMode === 'single' ? 'attach moves' : 'fencing detaches'} it from here`);
          break;
        }
        if (++round > MAX_ROUNDS) {
          throw new CloudVerifyError(this.provider.cloud, step.kind === 'attach' ? `attach ${what} to ${self}` : `detach ${what}`, problem || `after ${MAX_ROUNDS} rounds the API lists [${holders?.join(', ') || 'nobody'}]`);
        }
        signal.throwIfAborted();
        if (step.kind === 'detach-self') {
          await this.#mutate('detach', self, signal);
          holders = await this.#holders(self, signal);
          if (holders.includes(self)) {
            if (desired === 'released') throw new CloudVerifyError(this.provider.cloud, `detach ${what} from ${self}`, 'the API still lists this instance as a holder');
            problem = 'the API still lists this instance as a holder';
          } else result.detached.push(self);
        } else if (step.kind === 'attach') {
          const started = performance.now();
          await this.#mutate('attach', self, signal);
          holders = await this.#holders(self, signal);
          if (!holders.includes(self)) {
            problem = 'the operation succeeded but the API does not list this instance as a holder';
            this.log.warn({ event: 'ip-verify', address: this.provider.address, holders, round }, `attach ${what} to ${self}: ${problem} (another node's change?): next round`);
            continue;
          }
          result.attached = true;
          this.log.info({ event: 'ip-attached', address: this.provider.address, target: self, ms: Math.round(performance.now() - started), reason }, `${what} attached to this instance (${self}), verified`);
        } else {
          const after = await this.#fence(self, step.targets, desired, result, reason, signal);
          holders = after;
          const left = step.targets.filter((h) => after.includes(h));
          if (left.length) problem = `the API still lists ${left.join(', ')} as holders`;
          else if (!after.includes(self)) problem = 'the API no longer lists this instance as a holder (another node detached it)';
        }
      }
      // (a pass ends only after a read: nextStep reads before any step that depends on the holders)
      holders ??= [];
      for (const id of [...this.#revoke]) if (!holders.includes(id)) this.#revoke.delete(id);
      if (result.attached || result.detached.length) {
        this.stats.changes++;
        if (reason === 'reconcile' || reason === 'confirm') {
          this.log.warn({ event: 'ip-drift', address: this.provider.address, before, after: holders, pass: reason }, `drift repaired: ${this.provider.address} was held by [${before ? before.join(', ') || 'nobody' : 'not this instance (not read)'}], now [${holders.join(', ') || 'nobody'}]`);
        }
      }
      result.holders = holders;
      this.stats.holders = holders;
      this.stats.lastConvergedAt = Date.now();
      this.#lastLoggedError = '';
      return result;
    } catch (err) {
      this.stats.failures++;
      this.stats.lastError = (err as Error)?.message ?? String(err);
      throw err;
    }
  }

  /**
   * Detaches `targets` one after the other. While they are in flight the holders are read every
   * watch interval: if this node's own attachment disappears (another MASTER's fencing that was in
   * flight when we read), it is re-attached at once, in parallel, instead of after our own detaches
   * land. Every mutation sent is followed to its end; returns the holders read after all of them.
   */
  async #fence(self: string, targets: string[], desired: Desired, result: PassResult, reason: string, signal: AbortSignal): Promise<string[]> {
    const what = this.provider.describe();
    let settled = false;
    const detaching = (async () => {
      for (const other of targets) {
        if (signal.aborted) break;
        await this.#mutate('detach', other, signal);
        result.detached.push(other);
        this.log.info(
          { event: 'ip-detached', address: this.provider.address, target: other, reason },
          `${what} detached from ${other} (${desired === 'exclusive' ? 'fencing: this node is MASTER' : 'revoking a dead peer'})`,
        );
      }
    })().finally(() => {
      settled = true;
    });
    let reattach: Promise<void> | undefined;
    const watchMs = this.settings.watchIntervalMs ?? 150;
    while (!settled && !signal.aborted && !reattach) {
      await this.#delay(watchMs, detaching);
      if (settled || signal.aborted) break;
      const now = await this.#holders(self, signal).catch(() => undefined);
      if (now && !now.includes(self) && !settled) {
        this.log.warn({ event: 'ip-lost', address: this.provider.address, holders: now }, `${what} left this instance while fencing (another node's change): re-attaching at once`);
        reattach = this.#mutate('attach', self, signal).then(() => {
          result.attached = true;
        });
      }
    }
    const [d, r] = await Promise.allSettled([detaching, reattach]);
    if (d.status === 'rejected') throw d.reason;
    if (r?.status === 'rejected') throw r.reason;
    return this.#holders(self, signal);
  }

  /** The holders, sorted; remembers whether they include this node (#knownUnheld). */
  async #holders(self: string, signal: AbortSignal): Promise<string[]> {
    const holders = [...(await this.provider.holders({ signal }))].sort();
    this.#knownUnheld = !holders.includes(self);
    return holders;
  }

  /**
   * attach/detach, awaited to completion. Not abortable: once sent, a change is followed to its end
   * so the next read sees its effect; but an aborted pass sends no new attempt of it (`resend`).
   * A duplicate (conflict / invalid) is left to the read-back.
   */
  async #mutate(kind: 'attach' | 'detach', target: string, signal: AbortSignal): Promise<void> {
    const started = performance.now();
    if (kind === 'attach') this.#knownUnheld = false; // until a read says otherwise
    try {
      // an accepted change is followed to its end; a refused one is not re-sent once this pass is aborted
      await (kind === 'attach' ? this.provider.attach(target, { resend: signal }) : this.provider.detach(target, { resend: signal }));
      this.#longestMutationMs = Math.max(this.#longestMutationMs, performance.now() - started);
    } catch (err) {
      if (!mayBeDuplicate(err)) throw err;
      this.log.debug({ err: (err as Error).message }, `${kind} ${this.provider.describe()} ${kind === 'attach' ? 'to' : 'from'} ${target}: answered as a duplicate; the read-back decides`);
    }
  }
}
