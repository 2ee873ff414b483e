/**
 * Running a command in its own process group, the way keepalived runs scripts (it calls
 * setpgid(0, 0) in the child so a kill reaches the script's children too): user lookup, group
 * kill, and one run with an abort signal (SIGTERM to the group, SIGKILL `graceMs` later).
 *
 * Shared by the exec check (plugins/exec) and the notify action (plugins/notify). Built on
 * node:child_process rather than execa: these run inside the daemon (a notify script on the
 * failover path), where execa's module graph would cost about 6 MB of RSS and its first import
 * 70+ ms.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { basename } from 'node:path';

/** Time between SIGTERM and SIGKILL to the process group when a run is aborted. */
export const KILL_GRACE_MS = 500;
const DEFAULT_MAX_OUTPUT = 1024 * 1024;
/** How long output is still read after the command exited (a leftover may hold the pipe). */
const OUTPUT_LINGER_MS = 200;
/** A user lookup that hangs (an NSS backend down) gives up after this. */
const GETENT_TIMEOUT_MS = 10_000;

/** A user account, as `getent passwd` gives it. */
export interface Account {
  uid: number;
  gid: number;
  name: string;
  home: string;
}

/** Looks a user up with getent (covers NSS); a bare uid unknown to it runs with gid = uid. */
export async function lookupUser(user: string | number): Promise<Account> {
  const key = String(user);
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile('getent', ['passwd', key], { encoding: 'utf8', timeout: GETENT_TIMEOUT_MS }, (err, out) => {
      if (err?.killed) reject(new Error(`getent passwd ${key}: no answer within ${GETENT_TIMEOUT_MS / 1000} s (NSS)`));
      else resolve(err ? '' : out);
    });
  });
  const fields = stdout ? stdout.split('\n')[0]!.split(':') : [];
  if (fields.length >= 6) {
    return { name: fields[0]!, uid: Number(fields[2]), gid: Number(fields[3]), home: fields[5]! };
  }
  if (typeof user === 'number' || /^\d+$/.test(key)) return { name: key, uid: Number(key), gid: Number(key), home: '/' };
  throw new Error(`unknown user ${JSON.stringify(key)}`);
}

/** Sends `signal` to every process of the group `pgid`; false when the group is gone. */
export function killGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/** The reason an AbortSignal fired, as words ("timed out", "superseded by BACKUP"). */
export function abortText(signal: AbortSignal): string {
  const r = signal.reason as Error | undefined;
  if (r?.name === 'TimeoutError') return 'timed out';
  return r?.message ?? 'aborted';
}

export interface GroupRunOptions {
  /** Aborting kills the whole process group (SIGTERM, then SIGKILL after graceMs). */
  signal: AbortSignal;
  /** Added to ipwarden's own environment. */
  env?: Record<string, string>;
  /** Run as this account (needs root); HOME, USER and LOGNAME are set to it. */
  account?: Account;
  graceMs?: number;
  /** Kill what the command leaves behind in its group when it exits (checks: yes; notify scripts: no). */
  killLeftovers?: boolean;
  maxOutput?: number;
}

export interface GroupRunResult {
  /** True when the command exited 0. */
  ok: boolean;
  /** One line: "notify.sh exit 0", "notify.sh exit 3: no route", "killed with its process group (timed out)". */
  detail: string;
  exitCode?: number;
  /** Set when the run was aborted (the reason). */
  killedFor?: string;
}

function lastLine(text: string | undefined): string {
  const lines = (text ?? '').split('\n').map((l) => l.trim()).filter(Boolean);
  const line = lines[lines.length - 1] ?? '';
  return line.length > 200 ? `${line.slice(0, 199)}…` : line;
}


/** How a child ended, as node:child_process tells it. */
interface ChildEnd {
  exitCode?: number;
  signal?: NodeJS.Signals;
  /** The spawn failed (ENOENT, EACCES, EPERM for uid/gid...). */
  error?: NodeJS.ErrnoException;
  /** stdout and stderr interleaved, at most maxOutput bytes. */
  output: string;
  overflow: boolean;
}

/**
 * Waits for `child` to end and for its output; output still held open by a leftover process after
 * the child exited is read for OUTPUT_LINGER_MS more, then dropped. Output past `maxOutput` bytes
 * calls `onOverflow` once and is discarded.
 */
function awaitChild(child: ChildProcess, maxOutput: number, onOverflow: () => void): Promise<ChildEnd> {
  const chunks: Buffer[] = [];
  let size = 0;
  let overflow = false;
  const onData = (chunk: Buffer) => {
    if (overflow) return;
    if (size + chunk.length > maxOutput) {
      chunks.push(chunk.subarray(0, maxOutput - size));
      size = maxOutput;
      overflow = true;
      onOverflow();
      return;
    }
    chunks.push(chunk);
    size += chunk.length;
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  return new Promise((resolve) => {
    let settled = false;
    const settle = (end: Omit<ChildEnd, 'output' | 'overflow'>) => {
      if (settled) return;
      settled = true;
      resolve({ ...end, output: Buffer.concat(chunks).toString('utf8'), overflow });
    };
    child.on('error', (error: NodeJS.ErrnoException) => {
      child.stdout?.destroy();
      child.stderr?.destroy();
      settle({ error });
    });
    child.once('exit', () => {
      setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
      }, OUTPUT_LINGER_MS).unref();
    });
    // 'close': exited and both pipes closed (by the command's end, or by the linger timer above).
    child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
      settle(code !== null ? { exitCode: code } : signal ? { signal } : {});
    });
  });
}

/**
 * Runs argv (no shell) in a new process group with stdin from /dev/null; resolves with the
 * outcome, never rejects for the command's own failure.
 */
export async function runInProcessGroup(argv: readonly string[], opts: GroupRunOptions): Promise<GroupRunResult> {
  const [file, ...args] = argv as [string, ...string[]];
  const label = basename(file);
  const { signal } = opts;
  if (signal.aborted) return { ok: false, detail: `${label}: not started (${abortText(signal)})`, killedFor: abortText(signal) };
  const env: NodeJS.ProcessEnv = { ...process.env, ...(opts.env ?? {}) };
  if (opts.account) Object.assign(env, { HOME: opts.account.home, USER: opts.account.name, LOGNAME: opts.account.name });
  const maxOutput = opts.maxOutput ?? DEFAULT_MAX_OUTPUT;
  const graceMs = opts.graceMs ?? KILL_GRACE_MS;

  let child: ChildProcess;
  try {
    // detached: setsid() in the child, so its pid is the pgid of everything it starts.
    child = spawn(file, args, {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env,
      ...(opts.account ? { uid: opts.account.uid, gid: opts.account.gid } : {}),
    });
  } catch (err) {
    return { ok: false, detail: `${label}: ${lastLine((err as Error).message) || 'failed to run'}` };
  }
  const pid = child.pid;
  let killedFor: string | undefined;
  let grace: NodeJS.Timeout | undefined;
  const killTree = (why: string) => {
    if (pid === undefined || killedFor) return;
    killedFor = why;
    killGroup(pid, 'SIGTERM');
    grace = setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs);
    grace.unref();
  };
  const onAbort = () => killTree(abortText(signal));
  signal.addEventListener('abort', onAbort, { once: true });
  child.once('exit', () => {
    if (pid !== undefined && !killedFor && opts.killLeftovers) killGroup(pid, 'SIGKILL');
  });
  const tooMuch = `more than ${maxOutput} bytes of output`;
  const r = await awaitChild(child, maxOutput, () => killTree(tooMuch));
  signal.removeEventListener('abort', onAbort);
  if (killedFor && pid !== undefined) {
    killGroup(pid, 'SIGKILL');
    if (grace) clearTimeout(grace);
    if (killedFor === tooMuch) return { ok: false, detail: `${label}: ${tooMuch}` };
    return { ok: false, detail: `${label}: killed with its process group (${killedFor})`, killedFor };
  }
  if (r.error) {
    if (r.error.code === 'ENOENT') return { ok: false, detail: `${file}: command not found` };
    if (r.error.code === 'EACCES') return { ok: false, detail: `${file}: permission denied (not executable?)` };
    return { ok: false, detail: `${label}: ${lastLine(r.error.message) || 'failed to run'}` };
  }
  const out = lastLine(r.output);
  const tail = out ? `: ${out}` : '';
  if (r.exitCode === 0) return { ok: true, detail: `${label} exit 0${tail}`, exitCode: 0 };
  if (r.exitCode !== undefined) return { ok: false, detail: `${label} exit ${r.exitCode}${tail}`, exitCode: r.exitCode };
  if (r.signal) return { ok: false, detail: `${label} killed by ${r.signal}${tail}` };
  return { ok: false, detail: `${label}: failed to run` };
}
