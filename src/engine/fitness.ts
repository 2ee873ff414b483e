/**
 * An instance's fitness: how configured priority, operator nudges, settled check states,
 * maintenance mode and the shell's fault causes (a failed required action, repeated engine errors)
 * turn into the priority it advertises and whether it must stay in FAULT. Pure; the one copy of
 * these rules for both election backends (heartbeat engine, etcd).
 *
 * Order of precedence for the FAULT reason: maintenance mode (operator), then fault causes, then
 * weight-0 checks. Check weights: src/engine/health.ts (keepalived's vrrp_script rules; rise/fall
 * and reverse are applied by the check runner before a check's state reaches this module).
 */
import { clampPriority, effectiveHealth, type Health, type WeightedCheck } from './health.js';
import type { EngineInput, TransitionCause } from './types.js';

export interface Fitness {
  /** Configured priority. */
  priority: number;
  /** Sum of SIGUSR1 (+1) / SIGUSR2 (-1) nudges. */
  nudge: number;
  checks: readonly WeightedCheck[];
  /** Operator maintenance mode. */
  maintenance: boolean;
  /** Fault causes by source ("action", "engine"), with their reason; none = empty. */
  faults: Readonly<Record<string, string>>;
}

export interface FitnessVerdict extends Health {
  /** Why FAULT, as a transition cause (undefined when fit). */
  cause?: Extract<TransitionCause, 'maintenance' | 'fault'>;
}

export function initialFitness(priority: number): Fitness {
  return { priority, nudge: 0, checks: [], maintenance: false, faults: {} };
}

/** Configured priority plus nudges, within 1..254. */
export function basePriority(f: Fitness): number {
  return clampPriority(f.priority + f.nudge);
}

export function verdict(f: Fitness): FitnessVerdict {
  const h = effectiveHealth(basePriority(f), f.checks);
  if (f.maintenance) return { priority: h.priority, fault: true, reason: 'maintenance mode', cause: 'maintenance' };
  const causes = Object.values(f.faults);
  if (causes.length) return { priority: h.priority, fault: true, reason: causes.join(', '), cause: 'fault' };
  return h.fault ? { ...h, cause: 'fault' } : h;
}

/** The inputs that concern fitness; undefined for the others (packets, ticks, start, stop). */
export function applyFitnessInput(f: Fitness, input: EngineInput): Fitness | undefined {
  switch (input.type) {
    case 'checks':
      return { ...f, checks: input.checks };
    case 'nudge':
      return { ...f, nudge: f.nudge + input.delta };
    case 'maintenance':
      return { ...f, maintenance: input.on };
    case 'fault': {
      const faults = { ...f.faults };
      if (input.reason === undefined) delete faults[input.source];
      else faults[input.source] = input.reason;
      return { ...f, faults };
    }
    default:
      return undefined;
  }
}

/** The fitness fields of a status snapshot. */
export function fitnessView(f: Fitness): { basePriority: number; effectivePriority: number; maintenance: boolean; fault?: string } {
  const v = verdict(f);
  return { basePriority: basePriority(f), effectivePriority: v.priority, maintenance: f.maintenance, ...(v.fault ? { fault: v.reason } : {}) };
}
