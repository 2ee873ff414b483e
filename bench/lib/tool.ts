/**
 * What the scenarios need from a failover tool running on a 3-host lab, so ipwarden and keepalived
 * go through exactly the same steps. Node 0 has the highest priority (150, then 100, 50, ...) and is the
 * MASTER in the steady state; preemption is on for both.
 */
import type { Lab } from '../../test/lib/netns.js';
import type { BenchCloud } from './clouds.js';
import type { AddressMonitor } from './ip-monitor.js';

export type ToolName = 'ipwarden' | 'keepalived';

/** A state change as the tool itself recorded it (ipwarden: its log; keepalived: its notify script). */
export interface Transition {
  node: number;
  to: string;
  /** Epoch ms. */
  t: number;
}

export interface Tool {
  readonly name: ToolName;
  readonly lab: Lab;
  readonly intervalMs: number;
  /** Its temporary directory (configs, logs, pid files); close() removes it. */
  readonly dir: string;
  /** The address on e0 of the MASTER (the tool adds it: ip-alias / virtual_ipaddress). */
  readonly vip: AddressMonitor;
  /** The cloud holding the floating address (its simulator), and each node's target there. */
  readonly cloud: BenchCloud;
  /** Starts node i's daemon; resolves when it runs (not when it has settled). */
  start(i: number): Promise<void>;
  /** True while node i's daemon runs. */
  running(i: number): boolean;
  /** Sends the signal now (SIGKILL: every process of the node's daemon, so nothing can say goodbye). */
  signal(i: number, sig: 'SIGKILL' | 'SIGTERM'): void;
  /** Resolves when node i's daemon has exited. */
  exited(i: number): Promise<void>;
  /** Makes node i's health check pass or fail (a file holding 0 or 1). */
  setHealth(i: number, ok: boolean): Promise<void>;
  /** Each node's state now (undefined: daemon not running or state unknown). */
  states(): Promise<(string | undefined)[]>;
  /** Every state change recorded so far, in time order. */
  transitions(): Transition[];
  /** PIDs of node i's daemon processes (for CPU/RSS). */
  pids(i: number): number[];
  /** The steady state wants the floating address on node 0's target only; keepalived's is put back by the bench when its scripts cannot (host-loss heal). */
  readonly resetsEip: boolean;
  close(): Promise<void>;
}

export const PRIORITIES = [150, 100, 50] as const;

/** Node i's priority: 150, 100, 50, then 46, 45, ... for bigger clusters (resource runs). */
export function priorityOf(i: number): number {
  return PRIORITIES[i] ?? Math.max(1, 49 - i);
}
