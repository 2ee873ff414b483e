/**
 * Running a command in its own process group, the way keepalived runs scripts (it calls
 * setpgid(0, 0) in the child so a kill reaches the script's children too): user lookup, group
 * kill, and one run with an abort signal (SIGTERM to the group, SIGKILL `graceMs` later).
 *
 * Shared by the exec check (plugins/exec) and the notify action (plugins/notify), built on execa.
 * Only those two plugins import this module, and a daemon imports only the built-in plugins its
 * config names (src/plugins/loader.ts), so a daemon that runs no scripts never loads execa's module
 * graph (about 6 MB of RSS, issue 7), and one that does loads it at start-up, not on a failover.
 */
import { basename } from 'node:path';
import { execa } from 'execa';

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
  const r = await execa('getent', ['passwd', key], { reject: false, stdin: 'ignore', timeout: GETENT_TIMEOUT_MS });
  if (r.timedOut) throw new Error(`getent passwd ${key}: no answer within ${GETENT_TIMEOUT_MS / 1000} s (NSS)`);
  const fields = r.exitCode === 0 ? String(r.stdout).split('\n')[0]!.split(':') : [];
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

/**
 * Runs argv (no shell) in a new process group with stdin from /dev/null; resolves with the
 * outcome, never rejects for the command's own failure.
 */
export async function runInProcessGroup(argv: readonly string[], opts: GroupRunOptions): Promise<GroupRunResult> {
  const [file, ...args] = argv as [string, ...string[]];
  const label = basename(file);
  const { signal } = opts;
  if (signal.aborted) return { ok: false, detail: `${label}: not started (${abortText(signal)})`, killedFor: abortText(signal) };
  const env: Record<string, string> = { ...(opts.env ?? {}) };
  if (opts.account) Object.assign(env, { HOME: opts.account.home, USER: opts.account.name, LOGNAME: opts.account.name });
  const maxOutput = opts.maxOutput ?? DEFAULT_MAX_OUTPUT;
  const graceMs = opts.graceMs ?? KILL_GRACE_MS;

  const sub = execa(file, args, {
    detached: true,
    reject: false,
    stdin: 'ignore',
    all: true,
    maxBuffer: maxOutput,
    env,
    extendEnv: true,
    ...(opts.account ? { uid: opts.account.uid, gid: opts.account.gid } : {}),
  });
  const pid = sub.pid;
  let killedFor: string | undefined;
  let grace: NodeJS.Timeout | undefined;
  const onAbort = () => {
    if (pid === undefined || killedFor) return;
    killedFor = abortText(signal);
    killGroup(pid, 'SIGTERM');
    grace = setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs);
    grace.unref();
  };
  signal.addEventListener('abort', onAbort, { once: true });
  const closeOutput = () => {
    sub.stdout?.destroy();
    sub.stderr?.destroy();
  };
  sub.once('exit', () => {
    if (pid !== undefined && !killedFor && opts.killLeftovers) killGroup(pid, 'SIGKILL');
    setTimeout(closeOutput, OUTPUT_LINGER_MS).unref();
  });
  const r = await sub;
  signal.removeEventListener('abort', onAbort);
  if (killedFor && pid !== undefined) {
    killGroup(pid, 'SIGKILL');
    if (grace) clearTimeout(grace);
    return { ok: false, detail: `${label}: killed with its process group (${killedFor})`, killedFor };
  }
  const out = lastLine(typeof r.all === 'string' ? r.all : undefined);
  const tail = out ? `: ${out}` : '';
  if (r.exitCode === 0) return { ok: true, detail: `${label} exit 0${tail}`, exitCode: 0 };
  if (r.exitCode !== undefined) return { ok: false, detail: `${label} exit ${r.exitCode}${tail}`, exitCode: r.exitCode };
  if (r.signal) return { ok: false, detail: `${label} killed by ${r.signal}${tail}` };
  const code = (r as { code?: string }).code;
  if (code === 'ENOENT') return { ok: false, detail: `${file}: command not found` };
  if (code === 'EACCES') return { ok: false, detail: `${file}: permission denied (not executable?)` };
  if (r.isMaxBuffer) return { ok: false, detail: `${label}: more than ${maxOutput} bytes of output` };
  return { ok: false, detail: `${label}: ${lastLine(r.shortMessage) || 'failed to run'}` };
}
