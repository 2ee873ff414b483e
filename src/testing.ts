/**
 * "ipwarden/testing": test a plugin in ten lines, the way the daemon drives it.
 *   const r = await runCheck(plugin, { pidfile: 'app.pid' }, { baseDir: dir });
 *   const log = await runAction(plugin, { url: 'http://127.0.0.1:8080/' }, ['MASTER', { to: 'BACKUP', after: '30s' }]);
 *   const lists = await runDiscovery(plugin, { file: 'peers.txt' }, { times: 2 });
 *
 * The config is the plugin's keys as the rc file has them (parsed with the plugin's own parseConfig:
 * a bad config throws, naming each key). Time is fake while a run lasts: setTimeout/setInterval and
 * Date.now follow a virtual clock that jumps to the next timer whenever the plugin waits on timers
 * only (no socket, file or child process opened, or none of them active for 100 ms of real time),
 * so a plugin that waits 30 s is tested in milliseconds, and `after` puts virtual time between
 * transitions. (AbortSignal.timeout() runs on Node's internal timers: it stays real.)
 */
import type { ActionHandlers, ActionPlugin, CheckPlugin, CheckResult, ConfigIssue, DiscoveredPeer, DiscoveryPlugin, InstanceState, Logger, PluginEnvironment } from './plugins/api.js';
import { createHook } from 'node:async_hooks';
import { resolveSecret } from './config/secret.js';
import { parseDuration } from './util/duration.js';

export interface RunOptions {
  /** Directory relative paths and `file:` secrets are resolved against (default: the current one). */
  baseDir?: string;
  /** Default: a logger that drops everything; pass `console` to see the plugin's lines. */
  log?: Logger;
  /** The instance the plugin runs for (default "test", 198.51.100.10). */
  instance?: { name: string; address: string };
  /** This node's id (default "test-node"). */
  nodeId?: string;
  /** Real-time limit for the whole run (default 10 s): a plugin that never settles fails the test. */
  timeoutMs?: number;
}

/** A config the plugin rejected; `issues` name each key. */
export class PluginConfigError extends Error {
  override name = 'PluginConfigError';
  constructor(readonly issues: ConfigIssue[]) {
    super(`invalid plugin config: ${issues.map((i) => `${i.path.join('.') || '(config)'}: ${i.message}`).join('; ')}`);
  }
}

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

function environment(opts: RunOptions): PluginEnvironment {
  const baseDir = opts.baseDir ?? process.cwd();
  return { baseDir, resolveSecret: (ref, where) => resolveSecret(ref, where, { baseDir }) };
}

function parse<C>(plugin: { parseConfig(raw: Record<string, unknown>, env: PluginEnvironment): { ok: true; config: C } | { ok: false; issues: ConfigIssue[] } }, raw: Record<string, unknown>, opts: RunOptions): C {
  const r = plugin.parseConfig(raw, environment(opts));
  if (!r.ok) throw new PluginConfigError(r.issues);
  return r.config;
}

// ------------------------------------------------------------------ fake time

interface FakeTimer {
  id: number;
  at: number;
  fn: () => void;
  every?: number;
}

/** A virtual clock installed over the global timers while a run lasts. */
class FakeClock {
  now: number;
  #timers = new Map<number, FakeTimer>();
  #next = 1;
  #saved = { setTimeout, clearTimeout, setInterval, clearInterval, dateNow: Date.now };

  constructor(start = Date.now()) {
    this.now = start;
  }

  install(): void {
    const self = this;
    const add = (fn: (...a: unknown[]) => void, ms: number | undefined, args: unknown[], every?: number) => {
      const id = self.#next++;
      const delay = Math.max(0, Number(ms) || 0);
      self.#timers.set(id, { id, at: self.now + delay, fn: () => fn(...args), ...(every !== undefined ? { every: Math.max(1, delay) } : {}) });
      return fakeHandle(id);
    };
    const remove = (h: unknown) => {
      const id = typeof h === 'number' ? h : (h as { [ID]?: number } | undefined)?.[ID];
      if (id !== undefined) self.#timers.delete(id);
    };
    Object.assign(globalThis, {
      setTimeout: (fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => add(fn, ms, args),
      setInterval: (fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => add(fn, ms, args, ms ?? 0),
      clearTimeout: remove,
      clearInterval: remove,
    });
    Date.now = () => self.now;
  }

  uninstall(): void {
    const s = this.#saved;
    Object.assign(globalThis, { setTimeout: s.setTimeout, clearTimeout: s.clearTimeout, setInterval: s.setInterval, clearInterval: s.clearInterval });
    Date.now = s.dateNow;
  }

  /** Fires every timer due by `now + ms`, in order, moving the clock to each. */
  async advance(ms: number): Promise<void> {
    const until = this.now + ms;
    for (;;) {
      const t = this.#due(until);
      if (!t) break;
      this.#fire(t);
      await realTurn(this.#saved.setTimeout);
    }
    this.now = until;
  }

  /** Fires the earliest timer, if any; false when none is pending. */
  fireNext(): boolean {
    const t = this.#due(Infinity);
    if (!t) return false;
    this.#fire(t);
    return true;
  }

  #due(until: number): FakeTimer | undefined {
    let first: FakeTimer | undefined;
    for (const t of this.#timers.values()) if (t.at <= until && (!first || t.at < first.at)) first = t;
    return first;
  }

  #fire(t: FakeTimer): void {
    this.now = Math.max(this.now, t.at);
    if (t.every !== undefined) t.at += t.every;
    else this.#timers.delete(t.id);
    t.fn();
  }

  get saved() {
    return this.#saved;
  }
}

const ID = Symbol('fakeTimerId');
function fakeHandle(id: number) {
  return { [ID]: id, ref() { return this; }, unref() { return this; }, hasRef: () => false, refresh() { return this; }, [Symbol.toPrimitive]: () => id };
}

function realTurn(realSetTimeout: typeof setTimeout, ms = 0): Promise<void> {
  return new Promise((r) => realSetTimeout(r, ms));
}

/** Resource kinds that are timers or promise plumbing, not the outside world. */
const NOT_IO = new Set(['Timeout', 'Immediate', 'TIMERWRAP', 'PROMISE', 'TickObject', 'Microtask']);
/** With I/O handles open (a keep-alive socket...), time jumps only after this much real quiet. */
const QUIET_MS = 100;
/** In-flight requests (a file read, a DNS lookup, a connect, a write, a child process): time waits for them. */
const IN_FLIGHT = /Req|ConnectWrap|WriteWrap|ShutdownWrap|ProcessWrap/;

function ioResources(): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) if (!NOT_IO.has(r)) out.set(r, (out.get(r) ?? 0) + 1);
  return out;
}

/**
 * Awaits `p`, advancing the fake clock when the plugin waits on fake timers only: never while a
 * request is in flight (a file read, a lookup, a connect, a child process), at once when no I/O
 * handle was opened since the run began, else after QUIET_MS of real time without any I/O callback
 * (an idle keep-alive socket stays open; a busy one keeps calling back).
 */
async function settle<T>(p: Promise<T>, clock: FakeClock, deadline: number, what: string): Promise<T> {
  let done = false;
  p.then(() => (done = true), () => (done = true));
  const baseline = ioResources();
  const realNow = () => clock.saved.dateNow();
  let lastIo = realNow();
  const io = new Set<number>();
  const hook = createHook({
    init(id, type) {
      if (!NOT_IO.has(type)) io.add(id);
    },
    before(id) {
      if (io.has(id)) lastIo = realNow();
    },
    destroy(id) {
      io.delete(id);
    },
  }).enable();
  try {
    let turns = 0;
    while (!done) {
      await realTurn(clock.saved.setTimeout, turns > 3 ? 1 : 0);
      if (done) break;
      if (realNow() > deadline) throw new Error(`${what}: did not settle within the run's time limit`);
      turns++;
      if (turns <= 3) continue;
      let openedIo = false;
      let inFlight = false;
      for (const [k, n] of ioResources()) {
        if (n <= (baseline.get(k) ?? 0)) continue;
        openedIo = true;
        if (IN_FLIGHT.test(k)) inFlight = true;
      }
      if (inFlight) lastIo = realNow();
      else if ((!openedIo || realNow() - lastIo >= QUIET_MS) && clock.fireNext()) {
        turns = 0;
        lastIo = realNow();
      }
    }
  } finally {
    hook.disable();
  }
  return p;
}

async function withFakeTime<T>(opts: RunOptions, what: string, body: (clock: FakeClock, settleP: <U>(p: Promise<U>) => Promise<U>) => Promise<T>): Promise<T> {
  const clock = new FakeClock();
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  clock.install();
  try {
    return await body(clock, (p) => settle(p, clock, deadline, what));
  } finally {
    clock.uninstall();
  }
}

// ------------------------------------------------------------------ checks

/** Parses `config` with the plugin and runs the check once; the result is checked for shape too. */
export async function runCheck<C>(plugin: CheckPlugin<C>, config: Record<string, unknown>, opts: RunOptions & { name?: string; timeout?: string } = {}): Promise<CheckResult> {
  const parsed = parse(plugin, config, opts);
  const limitMs = parseDuration(opts.timeout ?? '5s') ?? 5000;
  return withFakeTime(opts, `check ${plugin.name}`, async (_clock, settleP) => {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(new DOMException(`timed out after ${opts.timeout ?? '5s'}`, 'TimeoutError')), limitMs);
    try {
      const r = await settleP(plugin.run({ config: parsed, signal: ac.signal, log: opts.log ?? quiet, name: opts.name ?? plugin.name, instance: opts.instance?.name ?? 'test' }));
      if (!r || typeof r !== 'object' || typeof r.ok !== 'boolean' || typeof r.detail !== 'string') {
        throw new Error(`check ${plugin.name}: run() returned ${JSON.stringify(r)}, not { ok: boolean, detail: string }`);
      }
      return r;
    } finally {
      clearTimeout(timer);
    }
  });
}

// ------------------------------------------------------------------ actions

/** One transition to deliver: a state, or a state after some (virtual) time. */
/** `after`: virtual time (a duration or ms) after the previous transition's handler returned. */
export type TransitionStep = InstanceState | { to: InstanceState; after?: string | number; reason?: string; cause?: string; priority?: number };

/** What happened to one transition. */
export interface ActionStepResult {
  from: InstanceState;
  to: InstanceState;
  /** Virtual ms since the run started, when the transition was delivered. */
  atMs: number;
  ok: boolean;
  /** The handler's error message when it threw. */
  error?: string;
}

const HANDLER: Partial<Record<InstanceState, keyof ActionHandlers>> = { MASTER: 'onMaster', BACKUP: 'onBackup', FAULT: 'onFault', STOP: 'onStop' };

/**
 * Creates the plugin's handlers for one instance and delivers `transitions` in order (from INIT), each
 * after its `after` of virtual time; closes the handlers at the end. Returns one result per transition.
 */
export async function runAction<C>(plugin: ActionPlugin<C>, config: Record<string, unknown>, transitions: readonly TransitionStep[], opts: RunOptions = {}): Promise<ActionStepResult[]> {
  const parsed = parse(plugin, config, opts);
  const instance = opts.instance ?? { name: 'test', address: '198.51.100.10' };
  const node = { id: opts.nodeId ?? 'test-node' };
  return withFakeTime(opts, `action ${plugin.name}`, async (clock, settleP) => {
    const start = clock.now;
    const handlers = await settleP(Promise.resolve(plugin.create({ config: parsed, log: opts.log ?? quiet, instance, node })));
    const out: ActionStepResult[] = [];
    let from: InstanceState = 'INIT';
    try {
      for (const step of transitions) {
        const s = typeof step === 'string' ? { to: step } : step;
        const after = typeof s.after === 'string' ? parseDuration(s.after) : s.after;
        if (typeof s.after === 'string' && after === undefined) throw new Error(`runAction: after ${JSON.stringify(s.after)} is not a duration`);
        if (after) await clock.advance(after);
        const key = HANDLER[s.to];
        const handler = key ? (handlers[key] as ((e: unknown) => Promise<void>) | undefined) : undefined;
        const atMs = clock.now - start;
        const event = { instance, node, from, to: s.to, priority: s.priority ?? 100, reason: s.reason ?? `test: ${from} -> ${s.to}`, ...(s.cause ? { cause: s.cause } : {}), signal: new AbortController().signal };
        try {
          if (handler) await settleP(handler.call(handlers, event));
          out.push({ from, to: s.to, atMs, ok: true });
        } catch (err) {
          out.push({ from, to: s.to, atMs, ok: false, error: (err as Error)?.message ?? String(err) });
        }
        from = s.to;
      }
    } finally {
      if (handlers.close) await settleP(handlers.close());
    }
    return out;
  });
}

// ------------------------------------------------------------------ discovery

/**
 * Creates the plugin's source for one instance and asks it for peers `times` times (default once),
 * `every` (virtual time) apart, as the daemon's refresh does; closes it at the end. One list per ask,
 * or the error message when an ask threw (the daemon keeps the last good list then).
 */
export async function runDiscovery<C>(
  plugin: DiscoveryPlugin<C>,
  config: Record<string, unknown>,
  opts: RunOptions & { times?: number; every?: string; bind?: { host: string; port: number }; between?: (i: number) => void | Promise<void> } = {},
): Promise<(DiscoveredPeer[] | { error: string })[]> {
  const parsed = parse(plugin, config, opts);
  const instance = opts.instance ?? { name: 'test', address: '198.51.100.10' };
  const node = { id: opts.nodeId ?? 'test-node', bind: opts.bind ?? { host: '198.51.100.11', port: 12345 } };
  const everyMs = parseDuration(opts.every ?? '60s');
  if (everyMs === undefined) throw new Error(`runDiscovery: every ${JSON.stringify(opts.every)} is not a duration`);
  return withFakeTime(opts, `discovery ${plugin.name}`, async (clock, settleP) => {
    const source = await settleP(Promise.resolve(plugin.create({ config: parsed, log: opts.log ?? quiet, instance, node })));
    const out: (DiscoveredPeer[] | { error: string })[] = [];
    try {
      for (let i = 0; i < (opts.times ?? 1); i++) {
        if (i > 0) {
          await opts.between?.(i);
          await clock.advance(everyMs);
        }
        try {
          out.push(await settleP(source.discover(new AbortController().signal)));
        } catch (err) {
          out.push({ error: (err as Error)?.message ?? String(err) });
        }
      }
    } finally {
      if (source.close) await settleP(source.close());
    }
    return out;
  });
}
