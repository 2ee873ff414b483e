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
import { z } from 'zod';
import { defineCheck, type CheckContext, type CheckResult } from '../../src/index.js';
import { zodConfig, ArgvError, splitCommand, scriptFindings, lookupUser, runInProcessGroup, type Account } from '../../src/kit.js';


const MAX_OUTPUT = 1024 * 1024;

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

const parseRaw = zodConfig(execSchema);

export default defineCheck<ExecConfig>({
  kind: 'check',
  name: 'exec',
  description: 'A command exits 0 (keepalived vrrp_script semantics)',
  flags: [
    { name: 'command', key: 'command', arg: 'COMMAND', description: 'command line (keepalived-style quoting, no shell)' },
    { name: 'user', key: 'user', arg: 'USER', description: 'run as this user (needs root)' },
  ],
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
  doctor: ({ config }) => scriptFindings(config.argv[0]!),
  async run(ctx: CheckContext<ExecConfig>): Promise<CheckResult> {
    const { config, signal } = ctx;
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
    }
    const r = await runInProcessGroup(config.argv, {
      signal,
      env,
      killLeftovers: true,
      maxOutput: MAX_OUTPUT,
      ...(account ? { account } : {}),
    });
    return r.exitCode !== undefined ? { ok: r.ok, detail: r.detail, metrics: { exitCode: r.exitCode } } : { ok: r.ok, detail: r.detail };
  },
});
