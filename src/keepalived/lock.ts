/**
 * A lock file with flock-like behaviour, without a native addon: the lock exists while its file
 * does, and the file names its holder (pid, process start time, boot id). A holder that died
 * (kill -9, reboot) leaves a stale lock that the next contender removes.
 *
 * - Taking the lock is one atomic link(2) of a fully written temporary file onto the lock path
 *   (EEXIST = held), so a contender never sees a half-written lock.
 * - The holder is alive when its pid exists with the same start time on the same boot (a reused
 *   pid does not keep a stale lock alive).
 * - Breaking a stale lock is done under a second, short-lived lock (`<path>.break`), and only if
 *   the lock file still holds the stale content just read: two contenders cannot both break it
 *   and then both take it. A `.break` file older than BREAK_STALE_MS is itself removed (its holder
 *   died in the microseconds it holds it).
 */
import { linkSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { currentBootId, processStartTicks } from './stamp.js';

export class LockError extends Error {
  override name = 'LockError';
}

interface Holder {
  pid: number;
  start: number | null;
  boot: string;
}

const BREAK_STALE_MS = 5000;

function ownHolder(): Holder {
  return { pid: process.pid, start: processStartTicks(process.pid) ?? null, boot: currentBootId() };
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** True when the process named in a lock file's text no longer holds it. */
export function isStaleHolder(text: string): boolean {
  let h: Holder;
  try {
    h = JSON.parse(text) as Holder;
  } catch {
    return true;
  }
  if (!h || typeof h.pid !== 'number') return true;
  if (h.boot !== currentBootId()) return true;
  try {
    process.kill(h.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return true;
  }
  const start = processStartTicks(h.pid);
  return h.start !== null && start !== undefined && start !== h.start;
}

/** One attempt: link a written temp file onto `path`. */
function tryLink(path: string, text: string): boolean {
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  writeFileSync(tmp, text, { mode: 0o644 });
  try {
    linkSync(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new LockError(`${path}: cannot create the lock: ${(err as Error).message}`);
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // gone
    }
  }
}

/** Removes `path` if it still holds exactly `staleText`, under the break lock. Returns whether it may have changed. */
function breakStale(path: string, staleText: string): void {
  const breaker = `${path}.break`;
  if (!tryLink(breaker, JSON.stringify(ownHolder()))) {
    try {
      if (Date.now() - statSync(breaker).mtimeMs > BREAK_STALE_MS) unlinkSync(breaker);
    } catch {
      // someone else removed it
    }
    return;
  }
  try {
    if (readText(path) === staleText) unlinkSync(path);
  } catch {
    // already removed
  } finally {
    try {
      unlinkSync(breaker);
    } catch {
      // gone
    }
  }
}

/** A held lock. */
export class FileLock {
  private released = false;
  private constructor(
    readonly path: string,
    private readonly text: string,
  ) {}

  /** Takes the lock if it is free (or stale); undefined when a live process holds it. */
  static tryAcquire(path: string): FileLock | undefined {
    const text = JSON.stringify(ownHolder());
    for (let i = 0; i < 3; i++) {
      if (tryLink(path, text)) return new FileLock(path, text);
      const current = readText(path);
      if (current === undefined) continue;
      if (!isStaleHolder(current)) return undefined;
      breakStale(path, current);
    }
    return undefined;
  }

  /**
   * Waits for the lock, polling (10 ms growing to 100 ms). Gives up, returning undefined, when
   * `giveUp()` says so (checked between polls) or the signal aborts; throws LockError after `timeoutMs`.
   */
  static async acquire(path: string, opts: { timeoutMs: number; signal?: AbortSignal; giveUp?: () => boolean }): Promise<FileLock | undefined> {
    const deadline = Date.now() + opts.timeoutMs;
    let delay = 10;
    for (;;) {
      const lock = FileLock.tryAcquire(path);
      if (lock) return lock;
      if (opts.signal?.aborted || opts.giveUp?.()) return undefined;
      if (Date.now() >= deadline) {
        const holder = readText(path);
        throw new LockError(`${path}: still locked after ${opts.timeoutMs} ms${holder ? ` by ${holder.trim()}` : ''}`);
      }
      await sleep(delay);
      delay = Math.min(100, delay * 2);
    }
  }

  /** Releases the lock (only if the file is still ours). Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    try {
      if (readText(this.path) === this.text) unlinkSync(this.path);
    } catch {
      // gone
    }
  }
}
