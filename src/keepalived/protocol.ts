/**
 * keepalived's script interface, as data: the argv it appends for a `notify` script and the
 * lines it writes to its notify FIFO (keepalived 2.2.x, keepalived/vrrp/vrrp_notify.c):
 *
 *   notify script:  <configured argv...> INSTANCE|GROUP <name> MASTER|BACKUP|FAULT|STOP|DELETED <priority>
 *   notify FIFO:    INSTANCE|GROUP "<name>" <state> <priority>\n       (printf "%s \"%s\" %s %d\n")
 *
 * DELETED (an instance removed by a reload) is sent only with `notify_deleted`; otherwise keepalived
 * reports FAULT for it. FIFO-only states: MASTER_RX_LOWER_PRI (a master received a lower-priority advert), and
 * MASTER_PRIORITY / BACKUP_PRIORITY (notify_priority_changes). A group's priority is always 0.
 * The checker (LVS) writes `VS ...` and `RS ...` lines to the same FIFO.
 */

/** States keepalived passes to notify scripts. */
export const NOTIFY_STATES = ['MASTER', 'BACKUP', 'FAULT', 'STOP', 'DELETED'] as const;
export type NotifyState = (typeof NOTIFY_STATES)[number];
/** Events that appear on the FIFO only. */
export const FIFO_EVENTS = ['MASTER_RX_LOWER_PRI', 'MASTER_PRIORITY', 'BACKUP_PRIORITY'] as const;
export type FifoEvent = (typeof FIFO_EVENTS)[number];

export type NotifyKind = 'INSTANCE' | 'GROUP';

/** One state change as keepalived reports it. */
export interface NotifyMessage {
  kind: NotifyKind;
  name: string;
  state: NotifyState | FifoEvent;
  priority: number;
}

export function isNotifyState(s: string): s is NotifyState {
  return (NOTIFY_STATES as readonly string[]).includes(s);
}

/** The 4 arguments keepalived appends for a `notify` script. */
export function notifyArgs(m: { kind?: NotifyKind; name: string; state: NotifyState; priority: number }): string[] {
  return [m.kind ?? 'INSTANCE', m.name, m.state, String(m.priority)];
}

/** A notify FIFO line, newline included, byte for byte as keepalived writes it. */
export function formatFifoLine(m: { kind?: NotifyKind; name: string; state: NotifyState | FifoEvent; priority: number }): string {
  return `${m.kind ?? 'INSTANCE'} "${m.name}" ${m.state} ${m.priority}\n`;
}

export type ParsedLine =
  | { ok: true; message: NotifyMessage }
  /** `ignored`: a well-formed line ipwarden has no use for (VS/RS checker lines); `invalid`: not understood. */
  | { ok: false; why: 'ignored' | 'invalid'; reason: string };

const LINE = /^(INSTANCE|GROUP) "(.*)" (\S+) (\d{1,3})$/;

/** Parses one FIFO line (without its newline; a trailing \r is tolerated). */
export function parseFifoLine(line: string): ParsedLine {
  const text = line.endsWith('\r') ? line.slice(0, -1) : line;
  if (/^(VS|RS) /.test(text)) return { ok: false, why: 'ignored', reason: 'checker (LVS) line' };
  const m = LINE.exec(text);
  if (!m) return { ok: false, why: 'invalid', reason: 'not an INSTANCE/GROUP line' };
  const state = m[3]!;
  if (!isNotifyState(state) && !(FIFO_EVENTS as readonly string[]).includes(state)) {
    return { ok: false, why: 'invalid', reason: `unknown state ${JSON.stringify(state)}` };
  }
  const priority = Number(m[4]);
  if (priority > 255) return { ok: false, why: 'invalid', reason: `priority ${priority} out of range` };
  return { ok: true, message: { kind: m[1] as NotifyKind, name: m[2]!, state: state as NotifyState | FifoEvent, priority } };
}

/**
 * Parses the 4 notify arguments (`INSTANCE VI_1 MASTER 100`); returns a one-line problem
 * naming the bad argument instead of throwing.
 */
export function parseNotifyArgs(args: readonly string[]): { ok: true; message: NotifyMessage & { state: NotifyState } } | { ok: false; problem: string } {
  if (args.length !== 4) {
    return { ok: false, problem: `expected 4 arguments INSTANCE|GROUP NAME STATE PRIORITY (as keepalived passes to a notify script), got ${args.length}` };
  }
  const [kind, name, state, prio] = args as [string, string, string, string];
  if (kind !== 'INSTANCE' && kind !== 'GROUP') return { ok: false, problem: `first argument: expected INSTANCE or GROUP, got ${JSON.stringify(kind)}` };
  if (name === '') return { ok: false, problem: 'second argument: expected the instance name, got ""' };
  if (!isNotifyState(state)) return { ok: false, problem: `third argument: expected ${NOTIFY_STATES.join(', ')}, got ${JSON.stringify(state)}` };
  if (!/^\d{1,3}$/.test(prio) || Number(prio) > 255) return { ok: false, problem: `fourth argument: expected a priority 0..255, got ${JSON.stringify(prio)}` };
  return { ok: true, message: { kind, name, state, priority: Number(prio) } };
}
