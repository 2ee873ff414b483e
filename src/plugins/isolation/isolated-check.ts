/**
 * A third-party check run off the heartbeat event loop: each configured check of a plugin loaded
 * from a module (`plugins:`, `--plugin`) gets its own worker thread, which imports the module and
 * runs the check there (worker-source.ts). A plugin that blocks for seconds (a busy loop, a
 * synchronous call) blocks only its worker: adverts, other checks and actions go on.
 *
 * Why a worker thread and not a child process: the plugin API stays the same (an in-memory
 * `run(ctx)` with an AbortSignal and a logger), startup is ~10x cheaper than a node process, the
 * config and the result cross as structured clones, and terminate() stops a busy loop at once.
 * Why one worker per check, not per module: a check that must be terminated (its timeout passed,
 * it ignores its abort signal) takes down nobody else's run.
 *
 * Protocol (messages, see worker-source.ts): run -> result | threw; abort; log. The runner's
 * timeout is enforced here too: on abort (timeout, reload, stop) the worker gets `abort` and
 * ABORT_GRACE_MS to settle; a worker still busy then is terminated. A worker that crashes
 * (uncaught error, process.exit in the plugin) fails its run with an error naming the plugin;
 * either way the next run starts a fresh worker.
 *
 * Limits: the plugin's parsed config must be structured-cloneable (plain data, Date, RegExp, Map,
 * Set; no functions or class instances with behaviour), and so must its result.
 */
import { Worker } from 'node:worker_threads';
import type { CheckContext, CheckResult, Logger } from '../api.js';
import { formatDuration } from '../../util/duration.js';
import { WORKER_SOURCE } from './worker-source.js';

/** How long an aborted run may take to settle before its worker is terminated. */
export const ABORT_GRACE_MS = 500;
/** How long a new worker may take to import the plugin module. */
export const LOAD_DEADLINE_MS = 10_000;

type FromWorker =
  | { type: 'ready' }
  | { type: 'load-failed'; message: string }
  | { type: 'result'; id: number; result: CheckResult }
  | { type: 'threw'; id: number; message: string }
  | { type: 'log'; level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'; bindings: Record<string, unknown>; obj?: unknown; msg?: string };

interface PendingRun {
  resolve(result: CheckResult): void;
  reject(err: Error): void;
}

export interface IsolatedCheckOptions {
  abortGraceMs?: number;
  loadDeadlineMs?: number;
}

export class IsolatedCheck {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, PendingRun>();
  private nextId = 1;
  /** Why a worker is being terminated (its runs fail with it). */
  private readonly terminating = new WeakMap<Worker, string>();
  /** The logger of the latest run (the worker's log lines go there). */
  private log: Logger | undefined;
  private closed = false;
  /** Workers started (the first one included): restarts = starts - 1. */
  starts = 0;
  /** The current worker's module import: resolved once it is loaded. */
  private loaded: Promise<void> | undefined;
  private onLoad: { resolve(): void; reject(err: Error): void } | undefined;

  constructor(
    /** The plugin's name (errors name it). */
    readonly plugin: string,
    /** The module's file: URL (pluginModuleUrl). */
    readonly moduleUrl: string,
    private readonly opts: IsolatedCheckOptions = {},
  ) {}

  /** One run in the worker; rejects (the runner's "plugin X threw: ...") when the worker cannot answer. */
  run(ctx: CheckContext<unknown>): Promise<CheckResult> {
    if (this.closed) return Promise.reject(new Error('isolated check closed'));
    const worker = this.worker ?? this.spawn();
    const id = this.nextId++;
    this.log = ctx.log;
    return new Promise<CheckResult>((resolve, reject) => {
      let grace: NodeJS.Timeout | undefined;
      const onAbort = () => {
        const reason = ctx.signal.reason instanceof Error ? ctx.signal.reason.message : String(ctx.signal.reason ?? 'aborted');
        worker.postMessage({ type: 'abort', id, reason });
        const graceMs = this.opts.abortGraceMs ?? ABORT_GRACE_MS;
        grace = setTimeout(() => this.terminate(worker, `it was still running ${formatDuration(graceMs)} after its abort (${reason}): worker terminated`), graceMs);
      };
      const settle = () => {
        this.pending.delete(id);
        clearTimeout(grace);
        ctx.signal.removeEventListener('abort', onAbort);
      };
      this.pending.set(id, {
        resolve: (r) => (settle(), resolve(r)),
        reject: (e) => (settle(), reject(e)),
      });
      try {
        worker.postMessage({ type: 'run', id, config: ctx.config, name: ctx.name, ...(ctx.instance !== undefined ? { instance: ctx.instance } : {}) });
      } catch (err) {
        this.pending.get(id)!.reject(new Error(`its config cannot be sent to its worker thread (${(err as Error).message}); an isolated plugin's parseConfig must return plain data`));
        return;
      }
      if (ctx.signal.aborted) onAbort();
      else ctx.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Resolves when a worker has the plugin module loaded (starting one if needed), so the runner
   * starts a run's timeout after the worker's start-up, not during it. Rejects with the reason
   * when the module does not load (within LOAD_DEADLINE_MS); the next call tries a new worker.
   */
  ready(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('isolated check closed'));
    if (!this.worker) this.spawn();
    return this.loaded!;
  }

  /** Terminates the worker (daemon stop, reload removed the check); runs in progress fail. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.worker) await this.terminate(this.worker, 'the check was stopped');
  }

  private spawn(): Worker {
    this.starts++;
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { moduleUrl: this.moduleUrl, plugin: this.plugin }, stdout: false, stderr: false });
    this.worker = worker;
    const deadlineMs = this.opts.loadDeadlineMs ?? LOAD_DEADLINE_MS;
    const deadline = setTimeout(() => void this.terminate(worker, `its module did not load within ${formatDuration(deadlineMs)}`), deadlineMs);
    this.loaded = new Promise<void>((resolve, reject) => {
      this.onLoad = {
        resolve: () => (clearTimeout(deadline), resolve()),
        reject: (err) => (clearTimeout(deadline), reject(err)),
      };
    });
    this.loaded.catch(() => undefined);
    let crash: string | undefined;
    worker.on('message', (m: FromWorker) => this.onMessage(m));
    worker.on('error', (err) => (crash = `its worker thread crashed: ${err?.message ?? String(err)}`));
    worker.on('exit', (code) => {
      if (this.worker === worker) this.worker = undefined;
      const why = this.terminating.get(worker) ?? crash ?? `its worker thread exited with code ${code}`;
      if (this.onLoad) this.onLoad.reject(new Error(why));
      this.onLoad = undefined;
      const runs = [...this.pending.values()];
      this.pending.clear();
      for (const run of runs) run.reject(new Error(`${why}; a new worker starts with the next run`));
    });
    return worker;
  }

  private terminate(worker: Worker, why: string): Promise<unknown> {
    if (!this.terminating.has(worker)) this.terminating.set(worker, why);
    return worker.terminate();
  }

  private onMessage(m: FromWorker): void {
    if (m.type === 'ready' || m.type === 'load-failed') {
      if (m.type === 'ready') this.onLoad?.resolve();
      else {
        this.onLoad?.reject(new Error(m.message));
        if (this.worker) void this.terminate(this.worker, m.message); // the next ready() tries the import again
      }
      this.onLoad = undefined;
      return;
    }
    if (m.type === 'log') {
      const log = this.log;
      if (!log) return;
      // the plugin API's Logger has the four levels and no child(): bindings go into the line's object
      const obj = m.obj && typeof m.obj === 'object' ? m.obj : m.obj === undefined ? {} : { value: m.obj };
      const level = m.level === 'trace' ? 'debug' : m.level === 'fatal' ? 'error' : m.level;
      log[level]({ ...(m.bindings ?? {}), ...(obj as object) }, m.msg);
      return;
    }
    const run = this.pending.get(m.id);
    if (!run) return;
    if (m.type === 'result') run.resolve(m.result);
    else run.reject(new Error(m.message));
  }
}
