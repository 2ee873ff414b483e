/**
 * `exec` check: runs a command, keepalived vrrp_script style. Exit 0 passes; any other exit, a
 * signal, or the run's timeout fails.
 *
 *   command  the command line, split into argv like keepalived does (no shell; see src/util/argv.ts)
 *   user     run as this user (name or uid; its primary group); needs ipwarden to run as root
 *   env      extra environment variables
 *
 * The command runs in its own process group. On timeout (or when ipwarden stops) the whole group
 * gets SIGTERM, then SIGKILL 500 ms later: grandchildren die too. Processes the command leaves
 * behind in its group when it exits are killed as well (a check must not leave processes running).
 *
 * Environment: ipwarden's own, plus `env`, plus IPWARDEN_CHECK (the check's name) and
 * IPWARDEN_INSTANCE (its instance, when it belongs to one); with `user`, also HOME, USER and
 * LOGNAME of that user. Standard input is /dev/null. The last line of the output (stdout and
 * stderr) goes into the detail.
 */
import { basename } from 'node:path';
import { execa } from 'execa';
import { z } from 'zod';
import { defineCheck, type CheckContext, type CheckResult } from '../../src/plugins/api.js';
import { zodConfig } from '../../src/plugins/zod-config.js';
import { abortReason } from '../tcp/socket-errors.js';
import { ArgvError, splitCommand } from '../../src/util/argv.js';
import { scriptFindings } from '../../src/util/script-safety.js';
import { KILL_GRACE_MS, killGroup, lookupUser, type Account } from '../../src/util/process-group.js';

export { KILL_GRACE_MS, killGroup, lookupUser };

const MAX_OUTPUT = 1024 * 1024;
/** How long output is still read after the command exited. */
const OUTPUT_LINGER_MS = 200;

export const execSchema = z
  .object({
    command: z.string().min(1),
    user: z.union([z.string().min(1), z.number().int().min(0)]).optional(),
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'not a valid environment variable name'), z.string()).default({}),
  })
  .strict();

export interface ExecConfig {
  command: string;
  argv: string[];
  user?: string | number;
  env: Record<string, string>;
}

function lastLine(text: string | undefined): string {
  const lines = (text ?? '').split('\n').map((l) => l.trim()).filter(Boolean);
  const line = lines[lines.length - 1] ?? '';
  return line.length > 200 ? `${line.slice(0, 199)}…` : line;
}

const parseRaw = zodConfig(execSchema);

export default defineCheck<ExecConfig>({
  kind: 'check',
  name: 'exec',
  description: 'A command exits 0 (keepalived vrrp_script semantics)',
  parseConfig(raw) {
    const r = parseRaw(raw);
    if (!r.ok) return r;
    let argv: string[];
    try {
      argv = splitCommand(r.config.command);
    } catch (err) {
      if (err instanceof ArgvError) return { ok: false, issues: [{ path: ['command'], message: err.message }] };
      throw err;
    }
    const config: ExecConfig = { command: r.config.command, argv, env: r.config.env };
    if (r.config.user !== undefined) config.user = r.config.user;
    return { ok: true, config };
  },
  doctor: (config) => scriptFindings(config.argv[0]!),
  async run(ctx: CheckContext<ExecConfig>): Promise<CheckResult> {
    const { config, signal } = ctx;
    const [file, ...args] = config.argv as [string, ...string[]];
    const label = basename(file);
    const env: Record<string, string> = { ...config.env };
    if (ctx.name) env.IPWARDEN_CHECK = ctx.name;
    if (ctx.instance) env.IPWARDEN_INSTANCE = ctx.instance;

    let account: Account | undefined;
    if (config.user !== undefined) {
      if (process.getuid?.() !== 0) return { ok: false, detail: `cannot run as user ${config.user}: ipwarden is not running as root` };
      try {
        account = await lookupUser(config.user);
      } catch (err) {
        return { ok: false, detail: `cannot run as user ${config.user}: ${(err as Error).message}` };
      }
      Object.assign(env, { HOME: account.home, USER: account.name, LOGNAME: account.name });
    }
    if (signal.aborted) return { ok: false, detail: `${label}: not started (${abortReason(signal)})` };

    const sub = execa(file, args, {
      detached: true,
      reject: false,
      stdin: 'ignore',
      all: true,
      maxBuffer: MAX_OUTPUT,
      env,
      extendEnv: true,
      ...(account ? { uid: account.uid, gid: account.gid } : {}),
    });
    const pid = sub.pid;
    let killedFor: string | undefined;
    let grace: NodeJS.Timeout | undefined;
    const onAbort = () => {
      if (pid === undefined || killedFor) return;
      killedFor = abortReason(signal);
      killGroup(pid, 'SIGTERM');
      grace = setTimeout(() => killGroup(pid, 'SIGKILL'), KILL_GRACE_MS);
      grace.unref();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    // Whatever the command left behind in its group dies with it; output still held open by a
    // process outside the group (one that called setsid) is not waited for.
    const closeOutput = () => {
      sub.stdout?.destroy();
      sub.stderr?.destroy();
    };
    sub.once('exit', () => {
      if (pid !== undefined && !killedFor) killGroup(pid, 'SIGKILL');
      setTimeout(closeOutput, OUTPUT_LINGER_MS).unref();
    });
    const r = await sub;
    signal.removeEventListener('abort', onAbort);
    if (killedFor && pid !== undefined) {
      // The leader is gone; make sure the rest of the group is too.
      killGroup(pid, 'SIGKILL');
      if (grace) clearTimeout(grace);
      return { ok: false, detail: `${label}: killed with its process group (${killedFor})` };
    }
    const out = lastLine(typeof r.all === 'string' ? r.all : undefined);
    const tail = out ? `: ${out}` : '';
    if (r.exitCode === 0) return { ok: true, detail: `${label} exit 0${tail}`, metrics: { exitCode: 0 } };
    if (r.exitCode !== undefined) return { ok: false, detail: `${label} exit ${r.exitCode}${tail}`, metrics: { exitCode: r.exitCode } };
    if (r.signal) return { ok: false, detail: `${label} killed by ${r.signal}${tail}` };
    const code = (r as { code?: string }).code;
    if (code === 'ENOENT') return { ok: false, detail: `${file}: command not found` };
    if (code === 'EACCES') return { ok: false, detail: `${file}: permission denied (not executable?)` };
    if (r.isMaxBuffer) return { ok: false, detail: `${label}: more than ${MAX_OUTPUT} bytes of output` };
    return { ok: false, detail: `${label}: ${lastLine(r.shortMessage) || 'failed to run'}` };
  },
});
