/**
 * keepalived scripts mode: one `ipwarden notify` invocation runs the actions configured under
 * `keepalived.instances.<name>` for the state keepalived reported.
 *
 * keepalived starts notify scripts without waiting for them, so invocations for one instance can
 * overlap and start in an order that is not the order of the transitions. Each invocation:
 *   1. registers itself as the newest (stamp = its process start time, see stamp.ts), unless a newer
 *      one is registered already: then it is stale and exits without acting;
 *   2. waits for the instance's run lock (one run at a time); if a newer invocation registers
 *      meanwhile, it gives up (the newer one will act);
 *   3. runs the actions with the ActionRunner (concurrently, ordered by `after:`; timeouts, retries; from/to per
 *      transition.ts from the state of the last run that succeeded: a MASTER invocation always runs the MASTER
 *      actions, only a MASTER_RX_LOWER_PRI one re-claims); a newer invocation registering during the run aborts it;
 *   4. records what it applied and releases the lock.
 * So invocations that keepalived started in order end in the state of the later one, whatever
 * order they reach this code in.
 */
import type { Logger } from '../log.js';
import type { InstanceState } from '../plugins/api.js';
import { ActionRunner, type ActionOutcome } from '../plugins/action-runner.js';
import type { ResolvedKeepalivedInstance } from '../config/resolve.js';
import { formatDuration } from '../util/duration.js';
import { FileLock } from './lock.js';
import { describeTransition, eventState, runnerTransition, type KeepalivedEvent } from './transition.js';
import { describeStamp, type InvocationStamp } from './stamp.js';
import type { InvocationRecord, StateStore } from './state.js';

/** One `ipwarden notify` call. */
export interface NotifyInvocation {
  /** keepalived's instance (or sync group) name. */
  instance: string;
  /** The state keepalived reported, or MASTER_RX_LOWER_PRI (a notify_master_rx_lower_pri script). */
  state: KeepalivedEvent;
  /** keepalived's effective priority (0 when the script line gives none, as for groups). */
  priority: number;
  stamp: InvocationStamp;
}

export type NotifyResult =
  /** The actions ran; ok = every one succeeded. */
  | { status: 'applied'; from: InstanceState; to: InstanceState; ok: boolean; outcomes: ActionOutcome[]; durationMs: number }
  /** A newer invocation was registered before this one could act: nothing ran. */
  | { status: 'stale'; newer: InvocationRecord }
  /** A newer invocation was registered while the actions ran: they were aborted. */
  | { status: 'superseded'; newer: InvocationRecord; from: InstanceState; to: InstanceState; outcomes: ActionOutcome[] }
  /** The run was aborted from outside (signal) before finishing. */
  | { status: 'aborted'; from: InstanceState; to: InstanceState; outcomes: ActionOutcome[] };

export interface ScriptsModeOptions {
  store: StateStore;
  node: { id: string };
  log: Logger;
  /** How long to wait for an earlier run of the instance to finish (ms). */
  lockTimeoutMs: number;
  /** How often a waiting or running invocation looks for a newer one (ms, default 50). */
  pollMs?: number;
  /** Aborts the run (e.g. SIGTERM): the actions are aborted, the outcome recorded. */
  signal?: AbortSignal;
}

/** Step 1 alone (the `--detach` parent registers before handing over): the newer invocation, if this one is stale. */
export function registerInvocation(store: StateStore, inv: NotifyInvocation): Promise<InvocationRecord | undefined> {
  return store.register(inv.instance, { stamp: inv.stamp, state: eventState(inv.state), priority: inv.priority });
}

/** Runs one invocation through steps 1-4. */
export async function runNotifyInvocation(inst: ResolvedKeepalivedInstance, inv: NotifyInvocation, opts: ScriptsModeOptions): Promise<NotifyResult> {
  const { store, log } = opts;
  const pollMs = opts.pollMs ?? 50;
  const to = eventState(inv.state);
  const me = describeStamp(inv.stamp);

  const newerAtStart = await registerInvocation(store, inv);
  if (newerAtStart) {
    log.info({ event: 'stale', newer: newerAtStart.state }, `${inv.state} invocation is stale: a newer ${newerAtStart.state} invocation (${describeStamp(newerAtStart.stamp)}) exists; nothing to do`);
    return { status: 'stale', newer: newerAtStart };
  }

  let newer: InvocationRecord | undefined;
  const lookForNewer = (): boolean => {
    newer ??= store.newerThan(inv.instance, inv.stamp);
    return newer !== undefined;
  };
  const waitStarted = Date.now();
  const lock = await FileLock.acquire(store.runLockPath(inv.instance), {
    timeoutMs: opts.lockTimeoutMs,
    giveUp: lookForNewer,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  if (!lock) {
    if (newer) {
      log.info({ event: 'stale', newer: newer.state }, `${inv.state} invocation is stale: a newer ${newer.state} invocation (${describeStamp(newer.stamp)}) arrived while waiting; nothing to do`);
      return { status: 'stale', newer };
    }
    return { status: 'aborted', from: store.settledState(inv.instance), to, outcomes: [] };
  }
  try {
    if (Date.now() - waitStarted > 100) log.info({ event: 'lock-wait', waitedMs: Date.now() - waitStarted }, `waited ${formatDuration(Date.now() - waitStarted)} for an earlier run to finish`);
    if (lookForNewer()) {
      log.info({ event: 'stale', newer: newer!.state }, `${inv.state} invocation is stale: a newer ${newer!.state} invocation exists; nothing to do`);
      return { status: 'stale', newer: newer! };
    }
    const settled = store.settledState(inv.instance);
    const transition = runnerTransition(settled, inv.state);
    const { from } = transition;
    const why = describeTransition(settled, inv.state, transition);
    const outcomes: ActionOutcome[] = [];
    let requiredFailure: string | undefined;
    const runner = new ActionRunner(inst.actions, {
      instance: { name: inst.name, address: inst.address },
      node: opts.node,
      log,
      onOutcome: (o) => outcomes.push(o),
      onRequiredFailure: (reason) => (requiredFailure = reason),
    });
    const started = performance.now();
    let aborted = false;
    // INIT has no hook: queuing it aborts the running transition and runs nothing (the runner's supersede path).
    const abortRun = (reason: string) => {
      if (aborted) return;
      aborted = true;
      void runner.transition({ from: to, to: 'INIT', priority: inv.priority, reason });
    };
    const poll = setInterval(() => {
      if (lookForNewer()) {
        log.info({ event: 'superseded', newer: newer!.state }, `a newer ${newer!.state} invocation (${describeStamp(newer!.stamp)}) arrived: aborting the ${to} actions`);
        abortRun(`superseded by a newer ${newer!.state} invocation`);
      }
    }, pollMs);
    const onSignal = () => {
      log.warn({ event: 'aborted' }, `aborting the ${to} actions: ${String((opts.signal?.reason as Error | undefined)?.message ?? 'signal')}`);
      abortRun('aborted by signal');
    };
    opts.signal?.addEventListener('abort', onSignal, { once: true });
    try {
      await runner.init();
      if (opts.signal?.aborted) onSignal();
      if (!aborted) {
        log.info({ event: 'transition', from, to, keepalived: inv.state, settled, priority: inv.priority, invocation: me }, `${from} -> ${to} (${why}, priority ${inv.priority}): running ${inst.actions.length} action(s)`);
        await runner.transition({ from, to, priority: inv.priority, reason: why });
      }
      await runner.idle();
    } finally {
      clearInterval(poll);
      opts.signal?.removeEventListener('abort', onSignal);
      await runner.close();
    }
    const durationMs = Math.round(performance.now() - started);
    const ok = !aborted && requiredFailure === undefined && outcomes.every((o) => o.ok);
    // Nothing ran when aborted before the first action: the previous record stays the truth.
    if (!aborted || outcomes.length > 0) await store.recordApplied(inv.instance, { stamp: inv.stamp, state: to, priority: inv.priority, at: Date.now(), ok, ...(aborted ? { superseded: newer !== undefined } : {}) });
    if (aborted && newer) return { status: 'superseded', newer, from, to, outcomes };
    if (aborted) return { status: 'aborted', from, to, outcomes };
    const failed = outcomes.filter((o) => !o.ok).map((o) => o.action);
    const summary = `${from} -> ${to}: ${ok ? 'all actions succeeded' : `failed: ${failed.join(', ') || requiredFailure}`} in ${formatDuration(durationMs)}`;
    if (ok) log.info({ event: 'applied', from, to, durationMs }, summary);
    else log.error({ event: 'applied', from, to, durationMs, failed }, summary);
    return { status: 'applied', from, to, ok, outcomes, durationMs };
  } finally {
    lock.release();
  }
}
