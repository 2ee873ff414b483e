/**
 * `ipwarden notify`: keepalived scripts mode, one state change.
 *
 *   notify "/usr/bin/ipwarden notify"                                   (keepalived appends INSTANCE VI_1 MASTER 100)
 *   notify_master "/usr/bin/ipwarden notify --instance VI_1 --state MASTER"
 *   notify_master_rx_lower_pri "/usr/bin/ipwarden notify --instance VI_1 --state MASTER_RX_LOWER_PRI"
 *
 * Runs the actions of `keepalived.instances.<name>` (see src/keepalived/scripts-mode.ts for the
 * ordering rules). With --detach, the invocation hands the run (with its own start time as the
 * ordering stamp) to a worker process in a session of its own and exits 0 at once.
 */
import { spawn } from 'node:child_process';
import { isAbsolute, resolve } from 'node:path';
import { CliError, EXIT, UsageError, type Command, type CommandContext } from '../command.js';
import { requireDuration } from '../../util/duration.js';
import { isNotifyState, NOTIFY_STATES, parseNotifyArgs } from '../../keepalived/protocol.js';
import type { NotifyInvocation } from '../../keepalived/scripts-mode.js';
import { RX_LOWER_PRI, type KeepalivedEvent } from '../../keepalived/transition.js';
import { DEFAULT_STATE_DIR, StateStore } from '../../keepalived/state.js';
import { describeStamp, isStamp, ownStamp, type InvocationStamp } from '../../keepalived/stamp.js';
import { LockError } from '../../keepalived/lock.js';

/** Set by a --detach parent for its worker: the parent's stamp (the keepalived invocation's). */
export const WORKER_STAMP_ENV = 'IPWARDEN_NOTIFY_WORKER_STAMP';
export const DEFAULT_WAIT = '5m';

export const notifyCommand: Command = {
  name: 'notify',
  summary: 'keepalived scripts mode: run the actions of a keepalived instance for its new state',
  usage: 'INSTANCE|GROUP NAME STATE PRIORITY | --instance NAME --state STATE [--priority N] [--config FILE] [--detach] [--log-file FILE]',
  positionals: true,
  details: `Use it as keepalived's notify script; it runs the actions configured under
keepalived.instances.NAME. Two forms:
  notify "/usr/bin/ipwarden notify"           keepalived appends INSTANCE NAME STATE PRIORITY
  notify_master "/usr/bin/ipwarden notify --instance VI_1 --state MASTER"
STATE is MASTER, BACKUP, FAULT, STOP or DELETED (DELETED runs the STOP actions).

Every MASTER runs the MASTER actions (notify_master, the Elastic IP attach), also when the last
state ipwarden applied was MASTER: keepalived restarted or crashed and came back as MASTER.
keepalived runs notify_master_rx_lower_pri (a master heard a lower-priority master) without
arguments, so that script line says it with the flag form:
  notify_master_rx_lower_pri "/usr/bin/ipwarden notify --instance VI_1 --state MASTER_RX_LOWER_PRI"
It re-claims: the actions run from MASTER to MASTER (the notify action runs notifyMasterRxLowerPri,
exoscale-eip attaches the address again); if the MASTER actions have not succeeded since the
last other state, it runs them in full instead.

keepalived starts notify scripts without waiting, so two of them can overlap and run in either
order. Invocations for one instance are serialized with a lock in --state-dir, and an invocation
that finds a newer one (by process start time, i.e. when keepalived started it) exits without
acting or aborts its running actions: the last state keepalived reported wins. Closer together
than 10 ms the order is a guess; keepalived's notify FIFO (ipwarden keepalived-fifo) is the
reliable path.

keepalived 2.2 kills its scripts when it exits (SIGTERM), and gives notify_stop scripts 1 s.
Actions that take longer (cloud API calls with retries) should run with --detach: before loading
anything, the run moves to a worker process in a session of its own, which keepalived does not
kill; the worker keeps the invocation's start time for the ordering, finishes its run even on
SIGTERM, and logs to --log-file (keepalived gives scripts /dev/null for output). Config errors
are then only in the log.

Exit status: 0 done (or nothing to do: a newer invocation exists), 1 an action failed,
2 bad usage, 3 config problem (e.g. no keepalived.instances.NAME).`,
  flags: {
    config: { type: 'string', short: 'c', arg: 'FILE', description: 'rc file with a keepalived: section' },
    instance: { type: 'string', arg: 'NAME', description: 'keepalived instance (or sync group) name, for notify_master-style lines' },
    state: { type: 'string', arg: 'STATE', description: `MASTER, BACKUP, FAULT, STOP, DELETED or ${RX_LOWER_PRI}, with --instance` },
    priority: { type: 'string', arg: 'N', description: 'priority to report to the actions, with --instance', default: '0' },
    detach: { type: 'boolean', description: 'hand the run to a worker in its own session and exit at once' },
    'log-file': { type: 'string', arg: 'FILE', description: 'append log lines to FILE instead of standard output' },
    'state-dir': { type: 'string', arg: 'DIR', description: 'where invocations are recorded and locked', default: DEFAULT_STATE_DIR },
    wait: { type: 'string', arg: 'DURATION', description: 'longest wait for an earlier run of the same instance', default: DEFAULT_WAIT },
  },
  run: runNotifyCommand,
};

interface NotifyRequest {
  instance: string;
  state: KeepalivedEvent;
  priority: number;
}

/** The request from either form of the command line. */
export function parseNotifyRequest(values: CommandContext['values'], positionals: readonly string[]): NotifyRequest {
  const flagForm = values.instance !== undefined || values.state !== undefined;
  if (positionals.length > 0) {
    if (flagForm) throw new UsageError('give either INSTANCE NAME STATE PRIORITY (keepalived notify) or --instance/--state, not both');
    const r = parseNotifyArgs(positionals);
    if (!r.ok) throw new UsageError(r.problem);
    return { instance: r.message.name, state: r.message.state, priority: r.message.priority };
  }
  if (values.instance === undefined) throw new UsageError('expected INSTANCE NAME STATE PRIORITY (as keepalived passes to notify) or --instance NAME --state STATE');
  if (values.state === undefined) throw new UsageError('--state is required with --instance');
  const instance = String(values.instance);
  if (instance === '') throw new UsageError('--instance: expected a name, got ""');
  const state = String(values.state).toUpperCase();
  if (!isNotifyState(state) && state !== RX_LOWER_PRI) throw new UsageError(`--state: expected ${[...NOTIFY_STATES, RX_LOWER_PRI].join(', ')}, got ${JSON.stringify(values.state)}`);
  const prio = String(values.priority ?? '0');
  if (!/^\d{1,3}$/.test(prio) || Number(prio) > 255) throw new UsageError(`--priority: expected 0..255, got ${JSON.stringify(prio)}`);
  return { instance, state, priority: Number(prio) };
}

function workerStamp(env: NodeJS.ProcessEnv): InvocationStamp | undefined {
  const text = env[WORKER_STAMP_ENV];
  if (!text) return undefined;
  try {
    const s: unknown = JSON.parse(text);
    return isStamp(s) ? s : undefined;
  } catch {
    return undefined;
  }
}

async function runNotifyCommand(ctx: CommandContext): Promise<number> {
  // First: when this process was started is what orders it against other invocations.
  const inherited = workerStamp(ctx.env);
  const stamp = inherited ?? ownStamp();
  const isWorker = inherited !== undefined;

  const req = parseNotifyRequest(ctx.values, ctx.positionals);
  let waitMs: number;
  try {
    waitMs = requireDuration(String(ctx.values.wait ?? DEFAULT_WAIT), '--wait');
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const absolute = (p: string) => (isAbsolute(p) ? p : resolve(p));
  const logFile = ctx.values['log-file'] === undefined ? undefined : absolute(String(ctx.values['log-file']));
  const stateDir = absolute(String(ctx.values['state-dir'] ?? DEFAULT_STATE_DIR));
  const configFile = ctx.values.config === undefined ? undefined : absolute(String(ctx.values.config));

  if (ctx.values.detach && !isWorker) {
    // Leave keepalived's reach before anything slow (loading the config and plugins): keepalived
    // gives notify_stop scripts 1 s and kills scripts when it exits. The worker does everything else.
    startWorker(req, { config: configFile, stateDir, logFile, wait: String(ctx.values.wait ?? DEFAULT_WAIT) }, ctx.env, stamp);
    return EXIT.OK;
  }

  // Loaded here, not at the top: --detach above stays as fast as the CLI's start-up allows.
  const { earlyLogger, findKeepalivedInstance, loadScriptsModeConfig, scriptsModeLogger, ScriptsModeConfigError } = await import('../../keepalived/config.js');
  const { runNotifyInvocation } = await import('../../keepalived/scripts-mode.js');
  let resolved;
  let inst;
  let log;
  try {
    resolved = await loadScriptsModeConfig({ ...(configFile !== undefined ? { file: configFile } : {}), env: ctx.env });
    inst = findKeepalivedInstance(resolved, req.instance);
    const base = { node: resolved.node.id, instance: inst.name, pid: process.pid, ...(isWorker ? { worker: true } : {}) };
    log = scriptsModeLogger(resolved, base, logFile, ctx.stdout);
  } catch (err) {
    if (!(err instanceof ScriptsModeConfigError)) throw err;
    // A detached worker's output goes nowhere: the log file is where its operator looks.
    if (isWorker) earlyLogger(logFile, { instance: req.instance, pid: process.pid, worker: true })?.error({ event: 'config-error' }, err.message);
    throw new CliError(err.message, EXIT.CONFIG);
  }
  if (isWorker) log.info({ event: 'worker', invocation: describeStamp(stamp) }, `detached worker for the ${req.state} invocation (${describeStamp(stamp)})`);
  const store = new StateStore(stateDir);
  const inv: NotifyInvocation = { instance: inst.name, state: req.state, priority: req.priority, stamp };

  const controller = new AbortController();
  const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];
  const onSignal = (sig: NodeJS.Signals) => {
    if (isWorker) {
      log.warn({ event: 'signal', signal: sig }, `${sig}: detached worker finishes its run first (bounded by the action timeouts)`);
      return;
    }
    controller.abort(new Error(sig));
  };
  for (const s of signals) process.on(s, onSignal);
  try {
    store.prepare();
    const result = await runNotifyInvocation(inst, inv, { store, node: { id: resolved.node.id }, log, lockTimeoutMs: waitMs, signal: controller.signal });
    if (result.status === 'applied') return result.ok ? EXIT.OK : EXIT.FAILURE;
    if (result.status === 'aborted') return EXIT.FAILURE;
    return EXIT.OK;
  } catch (err) {
    if (err instanceof LockError) {
      log.error({ event: 'lock-failed', err: err.message }, err.message);
      throw new CliError(err.message, EXIT.FAILURE);
    }
    throw err;
  } finally {
    for (const s of signals) process.off(s, onSignal);
  }
}

/** Starts this program again as a detached worker (own session, not killed with keepalived's script group). */
function startWorker(req: NotifyRequest, opts: { config: string | undefined; stateDir: string; logFile: string | undefined; wait: string }, env: NodeJS.ProcessEnv, stamp: InvocationStamp): number {
  const script = process.argv[1];
  if (!script) throw new CliError('--detach: cannot tell how this program was started (no script path in argv)');
  const args = [
    ...process.execArgv,
    script,
    'notify',
    '--instance', req.instance,
    '--state', req.state,
    '--priority', String(req.priority),
    ...(opts.config !== undefined ? ['--config', opts.config] : []),
    '--state-dir', opts.stateDir,
    '--wait', opts.wait,
    ...(opts.logFile ? ['--log-file', opts.logFile] : []),
  ];
  const child = spawn(process.execPath, args, {
    detached: true,
    stdio: opts.logFile ? 'ignore' : ['ignore', 'inherit', 'inherit'],
    env: { ...env, [WORKER_STAMP_ENV]: JSON.stringify(stamp) },
  });
  child.on('error', () => undefined);
  child.unref();
  if (child.pid === undefined) throw new CliError('--detach: could not start the worker process');
  return child.pid;
}
