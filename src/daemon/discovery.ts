/**
 * Runs one instance's discovery source: asks it for peers every `refresh`, keeps the last good
 * list when a refresh fails (and retries sooner, with backoff), and reports changes. The daemon
 * combines the list with the static `peers` (transport and engine peer lists).
 */
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import type { Logger } from '../log.js';
import type { DiscoveredPeer, DiscoveryPlugin, DiscoverySource } from '../plugins/api.js';
import { formatEndpoint, type Endpoint } from '../config/endpoint.js';
import { formatDuration } from '../util/duration.js';
import { withDeadline } from '../util/deadline.js';

/** A discovery entry ready to run (resolved from the rc file). */
export interface ScheduledDiscovery<C = unknown> {
  plugin: string;
  impl: DiscoveryPlugin<C>;
  config: C;
  /** ms between refreshes. */
  refreshMs: number;
}

export interface DiscoveryStatus {
  plugin: string;
  peers: string[];
  /** Wall clock ms of the last successful refresh. */
  lastRefreshAt?: number;
  lastError?: string;
  failures: number;
}

export interface DiscoveryRunnerOptions {
  instance: { name: string; address: string };
  node: { id: string; bind: Endpoint };
  log: Logger;
  /** Peers to start with (e.g. the previous runner's list across a reload). */
  initial?: Endpoint[];
  /** Budget of one refresh (default min(refresh, 30 s)). */
  timeoutMs?: number;
  /** First retry delay after a failure (default 1 s; doubles up to `refresh`). */
  retryMinMs?: number;
}

interface DiscoveryEvents {
  change: [peers: Endpoint[]];
}

/** Pure: discovered peers -> endpoints (port defaulted, non-IP hosts dropped, deduplicated, sorted). */
export function toEndpoints(found: readonly DiscoveredPeer[], defaultPort: number): { endpoints: Endpoint[]; rejected: string[] } {
  const seen = new Map<string, Endpoint>();
  const rejected: string[] = [];
  for (const p of found) {
    const port = p.port ?? defaultPort;
    if (typeof p.host !== 'string' || isIP(p.host) === 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
      rejected.push(`${String(p.host)}:${String(port)}`);
      continue;
    }
    const e = { host: p.host, port };
    seen.set(formatEndpoint(e), e);
  }
  const endpoints = [...seen.values()].sort((a, b) => formatEndpoint(a).localeCompare(formatEndpoint(b), 'en', { numeric: true }));
  return { endpoints, rejected };
}

export class DiscoveryRunner extends EventEmitter<DiscoveryEvents> {
  #source: DiscoverySource | undefined;
  #peers: Endpoint[];
  #timer: NodeJS.Timeout | undefined;
  #abort = new AbortController();
  #failures = 0;
  #lastRefreshAt: number | undefined;
  #lastError: string | undefined;
  #stopped = false;
  #running: Promise<void> | undefined;
  readonly #log: Logger;

  constructor(
    readonly spec: ScheduledDiscovery,
    private readonly opts: DiscoveryRunnerOptions,
  ) {
    super();
    this.#peers = opts.initial ?? [];
    this.#log = opts.log.child({ discovery: spec.plugin });
  }

  get peers(): Endpoint[] {
    return this.#peers;
  }

  status(): DiscoveryStatus {
    return {
      plugin: this.spec.plugin,
      peers: this.#peers.map(formatEndpoint),
      ...(this.#lastRefreshAt !== undefined ? { lastRefreshAt: this.#lastRefreshAt } : {}),
      ...(this.#lastError !== undefined ? { lastError: this.#lastError } : {}),
      failures: this.#failures,
    };
  }

  /**
   * Creates the source and runs the first refresh, waiting at most `waitMs` for it (so the
   * instance's hold-off already knows its peers); later refreshes run on the timer.
   */
  async start(waitMs: number): Promise<void> {
    this.#source = await this.spec.impl.create({
      config: this.spec.config,
      log: this.#log,
      instance: this.opts.instance,
      node: { id: this.opts.node.id, bind: { host: this.opts.node.bind.host, port: this.opts.node.bind.port } },
    });
    const first = this.refresh();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([first, new Promise<void>((r) => (timer = setTimeout(r, waitMs)))]);
    clearTimeout(timer);
  }

  /** One refresh now (at most one at a time); schedules the next. */
  refresh(): Promise<void> {
    this.#running ??= this.#refresh().finally(() => {
      this.#running = undefined;
      this.#schedule();
    });
    return this.#running;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#abort.abort(new Error('stopped'));
    await this.#running?.catch(() => undefined);
    try {
      await this.#source?.close?.();
    } catch (err) {
      this.#log.warn({ err: (err as Error).message }, 'discovery close failed');
    }
  }

  async #refresh(): Promise<void> {
    if (this.#stopped || !this.#source) return;
    const timeoutMs = this.opts.timeoutMs ?? Math.min(this.spec.refreshMs, 30_000);
    const signal = AbortSignal.any([this.#abort.signal, AbortSignal.timeout(timeoutMs)]);
    try {
      const found = await withDeadline(this.#source.discover(signal), { signal, timeoutMessage: `no answer within ${formatDuration(timeoutMs)}` });
      if (!Array.isArray(found)) throw new Error('the discovery plugin returned no list');
      const { endpoints, rejected } = toEndpoints(found, this.opts.node.bind.port);
      if (rejected.length) this.#log.warn({ rejected }, `discovery returned unusable peers (not IP literals or bad ports): ${rejected.join(', ')}`);
      this.#failures = 0;
      this.#lastError = undefined;
      this.#lastRefreshAt = Date.now();
      const before = this.#peers.map(formatEndpoint).join(',');
      const after = endpoints.map(formatEndpoint).join(',');
      if (before !== after) {
        const added = endpoints.map(formatEndpoint).filter((e) => !before.split(',').includes(e));
        const removed = this.#peers.map(formatEndpoint).filter((e) => !after.split(',').includes(e));
        this.#peers = endpoints;
        this.#log.info({ event: 'peers-discovered', peers: after.split(',').filter(Boolean), added, removed }, `discovered peers: ${after || 'none'}${added.length ? ` (+${added.join(' +')})` : ''}${removed.length ? ` (-${removed.join(' -')})` : ''}`);
        this.emit('change', endpoints);
      }
    } catch (err) {
      if (this.#stopped) return;
      this.#failures++;
      const msg = ((err as Error)?.message ?? String(err)).split('\n')[0]!;
      const repeated = msg === this.#lastError;
      this.#lastError = msg;
      this.#log[repeated ? 'debug' : 'error'](
        { event: 'discovery-failed', err: msg, failures: this.#failures, keeping: this.#peers.map(formatEndpoint) },
        `peer discovery failed, keeping the last good list (${this.#peers.length} peer(s)): ${msg}`,
      );
    }
  }

  #schedule(): void {
    clearTimeout(this.#timer);
    if (this.#stopped) return;
    const min = this.opts.retryMinMs ?? 1_000;
    const delay = this.#failures > 0 ? Math.min(this.spec.refreshMs, min * 2 ** (this.#failures - 1)) : this.spec.refreshMs;
    this.#timer = setTimeout(() => void this.refresh(), delay);
    this.#timer.unref();
    if (this.#failures > 0) this.#log.debug({ inMs: delay }, `next discovery attempt in ${formatDuration(delay)}`);
  }
}

