/**
 * Runs one short-lived command (`ip`, `arping`) with node:child_process: no shell, stdin closed,
 * output collected (bounded), C locale (the callers match English error texts), stopped by an
 * AbortSignal or a timeout (SIGTERM, then SIGKILL after KILL_GRACE_MS). Never rejects: the
 * result says what happened, so callers can turn it into a message that names what to fix.
 */
import { spawn } from 'node:child_process';

/** How a command ended. */
export interface CommandResult {
  /** True unless it exited with status 0. */
  failed: boolean;
  exitCode?: number;
  /** The signal that ended it, if one did. */
  signal?: string;
  stdout: string;
  /** Trimmed. */
  stderr: string;
  /** errno code when it could not be started (ENOENT: not installed). */
  code?: string;
  /** Stopped because the AbortSignal fired. */
  aborted?: boolean;
  /** Stopped because it ran past timeoutMs. */
  timedOut?: boolean;
}

export interface CommandOptions {
  signal: AbortSignal;
  timeoutMs: number;
}

/** After SIGTERM, a command still running this long later gets SIGKILL. */
export const KILL_GRACE_MS = 500;
/** After the process exited, its output pipes are waited for this long at most. */
const CLOSE_GRACE_MS = 100;
/** Output kept per stream (the callers read one line of stderr or a short JSON). */
const MAX_OUTPUT = 64 * 1024;

export function runCommand(file: string, args: readonly string[], opts: CommandOptions): Promise<CommandResult> {
  if (opts.signal.aborted) return Promise.resolve({ failed: true, aborted: true, stdout: '', stderr: '' });
  return new Promise((resolve) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    let stdout = '';
    let stderr = '';
    let aborted = false;
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    let settled = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      if (stdout.length < MAX_OUTPUT) stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < MAX_OUTPUT) stderr += d;
    });
    const stop = () => {
      if (killTimer || child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
    };
    const onAbort = () => {
      aborted = true;
      stop();
    };
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, opts.timeoutMs);
    opts.signal.addEventListener('abort', onAbort, { once: true });
    const finish = (r: CommandResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(killTimer);
      opts.signal.removeEventListener('abort', onAbort);
      resolve({ ...r, stdout, stderr: stderr.trim(), ...(aborted ? { aborted } : {}), ...(timedOut ? { timedOut } : {}) });
    };
    child.on('error', (err: NodeJS.ErrnoException) => {
      // not started (ENOENT, EACCES): no 'close' follows reliably, so settle here
      if (child.pid === undefined) finish({ failed: true, stdout: '', stderr: '', ...(err.code ? { code: err.code } : {}) });
    });
    const ended = (exitCode: number | null, signal: NodeJS.Signals | null) =>
      finish({
        failed: exitCode !== 0,
        stdout: '',
        stderr: '',
        ...(exitCode !== null ? { exitCode } : {}),
        ...(signal !== null ? { signal } : {}),
      });
    // 'close' comes once the output is read; a leftover grandchild holding the pipes open must
    // not hold up the result: CLOSE_GRACE_MS after 'exit' the pipes are dropped.
    child.on('close', ended);
    child.on('exit', (exitCode, signal) => {
      setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        ended(exitCode, signal);
      }, CLOSE_GRACE_MS).unref();
    });
  });
}
