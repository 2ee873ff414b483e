/**
 * The Elastic IP controller behind the `exoscale-eip` action: one per instance that lists the
 * action. It turns the node's state into a desired attachment and converges the API to it.
 *
 * Desired attachment, by strategy and state:
 *
 * | state                     | move (default)                              | all-healthy                          |
 * |---------------------------|---------------------------------------------|--------------------------------------|
 * | MASTER                    | attached here, detached from every other    | attached here; dead peers revoked    |
 * | BACKUP, left MASTER       | handover: let go once another holder shows  | attached here                        |
 * | BACKUP (otherwise)        | released (detached from here)               | attached here                        |
 * | FAULT, STOP               | released                                    | released                             |
 *
 * `release: false` turns "released"/"handover" into "leave it as it is". A state entered at startup
 * (from INIT) releases only after `startupGrace`: a restarted master does not drop the address while
 * it listens for peers (exoip did), and whoever becomes MASTER fences it anyway (move).
 *
 * Every convergence pass reads the holders from the API first (GET /instance?ip-address=), the
 * source of truth, so it is level-triggered: a revocation that failed is retried by the next pass,
 * drift is repaired. Make-before-break: attach here, read back, then detach the others, read back.
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
 *     it is the only holder: on a multi-holder cloud it detaches itself only when the API already
 *     lists another holder, else it leaves that to the new MASTER's make-before-break fencing. Its
 *     own in-flight changes complete before its BACKUP pass reads (the lane), so that read sees
 *     them. The yielding node therefore never opens an unheld window of its own.
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
 * lands; test/exoscale-integration/eip-interleavings.test.ts forces each interleaving, and
 * resume-race.test.ts reproduces the first one with real daemons (SIGSTOP/SIGCONT).
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
import type { Logger } from '../../src/log.js';
import type { InstanceState } from '../../src/plugins/api.js';
import type { ExoscaleClient } from '../../src/exoscale/client.js';
import {
  ExoscaleApiError,
  ExoscaleNetworkError,
  ExoscaleOperationError,
  ExoscaleTimeoutError,
  ExoscaleVerifyError,
  ExoscaleWaitTimeoutError,
} from '../../src/exoscale/errors.js';
import { fetchInstanceId } from '../../src/exoscale/metadata.js';
import type { ElasticIp, Operation } from '../../src/exoscale/types.js';
import { isUuid } from '../../src/exoscale/types.js';
import { formatDuration } from '../../src/util/duration.js';

/** A MASTER pass gives up (and retries with backoff) after this many steps without reaching the desired holders. */
const MAX_ROUNDS = 4;

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

export type Strategy = 'move' | 'all-healthy';
export type OnApiUnreachable = 'hold' | 'release';

export interface EipControllerSettings {
  /** The Elastic IP address (the instance's `address`). */
  address: string;
  /** This node's instance id when known; else resolved lazily (node id if a UUID, else metadata). */
  instanceId?: string;
  nodeId: string;
  /** Metadata URL for the instance id (default EXOSCALE_METADATA_URL or 169.254.169.254). */
  metadataUrl?: string;
  strategy: Strategy;
  release: boolean;
  onApiUnreachable: OnApiUnreachable;
  /** ms; 0 = off. */
  reconcileMs: number;
  /** ms a state entered at startup waits before releasing; 0 = at once. */
  startupGraceMs: number;
  /** Operation polling: fast polls for fastPollMs, then every slowPollIntervalMs (tests shorten them). */
  pollIntervalMs?: number;
  fastPollMs?: number;
  slowPollIntervalMs?: number;
  /** Backoff of background retries after a failed pass: first, cap (ms). */
  retryMinMs?: number;
  retryMaxMs?: number;
  /**
   * ms after a MASTER pass driven by a transition (or a re-assert) before one confirming read: another
   * node's change sent before it yielded lands within one operation. Default: twice the longest
   * attach/detach seen, at least 1 s, at most 30 s.
   */
  settleMs?: number;
}

/** What this node wants from the API right now. */
export type Desired = 'exclusive' | 'attached' | 'released' | 'handover' | 'keep';

/**
 * Pure: the desired attachment for a state (entered from `from`). A MASTER that yields to a better
 * peer (MASTER -> BACKUP, move) hands over: it lets go only once the API lists another holder.
 */
export function desiredFor(state: InstanceState, strategy: Strategy, release: boolean, from?: InstanceState): Desired {
  if (state === 'MASTER') return strategy === 'move' ? 'exclusive' : 'attached';
  if (state === 'BACKUP' && strategy === 'all-healthy') return 'attached';
  if (state === 'INIT') return 'keep';
  if (!release) return 'keep';
  return state === 'BACKUP' && from === 'MASTER' ? 'handover' : 'released';
}

/** Whether the reconcile loop runs in this state. */
export function reconcilesIn(state: InstanceState, strategy: Strategy): boolean {
  return state === 'MASTER' || (strategy === 'all-healthy' && state === 'BACKUP');
}

/** Errors that mean "the API is unreachable or overloaded" (after the client's own retries). */
export function isUnreachable(err: unknown): boolean {
  return (
    err instanceof ExoscaleNetworkError ||
    err instanceof ExoscaleTimeoutError ||
    err instanceof ExoscaleWaitTimeoutError ||
    (err instanceof ExoscaleApiError && err.retryable)
  );
}

/** Answers that may mean "already in the wanted state" (a duplicate attach/detach): confirmed by reading back. */
function mayBeDuplicate(err: unknown): boolean {
  return (
    (err instanceof ExoscaleOperationError && err.state === 'failure') ||
    (err instanceof ExoscaleApiError && (err.status === 400 || err.status === 409))
  );
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

export class EipController {
  readonly stats: ControllerStats = { passes: 0, changes: 0, failures: 0, holders: [] };
  #state: InstanceState = 'INIT';
  #from: InstanceState = 'INIT';
  /** Longest attach/detach seen (ms): how long another node's in-flight change may take to land. */
  #longestMutationMs = 0;
  /** The state was entered from INIT and its release waits for the startup grace. */
  #graceUntil = 0;
  #lane: Promise<unknown> = Promise.resolve();
  #epoch = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #consecutiveFailures = 0;
  #closed = false;
  #eip: ElasticIp | undefined;
  #self: string | undefined;
  /** all-healthy: instances of dead peers still to revoke (retried until done). */
  readonly #revoke = new Set<string>();
  /** peer node id -> instance id (or null: not an instance). */
  readonly #peerInstances = new Map<string, string | null>();
  #lastLoggedError = '';
  /** A confirming pass is due one settle time after the last successful MASTER pass of a hook. */
  #confirmDue = false;

  constructor(
    private readonly client: ExoscaleClient,
    private readonly settings: EipControllerSettings,
    private readonly log: Logger,
  ) {
    if (settings.instanceId !== undefined) this.#self = settings.instanceId.toLowerCase();
  }

  get state(): InstanceState {
    return this.#state;
  }

  /** Instance ids queued for revocation (all-healthy). */
  get pendingRevocations(): string[] {
    return [...this.#revoke];
  }

  /**
   * A state change. Resolves when the API matches the new state (verified), or, for MASTER with
   * onApiUnreachable "hold", also when the API stays unreachable (retried in the background).
   */
  async transition(from: InstanceState, to: InstanceState, signal: AbortSignal): Promise<void> {
    if (this.#closed) return;
    this.#newEpoch();
    this.#confirmDue = false;
    this.#from = from;
    this.#state = to;
    this.#consecutiveFailures = 0;
    const desired = this.desired();
    this.#graceUntil =
      from === 'INIT' && to !== 'STOP' && desired === 'released' && this.settings.startupGraceMs > 0 ? Date.now() + this.settings.startupGraceMs : 0;
    if (this.#graceUntil) {
      this.log.info(
        { state: to, graceMs: this.settings.startupGraceMs },
        `${to} at startup: keeping any attachment of ${this.settings.address} for ${formatDuration(this.settings.startupGraceMs)} (startupGrace) before releasing it`,
      );
      this.#schedule();
      return;
    }
    if (desired === 'keep') return;
    await this.#run(`${to}`, signal, to === 'MASTER');
  }

  /** A peer was declared dead. As MASTER: revoke its attachment (all-healthy: that peer; move: fence). */
  async peerDead(peer: { id: string; address: string }, engineState: InstanceState, signal: AbortSignal): Promise<void> {
    if (this.#closed) return;
    const master = this.#state === 'MASTER' || engineState === 'MASTER';
    if (!master) return; // a backup leaves revocations to the master: zero API calls
    if (this.settings.strategy === 'all-healthy') {
      await this.#enqueue(async () => {
        const id = await this.#peerInstance(peer, signal);
        if (id && id !== (await this.#selfId(signal))) this.#revoke.add(id);
        else if (!id) this.log.warn({ peer: peer.id, address: peer.address }, `peer ${peer.id} (${peer.address}) is not a known instance: cannot revoke its attachment (set node.id to the instance id)`);
      });
    }
    // the MASTER transition that usually follows converges anyway; a pass now only if we already are
    if (this.#state === 'MASTER') await this.#run(`peer ${peer.id} dead`, signal, true);
  }

  /** Stops timers and waits for the pass in progress. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#epoch.abort(new Error('closed'));
    await this.#lane.catch(() => undefined);
  }

  desired(): Desired {
    const d = desiredFor(this.#state, this.settings.strategy, this.settings.release, this.#from);
    if (d === 'released' && this.#graceUntil > Date.now()) return 'keep';
    return d;
  }

  /** One convergence pass now (tests, the reconcile timer). */
  converge(reason: string, signal?: AbortSignal): Promise<PassResult> {
    return this.#enqueue(() => this.#pass(reason, signal ? AbortSignal.any([signal, this.#epoch.signal]) : this.#epoch.signal));
  }

  // ------------------------------------------------------------------ scheduling

  #newEpoch(): void {
    clearTimeout(this.#timer);
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
          `Exoscale API unreachable: holding MASTER for ${this.settings.address}, retrying in the background (onApiUnreachable: hold)`,
        );
        return;
      }
      throw err;
    } finally {
      if (epoch === this.#epoch && !this.#closed) this.#schedule();
    }
  }

  #schedule(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#closed) return;
    let delay: number | undefined;
    let why = '';
    if (this.#consecutiveFailures > 0 && this.desired() !== 'keep') {
      const min = this.settings.retryMinMs ?? 1_000;
      const max = Math.max(min, this.settings.retryMaxMs ?? 30_000);
      delay = Math.min(max, min * 2 ** (this.#consecutiveFailures - 1));
      delay = Math.round(delay * (0.8 + Math.random() * 0.4));
      why = 'retry';
    } else if (this.#confirmDue) {
      delay = this.#settleMs();
      why = 'confirm';
    } else if (this.#graceUntil > Date.now()) {
      delay = this.#graceUntil - Date.now() + 1;
      why = 'startup grace over';
    } else if (this.settings.reconcileMs > 0 && reconcilesIn(this.#state, this.settings.strategy)) {
      delay = this.settings.reconcileMs;
      why = 'reconcile';
    }
    if (delay === undefined) return;
    const epoch = this.#epoch;
    this.#timer = setTimeout(() => {
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
    this.#timer.unref();
  }

  #settleMs(): number {
    return this.settings.settleMs ?? Math.min(30_000, Math.max(1_000, 2 * this.#longestMutationMs));
  }

  #logFailure(why: string, err: unknown): void {
    const msg = (err as Error)?.message ?? String(err);
    const repeated = msg === this.#lastLoggedError;
    this.#lastLoggedError = msg;
    this.log[repeated ? 'debug' : 'error']({ err: msg, pass: why, failures: this.#consecutiveFailures }, `elastic IP ${this.settings.address}: ${why} failed, retrying with backoff`);
  }

  // ------------------------------------------------------------------ the pass

  async #pass(reason: string, signal: AbortSignal): Promise<PassResult> {
    this.stats.passes++;
    const desired = this.desired();
    const result: PassResult = { desired, attached: false, detached: [], holders: [] };
    if (desired === 'keep') return result;
    try {
      signal.throwIfAborted();
      const eip = await this.#elasticIp(signal);
      const self = await this.#selfId(signal);
      const before = await this.#holders(eip, signal);
      let holders = before;
      if (desired === 'released' || desired === 'handover') {
        holders = await this.#let(desired, eip, self, holders, result, signal);
      } else {
        holders = await this.#hold(desired, eip, self, holders, result, reason, signal);
      }
      if (result.attached || result.detached.length) {
        this.stats.changes++;
        if (reason === 'reconcile' || reason === 'confirm') {
          this.log.warn({ event: 'eip-drift', eip: eip.ip, before, after: holders, pass: reason }, `drift repaired: ${eip.ip} was held by [${before.join(', ') || 'nobody'}], now [${holders.join(', ') || 'nobody'}]`);
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
   * released: detach from here if held. handover (left MASTER for a better peer): detach from here
   * only once the API lists another holder; while this node is the only one, keep it for the new
   * MASTER's make-before-break fencing (the address is never left on nobody by the yielding node).
   */
  async #let(desired: 'released' | 'handover', eip: ElasticIp, self: string, holders: string[], result: PassResult, signal: AbortSignal): Promise<string[]> {
    if (!holders.includes(self)) return holders;
    if (desired === 'handover' && !holders.some((h) => h !== self)) {
      this.log.info({ event: 'eip-handover', eip: eip.ip, holders }, `elastic IP ${eip.ip} stays on this instance (${self}) until the new MASTER holds it: its fencing detaches it from here`);
      return holders;
    }
    signal.throwIfAborted();
    await this.#mutate('detach', eip, self);
    holders = await this.#holders(eip, signal);
    if (holders.includes(self)) throw new ExoscaleVerifyError('list-instances', `detach elastic-ip ${eip.ip} from instance ${self}`, 'the API still lists this instance as a holder');
    result.detached.push(self);
    return holders;
  }

  /**
   * exclusive / attached (MASTER; BACKUP with all-healthy), level-triggered to the end: every round
   * starts from the holders the API listed last, does one step (attach here, or detach the others
   * while watching this node's own attachment), reads back, and the pass ends only when a read shows
   * the desired set (here, and for exclusive nobody else). A step undone by another node's in-flight
   * change (its fencing detach of us landing after our read) is thus redone in the next round.
   */
  async #hold(desired: 'exclusive' | 'attached', eip: ElasticIp, self: string, holders: string[], result: PassResult, reason: string, signal: AbortSignal): Promise<string[]> {
    let problem = '';
    for (let round = 1; ; round++) {
      const missing = !holders.includes(self);
      const revoke = desired === 'exclusive' ? holders.filter((h) => h !== self) : this.#state === 'MASTER' ? holders.filter((h) => this.#revoke.has(h)) : [];
      if (!missing && revoke.length === 0) break;
      if (round > MAX_ROUNDS) {
        throw new ExoscaleVerifyError('list-instances', missing ? `attach elastic-ip ${eip.ip} to instance ${self}` : `detach elastic-ip ${eip.ip}`, problem || `after ${MAX_ROUNDS} rounds the API lists [${holders.join(', ') || 'nobody'}]`);
      }
      signal.throwIfAborted();
      if (missing) {
        const started = performance.now();
        await this.#mutate('attach', eip, self);
        holders = await this.#holders(eip, signal);
        if (!holders.includes(self)) {
          problem = 'the operation succeeded but the API does not list this instance as a holder';
          this.log.warn({ event: 'eip-verify', eip: eip.ip, holders, round }, `attach elastic-ip ${eip.ip} to ${self}: ${problem} (another node's change?): next round`);
          continue;
        }
        result.attached = true;
        this.log.info({ event: 'eip-attached', eip: eip.ip, instance: self, ms: Math.round(performance.now() - started), reason }, `elastic IP ${eip.ip} attached to this instance (${self}), verified`);
        continue;
      }
      holders = await this.#fence(eip, self, revoke, desired, result, reason, signal);
      const left = revoke.filter((h) => holders.includes(h));
      if (left.length) problem = `the API still lists ${left.join(', ')} as holders`;
      else if (!holders.includes(self)) problem = 'the API no longer lists this instance as a holder (another node detached it)';
    }
    for (const id of [...this.#revoke]) if (!holders.includes(id)) this.#revoke.delete(id);
    return holders;
  }

  /**
   * Detaches `revoke` one after the other. While they are in flight the holders are read every poll
   * interval: if this node's own attachment disappears (another MASTER's fencing that was in flight
   * when we read), it is re-attached at once, in parallel, instead of after our own detaches land.
   * Every mutation sent is followed to its end; returns the holders read after all of them.
   */
  async #fence(eip: ElasticIp, self: string, revoke: string[], desired: Desired, result: PassResult, reason: string, signal: AbortSignal): Promise<string[]> {
    let settled = false;
    const detaching = (async () => {
      for (const other of revoke) {
        if (signal.aborted) break;
        await this.#mutate('detach', eip, other);
        result.detached.push(other);
        this.log.info(
          { event: 'eip-detached', eip: eip.ip, instance: other, reason },
          `elastic IP ${eip.ip} detached from ${other} (${desired === 'exclusive' ? 'fencing: this node is MASTER' : 'revoking a dead peer'})`,
        );
      }
    })().finally(() => {
      settled = true;
    });
    let reattach: Promise<void> | undefined;
    const watchMs = this.settings.pollIntervalMs ?? 150;
    while (!settled && !signal.aborted && !reattach) {
      await Promise.race([detaching.catch(() => undefined), delay(watchMs)]);
      if (settled || signal.aborted) break;
      const now = await this.#holders(eip, signal).catch(() => undefined);
      if (now && !now.includes(self) && !settled) {
        this.log.warn({ event: 'eip-lost', eip: eip.ip, holders: now }, `elastic IP ${eip.ip} left this instance while fencing (another node's change): re-attaching at once`);
        reattach = this.#mutate('attach', eip, self).then(() => {
          result.attached = true;
        });
      }
    }
    const [d, r] = await Promise.allSettled([detaching, reattach]);
    if (d.status === 'rejected') throw d.reason;
    if (r?.status === 'rejected') throw r.reason;
    return this.#holders(eip, signal);
  }

  /** The Elastic IP (resolved once: its id never changes). */
  async #elasticIp(signal: AbortSignal): Promise<ElasticIp> {
    this.#eip ??= await this.client.resolveElasticIp(this.settings.address, { signal });
    return this.#eip;
  }

  /** This node's instance id: explicit, the node id if it is a UUID, else the metadata server (once). */
  async #selfId(signal: AbortSignal): Promise<string> {
    if (this.#self) return this.#self;
    if (isUuid(this.settings.nodeId)) {
      this.#self = this.settings.nodeId.toLowerCase();
    } else {
      const url = this.settings.metadataUrl ?? process.env.EXOSCALE_METADATA_URL;
      this.#self = await fetchInstanceId({ ...(url ? { url } : {}), signal });
      this.log.info({ instanceId: this.#self }, `instance id ${this.#self} (from the metadata server)`);
    }
    return this.#self;
  }

  async #holders(eip: ElasticIp, signal: AbortSignal): Promise<string[]> {
    return (await this.client.instancesHolding(eip.ip, { signal })).map((i) => i.id.toLowerCase()).sort();
  }

  /**
   * attach/detach and wait for its operation. Not abortable: once sent, an operation is followed
   * to its end so the next pass sees its effect. A duplicate (conflict) is left to the read-back.
   */
  async #mutate(kind: 'attach' | 'detach', eip: ElasticIp, instanceId: string): Promise<void> {
    const call = kind === 'attach' ? 'attach-instance-to-elastic-ip' : 'detach-instance-from-elastic-ip';
    const what = kind === 'attach' ? `attach elastic-ip ${eip.ip} to instance ${instanceId}` : `detach elastic-ip ${eip.ip} from instance ${instanceId}`;
    const started = performance.now();
    try {
      const op = kind === 'attach' ? await this.client.attachElasticIp(eip.id, instanceId) : await this.client.detachElasticIp(eip.id, instanceId);
      await this.#wait(op, what, call);
      this.#longestMutationMs = Math.max(this.#longestMutationMs, performance.now() - started);
    } catch (err) {
      if (!mayBeDuplicate(err)) throw err;
      this.log.debug({ err: (err as Error).message }, `${what}: answered as a duplicate; the read-back decides`);
    }
  }

  /** Fast polls first (attach/detach usually take well under a second), then slower ones. */
  async #wait(op: Operation, what: string, call: string): Promise<Operation> {
    const fast = this.settings.fastPollMs ?? 3_000;
    try {
      return await this.client.waitOperation(op, { timeoutMs: fast, pollIntervalMs: this.settings.pollIntervalMs ?? 150, what, call });
    } catch (err) {
      if (!(err instanceof ExoscaleWaitTimeoutError)) throw err;
      return this.client.waitOperation(op.id, { timeoutMs: 30_000 - fast, pollIntervalMs: this.settings.slowPollIntervalMs ?? 1_000, what, call });
    }
  }

  /** A peer's instance id: its node id when that is an instance, else the instance whose public IP it sends from. */
  async #peerInstance(peer: { id: string; address: string }, signal: AbortSignal): Promise<string | undefined> {
    if (this.#peerInstances.has(peer.id)) return this.#peerInstances.get(peer.id) ?? undefined;
    let found: string | null = null;
    if (isUuid(peer.id)) {
      try {
        found = (await this.client.getInstance(peer.id, { signal })).id.toLowerCase();
      } catch (err) {
        if (!(err instanceof ExoscaleApiError && err.status === 404)) throw err;
      }
    }
    if (!found) {
      const host = hostOf(peer.address);
      if (host) {
        const matches = (await this.client.listInstances({ ipAddress: host }, { signal })).filter(
          (i) => i['public-ip'] === host || i['ipv6-address'] === host,
        );
        if (matches.length === 1) found = matches[0]!.id.toLowerCase();
      }
    }
    this.#peerInstances.set(peer.id, found);
    return found ?? undefined;
  }
}

/** "198.51.100.11:12345" -> "198.51.100.11"; "[2001:db8::1]:12345" -> "2001:db8::1". */
export function hostOf(address: string): string | undefined {
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(address);
  if (v6) return v6[1];
  const v4 = /^(\d{1,3}(?:\.\d{1,3}){3})(?::\d+)?$/.exec(address);
  return v4?.[1];
}
