/**
 * Named pipes the way keepalived uses them for `notify_fifo` (lib/notify.c, fifo_open): created
 * with mkfifo when missing, opened O_RDWR | O_NONBLOCK so that neither opening nor writing ever
 * blocks, and lines written while no reader is attached wait in the pipe (up to the pipe size,
 * 64 KiB on Linux) for the next reader.
 *
 * Node has no mkfifo(); the coreutils `mkfifo` command is used (node:child_process, not execa:
 * this module is loaded by daemons that run no scripts, which do not load execa at all; see
 * src/util/process-group.ts).
 */
import { execFile } from 'node:child_process';
import { closeSync, constants, fstatSync, openSync, writeSync, type Stats } from 'node:fs';
import { lstat, unlink } from 'node:fs/promises';

export class FifoError extends Error {
  override name = 'FifoError';
}

/** keepalived creates its FIFO with mode 0644 (rw-r--r--). */
export const FIFO_MODE = 0o644;

const OPEN_FLAGS = constants.O_RDWR | constants.O_NONBLOCK | constants.O_NOFOLLOW;
const MKFIFO_TIMEOUT_MS = 10_000;

/** Runs `mkfifo -m MODE path`: undefined when it did, else why not (one line). Never rejects. */
function mkfifo(path: string, mode: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile('mkfifo', ['-m', mode.toString(8), path], { encoding: 'utf8', timeout: MKFIFO_TIMEOUT_MS }, (err, _stdout, stderr) => {
      if (!err) resolve(undefined);
      else if (err.code === 'ENOENT') resolve('the mkfifo command was not found (coreutils)');
      else if (err.killed) resolve(`mkfifo did not finish within ${MKFIFO_TIMEOUT_MS / 1000} s`);
      else resolve(stderr.trim().split('\n')[0] || `mkfifo exit ${err.code}`);
    });
  });
}

/** Makes sure `path` is a FIFO, creating it when missing; `created` says whether this call made it. */
export async function ensureFifo(path: string, mode = FIFO_MODE): Promise<{ created: boolean }> {
  for (let attempt = 0; attempt < 2; attempt++) {
    let st: Stats | undefined;
    try {
      st = await lstat(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new FifoError(`${path}: ${(err as Error).message}`);
    }
    if (st) {
      if (!st.isFIFO()) throw new FifoError(`${path}: exists and is not a FIFO (named pipe)`);
      return { created: false };
    }
    const why = await mkfifo(path, mode);
    if (why === undefined) return { created: true };
    if (!/File exists/i.test(why)) throw new FifoError(`${path}: cannot create the FIFO: ${why}`);
    // Someone else created it meanwhile: check what it is.
  }
  throw new FifoError(`${path}: cannot create the FIFO`);
}

/** Opens an existing FIFO read-write, non-blocking (never blocks, never ENXIO). */
export function openFifo(path: string): number {
  try {
    return openSync(path, OPEN_FLAGS);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ELOOP') throw new FifoError(`${path}: is a symbolic link (not followed)`);
    if (e.code === 'EACCES') throw new FifoError(`${path}: permission denied`);
    throw new FifoError(`${path}: cannot open: ${e.message}`);
  }
}

/** True when `fd` is still the file at `path` (not unlinked or replaced by a new FIFO). */
export async function sameFile(fd: number, path: string): Promise<boolean> {
  try {
    const [a, b] = [fstatSync(fd), await lstat(path)];
    return a.dev === b.dev && a.ino === b.ino;
  } catch {
    return false;
  }
}

/**
 * Writes lines to a FIFO like keepalived: the FIFO is created when missing and then kept open
 * (reopened when the path is replaced); a full pipe (no reader draining it) is an error, never a wait.
 * close() removes the FIFO if this writer created it, as keepalived does.
 */
export class FifoWriter {
  private fd: number | undefined;
  private created = false;

  constructor(readonly path: string) {}

  async write(line: string): Promise<void> {
    if (this.fd !== undefined && !(await sameFile(this.fd, this.path))) this.closeFd();
    if (this.fd === undefined) {
      const { created } = await ensureFifo(this.path);
      this.created ||= created;
      this.fd = openFifo(this.path);
    }
    const buf = Buffer.from(line, 'utf8');
    try {
      const n = writeSync(this.fd, buf);
      if (n !== buf.length) throw new FifoError(`${this.path}: short write (${n} of ${buf.length} bytes)`);
    } catch (err) {
      if (err instanceof FifoError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') throw new FifoError(`${this.path}: FIFO full: no reader is draining it`);
      throw new FifoError(`${this.path}: write failed: ${(err as Error).message}`);
    }
  }

  async close(): Promise<void> {
    this.closeFd();
    if (this.created) {
      this.created = false;
      await unlink(this.path).catch(() => undefined);
    }
  }

  private closeFd(): void {
    if (this.fd === undefined) return;
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
    this.fd = undefined;
  }
}
