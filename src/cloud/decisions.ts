/**
 * The pure part of the floating-IP controller (src/cloud/controller.ts): what a node wants from the
 * cloud in each state, and the next step of a pass given the holders the API listed last. No I/O,
 * no clock: every branch is unit-testable and the shell only executes the step it is handed.
 */
import type { InstanceState } from '../plugins/api.js';
import type { HolderMode } from './provider.js';

export type Strategy = 'move' | 'all-healthy';
export type OnApiUnreachable = 'hold' | 'release';

/**
 * What this node wants from the API right now:
 *   exclusive  held here and by nobody else (MASTER, move)
 *   attached   held here, others left alone except dead peers (MASTER/BACKUP, all-healthy)
 *   released   not held here
 *   handover   a MASTER that yielded to a better peer: let go only once the API lists another holder
 *   keep       no opinion: no API call
 */
export type Desired = 'exclusive' | 'attached' | 'released' | 'handover' | 'keep';

/**
 * The desired attachment for a state entered from `from` because of `cause` (the election's
 * TransitionCause, when known). A MASTER that yields to a better peer (MASTER -> BACKUP, move) hands
 * over instead of releasing, so the address is never left on nobody. A MASTER that stepped down
 * because it lost etcd ('lease-lost') releases: that is the etcd backend's policy when etcd is lost
 * (another node may be elected where etcd has quorum). A MASTER that shuts down while a live peer can
 * take over (cause 'handover', move) hands over too: released first, a single-holder address would sit
 * on nobody for a whole API change (2-3 s on Hetzner and DigitalOcean) before the successor's attach.
 */
export function desiredFor(state: InstanceState, strategy: Strategy, release: boolean, from?: InstanceState, cause?: string): Desired {
  if (state === 'MASTER') return strategy === 'move' ? 'exclusive' : 'attached';
  if (state === 'BACKUP' && strategy === 'all-healthy') return 'attached';
  if (state === 'INIT') return 'keep';
  if (!release) return 'keep';
  // a MASTER shutting down while a live peer takes over (move): that peer's attach moves the address
  if (state === 'STOP' && cause === 'handover' && strategy === 'move') return 'handover';
  return state === 'BACKUP' && from === 'MASTER' && cause !== 'lease-lost' ? 'handover' : 'released';
}

/** Whether the reconcile loop runs in this state. */
export function reconcilesIn(state: InstanceState, strategy: Strategy): boolean {
  return state === 'MASTER' || (strategy === 'all-healthy' && state === 'BACKUP');
}

/** One step of a pass; `done` ends it (the last read shows what is wanted). */
export type Step =
  | { kind: 'done' }
  /** Read the holders (nothing read yet in this pass, and the step depends on them). */
  | { kind: 'read' }
  /** Attach here (single-holder clouds: this moves it). */
  | { kind: 'attach' }
  /** Detach these other holders (fencing, or revoking dead peers), watching our own attachment. */
  | { kind: 'fence'; targets: string[] }
  /** Detach from here. */
  | { kind: 'detach-self' }
  /** handover while this node is the only holder: keep it for the new MASTER. */
  | { kind: 'hand-over-later' };

export interface StepInput {
  desired: Desired;
  /** The holders the API listed last in this pass; undefined: nothing read yet. */
  holders: readonly string[] | undefined;
  /**
   * The last read (of an earlier pass) did not list this node, and it has sent no attach since. Only
   * a node attaches itself (other nodes only ever detach it), so that stays true until it does.
   */
  knownUnheld?: boolean;
  self: string;
  mode: HolderMode;
  /** all-healthy, as MASTER: targets of dead peers still to revoke. */
  revoke?: ReadonlySet<string>;
}

/**
 * Pure: the next step from the last read. A pass that wants this node attached and knows it is not
 * attaches before reading (one API round trip less on the failover path; the read-back follows);
 * every other pass reads first.
 */
export function nextStep({ desired, holders, knownUnheld, self, mode, revoke }: StepInput): Step {
  if (desired === 'keep') return { kind: 'done' };
  if (holders === undefined) return (desired === 'exclusive' || desired === 'attached') && knownUnheld ? { kind: 'attach' } : { kind: 'read' };
  const here = holders.includes(self);
  const others = holders.filter((h) => h !== self);
  switch (desired) {
    case 'released':
      return here ? { kind: 'detach-self' } : { kind: 'done' };
    case 'handover':
      if (!here) return { kind: 'done' };
      // single-holder: the new MASTER's attach moves it; multi: detach once the new holder shows
      if (mode === 'single' || others.length === 0) return { kind: 'hand-over-later' };
      return { kind: 'detach-self' };
    case 'exclusive':
    case 'attached': {
      if (!here) return { kind: 'attach' };
      const targets = desired === 'exclusive' ? others : others.filter((h) => revoke?.has(h));
      return targets.length ? { kind: 'fence', targets } : { kind: 'done' };
    }
  }
}
