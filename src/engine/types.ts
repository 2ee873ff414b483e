/**
 * The engine's vocabulary: what goes in (inputs, with the time they happen) and what comes
 * out (effects the imperative shell carries out). No I/O, no timers, no wall clock here.
 */
import type { InstanceState } from '../plugins/api.js';
import type { MasterVouch, Packet } from '../protocol/types.js';
import type { WeightedCheck } from './health.js';

export type { InstanceState };

/** One instance's election settings (durations in ms). */
export interface EngineConfig {
  instance: string;
  nodeId: string;
  /** Base priority 1..254 (before check weights and nudges). */
  priority: number;
  intervalMs: number;
  deadRatio: number;
  preempt: boolean;
  preemptDelayMs: number;
  /** Probes sent to a silent master before taking over (default 10). */
  probeCount?: number;
  /** How long the probes may take (default min(50 ms, interval / 2)). */
  confirmWindowMs?: number;
}

/** A check's settled state as the engine needs it (weights as keepalived's vrrp_script). */
export type CheckState = WeightedCheck;

/**
 * Why a transition happened, as a small fixed set (metrics label); `reason` has the details.
 * startup, shutdown, handover (a MASTER shutting down while a live peer can take over), fault,
 * maintenance, recovered (checks pass again), yield (another master ranks higher), preempt, master-dead (silent and unanswered), master-left (goodbye, FAULT, daemon down),
 * no-master (none heard since startup), lease-lost (etcd backend: the lease could not be renewed in
 * time or the leader key was lost).
 */
export type TransitionCause =
  | 'startup' | 'shutdown' | 'handover' | 'fault' | 'maintenance' | 'recovered' | 'yield' | 'preempt' | 'master-dead' | 'master-left' | 'no-master'
  | 'lease-lost';

/** A peer endpoint, as the shell names it ("198.51.100.11:12345"). */
export type PeerRef = string;

export type EngineInput =
  /** The daemon started the instance. */
  | { type: 'start'; now: number }
  /** A timer the engine asked for (or any other moment) has come. */
  | { type: 'tick'; now: number }
  /** A verified packet from a known peer endpoint. `stateless`: an exoip peer (no state, no probes). */
  | { type: 'packet'; now: number; from: PeerRef; packet: Packet; stateless?: boolean }
  /** Sending to a peer failed with ECONNREFUSED: its host is up but nothing listens (daemon crashed). */
  | { type: 'unreachable'; now: number; from: PeerRef }
  /** Check results changed. */
  | { type: 'checks'; now: number; checks: CheckState[] }
  /** SIGUSR1 (+1) / SIGUSR2 (-1): nudge the base priority (exoip parity). */
  | { type: 'nudge'; now: number; delta: number }
  /** Operator maintenance: advertise unfit and hand the IP over (FAULT with a reason). */
  | { type: 'maintenance'; now: number; on: boolean }
  /**
   * A fault cause of the shell's (`source`: "action" for a failed required action, "engine" for
   * repeated engine errors): FAULT while any is set; `reason` undefined clears that source.
   */
  | { type: 'fault'; now: number; source: string; reason: string | undefined }
  /** Graceful stop: goodbye advert, STOP. */
  | { type: 'stop'; now: number };

export type Effect =
  /** Send an advert (this node's current view) to every peer, or to one. `goodbye`: priority 0. */
  | { type: 'advert'; to: 'all' | PeerRef; goodbye?: boolean }
  /** Ask a silent master whether it is alive; it answers with a probe-reply carrying the nonce. */
  | { type: 'probe'; to: PeerRef; nonce: number }
  | { type: 'probe-reply'; to: PeerRef; nonce: number }
  /** The state changed: run the actions of the new state. */
  | { type: 'transition'; from: InstanceState; to: InstanceState; reason: string; cause: TransitionCause; priority: number }
  /** Still MASTER, but another node claimed it: re-run the MASTER actions to re-claim external state. */
  | { type: 'reassert'; reason: string; priority: number }
  /** A peer that was alive went silent (or its daemon is gone). */
  | { type: 'peer-dead'; peer: { id: string; address: PeerRef }; reason: string }
  | { type: 'log'; level: 'debug' | 'info' | 'warn'; msg: string; data?: Record<string, unknown> };

/** What this node puts in its adverts. */
export interface AdvertView {
  state: InstanceState;
  priority: number;
  intervalMs: number;
  master?: MasterVouch;
  /** This node yielded MASTER lately (adverts carry Packet.leftMaster). */
  leftMaster?: true;
}

/** A peer as the engine knows it (for status). */
export interface PeerView {
  id: string;
  address: PeerRef;
  state: InstanceState;
  priority: number;
  alive: boolean;
  lastSeenAgoMs: number;
  intervalMs: number;
  incarnation: number;
  /** Who the peer says is master, as of its last advert. */
  master?: MasterVouch;
}

export interface EngineSnapshot {
  instance: string;
  nodeId: string;
  state: InstanceState;
  basePriority: number;
  effectivePriority: number;
  fault?: string;
  maintenance: boolean;
  master?: string;
  /** When the current state began (engine clock). */
  since: number;
  lastTransition?: { from: InstanceState; to: InstanceState; reason: string; at: number };
  /** When this node would take over if nothing is heard (BACKUP only). */
  takeoverAt?: number;
  peers: PeerView[];
  /** Milliseconds a silent master has before it is dead (deadRatio x interval); a backup whose probes go unanswered takes over half an interval sooner. */
  masterDownMs: number;
}
