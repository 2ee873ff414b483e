/**
 * "ipwarden/testing": test a plugin in ten lines, the way the daemon drives it.
 *   const r = await runCheck(plugin, { pidfile: 'app.pid' }, { baseDir: dir });
 *   const log = await runAction(plugin, { url: 'http://127.0.0.1:8080/' }, ['MASTER', { to: 'BACKUP', after: '30s' }]);
 *   const lists = await runDiscovery(plugin, { file: 'peers.txt' }, { times: 2 });
 *
 * The config is the plugin's keys as the rc file has them (parsed with the plugin's own parseConfig:
 * a bad config throws, naming each key). Time is fake while a run lasts: setTimeout/setInterval and
 * Date.now follow a virtual clock that jumps to the next timer whenever the plugin waits on timers
 * only (no HTTP request awaiting its answer, unless silent for 1 s of real time: a hung server; no
 * file read, lookup, connect or child process in flight; and, once the run has opened a socket or
 * file, none of them active for 100 ms of real time), so a plugin that waits 30 s is tested in
 * milliseconds, and `after` puts virtual time between transitions. (AbortSignal.timeout() runs on
 * Node's internal timers: it stays real.)
 */
import type { ActionHandlers, ActionPlugin, CheckPlugin, CheckResult, ConfigIssue, DiscoveredPeer, DiscoveryPlugin, InstanceState, Logger, PluginEnvironment } from './plugins/api.js';
import { createHook, type AsyncHook } from 'node:async_hooks';
import diagnostics from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
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

  /** Fires the earliest timer due by `until`, if any; false when none is. */
  fireNext(until = Infinity): boolean {
    const t = this.#due(until);
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
/**
 * An HTTP request without any I/O for this long (real time) is taken for hung (a server that never
 * answers): virtual time moves on, and the plugin's own timeout can fire. Until then it waits.
 */
const HUNG_MS = 1_000;
/** In-flight requests (a file read, a DNS lookup, a connect, a write, a child process): time waits for them. */
const IN_FLIGHT = /Req|ConnectWrap|WriteWrap|ShutdownWrap|ProcessWrap/;

function ioResources(): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) if (!NOT_IO.has(r)) out.set(r, (out.get(r) ?? 0) + 1);
  return out;
}

/**
 * What a run waits on besides its timers, for the whole run: I/O resources opened since it began,
 * the last I/O callback, and HTTP requests (node:http and fetch) sent but not answered yet. A request
 * on a connection kept alive from an earlier one opens nothing new and its write ends at once, so only
 * the HTTP layer's own diagnostics channels tell that the plugin is still waiting for the server.
 */
class IoWatch {
  readonly #baseline = ioResources();
  readonly #io = new Set<number>();
  /** Requests sent, whose answer has not begun to arrive (headers not received, no error, not closed). */
  readonly #requests = new Set<object>();
  readonly #unsubscribe: (() => void)[] = [];
  readonly #hook: AsyncHook;
  #lastIo: number;

  constructor(private readonly realNow: () => number) {
    this.#lastIo = realNow();
    this.#hook = createHook({
      init: (id, type) => {
        if (!NOT_IO.has(type)) this.#io.add(id);
      },
      before: (id) => {
        if (this.#io.has(id)) this.#lastIo = this.realNow();
      },
      destroy: (id) => {
        this.#io.delete(id);
      },
    }).enable();
    const on = (name: string, fn: (message: { request: object }) => void) => {
      const listener = (message: unknown) => fn(message as { request: object });
      diagnostics.subscribe(name, listener);
      this.#unsubscribe.push(() => diagnostics.unsubscribe(name, listener));
    };
    const sent = ({ request }: { request: object }) => {
      this.#requests.add(request);
      this.#lastIo = this.realNow();
    };
    const answered = ({ request }: { request: object }) => {
      this.#requests.delete(request);
      this.#lastIo = this.realNow();
    };
    on('http.client.request.start', ({ request }) => {
      sent({ request });
      (request as ClientRequest).once('close', () => answered({ request }));
    });
    on('http.client.response.finish', answered);
    on('undici:request:create', sent);
    on('undici:request:headers', answered);
    on('undici:request:error', answered);
  }

  /**
   * Time may jump: no connect, file read, lookup or child process in flight; no HTTP request awaiting
   * its answer, unless silent for HUNG_MS; and if the run opened I/O handles, none called back for QUIET_MS.
   */
  idle(): boolean {
    const now = this.realNow();
    let opened = false;
    let inFlight = false;
    for (const [kind, n] of ioResources()) {
      if (n <= (this.#baseline.get(kind) ?? 0)) continue;
      opened = true;
      if (IN_FLIGHT.test(kind)) inFlight = true;
    }
    if (inFlight) {
      this.#lastIo = now;
      return false;
    }
    // a request silent for HUNG_MS is hung: time moves on, so that the plugin's own timeout can fire
    if (this.#requests.size > 0) return now - this.#lastIo >= HUNG_MS;
    return !opened || now - this.#lastIo >= QUIET_MS;
  }

  /** A timer fired: whatever it starts gets its own quiet time before the next jump. */
  fired(): void {
    this.#lastIo = this.realNow();
  }

  close(): void {
    this.#hook.disable();
    for (const off of this.#unsubscribe) off();
  }
}

/**
 * Virtual time for one run: the fake clock moves only while the plugin waits on its timers alone
 * (IoWatch.idle): never while a request is in flight (an HTTP request silent for HUNG_MS excepted),
 * at once when no I/O handle was opened since the run began, else after QUIET_MS of real time
 * without any I/O callback (an idle keep-alive socket stays open; a busy one keeps calling back).
 */
class VirtualTime {
  readonly clock = new FakeClock();
  readonly #io: IoWatch;
  readonly #deadline: number;

  constructor(
    timeoutMs: number,
    private readonly what: string,
  ) {
    this.#deadline = Date.now() + timeoutMs;
    this.clock.install();
    this.#io = new IoWatch(this.clock.saved.dateNow);
  }

  /** Awaits `p`, firing the plugin's timers whenever it waits on them only. */
  async settle<T>(p: Promise<T>): Promise<T> {
    let done = false;
    p.then(() => (done = true), () => (done = true));
    while (await this.#idle(() => done)) if (this.clock.fireNext()) this.#io.fired();
    return p;
  }

  /** Moves the clock by `ms`, firing every timer due meanwhile, each once the plugin waits on timers only. */
  async advance(ms: number): Promise<void> {
    const until = this.clock.now + ms;
    while ((await this.#idle()) && this.clock.fireNext(until)) this.#io.fired();
    this.clock.now = Math.max(this.clock.now, until);
  }

  close(): void {
    this.#io.close();
    this.clock.uninstall();
  }

  /** Resolves true once time may jump, false as soon as `stop()` says so; throws past the run's deadline. */
  async #idle(stop?: () => boolean): Promise<boolean> {
    const saved = this.clock.saved;
    for (let turns = 0; ; turns++) {
      await realTurn(saved.setTimeout, turns > 3 ? 1 : 0);
      if (stop?.()) return false;
      if (saved.dateNow() > this.#deadline) throw new Error(`${this.what}: did not settle within the run's time limit`);
      if (turns >= 3 && this.#io.idle()) return true;
    }
  }
}

async function withFakeTime<T>(opts: RunOptions, what: string, body: (time: VirtualTime) => Promise<T>): Promise<T> {
  const time = new VirtualTime(opts.timeoutMs ?? 10_000, what);
  try {
    return await body(time);
  } finally {
    time.close();
  }
}

// ------------------------------------------------------------------ checks

/** Parses `config` with the plugin and runs the check once; the result is checked for shape too. */
export async function runCheck<C>(plugin: CheckPlugin<C>, config: Record<string, unknown>, opts: RunOptions & { name?: string; timeout?: string } = {}): Promise<CheckResult> {
  const parsed = parse(plugin, config, opts);
  const limitMs = parseDuration(opts.timeout ?? '5s') ?? 5000;
  return withFakeTime(opts, `check ${plugin.name}`, async (time) => {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(new DOMException(`timed out after ${opts.timeout ?? '5s'}`, 'TimeoutError')), limitMs);
    try {
      const r = await time.settle(plugin.run({ config: parsed, signal: ac.signal, log: opts.log ?? quiet, name: opts.name ?? plugin.name, instance: opts.instance?.name ?? 'test' }));
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
  return withFakeTime(opts, `action ${plugin.name}`, async (time) => {
    const start = time.clock.now;
    const handlers = await time.settle(Promise.resolve(plugin.create({ config: parsed, log: opts.log ?? quiet, instance, node })));
    const out: ActionStepResult[] = [];
    let from: InstanceState = 'INIT';
    try {
      for (const step of transitions) {
        const s = typeof step === 'string' ? { to: step } : step;
        const after = typeof s.after === 'string' ? parseDuration(s.after) : s.after;
        if (typeof s.after === 'string' && after === undefined) throw new Error(`runAction: after ${JSON.stringify(s.after)} is not a duration`);
        if (after) await time.advance(after);
        const key = HANDLER[s.to];
        const handler = key ? (handlers[key] as ((e: unknown) => Promise<void>) | undefined) : undefined;
        const atMs = time.clock.now - start;
        const event = { instance, node, from, to: s.to, priority: s.priority ?? 100, reason: s.reason ?? `test: ${from} -> ${s.to}`, ...(s.cause ? { cause: s.cause } : {}), signal: new AbortController().signal };
        try {
          if (handler) await time.settle(handler.call(handlers, event));
          out.push({ from, to: s.to, atMs, ok: true });
        } catch (err) {
          out.push({ from, to: s.to, atMs, ok: false, error: (err as Error)?.message ?? String(err) });
        }
        from = s.to;
      }
    } finally {
      if (handlers.close) await time.settle(handlers.close());
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
  return withFakeTime(opts, `discovery ${plugin.name}`, async (time) => {
    const source = await time.settle(Promise.resolve(plugin.create({ config: parsed, log: opts.log ?? quiet, instance, node })));
    const out: (DiscoveredPeer[] | { error: string })[] = [];
    try {
      for (let i = 0; i < (opts.times ?? 1); i++) {
        if (i > 0) {
          await opts.between?.(i);
          await time.advance(everyMs);
        }
        try {
          out.push(await time.settle(source.discover(new AbortController().signal)));
        } catch (err) {
          out.push({ error: (err as Error)?.message ?? String(err) });
        }
      }
    } finally {
      if (source.close) await time.settle(source.close());
    }
    return out;
  });
}
