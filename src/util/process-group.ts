/**
 * The project's one subprocess runner. Every command runs the way keepalived runs scripts (it calls
 * setpgid(0, 0) in the child so a kill reaches the script's children too): no shell, stdin from
 * /dev/null, in a process group of its own, output collected (bounded), stopped by an AbortSignal
 * or a timeout (SIGTERM to the group, SIGKILL `graceMs` later). Never rejects for the command's
 * own failure: the result says what happened, so callers can name what to fix.
 *
 * Three shapes over one core: `runCommand` (the whole result: exit code, stdout, stderr; ip-alias
 * runs `ip` and `arping` with it), `runInProcessGroup` (one line of outcome; the exec check and
 * notify scripts) and `startStandby` (started ahead, given its input when needed: ip-alias's
 * `ip -batch -` on the failover path). Built on node:child_process: a daemon that runs scripts loads no extra package
 * (issue 7's module-graph budget).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { basename } from 'node:path';

/** Time between SIGTERM and SIGKILL to the process group when a run is stopped. */
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

export interface CommandOptions {
  /** Aborting kills the whole process group (SIGTERM, then SIGKILL after graceMs). */
  signal?: AbortSignal;
  /** A run longer than this is stopped like an abort (`timedOut` in the result). */
  timeoutMs?: number;
  /** Added to ipwarden's own environment. */
  env?: Record<string, string>;
  /** Run as this account (needs root); HOME, USER and LOGNAME are set to it. */
  account?: Account;
  graceMs?: number;
  /** Kill what the command leaves behind in its group when it exits (checks: yes; notify scripts: no). */
  killLeftovers?: boolean;
  /** Bytes of output (both streams together) before the command is stopped; default 1 MiB. */
  maxOutput?: number;
}

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
  /** Both streams in the order they arrived. */
  all: string;
  /** errno code when it could not be started (ENOENT: not installed, EACCES: not executable). */
  code?: string;
  /** Stopped because the AbortSignal fired; `killedFor` says why. */
  aborted?: boolean;
  killedFor?: string;
  /** Stopped because it ran past timeoutMs. */
  timedOut?: boolean;
  /** Stopped because it wrote more than maxOutput bytes. */
  outputExceeded?: boolean;
}

/** A spawned command whose outcome is `result`; `watch` arms the abort signal and the timeout. */
interface Launched {
  child: ChildProcess | undefined;
  result: Promise<CommandResult>;
  /** True once the outcome is known. */
  settled(): boolean;
  watch(signal: AbortSignal | undefined, timeoutMs: number | undefined): void;
}

/** The core of both runners: spawn in a new process group, collect output (bounded), stop on request. */
function launch(argv: readonly string[], opts: CommandOptions, stdin: 'ignore' | 'pipe'): Launched {
  const [file, ...args] = argv as [string, ...string[]];
  const env: Record<string, string | undefined> = { ...process.env, ...(opts.env ?? {}) };
  if (opts.account) Object.assign(env, { HOME: opts.account.home, USER: opts.account.name, LOGNAME: opts.account.name });
  const maxOutput = opts.maxOutput ?? DEFAULT_MAX_OUTPUT;
  const graceMs = opts.graceMs ?? KILL_GRACE_MS;
  let stdout = '';
  let stderr = '';
  let all = '';
  let stopped: 'aborted' | 'timedOut' | 'outputExceeded' | undefined;
  let killedFor: string | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  let timer: NodeJS.Timeout | undefined;
  let settled = false;
  let watched: AbortSignal | undefined;
  let resolve!: (r: CommandResult) => void;
  const result = new Promise<CommandResult>((r) => (resolve = r));
  const done = (r: Omit<CommandResult, 'stdout' | 'stderr' | 'all'>) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    clearTimeout(killTimer);
    watched?.removeEventListener('abort', onAbort);
    resolve({ ...r, stdout, stderr: stderr.trim(), all, ...(stopped ? { [stopped]: true } : {}), ...(killedFor ? { killedFor } : {}) });
  };
  let child: ChildProcess;
  try {
    child = spawn(file, args, {
      detached: true,
      stdio: [stdin, 'pipe', 'pipe'],
      env,
      ...(opts.account ? { uid: opts.account.uid, gid: opts.account.gid } : {}),
    });
  } catch (err) {
    done({ failed: true, code: (err as NodeJS.ErrnoException).code ?? 'ESPAWN' });
    return { child: undefined, result, settled: () => true, watch: () => undefined };
  }
  const pid = child.pid;
  const stop = (why: 'aborted' | 'timedOut' | 'outputExceeded', text: string) => {
    if (stopped || pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    stopped = why;
    killedFor = text;
    killGroup(pid, 'SIGTERM');
    killTimer = setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs);
    killTimer.unref();
  };
  const take = (which: 'out' | 'err') => (d: string) => {
    if (all.length >= maxOutput) return;
    const room = maxOutput - all.length;
    const part = d.length > room ? d.slice(0, room) : d;
    all += part;
    if (which === 'out') stdout += part;
    else stderr += part;
    if (d.length > room) stop('outputExceeded', `more than ${maxOutput} bytes of output`);
  };
  child.stdout!.setEncoding('utf8').on('data', take('out'));
  child.stderr!.setEncoding('utf8').on('data', take('err'));
  // a command that exited before reading its input: EPIPE is its outcome's business, not a crash
  child.stdin?.on('error', () => undefined);
  function onAbort() {
    stop('aborted', abortText(watched!));
  }
  child.on('error', (err: NodeJS.ErrnoException) => {
    // not started (ENOENT, EACCES, EPERM): no 'close' follows reliably, so settle here
    if (child.pid === undefined) done({ failed: true, ...(err.code ? { code: err.code } : {}) });
  });
  const ended = (exitCode: number | null, sig: NodeJS.Signals | null) => {
    // a stopped run: whatever is left of its group goes too
    if (stopped && pid !== undefined) killGroup(pid, 'SIGKILL');
    done({ failed: exitCode !== 0, ...(exitCode !== null ? { exitCode } : {}), ...(sig !== null ? { signal: sig } : {}) });
  };
  // 'close' comes once the output is read; a leftover holding the pipes open must not hold up
  // the result: OUTPUT_LINGER_MS after 'exit' the pipes are dropped.
  child.on('close', ended);
  child.on('exit', (exitCode, sig) => {
    if (pid !== undefined && !stopped && opts.killLeftovers) killGroup(pid, 'SIGKILL');
    setTimeout(() => {
      child.stdout?.destroy();
      child.stderr?.destroy();
      ended(exitCode, sig);
    }, OUTPUT_LINGER_MS).unref();
  });
  return {
    child,
    result,
    settled: () => settled,
    watch(signal, timeoutMs) {
      if (settled) return;
      if (signal) {
        watched = signal;
        if (signal.aborted) onAbort();
        else signal.addEventListener('abort', onAbort, { once: true });
      }
      if (timeoutMs !== undefined) timer = setTimeout(() => stop('timedOut', 'timed out'), timeoutMs);
    },
  };
}

/** Runs argv (no shell) in a new process group; resolves with the outcome, never rejects. */
export function runCommand(argv: readonly string[], opts: CommandOptions = {}): Promise<CommandResult> {
  const { signal } = opts;
  if (signal?.aborted) return Promise.resolve({ failed: true, aborted: true, killedFor: abortText(signal), stdout: '', stderr: '', all: '' });
  const l = launch(argv, opts, 'ignore');
  l.watch(signal, opts.timeoutMs);
  return l.result;
}

/**
 * A command started before it is needed, waiting for its standard input: the fork and exec (several
 * ms for a 60 MB daemon) are paid ahead, off the failover path. ip-alias keeps one `ip -batch -`
 * ready this way, so the takeover's `ip addr add` costs a pipe write instead of a process start.
 * It holds no reference on the event loop while it waits (a one-shot CLI still exits), and a daemon
 * that dies closes its stdin: the command reads end-of-file and exits by itself.
 */
export interface StandbyCommand {
  /** Its process id (also its process group's), when it started. */
  readonly pid: number | undefined;
  /** Still waiting for its input: started, not exited, not used. */
  readonly ready: boolean;
  /**
   * Writes `input`, closes the command's stdin and resolves with the outcome, like runCommand (the
   * signal and the timeout count from now). Throws when not `ready`: start the command anew instead.
   */
  run(input: string, opts?: Pick<CommandOptions, 'signal' | 'timeoutMs'>): Promise<CommandResult>;
  /** Unused: closes its stdin (it exits on end-of-file), and kills its group if it is still there after the grace time. */
  dispose(): void;
}

/** Starts argv with a pipe for stdin, to be given its input later (StandbyCommand). */
export function startStandby(argv: readonly string[], opts: Omit<CommandOptions, 'signal' | 'timeoutMs'> = {}): StandbyCommand {
  const l = launch(argv, opts, 'pipe');
  const child = l.child;
  let used = false;
  const handles = child ? [child.stdin, child.stdout, child.stderr] : [];
  const hold = (on: boolean) => {
    for (const h of handles) if (h) (on ? (h as { ref?: () => void }).ref?.() : (h as { unref?: () => void }).unref?.());
    if (on) child?.ref();
    else child?.unref();
  };
  hold(false);
  return {
    pid: child?.pid,
    get ready() {
      return !used && !l.settled() && child?.pid !== undefined && child.exitCode === null && child.signalCode === null;
    },
    run(input, runOpts = {}) {
      if (!this.ready) throw new Error(`${argv[0]}: standby command ${used ? 'already used' : 'not running'}`);
      used = true;
      hold(true);
      l.watch(runOpts.signal, runOpts.timeoutMs);
      child!.stdin!.end(input);
      return l.result;
    },
    dispose() {
      if (used) return;
      used = true;
      if (!child || l.settled()) return;
      child.stdin?.end();
      const pid = child.pid;
      const t = setTimeout(() => {
        if (pid !== undefined && child.exitCode === null && child.signalCode === null) killGroup(pid, 'SIGKILL');
      }, opts.graceMs ?? KILL_GRACE_MS);
      t.unref();
    },
  };
}

/** Looks a user up with getent (covers NSS); a bare uid unknown to it runs with gid = uid. */
export async function lookupUser(user: string | number): Promise<Account> {
  const key = String(user);
  const r = await runCommand(['getent', 'passwd', key], { timeoutMs: GETENT_TIMEOUT_MS });
  if (r.timedOut) throw new Error(`getent passwd ${key}: no answer within ${GETENT_TIMEOUT_MS / 1000} s (NSS)`);
  const fields = r.exitCode === 0 ? r.stdout.split('\n')[0]!.split(':') : [];
  if (fields.length >= 6) {
    return { name: fields[0]!, uid: Number(fields[2]), gid: Number(fields[3]), home: fields[5]! };
  }
  if (typeof user === 'number' || /^\d+$/.test(key)) return { name: key, uid: Number(key), gid: Number(key), home: '/' };
  throw new Error(`unknown user ${JSON.stringify(key)}`);
}

export interface GroupRunOptions extends Omit<CommandOptions, 'signal' | 'timeoutMs'> {
  /** Aborting kills the whole process group (SIGTERM, then SIGKILL after graceMs). */
  signal: AbortSignal;
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

function lastLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  const line = lines[lines.length - 1] ?? '';
  return line.length > 200 ? `${line.slice(0, 199)}…` : line;
}

/** runCommand, told in one line (the last line of output appended): what a check or a notify log shows. */
export async function runInProcessGroup(argv: readonly string[], opts: GroupRunOptions): Promise<GroupRunResult> {
  const file = argv[0]!;
  const label = basename(file);
  if (opts.signal.aborted) return { ok: false, detail: `${label}: not started (${abortText(opts.signal)})`, killedFor: abortText(opts.signal) };
  const r = await runCommand(argv, opts);
  if (r.aborted) return { ok: false, detail: `${label}: killed with its process group (${r.killedFor})`, killedFor: r.killedFor! };
  if (r.outputExceeded) return { ok: false, detail: `${label}: ${r.killedFor}` };
  const out = lastLine(r.all);
  const tail = out ? `: ${out}` : '';
  if (r.exitCode === 0) return { ok: true, detail: `${label} exit 0${tail}`, exitCode: 0 };
  if (r.exitCode !== undefined) return { ok: false, detail: `${label} exit ${r.exitCode}${tail}`, exitCode: r.exitCode };
  if (r.signal) return { ok: false, detail: `${label} killed by ${r.signal}${tail}` };
  if (r.code === 'ENOENT') return { ok: false, detail: `${file}: command not found` };
  if (r.code === 'EACCES') return { ok: false, detail: `${file}: permission denied (not executable?)` };
  return { ok: false, detail: `${label}: ${r.code ? `cannot start (${r.code})` : 'failed to run'}` };
}
