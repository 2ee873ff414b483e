/**
 * Runs an instance's action plugins on its transitions (imperative shell).
 *
 * The scheduling keys of an action entry (plugin, name, timeout, retries, required, after) are
 * validated by the rc schema (src/config/schema.ts); the rest goes to the plugin's parseConfig
 * (src/config/resolve.ts).
 *
 * Guarantees:
 * - Concurrency: the actions of one transition (or peer-dead job) run concurrently. An action with
 *   `after` starts once every action it names has finished for this transition, ok or failed
 *   (an action without a handler for the hook counts as finished at once); actions without
 *   `after` all start as soon as the job starts. So an Elastic IP attach does not wait for a local
 *   address change unless the operator says so.
 * - One job at a time per instance: a transition's actions all finish before the next job starts.
 * - Newest wins: a newer transition supersedes a queued one (last state wins, never
 *   stale-state-last) and aborts the attempts still running for an older one; actions of the
 *   aborted transition not started yet are skipped. Queued peer-dead jobs of another state than the
 *   new one are dropped too (a MASTER's fencing must not run once the node is BACKUP).
 * - A required action that fails on MASTER reports onRequiredFailure once; actions of that
 *   transition not started yet (those waiting on `after`) are skipped, the ones running finish.
 * - Every run (with its retries and timeouts) is logged with outcome and duration.
 */
import type { ActionHandlers, ActionPlugin, ApiCallSample, InstanceState, PeerDeadEvent, TransitionEvent } from './api.js';
import { silentLogger, type Logger } from '../log.js';
import { retry } from '../util/retry.js';
import { formatDuration } from '../util/duration.js';
import { withDeadline } from '../util/deadline.js';

/** An action ready to run. */
export interface ScheduledAction<C = unknown> {
  name: string;
  plugin: string;
  timeoutMs: number;
  retries: number;
  required: boolean;
  /** Names of actions of the same instance that must finish first, on every transition. */
  after: string[];
  impl: ActionPlugin<C>;
  config: C;
}

/** An action plugin's create() failed. */
export class ActionCreateError extends Error {
  override name = 'ActionCreateError';
  constructor(
    readonly action: string,
    reason: string,
  ) {
    super(`action ${action}: create failed: ${reason}`);
  }
}

/** The `after:` lists name missing actions or wait for each other. */
export class ActionOrderError extends Error {
  override name = 'ActionOrderError';
}

/**
 * The actions in an order where each comes after those it waits for (config order otherwise).
 * Throws ActionOrderError for an unknown name or a cycle (the rc schema reports those, with the
 * field path, before a runner is built).
 */
export function waitOrder(actions: readonly Pick<ScheduledAction, 'name' | 'after'>[]): number[] {
  const byName = new Map(actions.map((a, i) => [a.name, i]));
  for (const a of actions) {
    for (const dep of a.after) {
      if (!byName.has(dep) || dep === a.name) throw new ActionOrderError(`action ${a.name}: after: ${JSON.stringify(dep)} is not another action of this instance`);
    }
  }
  const order: number[] = [];
  const placed = new Set<number>();
  while (order.length < actions.length) {
    const next = actions.findIndex((a, i) => !placed.has(i) && a.after.every((dep) => placed.has(byName.get(dep)!)));
    if (next < 0) {
      const stuck = actions.filter((_, i) => !placed.has(i)).map((a) => a.name);
      throw new ActionOrderError(`actions ${stuck.join(', ')}: their after: lists wait for each other (a cycle)`);
    }
    placed.add(next);
    order.push(next);
  }
  return order;
}

// ------------------------------------------------------------------ runtime

export interface ActionOutcome {
  action: string;
  plugin: string;
  hook: string;
  ok: boolean;
  durationMs: number;
  attempts: number;
  error?: string;
  /** Wall clock ms when it finished. */
  at: number;
}

export interface ActionRunnerOptions {
  instance: { name: string; address: string };
  node: { id: string };
  log?: Logger;
  /** A required action kept failing on MASTER: the daemon moves the instance to FAULT. */
  onRequiredFailure?: (reason: string) => void;
  /** Every finished action run (metrics). */
  onOutcome?: (o: ActionOutcome) => void;
  /** Every API request an action makes (metrics). */
  onApiCall?: (sample: ApiCallSample) => void;
}

type Job =
  /** `only`: a reload's new handlers told the current state (the others already are). */
  | { kind: 'transition'; event: Omit<TransitionEvent, 'signal'>; only?: ReadonlySet<Entry> }
  | { kind: 'peer-dead'; event: Omit<PeerDeadEvent, 'signal'> };

/** One action and its handlers. */
interface Entry {
  action: ScheduledAction;
  h: ActionHandlers;
  /** Aborted when a reload replaces or removes the action: its work in progress stops. */
  retired: AbortController;
  /** Its run in progress (settles when it finished), if any. */
  busy?: Promise<unknown>;
}

/** Handlers a reload created for its changed and added actions, not in use yet (see ActionRunner.prepare). */
export interface PreparedActions {
  next: readonly ScheduledAction[];
  /** Names whose handlers stay as they are. */
  kept: ReadonlySet<string>;
  created: Entry[];
}

const HOOK: Record<InstanceState, keyof ActionHandlers | undefined> = {
  MASTER: 'onMaster',
  BACKUP: 'onBackup',
  FAULT: 'onFault',
  STOP: 'onStop',
  INIT: undefined,
};

export class ActionRunner {
  private handlers: Entry[] = [];
  /** Indexes into `handlers`, each after the actions it waits for. */
  private order: number[];
  private queue: Job[] = [];
  private running: Promise<void> | undefined;
  private current: AbortController | undefined;
  private readonly log: Logger;
  readonly outcomes = new Map<string, ActionOutcome>();

  constructor(
    private actions: readonly ScheduledAction[],
    private readonly opts: ActionRunnerOptions,
  ) {
    this.log = opts.log ?? silentLogger;
    this.order = waitOrder(actions);
  }

  /** Creates each action's handlers (once), in config order. */
  async init(): Promise<void> {
    this.handlers = await this.create(this.actions);
  }

  /**
   * Creates handlers for `actions`, in config order. When one create() fails the ones created are
   * closed and the error names the action.
   */
  private async create(actions: readonly ScheduledAction[]): Promise<Entry[]> {
    const out: Entry[] = [];
    for (const action of actions) {
      try {
        const h = await action.impl.create({
          config: action.config,
          log: this.log.child({ action: action.name }),
          instance: this.opts.instance,
          node: this.opts.node,
          ...(this.opts.onApiCall ? { onApiCall: this.opts.onApiCall } : {}),
        });
        out.push({ action, h, retired: new AbortController() });
      } catch (err) {
        await this.closeEntries(out);
        throw new ActionCreateError(action.name, errText(err));
      }
    }
    return out;
  }

  /**
   * Reload, first half: creates the handlers of the actions not in `kept` (changed or added).
   * Nothing running is touched; commit() swaps them in, discard() closes them.
   */
  async prepare(next: readonly ScheduledAction[], kept: ReadonlySet<string>): Promise<PreparedActions> {
    waitOrder(next);
    const have = new Set(this.handlers.map((e) => e.action.name));
    const created = await this.create(next.filter((a) => !(kept.has(a.name) && have.has(a.name))));
    return { next, kept, created };
  }

  /** Closes prepared handlers that will not be used (another part of the reload failed). */
  async discard(p: PreparedActions): Promise<void> {
    await this.closeEntries(p.created);
  }

  /**
   * Reload, second half: the handlers of removed and changed actions stop their work in progress
   * (aborted and awaited) and are closed (a closed handler does not release what it holds); then
   * the new handlers are told the current state (`current`, when it has a hook) and converge to it.
   * Resolves once the swap is done (not when the new handlers finished converging).
   */
  async commit(p: PreparedActions, current: Omit<TransitionEvent, 'signal' | 'instance' | 'node'> | undefined): Promise<void> {
    const keep = new Map(this.handlers.filter((e) => p.kept.has(e.action.name)).map((e) => [e.action.name, e]));
    const leaving = this.handlers.filter((e) => !keep.has(e.action.name));
    for (const e of leaving) e.retired.abort(new Error(`action ${e.action.name} reloaded`));
    await Promise.allSettled(leaving.map((e) => e.busy));
    await this.closeEntries(leaving);
    for (const e of leaving) for (const key of [...this.outcomes.keys()]) if (key.startsWith(`${e.action.name}:`)) this.outcomes.delete(key);
    const created = new Map(p.created.map((e) => [e.action.name, e]));
    this.actions = p.next;
    this.order = waitOrder(p.next);
    this.handlers = p.next.map((a) => keep.get(a.name) ?? created.get(a.name)!);
    if (current && HOOK[current.to] && p.created.length) {
      void this.enqueue({ kind: 'transition', event: { ...current, instance: this.opts.instance, node: this.opts.node }, only: new Set(p.created) });
    }
  }

  private async closeEntries(entries: readonly Entry[]): Promise<void> {
    for (const { action, h } of entries) {
      try {
        await h.close?.();
      } catch (err) {
        this.log.warn({ action: action.name, err: (err as Error).message }, 'action close failed');
      }
    }
  }

  /** Queues a transition; a queued older transition is dropped and a running one is aborted. */
  transition(event: Omit<TransitionEvent, 'signal' | 'instance' | 'node'>): Promise<void> {
    const full = { ...event, instance: this.opts.instance, node: this.opts.node };
    const dropped = this.queue.filter((j) => j.kind === 'transition');
    if (dropped.length) this.log.info({ superseded: dropped.map((j) => (j.event as TransitionEvent).to) }, `superseded queued transition(s) by ${event.to}`);
    // a peer death queued in another state is stale: as MASTER it would fence and attach after this
    // node left MASTER (the chaos campaign's Hetzner seed 7: a BACKUP's assign 4 s later took the address)
    const stale = this.queue.filter((j) => j.kind === 'peer-dead' && j.event.state !== event.to);
    if (stale.length) this.log.info({ peers: stale.map((j) => (j.event as PeerDeadEvent).peer.id) }, `dropped queued peer-dead job(s) of state ${(stale[0]!.event as PeerDeadEvent).state}: now ${event.to}`);
    this.queue = this.queue.filter((j) => j.kind !== 'transition' && !stale.includes(j));
    this.current?.abort(new Error(`superseded by ${event.to}`));
    return this.enqueue({ kind: 'transition', event: full });
  }

  /** A reload's convergence job: queued behind the job in progress, dropped by any newer transition. */
  private enqueue(job: Job): Promise<void> {
    this.queue.push(job);
    return this.pump();
  }

  peerDead(event: Omit<PeerDeadEvent, 'signal' | 'instance' | 'node'>): Promise<void> {
    this.queue.push({ kind: 'peer-dead', event: { ...event, instance: this.opts.instance, node: this.opts.node } });
    return this.pump();
  }

  /** Resolves when everything queued so far has run. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  async close(): Promise<void> {
    await this.idle();
    await this.closeEntries(this.handlers);
  }

  snapshot(): ActionOutcome[] {
    return [...this.outcomes.values()];
  }

  private pump(): Promise<void> {
    if (!this.running) {
      this.running = (async () => {
        try {
          for (let job = this.queue.shift(); job; job = this.queue.shift()) await this.runJob(job);
        } finally {
          this.running = undefined;
        }
      })();
    }
    return this.running;
  }

  private async runJob(job: Job): Promise<void> {
    const ac = new AbortController();
    this.current = ac;
    try {
      const hook = job.kind === 'transition' ? HOOK[job.event.to] : 'onPeerDead';
      if (!hook) return;
      let gaveUp: string | undefined;
      /** Settles when that action is finished (or skipped) for this job; never rejects. */
      const finished = new Map<string, Promise<void>>();
      const only = job.kind === 'transition' ? job.only : undefined;
      const start = async (entry: Entry): Promise<void> => {
        const { action, h } = entry;
        if (action.after.length) await Promise.allSettled(action.after.map((dep) => finished.get(dep)));
        if (ac.signal.aborted || entry.retired.signal.aborted) return;
        if (only && !only.has(entry)) return;
        if (gaveUp) {
          this.log.warn({ action: action.name, hook }, `action ${action.name} ${hook} skipped: ${gaveUp}`);
          return;
        }
        const fn = h[hook] as ((e: unknown) => Promise<void>) | undefined;
        if (!fn) return;
        const signal = AbortSignal.any([ac.signal, entry.retired.signal]);
        const run = this.runOne(action, hook, (s) => fn.call(h, { ...job.event, signal: s }), signal);
        entry.busy = run;
        const ok = await run;
        if (entry.busy === run) entry.busy = undefined;
        if (!ok && action.required && hook === 'onMaster' && !signal.aborted && !gaveUp) {
          gaveUp = `required action ${action.name} failed`;
          this.opts.onRequiredFailure?.(gaveUp);
        }
      };
      // in wait order, so each action's dependencies are in `finished` when it is started;
      // actions without `after` reach runOne synchronously: they all start in this turn
      const handlers = this.handlers;
      for (const i of this.order) {
        const entry = handlers[i];
        if (entry) finished.set(entry.action.name, start(entry));
      }
      const results = await Promise.allSettled(finished.values());
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    } finally {
      if (this.current === ac) this.current = undefined;
    }
  }

  private async runOne(action: ScheduledAction, hook: string, call: (signal: AbortSignal) => Promise<void>, outer: AbortSignal): Promise<boolean> {
    const started = performance.now();
    let attempts = 0;
    let error: string | undefined;
    try {
      await retry(
        async () => {
          attempts++;
          // a ref'd timer (AbortSignal.timeout's is not): a hung action keeps the process waiting for its timeout
          const timeout = new AbortController();
          const timer = setTimeout(() => timeout.abort(new DOMException(`timed out after ${action.timeoutMs} ms`, 'TimeoutError')), action.timeoutMs);
          const signal = AbortSignal.any([outer, timeout.signal]);
          try {
            await withDeadline(call(signal), { signal, timeoutMessage: `timed out after ${formatDuration(action.timeoutMs)}` });
          } finally {
            clearTimeout(timer);
          }
        },
        {
          retries: action.retries,
          minDelay: 200,
          maxDelay: 2000,
          signal: outer,
          shouldRetry: () => !outer.aborted,
          onRetry: ({ error: e, retriesLeft }) =>
            this.log.warn({ action: action.name, hook, err: errText(e), retriesLeft }, `action ${action.name} failed, retrying`),
        },
      );
    } catch (err) {
      error = errText(err);
    }
    const outcome: ActionOutcome = {
      action: action.name,
      plugin: action.plugin,
      hook,
      ok: error === undefined,
      durationMs: Math.round(performance.now() - started),
      attempts,
      at: Date.now(),
      ...(error !== undefined ? { error } : {}),
    };
    this.outcomes.set(`${action.name}:${hook}`, outcome);
    this.opts.onOutcome?.(outcome);
    const msg = `action ${action.name} ${hook} ${outcome.ok ? 'ok' : 'failed'} in ${formatDuration(outcome.durationMs)}`;
    if (outcome.ok) this.log.info({ action: action.name, hook, durationMs: outcome.durationMs, attempts }, msg);
    else this.log.error({ action: action.name, hook, durationMs: outcome.durationMs, attempts, err: error }, msg);
    return outcome.ok;
  }
}

function errText(err: unknown): string {
  const e = err as Error;
  return (e?.message ?? String(err)).split('\n')[0]!;
}

