/**
 * A deterministic in-memory network of InstanceEngines driven by a fake clock: the engine's
 * effects become deliveries with a fixed latency; hosts can crash (daemon dead, host answers
 * "port unreachable"), go dark (nothing answers) or drop packets by rule. No sockets, no timers.
 */
import { seededRandom } from '../../src/cloud/simulator-kit/faults.js';
import { InstanceEngine, packetView } from '../../src/engine/instance.js';
import type { EngineConfig, EngineInput, Effect, InstanceState, TransitionCause } from '../../src/engine/types.js';
import type { Packet, PacketKind } from '../../src/protocol/types.js';

export interface Transition {
  node: string;
  at: number;
  from: InstanceState;
  to: InstanceState;
  reason: string;
  cause: TransitionCause;
}

interface Node {
  id: string;
  engine: InstanceEngine;
  /** 'up': daemon running; 'crashed': host up, daemon dead; 'dark': host unreachable. */
  status: 'up' | 'crashed' | 'dark' | 'stopped';
  seq: number;
  incarnation: number;
  effects: Effect[];
}

/** An engine input without its time (the cluster's clock supplies it), for each kind of input. */
export type InputAt = EngineInput extends infer E ? (E extends EngineInput ? Omit<E, 'now'> : never) : never;

interface Pending {
  at: number;
  order: number;
  to: string;
  input: EngineInput | { type: 'refused'; from: string; target: string };
}

/** Seeded PRNG so random loss is reproducible (the simulator kit's mulberry32). */
export const prng: (seed: number) => () => number = seededRandom;

export type DropRule = (p: { from: string; to: string; kind: PacketKind; at: number }) => boolean;

export class Cluster {
  now = 0;
  latencyMs = 1;
  /**
   * How late a timer fires after the wakeup the engine asked for. 0: exactly on time. The daemon's
   * shell arms setTimeout 1 ms past the wakeup (src/daemon/instance-runner.ts), so a master's adverts
   * drift later by at least that much per interval: 1 reproduces that.
   */
  timerSlackMs = 0;
  readonly nodes = new Map<string, Node>();
  readonly transitions: Transition[] = [];
  readonly reasserts: { node: string; at: number; reason: string }[] = [];
  readonly peerDeaths: { node: string; peer: string; at: number; reason: string }[] = [];
  drop: DropRule | undefined;
  /** Datagrams each node has put on the wire / had delivered (heartbeats, probes, replies). */
  readonly sent = new Map<string, number>();
  readonly received = new Map<string, number>();
  /** Pairs that cannot talk (partition), as "a|b" both ways. */
  private readonly cut = new Set<string>();
  private queue: Pending[] = [];
  private order = 0;
  private base: Omit<EngineConfig, 'nodeId' | 'priority'>;

  constructor(base: Partial<EngineConfig> = {}) {
    this.base = { instance: 'web', intervalMs: 1000, deadRatio: 3, preempt: true, preemptDelayMs: 0, ...base };
  }

  add(id: string, priority: number, extra: Partial<EngineConfig> = {}): InstanceEngine {
    const engine = new InstanceEngine({ ...this.base, nodeId: id, priority, ...extra });
    this.nodes.set(id, { id, engine, status: 'stopped', seq: 0, incarnation: 1, effects: [] });
    return engine;
  }

  engine(id: string): InstanceEngine {
    return this.node(id).engine;
  }

  private node(id: string): Node {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  start(...ids: string[]): void {
    for (const id of ids.length ? ids : [...this.nodes.keys()]) {
      const n = this.node(id);
      n.status = 'up';
      n.incarnation++;
      this.apply(n, { type: 'start', now: this.now });
    }
  }

  /** Restart a node with a fresh engine (same config) — as a daemon restart would. */
  restart(id: string, extra: Partial<EngineConfig> = {}): void {
    const n = this.node(id);
    n.engine = new InstanceEngine({ ...n.engine.config, ...extra });
    this.start(id);
  }

  /** SIGKILL: the daemon is gone, the host answers with port unreachable. */
  crash(id: string): void {
    this.node(id).status = 'crashed';
  }
  /** The host vanishes: nothing is answered. */
  dark(id: string): void {
    this.node(id).status = 'dark';
  }
  /** Graceful stop (goodbye). */
  stop(id: string): void {
    const n = this.node(id);
    this.apply(n, { type: 'stop', now: this.now });
    n.status = 'stopped';
  }
  partition(a: string, b: string): void {
    this.cut.add(`${a}|${b}`).add(`${b}|${a}`);
  }
  heal(): void {
    this.cut.clear();
  }

  input(id: string, input: InputAt): void {
    this.apply(this.node(id), { ...input, now: this.now } as EngineInput);
  }

  state(id: string): InstanceState {
    return this.node(id).engine.currentState;
  }
  masters(): string[] {
    return [...this.nodes.values()].filter((n) => n.status === 'up' && n.engine.currentState === 'MASTER').map((n) => n.id);
  }

  /** Runs the simulation until `until` (absolute ms); calls `sample` after every step. */
  runUntil(until: number, sample?: (c: Cluster) => void): void {
    for (let guard = 0; guard < 5_000_000; guard++) {
      let nextTimer = Infinity;
      let timerNode: Node | undefined;
      for (const n of this.nodes.values()) {
        if (n.status !== 'up') continue;
        const w = n.engine.nextWakeup() + this.timerSlackMs;
        if (w < nextTimer) {
          nextTimer = w;
          timerNode = n;
        }
      }
      const nextDelivery = this.queue.length ? this.queue[0]!.at : Infinity;
      const next = Math.min(nextTimer, nextDelivery);
      if (next > until) {
        this.now = until;
        return;
      }
      this.now = Math.max(this.now, next);
      if (nextDelivery <= nextTimer) {
        const d = this.queue.shift()!;
        const n = this.node(d.to);
        if (d.input.type === 'refused') {
          if (n.status === 'up') this.apply(n, { type: 'unreachable', now: this.now, from: d.input.target });
        } else if (n.status === 'up') {
          this.received.set(n.id, (this.received.get(n.id) ?? 0) + 1);
          this.apply(n, { ...d.input, now: this.now } as EngineInput);
        } else if (n.status === 'crashed') {
          // the host answers with ICMP port unreachable
          const from = (d.input as { from: string }).from;
          this.enqueue(from, { type: 'refused', from: d.to, target: d.to });
        }
      } else if (timerNode) {
        this.apply(timerNode, { type: 'tick', now: this.now });
      }
      sample?.(this);
    }
    throw new Error('simulation did not settle (runaway loop)');
  }

  run(ms: number, sample?: (c: Cluster) => void): void {
    this.runUntil(this.now + ms, sample);
  }

  private enqueue(to: string, input: Pending['input']): void {
    const p: Pending = { at: this.now + this.latencyMs, order: this.order++, to, input };
    let i = this.queue.length;
    while (i > 0 && (this.queue[i - 1]!.at > p.at || (this.queue[i - 1]!.at === p.at && this.queue[i - 1]!.order > p.order))) i--;
    this.queue.splice(i, 0, p);
  }

  private packet(n: Node, kind: PacketKind, nonce = 0, goodbye = false): Packet {
    return {
      kind,
      instanceKey: 1,
      nodeId: n.id,
      incarnation: n.incarnation,
      sequence: ++n.seq,
      timestamp: this.now,
      nonce,
      ...packetView(n.engine.advertView(this.now), kind, goodbye),
    };
  }

  private send(n: Node, to: string, pkt: Packet): void {
    if (to === n.id) return;
    this.sent.set(n.id, (this.sent.get(n.id) ?? 0) + 1);
    const target = this.nodes.get(to);
    if (!target || target.status === 'dark') return;
    if (this.cut.has(`${n.id}|${to}`)) return;
    if (this.drop?.({ from: n.id, to, kind: pkt.kind, at: this.now })) return;
    this.enqueue(to, { type: 'packet', now: 0, from: n.id, packet: pkt });
  }

  private apply(n: Node, input: EngineInput): void {
    const fx = n.engine.handle(input);
    for (const e of fx) {
      n.effects.push(e);
      switch (e.type) {
        case 'advert': {
          const targets = e.to === 'all' ? [...this.nodes.keys()] : [e.to];
          for (const t of targets) this.send(n, t, this.packet(n, 'advert', 0, e.goodbye ?? false));
          break;
        }
        case 'probe':
          this.send(n, e.to, this.packet(n, 'probe', e.nonce));
          break;
        case 'probe-reply':
          this.send(n, e.to, this.packet(n, 'probe-reply', e.nonce));
          break;
        case 'transition':
          this.transitions.push({ node: n.id, at: this.now, from: e.from, to: e.to, reason: e.reason, cause: e.cause });
          break;
        case 'reassert':
          this.reasserts.push({ node: n.id, at: this.now, reason: e.reason });
          break;
        case 'peer-dead':
          this.peerDeaths.push({ node: n.id, peer: e.peer.id, at: this.now, reason: e.reason });
          break;
        case 'log':
          break;
      }
    }
  }

  /** Zeroes the datagram counters. */
  resetCounters(): void {
    this.sent.clear();
    this.received.clear();
  }

  /** Transitions after `since` into `to` (optionally for one node). */
  into(to: InstanceState, since = 0, node?: string): Transition[] {
    return this.transitions.filter((t) => t.to === to && t.at >= since && (!node || t.node === node));
  }
}
