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
 *   aborted transition not started yet are skipped.
 * - A required action that fails on MASTER reports onRequiredFailure once; actions of that
 *   transition not started yet (those waiting on `after`) are skipped, the ones running finish.
 * - Every run (with its retries and timeouts) is logged with outcome and duration.
 */
import type { ActionHandlers, ActionPlugin, ApiCallSample, InstanceState, PeerDeadEvent, TransitionEvent } from './api.js';
import { silentLogger, type Logger } from '../log.js';
import { retry } from '../util/retry.js';
import { formatDuration } from '../util/duration.js';

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
  | { kind: 'transition'; event: Omit<TransitionEvent, 'signal'> }
  | { kind: 'peer-dead'; event: Omit<PeerDeadEvent, 'signal'> };

const HOOK: Record<InstanceState, keyof ActionHandlers | undefined> = {
  MASTER: 'onMaster',
  BACKUP: 'onBackup',
  FAULT: 'onFault',
  STOP: 'onStop',
  INIT: undefined,
};

export class ActionRunner {
  private handlers: { action: ScheduledAction; h: ActionHandlers }[] = [];
  /** Indexes into `handlers`, each after the actions it waits for. */
  private readonly order: number[];
  private queue: Job[] = [];
  private running: Promise<void> | undefined;
  private current: AbortController | undefined;
  private readonly log: Logger;
  readonly outcomes = new Map<string, ActionOutcome>();

  constructor(
    private readonly actions: readonly ScheduledAction[],
    private readonly opts: ActionRunnerOptions,
  ) {
    this.log = opts.log ?? silentLogger;
    this.order = waitOrder(actions);
  }

  /** Creates each action's handlers (once), in config order. */
  async init(): Promise<void> {
    for (const action of this.actions) {
      const h = await action.impl.create({
        config: action.config,
        log: this.log.child({ action: action.name }),
        instance: this.opts.instance,
        node: this.opts.node,
        ...(this.opts.onApiCall ? { onApiCall: this.opts.onApiCall } : {}),
      });
      this.handlers.push({ action, h });
    }
  }

  /** Queues a transition; a queued older transition is dropped and a running one is aborted. */
  transition(event: Omit<TransitionEvent, 'signal' | 'instance' | 'node'>): Promise<void> {
    const full = { ...event, instance: this.opts.instance, node: this.opts.node };
    const dropped = this.queue.filter((j) => j.kind === 'transition');
    if (dropped.length) this.log.info({ superseded: dropped.map((j) => (j.event as TransitionEvent).to) }, `superseded queued transition(s) by ${event.to}`);
    this.queue = this.queue.filter((j) => j.kind !== 'transition');
    this.current?.abort(new Error(`superseded by ${event.to}`));
    this.queue.push({ kind: 'transition', event: full });
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
    for (const { action, h } of this.handlers) {
      try {
        await h.close?.();
      } catch (err) {
        this.log.warn({ action: action.name, err: (err as Error).message }, 'action close failed');
      }
    }
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
      const start = async ({ action, h }: { action: ScheduledAction; h: ActionHandlers }): Promise<void> => {
        if (action.after.length) await Promise.allSettled(action.after.map((dep) => finished.get(dep)));
        if (ac.signal.aborted) return;
        if (gaveUp) {
          this.log.warn({ action: action.name, hook }, `action ${action.name} ${hook} skipped: ${gaveUp}`);
          return;
        }
        const fn = h[hook] as ((e: unknown) => Promise<void>) | undefined;
        if (!fn) return;
        const ok = await this.runOne(action, hook, (signal) => fn.call(h, { ...job.event, signal }), ac.signal);
        if (!ok && action.required && hook === 'onMaster' && !ac.signal.aborted && !gaveUp) {
          gaveUp = `required action ${action.name} failed`;
          this.opts.onRequiredFailure?.(gaveUp);
        }
      };
      // in wait order, so each action's dependencies are in `finished` when it is started;
      // actions without `after` reach runOne synchronously: they all start in this turn
      for (const i of this.order) {
        const entry = this.handlers[i];
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
            await withDeadline(call(signal), signal, action.timeoutMs);
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

/** Stops waiting when the signal fires, even if the plugin ignores it. */
function withDeadline<T>(p: Promise<T>, signal: AbortSignal, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      const reason = signal.reason as Error | undefined;
      reject(reason?.name === 'TimeoutError' ? new Error(`timed out after ${formatDuration(ms)}`) : (reason ?? new Error('aborted')));
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
