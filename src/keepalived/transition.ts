/**
 * Which action-runner transition a keepalived event runs, in both scripts-mode paths (`ipwarden notify`
 * and `ipwarden keepalived-fifo`). Pure.
 *
 * Actions tell a re-claim from a state change by `from`: from = to = MASTER is the re-claim of a master
 * that heard a lower-priority master (the notify action then runs notifyMasterRxLowerPri, not
 * notifyMaster and notify); any other `from` -> MASTER runs the MASTER actions in full.
 *
 * keepalived reports MASTER only when an instance enters MASTER. So a MASTER event runs the MASTER
 * actions whatever state ipwarden remembers: remembering MASTER only means that keepalived left MASTER
 * without ipwarden hearing of it (keepalived restarted without a notify_stop, or crashed, and came back
 * as MASTER; the state directory under /run outlives a service restart), and the event runs as
 * INIT -> MASTER, where a keepalived that starts comes from. BACKUP, FAULT and STOP run their actions
 * from the remembered state, the same state included.
 *
 * Only MASTER_RX_LOWER_PRI (its FIFO line, or `ipwarden notify --state MASTER_RX_LOWER_PRI` in a
 * notify_master_rx_lower_pri script) re-claims, and only on top of MASTER actions that ran: when the
 * remembered state is not MASTER (they failed, were superseded, or ipwarden never saw the MASTER), it
 * runs them in full from the remembered state.
 */
import type { InstanceState } from '../plugins/api.js';
import type { NotifyState } from './protocol.js';

/** keepalived's re-claim event: a FIFO state, and the state of a notify_master_rx_lower_pri script. */
export const RX_LOWER_PRI = 'MASTER_RX_LOWER_PRI';

/** What keepalived reported: a state (notify scripts and FIFO) or the re-claim event. */
export type KeepalivedEvent = NotifyState | typeof RX_LOWER_PRI;

export interface RunnerTransition {
  from: InstanceState;
  to: InstanceState;
  /** from = to = MASTER: the re-claim path. */
  reclaim: boolean;
}

/** The state whose actions an event runs (DELETED, an instance removed by a reload: STOP). */
export function eventState(event: KeepalivedEvent): InstanceState {
  if (event === 'DELETED') return 'STOP';
  if (event === RX_LOWER_PRI) return 'MASTER';
  return event;
}

/** The runner transition for `event` when ipwarden remembers `remembered` (INIT: nothing). */
export function runnerTransition(remembered: InstanceState, event: KeepalivedEvent): RunnerTransition {
  const to = eventState(event);
  if (event === RX_LOWER_PRI) return remembered === 'MASTER' ? { from: 'MASTER', to, reclaim: true } : { from: remembered, to, reclaim: false };
  if (to === 'MASTER' && remembered === 'MASTER') return { from: 'INIT', to, reclaim: false };
  return { from: remembered, to, reclaim: false };
}

/** One line for the log: what the event runs and why. */
export function describeTransition(remembered: InstanceState, event: KeepalivedEvent, t: RunnerTransition): string {
  if (t.reclaim) return `keepalived ${RX_LOWER_PRI}: re-claiming as MASTER`;
  if (event === RX_LOWER_PRI) return `keepalived ${RX_LOWER_PRI}, but the MASTER actions have not run since ${remembered}: running them in full`;
  if (event === 'MASTER' && remembered === 'MASTER') return 'keepalived MASTER again (it left MASTER unreported: restarted or crashed): running the MASTER actions in full';
  return `keepalived ${event}`;
}
