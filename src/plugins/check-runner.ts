/**
 * The scheduler for configured checks (imperative shell).
 *
 * A check entry in the rc file is one flat object: the scheduling keys below belong to ipwarden
 * (validated by src/config/schema.ts, which holds the defaults), every other key goes to the
 * plugin's parseConfig.
 *
 *   plugin        check plugin name (required)
 *   name          unique per instance (default: the plugin name)
 *   interval      time between the starts of two runs
 *   timeout       a run longer than this fails (default: interval)
 *   rise / fall   consecutive passes / failures needed to change the settled state
 *   weight        -253..253, keepalived vrrp_script semantics (see src/engine/health.ts; default 0)
 *   reverse       invert the result: the check passes when the plugin says it failed, and fails
 *                 when the plugin passed, timed out or threw (applied before rise/fall; default false)
 *   initialState  the state before the first result: "fail" (keepalived's init_fail: `rise` passes
 *                 are needed before the check counts as OK) or "ok" (keepalived's default: the check
 *                 counts as OK until its first result, which then decides at once: a first failure
 *                 does not wait for `fall`). At daemon start only: a check a reload adds counts
 *                 as passing until it has failed `fall` times in a row (keepalived's behaviour for
 *                 new scripts), a check a reload changes keeps its last state (see update())
 *
 * Guarantees: a check never runs twice at the same time (if a plugin ignores its abort signal and
 * hangs, later runs fail with "still running" until it settles); a run that exceeds its timeout is
 * aborted through its signal AND counted as failed at the timeout whatever the plugin does; a plugin
 * that throws or returns something other than {ok: boolean, detail: string} fails with the reason;
 * errors in event listeners are logged, never thrown into the scheduler.
 *
 * Isolation: a check whose plugin was loaded from a module (third-party: `plugins:`, `--plugin`)
 * runs in a worker thread of its own (src/plugins/isolation/isolated-check.ts), so a plugin that
 * blocks cannot delay adverts; its timeout terminates the worker. The built-in checks run
 * in-process: their I/O is asynchronous and their synchronous work (parsing `show stat`, a
 * status line) is bounded and small, and a worker per check would cost memory on every node.
 */
import { EventEmitter } from 'node:events';
import type { CheckContext, CheckPlugin, CheckResult } from './api.js';
import { silentLogger, type Logger } from '../log.js';
import { formatDuration, parseDuration } from '../util/duration.js';
import { DEFAULTS } from '../config/schema.js';
import type { ResolvedCheck } from '../config/resolve.js';
import { pluginModuleUrl } from './loader.js';
import { IsolatedCheck } from './isolation/isolated-check.js';
import { systemClock, type Clock, type Timers } from '../util/clock.js';

// ------------------------------------------------------------------ checks to schedule

/** A check's scheduling, resolved (durations in ms). */
export interface CheckSchedule {
  name: string;
  /** The plugin's name. */
  plugin: string;
  intervalMs: number;
  timeoutMs: number;
  rise: number;
  fall: number;
  weight: number;
  reverse: boolean;
  initialState: 'ok' | 'fail';
}

/** A check ready to run: its scheduling, the plugin and the plugin's parsed config. */
export interface ScheduledCheck<C = unknown> extends CheckSchedule {
  impl: CheckPlugin<C>;
  config: C;
  /** The instance the check belongs to (passed to exec checks as IPWARDEN_INSTANCE). */
  instance?: string;
}

/** The config's defaults for the scheduling keys (src/config/schema.ts is the one source). */
export function defaultSchedule(): Omit<CheckSchedule, 'name' | 'plugin'> {
  const intervalMs = parseDuration(DEFAULTS.checkInterval)!;
  return {
    intervalMs,
    timeoutMs: intervalMs,
    rise: DEFAULTS.checkRise,
    fall: DEFAULTS.checkFall,
    weight: DEFAULTS.checkWeight,
    reverse: false,
    initialState: DEFAULTS.checkInitialState,
  };
}

/**
 * A check from a plugin and its parsed config (tests, `ipwarden check` ad hoc, library use).
 * Unset scheduling keys take the config defaults; `timeoutMs` defaults to `intervalMs`.
 */
export function scheduleCheck<C>(impl: CheckPlugin<C>, config: C, schedule: Partial<CheckSchedule> & { instance?: string } = {}): ScheduledCheck<C> {
  const d = defaultSchedule();
  const intervalMs = schedule.intervalMs ?? d.intervalMs;
  return { ...d, name: impl.name, plugin: impl.name, ...schedule, intervalMs, timeoutMs: schedule.timeoutMs ?? intervalMs, impl, config };
}

/** A check entry resolved by the config (src/config/resolve.ts) as the runner takes it, tagged with its instance. */
export function toScheduledCheck(rc: ResolvedCheck, instance?: string): ScheduledCheck {
  return instance !== undefined ? { ...rc, instance } : rc;
}

// ------------------------------------------------------------------ runtime

/** One run's outcome. `at` is the wall-clock start (ms since the epoch). */
export interface CheckRun {
  ok: boolean;
  detail: string;
  latencyMs: number;
  at: number;
  metrics?: Record<string, number>;
}

/** What the runner knows about one check. */
export interface CheckSnapshot {
  name: string;
  plugin: string;
  instance?: string;
  /** The settled state after reverse and rise/fall: what effectiveHealth takes. */
  state: 'ok' | 'fail';
  /** The latest run (already inverted for a reversed check), or null before the first one. */
  lastResult: CheckRun | null;
  /** How many runs in a row had lastResult's outcome. */
  consecutive: number;
  weight: number;
  reverse: boolean;
  /** Completed runs since start. */
  runs: number;
  /** When `state` took its current value (wall clock ms; the runner's creation for the initial state). */
  since: number;
}

/** The context a plugin's run() gets from the runner: the API's, with the check's name always set. */
export interface RunnerCheckContext<C> extends CheckContext<C> {
  name: string;
}

export interface CheckRunnerOptions {
  log?: Logger;
  clock?: Clock;
  timers?: Timers;
  /**
   * Run third-party checks (plugins loaded from a module: pluginModuleUrl) in a worker thread
   * each, off this event loop (src/plugins/isolation/); default true. Built-in checks and plugin
   * objects made in code always run in-process.
   */
  isolate?: boolean;
}

export interface CheckRunnerEvents {
  /** A check's settled state flipped. */
  change: [check: CheckSnapshot, previous: 'ok' | 'fail'];
  /** A run finished (every run). */
  result: [check: CheckSnapshot];
}

const systemTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

interface Slot {
  check: ScheduledCheck;
  state: 'ok' | 'fail';
  since: number;
  lastResult: CheckRun | null;
  consecutive: number;
  runs: number;
  /** The runner-level run in progress (joined by concurrent callers). */
  inflight?: Promise<CheckRun>;
  /** The plugin's own promise has not settled yet (it may outlive a timed-out run). */
  pluginPending: boolean;
  pendingSince: number;
  timer?: unknown;
  /**
   * Carried over by a reload (a changed or added check): the next result starts a new streak, and
   * `initialState: ok`'s "the first result decides at once" does not apply (that is for daemon start).
   */
  inherited: boolean;
  /** Aborted when a reload removes or replaces this slot. */
  retired: AbortController;
  /** The worker thread a third-party check runs in (undefined: in-process). */
  isolated?: IsolatedCheck;
  /** Monotonic time the plugin's last in-process run settled (who was running during a loop stall). */
  settledAt: number;
}

/** Why a result is not a CheckResult, or undefined when it is one. */
export function whyNotCheckResult(value: unknown): string | undefined {
  if (!value || typeof value !== 'object') return `got ${value === null ? 'null' : typeof value}`;
  const v = value as Record<string, unknown>;
  if (typeof v.ok !== 'boolean') return `"ok" is ${typeof v.ok}, not boolean`;
  if (typeof v.detail !== 'string') return `"detail" is ${typeof v.detail}, not string`;
  return undefined;
}

function oneLine(text: string, max = 300): string {
  const line = text.replace(/\s*\n\s*/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/**
 * Runs the configured checks on their intervals and keeps their settled states.
 * Events: 'change' (settled state flipped), 'result' (every run).
 */
export class CheckRunner extends EventEmitter<CheckRunnerEvents> {
  private slots: Slot[];
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly timers: Timers;
  private readonly stopping = new AbortController();
  private started = false;

  constructor(checks: readonly ScheduledCheck<any>[], opts: CheckRunnerOptions = {}) {
    super();
    this.log = opts.log ?? silentLogger;
    this.clock = opts.clock ?? systemClock;
    this.timers = opts.timers ?? systemTimers;
    const seen = new Set<string>();
    for (const c of checks) {
      const key = `${c.instance ?? ''}\0${c.name}`;
      if (seen.has(key)) throw new Error(`check runner: duplicate check name "${c.name}"${c.instance ? ` in instance ${c.instance}` : ''}`);
      seen.add(key);
    }
    const now = this.clock.now();
    this.isolate = opts.isolate ?? true;
    this.slots = checks.map((check) => this.withIsolation({
      check,
      state: check.initialState,
      since: now,
      lastResult: null,
      consecutive: 0,
      runs: 0,
      pluginPending: false,
      pendingSince: 0,
      inherited: false,
      retired: new AbortController(),
      settledAt: -Infinity,
    }));
  }

  private readonly isolate: boolean;

  private withIsolation(slot: Slot): Slot {
    const url = this.isolate ? pluginModuleUrl(slot.check.impl) : undefined;
    if (url !== undefined) slot.isolated = new IsolatedCheck(slot.check.plugin, url);
    return slot;
  }

  /**
   * The in-process checks ("instance/name") whose plugin code ran at some time since `sinceMonotonic`
   * (a run in progress, or one that settled since): who may have blocked the event loop then.
   */
  inProcessActiveSince(sinceMonotonic: number): string[] {
    return this.slots
      .filter((s) => !s.isolated && (s.pluginPending || s.settledAt >= sinceMonotonic))
      .map((s) => `${s.check.instance !== undefined ? `${s.check.instance}/` : ''}${s.check.name} (plugin ${s.check.plugin})`);
  }

  /**
   * Reload in place. By name: a `kept` check keeps its slot (state, counters, schedule, run in
   * progress); a `changed` one gets a new slot that keeps the old settled state and last result until
   * it has results of its own (rise/fall then count from those); an `added` one counts as passing
   * until it has failed `fall` times in a row (initialState applies at daemon start only); a removed
   * or changed check's old slot is stopped and its run aborted. Emits nothing: the caller re-reads
   * the snapshot.
   */
  update(next: readonly ScheduledCheck<any>[], kept: ReadonlySet<string>): void {
    if (this.stopping.signal.aborted) throw new Error('check runner: stopped');
    const old = new Map(this.slots.map((s) => [s.check.name, s]));
    const now = this.clock.now();
    const fresh: Slot[] = [];
    this.slots = next.map((check) => {
      const prev = old.get(check.name);
      if (prev && kept.has(check.name)) {
        old.delete(check.name);
        return prev;
      }
      const slot: Slot = {
        check,
        state: prev?.state ?? 'ok',
        since: prev?.since ?? now,
        lastResult: prev?.lastResult ?? null,
        consecutive: prev?.consecutive ?? 0,
        runs: 0,
        pluginPending: false,
        pendingSince: 0,
        inherited: true,
        retired: new AbortController(),
        settledAt: -Infinity,
      };
      this.withIsolation(slot);
      fresh.push(slot);
      return slot;
    });
    for (const gone of old.values()) this.retire(gone);
    if (this.started) for (const slot of fresh) this.schedule(slot, 0);
  }

  private retire(slot: Slot): void {
    slot.retired.abort(new Error(`check ${slot.check.name} reloaded`));
    void slot.isolated?.close();
    if (slot.timer !== undefined) this.timers.clearTimeout(slot.timer);
    slot.timer = undefined;
  }

  /** Starts every check now, then on its interval. */
  start(): void {
    if (this.stopping.signal.aborted) throw new Error('check runner: already stopped');
    if (this.started) return;
    this.started = true;
    for (const slot of this.slots) this.schedule(slot, 0);
  }

  /** Stops the schedule and aborts runs in progress; resolves when no run is awaited any more. */
  async stop(): Promise<void> {
    if (this.stopping.signal.aborted) return;
    this.stopping.abort(new Error('check runner stopped'));
    for (const slot of this.slots) {
      if (slot.timer !== undefined) this.timers.clearTimeout(slot.timer);
      slot.timer = undefined;
    }
    await Promise.allSettled(this.slots.map((s) => s.inflight).filter(Boolean));
    await Promise.allSettled(this.slots.map((s) => s.isolated?.close()));
  }

  /** Runs every check once now (joining runs already in progress) and returns the snapshot. */
  async runOnce(): Promise<CheckSnapshot[]> {
    if (this.stopping.signal.aborted) throw new Error('check runner: stopped');
    await Promise.all(this.slots.map((slot) => this.execute(slot)));
    return this.snapshot();
  }

  /** The current state of every check. */
  snapshot(): CheckSnapshot[] {
    return this.slots.map((s) => this.view(s));
  }

  private view(s: Slot): CheckSnapshot {
    const snap: CheckSnapshot = {
      name: s.check.name,
      plugin: s.check.plugin,
      state: s.state,
      lastResult: s.lastResult ? { ...s.lastResult } : null,
      consecutive: s.consecutive,
      weight: s.check.weight,
      reverse: s.check.reverse,
      runs: s.runs,
      since: s.since,
    };
    if (s.check.instance !== undefined) snap.instance = s.check.instance;
    return snap;
  }

  private schedule(slot: Slot, delayMs: number): void {
    if (this.stopping.signal.aborted || slot.retired.signal.aborted) return;
    slot.timer = this.timers.setTimeout(() => {
      slot.timer = undefined;
      const started = this.clock.monotonic();
      void this.execute(slot).then(() => {
        const elapsed = this.clock.monotonic() - started;
        this.schedule(slot, Math.max(0, slot.check.intervalMs - elapsed));
      });
    }, delayMs);
  }

  /** One run of a check, never two at once; always resolves. */
  private execute(slot: Slot): Promise<CheckRun> {
    if (slot.inflight) return slot.inflight;
    // an isolated check's timeout starts once its worker has the module loaded (start-up is not the check's time)
    const run = slot.isolated
      ? slot.isolated.ready().then(
          () => this.runPlugin(slot),
          (err: Error) => ({ ok: false, detail: `plugin ${slot.check.plugin}: its worker thread could not start: ${oneLine(err.message)}`, latencyMs: 0, at: this.clock.now() }),
        )
      : this.runPlugin(slot);
    const p = run.then((run) => {
      slot.inflight = undefined;
      if (!this.stopping.signal.aborted && !slot.retired.signal.aborted) this.apply(slot, run);
      return run;
    });
    slot.inflight = p;
    return p;
  }

  private runPlugin(slot: Slot): Promise<CheckRun> {
    const { check } = slot;
    const at = this.clock.now();
    const t0 = this.clock.monotonic();
    const done = (ok: boolean, detail: string, metrics?: Record<string, number>): CheckRun => {
      const run: CheckRun = { ok, detail, latencyMs: Math.max(0, Math.round((this.clock.monotonic() - t0) * 10) / 10), at };
      if (metrics) run.metrics = metrics;
      return run;
    };
    if (slot.pluginPending) {
      const hung = formatDuration(this.clock.monotonic() - slot.pendingSince);
      return Promise.resolve(done(false, `previous run still running after ${hung} (the plugin ignores its abort signal)`));
    }
    const controller = new AbortController();
    const stopping = AbortSignal.any([this.stopping.signal, slot.retired.signal]);
    const onStop = () => controller.abort(stopping.reason);
    stopping.addEventListener('abort', onStop, { once: true });
    const ctx: RunnerCheckContext<unknown> = {
      signal: controller.signal,
      config: check.config,
      log: this.log.child({ check: check.name, plugin: check.plugin }),
      name: check.name,
    };
    if (check.instance !== undefined) ctx.instance = check.instance;

    slot.pluginPending = true;
    slot.pendingSince = t0;
    const pluginRun = slot.isolated ? slot.isolated.run(ctx) : (async () => check.impl.run(ctx))();
    const settled = () => {
      slot.pluginPending = false;
      slot.settledAt = this.clock.monotonic();
    };
    pluginRun.then(settled, settled);

    return new Promise<CheckRun>((resolve) => {
      let settled = false;
      const finish = (run: CheckRun) => {
        if (settled) return;
        settled = true;
        this.timers.clearTimeout(timer);
        stopping.removeEventListener('abort', onStop);
        stopping.removeEventListener('abort', onStopResolve);
        resolve(run);
      };
      const timer = this.timers.setTimeout(() => {
        controller.abort(new Error(`timed out after ${formatDuration(check.timeoutMs)}`));
        finish(done(false, `timed out after ${formatDuration(check.timeoutMs)}`));
      }, check.timeoutMs);
      const onStopResolve = () => finish(done(false, 'stopped'));
      stopping.addEventListener('abort', onStopResolve, { once: true });
      pluginRun.then(
        (result: CheckResult) => {
          const why = whyNotCheckResult(result);
          if (why) return finish(done(false, `plugin ${check.plugin} returned an invalid result (${why}); expected {ok: boolean, detail: string}`));
          const metrics = result.metrics && typeof result.metrics === 'object' ? result.metrics : undefined;
          finish(done(result.ok, oneLine(result.detail), metrics));
        },
        (err: unknown) => {
          const msg = err instanceof Error ? err.message : String(err);
          finish(done(false, `plugin ${check.plugin} threw: ${oneLine(msg || String(err))}`));
        },
      );
    });
  }

  /** Reverse, rise/fall hysteresis (keepalived's), then events. */
  private apply(slot: Slot, raw: CheckRun): void {
    const run = slot.check.reverse
      ? { ...raw, ok: !raw.ok, detail: `${raw.detail} (reverse: counts as ${raw.ok ? 'failing' : 'passing'})` }
      : raw;
    const first = slot.runs === 0 && !slot.inherited;
    const sameAsLast = !slot.inherited && slot.lastResult !== null && slot.lastResult.ok === run.ok;
    slot.inherited = false;
    slot.consecutive = sameAsLast ? slot.consecutive + 1 : 1;
    slot.lastResult = run;
    slot.runs++;
    const previous = slot.state;
    const { rise, fall } = slot.check;
    if (previous === 'ok' && !run.ok && (slot.consecutive >= fall || (first && slot.check.initialState === 'ok'))) {
      slot.state = 'fail';
    } else if (previous === 'fail' && run.ok && slot.consecutive >= rise) {
      slot.state = 'ok';
    }
    if (slot.state !== previous) slot.since = run.at;
    const snap = this.view(slot);
    if (slot.state !== previous) {
      const data = { check: snap.name, plugin: snap.plugin, instance: snap.instance, detail: run.detail };
      if (slot.state === 'fail') this.log.warn(data, `check ${snap.name} is failing: ${run.detail}`);
      else this.log.info(data, `check ${snap.name} is passing again: ${run.detail}`);
    } else {
      this.log.debug({ check: snap.name, ok: run.ok, detail: run.detail, latencyMs: run.latencyMs }, 'check run');
    }
    this.safeEmit('result', snap);
    if (slot.state !== previous) this.safeEmit('change', snap, previous);
  }

  private safeEmit<K extends keyof CheckRunnerEvents>(event: K, ...args: CheckRunnerEvents[K]): void {
    try {
      (this.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args);
    } catch (err) {
      this.log.error({ err }, `check runner: a '${String(event)}' listener threw`);
    }
  }
}
