/**
 * The heartbeat election backend: the pure engine (src/engine/instance.ts) driven by the shell's
 * clock and timers, its effects carried out over the heartbeat transport. Keeps one timer at the
 * engine's next wakeup, always re-armed (an engine exception on a tick must not leave the
 * instance without a wakeup); ENGINE_ERRORS_TO_FAULT exceptions in a row put the instance in
 * FAULT ("engine error: ..."), lifted after one master-down period without errors.
 */
import type { Logger } from '../log.js';
import { InstanceEngine, packetView } from '../engine/instance.js';
import type { Effect, EngineConfig, EngineInput, EngineSnapshot, InstanceState } from '../engine/types.js';
import type { Clock, Timers } from '../util/clock.js';
import { formatEndpoint } from '../config/endpoint.js';
import type { HeartbeatTransport } from '../daemon/transport.js';
import type { Endpoint } from '../config/endpoint.js';
import type { PeerRef } from '../engine/types.js';
import type { ElectionBackend, ElectionChange, ElectionTransition } from './backend.js';

/** Engine errors in a row after which the instance goes to FAULT ("engine error: ..."). */
export const ENGINE_ERRORS_TO_FAULT = 3;

export interface HeartbeatElectionOptions {
  engine: EngineConfig;
  instanceKey: number;
  /** The shared address (the transport signs per instance address). */
  address: string;
  transport: HeartbeatTransport;
  clock: Clock;
  timers: Timers;
  log: Logger;
  /** This instance's peers: the configured list and the discovered one (compared by identity to cache the send list). */
  peers(): { own: readonly Endpoint[]; discovered: readonly Endpoint[] | undefined };
  onTransition(t: ElectionTransition): void;
  onReassert(e: { reason: string; priority: number }): void;
  onPeerDead(e: { peer: { id: string; address: PeerRef }; reason: string; state: InstanceState }): void;
}

/** The transport's keys of an instance's peers (the transport serves every instance's). */
export function instancePeerKeys(transport: Pick<HeartbeatTransport, 'peerKeys'>, peers: readonly Endpoint[]): string[] {
  const mine = new Set(peers.map(formatEndpoint));
  return transport.peerKeys().filter((k) => mine.has(k));
}

export class HeartbeatElection implements ElectionBackend {
  readonly kind = 'heartbeat';
  readonly engine: InstanceEngine;
  private timer: unknown;
  /** Engine time the pending timer fires at (Infinity: none pending). */
  private armedAt = Infinity;
  private stopped = false;
  private errors = { count: 0, lastAt: -Infinity, faulted: false };
  /** This instance's peers as transport keys, cached against the transport's and our peer lists. */
  private targets: { transportVersion: number; own: readonly Endpoint[]; discovered: readonly Endpoint[] | undefined; keys: string[] } | undefined;

  constructor(private readonly opts: HeartbeatElectionOptions) {
    this.engine = new InstanceEngine(opts.engine);
  }

  get currentState(): InstanceState {
    return this.engine.currentState;
  }

  get masterDownMs(): number {
    return this.engine.masterDownMs;
  }

  snapshot(now: number): EngineSnapshot {
    return this.engine.snapshot(now);
  }

  private now(): number {
    return this.opts.clock.monotonic();
  }

  /** The single entry point into the engine; carries out its effects and re-arms the timer. */
  handle(input: EngineInput): void {
    let effects: Effect[] = [];
    try {
      effects = this.engine.handle(input);
      this.engineOk(input.now);
    } catch (err) {
      this.engineFailed(err, input.now);
    }
    for (const e of effects) this.apply(e);
    if (input.type === 'stop') this.stopped = true;
    // always re-arm: an exception on a tick must not leave the instance without a wakeup
    if (!this.stopped) this.arm();
  }

  reconfigure(change: ElectionChange): void {
    for (const e of this.engine.reconfigure(this.now(), change)) this.apply(e);
    // a shorter interval: the pending timer may be too late
    this.disarm();
    if (!this.stopped) this.arm();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.disarm();
  }

  private engineFailed(err: unknown, at: number): void {
    const e = this.errors;
    e.count++;
    e.lastAt = at;
    const msg = (err as Error)?.message ?? String(err);
    this.opts.log.error({ err: (err as Error)?.stack ?? msg, consecutive: e.count }, 'engine error (input ignored)');
    if (e.count >= ENGINE_ERRORS_TO_FAULT && !e.faulted) {
      e.faulted = true;
      this.handle({ type: 'fault', now: at, source: 'engine', reason: `engine error: ${msg}` });
    }
  }

  private engineOk(at: number): void {
    const e = this.errors;
    e.count = 0;
    if (e.faulted && at - e.lastAt >= this.engine.masterDownMs) {
      e.faulted = false;
      this.handle({ type: 'fault', now: at, source: 'engine', reason: undefined });
    }
  }

  private disarm(): void {
    if (this.timer !== undefined) this.opts.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.armedAt = Infinity;
  }

  /**
   * Keeps one timer at the engine's next wakeup. A wakeup that moved later keeps the earlier timer
   * (an early tick is harmless: the engine re-evaluates and asks again), so most packets cost no
   * timer churn.
   */
  private arm(): void {
    const at = this.engine.nextWakeup();
    if (at >= this.armedAt) return;
    this.disarm();
    this.armedAt = at;
    if (!Number.isFinite(at)) return;
    // +1 ms: libuv measures timeouts from its cached loop time, which may trail performance.now();
    // a timer that fires a fraction of a millisecond before the deadline is a wasted wakeup
    const delay = Math.max(0, at - this.now());
    this.timer = this.opts.timers.setTimeout(this.onTimer, Math.ceil(delay) + 1);
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.armedAt = Infinity;
    this.handle({ type: 'tick', now: this.now() });
  };

  private send(to: string, kind: 'advert' | 'probe' | 'probe-reply', nonce: number, goodbye = false): void {
    const packet = {
      kind,
      instanceKey: this.opts.instanceKey,
      nodeId: this.opts.engine.nodeId,
      nonce,
      ...packetView(this.engine.advertView(this.now()), kind, goodbye),
    };
    if (to === 'all') this.opts.transport.sendToAll(this.peerKeys(), packet, this.opts.address);
    else this.opts.transport.send(to, packet, this.opts.address);
  }

  private peerKeys(): string[] {
    const { own, discovered } = this.opts.peers();
    const c = this.targets;
    const version = this.opts.transport.peersVersion;
    if (c && c.transportVersion === version && c.own === own && c.discovered === discovered) return c.keys;
    const keys = instancePeerKeys(this.opts.transport, [...own, ...(discovered ?? [])]);
    this.targets = { transportVersion: version, own, discovered, keys };
    return keys;
  }

  private apply(e: Effect): void {
    switch (e.type) {
      case 'advert':
        this.send(e.to, 'advert', 0, e.goodbye ?? false);
        break;
      case 'probe':
        this.send(e.to, 'probe', e.nonce);
        break;
      case 'probe-reply':
        this.send(e.to, 'probe-reply', e.nonce);
        break;
      case 'transition':
        this.opts.onTransition(e);
        break;
      case 'reassert':
        this.opts.log.warn({ reason: e.reason, event: 'reassert' }, `re-asserting MASTER: ${e.reason}`);
        this.opts.onReassert(e);
        break;
      case 'peer-dead':
        this.opts.log.warn({ peer: e.peer.id, reason: e.reason, event: 'peer-dead' }, e.reason);
        this.opts.onPeerDead({ peer: e.peer, reason: e.reason, state: this.engine.currentState });
        break;
      case 'log':
        this.opts.log[e.level](e.data ?? {}, e.msg);
        break;
    }
  }
}
