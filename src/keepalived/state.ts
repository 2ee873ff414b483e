/**
 * What scripts mode remembers per keepalived instance, between `ipwarden notify` invocations:
 * the newest invocation seen (its stamp and state) and the last state whose actions ran.
 *
 *   <stateDir>/<instance>.json        the record (replaced atomically: write + rename)
 *   <stateDir>/<instance>.state.lock  held for a read-modify-write of the record (microseconds)
 *   <stateDir>/<instance>.run.lock    held while the instance's actions run (one run at a time)
 *
 * The default state directory is under /run: it is emptied at boot, when keepalived starts over too.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { InstanceState } from '../plugins/api.js';
import { FileLock, LockError } from './lock.js';
import { compareStamps, currentBootId, isStamp, type InvocationStamp } from './stamp.js';

export const DEFAULT_STATE_DIR = '/run/ipwarden/keepalived';

export interface InvocationRecord {
  stamp: InvocationStamp;
  state: InstanceState;
  priority: number;
}

export interface AppliedRecord extends InvocationRecord {
  /** Wall clock ms when the run finished. */
  at: number;
  /** Every action succeeded. */
  ok: boolean;
  /** The run was cut short by a newer invocation. */
  superseded?: boolean;
}

export interface InstanceRecord {
  /** The newest invocation registered so far (it may still be waiting or running). */
  latest?: InvocationRecord;
  /** The last run (finished, whatever its outcome). */
  applied?: AppliedRecord;
  /** The last run whose actions all succeeded: its state is the `from` of the next run. */
  settled?: AppliedRecord;
}

/** A file name for an instance name: [A-Za-z0-9_.-] kept, any other byte %XX (so "a/b" cannot leave the directory). */
export function instanceFileName(name: string): string {
  return Array.from(Buffer.from(name, 'utf8'))
    .map((b) => {
      const c = String.fromCharCode(b);
      return /[A-Za-z0-9_.-]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
    })
    .join('');
}

const STATES: readonly string[] = ['INIT', 'BACKUP', 'MASTER', 'FAULT', 'STOP'];

function isInvocation(v: unknown): v is InvocationRecord {
  const r = v as InvocationRecord;
  return !!r && typeof r === 'object' && isStamp(r.stamp) && STATES.includes(r.state) && Number.isFinite(r.priority);
}

/** The per-instance record store in one directory. */
export class StateStore {
  constructor(readonly dir: string) {}

  private file(instance: string, suffix: string): string {
    return join(this.dir, `${instanceFileName(instance)}${suffix}`);
  }

  /** Creates the directory (mode 0700). */
  prepare(): void {
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new LockError(`state directory ${this.dir}: ${(err as Error).message}`);
    }
  }

  /** The record; records of a previous boot are dropped. */
  read(instance: string): InstanceRecord {
    let data: unknown;
    try {
      data = JSON.parse(readFileSync(this.file(instance, '.json'), 'utf8'));
    } catch {
      return {};
    }
    const rec = data as InstanceRecord;
    const out: InstanceRecord = {};
    if (isInvocation(rec.latest) && rec.latest.stamp.boot === currentBootId()) out.latest = rec.latest;
    for (const key of ['applied', 'settled'] as const) {
      const r = rec[key];
      if (isInvocation(r) && r.stamp.boot === currentBootId()) out[key] = { ...r, at: Number(r.at) || 0, ok: r.ok === true };
    }
    return out;
  }

  private write(instance: string, rec: InstanceRecord): void {
    const path = this.file(instance, '.json');
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(rec)}\n`, { mode: 0o644 });
    renameSync(tmp, path);
  }

  /** Read-modify-write under the instance's short lock. */
  async update<T>(instance: string, fn: (rec: InstanceRecord) => { rec?: InstanceRecord; result: T }): Promise<T> {
    const lock = await FileLock.acquire(this.file(instance, '.state.lock'), { timeoutMs: 10_000 });
    if (!lock) throw new LockError(`${instance}: could not lock the state record`);
    try {
      const { rec, result } = fn(this.read(instance));
      if (rec) this.write(instance, rec);
      return result;
    } finally {
      lock.release();
    }
  }

  /**
   * Records an invocation as the newest unless a newer one was registered already.
   * Returns the newer one in that case (this invocation is stale), else undefined.
   */
  register(instance: string, inv: InvocationRecord): Promise<InvocationRecord | undefined> {
    return this.update(instance, (rec) => {
      if (rec.latest && compareStamps(rec.latest.stamp, inv.stamp) > 0) return { result: rec.latest };
      return { rec: { ...rec, latest: inv }, result: undefined };
    });
  }

  /** The newer invocation than `stamp`, if one has been registered. */
  newerThan(instance: string, stamp: InvocationStamp): InvocationRecord | undefined {
    const latest = this.read(instance).latest;
    return latest && compareStamps(latest.stamp, stamp) > 0 ? latest : undefined;
  }

  /** Records a finished run (and, when it succeeded, the settled state). */
  recordApplied(instance: string, applied: AppliedRecord): Promise<void> {
    return this.update(instance, (rec) => ({ rec: { ...rec, applied, ...(applied.ok ? { settled: applied } : {}) }, result: undefined }));
  }

  /** The state the instance's actions last completed: the `from` of the next run (INIT when none). */
  settledState(instance: string): InstanceState {
    return this.read(instance).settled?.state ?? 'INIT';
  }

  /** The lock path serializing action runs of an instance. */
  runLockPath(instance: string): string {
    return this.file(instance, '.run.lock');
  }
}
