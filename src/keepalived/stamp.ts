/**
 * Invocation stamps: which of two `ipwarden notify` runs keepalived started first.
 *
 * keepalived forks a script the moment the state changes, but two scripts started 100 ms apart can
 * reach ipwarden's code in either order (process start-up alone varies by more than that). The
 * kernel records when each process was created (/proc/<pid>/stat field 22, in clock ticks since
 * boot, 10 ms resolution with USER_HZ 100); keepalived's fork and the script's exec share one PID,
 * so that start time is the moment keepalived fired the script. Same tick: the lower PID first.
 * The boot id makes stamps of a previous boot void.
 */
import { readFileSync } from 'node:fs';

export interface InvocationStamp {
  /** /proc/sys/kernel/random/boot_id ("" when unknown). */
  boot: string;
  /** Process start time: clock ticks since boot (or ms since the epoch without /proc). */
  start: number;
  pid: number;
}

let bootId: string | undefined;

/** This boot's id, or "" without /proc. */
export function currentBootId(): string {
  if (bootId === undefined) {
    try {
      bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      bootId = '';
    }
  }
  return bootId;
}

/** Start time of a process in clock ticks since boot, or undefined (no such process, no /proc). */
export function processStartTicks(pid: number): number | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid ..." — comm may hold spaces and parentheses: fields start after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const start = Number(fields[19]);
  return Number.isFinite(start) ? start : undefined;
}

/** The stamp of this process. */
export function ownStamp(): InvocationStamp {
  const ticks = processStartTicks(process.pid);
  return {
    boot: currentBootId(),
    start: ticks ?? Math.round(performance.timeOrigin),
    pid: process.pid,
  };
}

/** < 0 when a was started before b, > 0 after, 0 for the same invocation. Stamps of another boot are older. */
export function compareStamps(a: InvocationStamp, b: InvocationStamp): number {
  if (a.boot !== b.boot) return a.boot === currentBootId() ? 1 : b.boot === currentBootId() ? -1 : 0;
  if (a.start !== b.start) return a.start - b.start;
  return a.pid - b.pid;
}

export function isStamp(v: unknown): v is InvocationStamp {
  const s = v as InvocationStamp;
  return !!s && typeof s === 'object' && typeof s.boot === 'string' && Number.isFinite(s.start) && Number.isInteger(s.pid);
}

/** For logs: "pid 1234 started at tick 5678". */
export function describeStamp(s: InvocationStamp): string {
  return `pid ${s.pid} (start ${s.start})`;
}
