/**
 * The election-backend interface: what the daemon shell (InstanceRunner) needs from whoever
 * elects an instance's MASTER. Two implementations: the heartbeat engine over UDP
 * (src/election/heartbeat.ts) and etcd (src/election/etcd.ts). Both take the same inputs (the
 * engine's: start, checks, nudges, maintenance, fault causes, stop; packets only concern the
 * heartbeat), compute fitness with src/engine/fitness.ts, and report transitions to the shell,
 * which runs the actions.
 */
import type { EngineInput, EngineSnapshot, InstanceState, TransitionCause } from '../engine/types.js';

/** A transition as a backend reports it. */
export interface ElectionTransition {
  from: InstanceState;
  to: InstanceState;
  reason: string;
  cause: TransitionCause;
  priority: number;
  /** The term's fencing token (etcd): on MASTER, and on the transition that ends a term. */
  fencingToken?: bigint;
}

/** What a reload changes in place. */
export interface ElectionChange {
  priority: number;
  preempt: boolean;
  preemptDelayMs: number;
  /** Heartbeat only. */
  intervalMs?: number;
  deadRatio?: number;
}

export interface ElectionBackend {
  readonly kind: 'heartbeat' | 'etcd';
  readonly currentState: InstanceState;
  /** How long a silent/lost MASTER has before another node takes over (ms). */
  readonly masterDownMs: number;
  /** Feeds one input; transitions come out through the backend's onTransition callback. */
  handle(input: EngineInput): void;
  /** A reload's new values; the election state stays. */
  reconfigure(change: ElectionChange): void;
  /** Status in the engine's shape (`now`: the shell's monotonic clock). */
  snapshot(now: number): EngineSnapshot;
  /** Releases timers and connections (after the 'stop' input). */
  stop(): Promise<void>;
}
