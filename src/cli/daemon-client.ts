/** How CLI commands reach the running daemon: its control socket, from --control or the config. */
import type { CommandContext, FlagSpec } from './command.js';
import { CliError, EXIT, UsageError } from './command.js';
import { controlRequest } from '../daemon/control.js';
import { loadConfig } from '../config/load.js';

/** The two flags every daemon-talking command takes. */
export const DAEMON_FLAGS: Record<string, FlagSpec> = {
  config: { type: 'string', short: 'c', arg: 'FILE', description: 'rc file to read node.control from' },
  control: { type: 'string', arg: 'PATH', description: 'control socket path (instead of reading the config)' },
};

export async function controlPathFrom(ctx: CommandContext): Promise<string> {
  if (ctx.values.config && ctx.values.control) throw new UsageError('--config and --control exclude each other');
  if (ctx.values.control) return String(ctx.values.control);
  const loaded = await loadConfig({ ...(ctx.values.config ? { file: String(ctx.values.config) } : {}), env: ctx.env }).catch((err: Error) => {
    throw new CliError(err.message, EXIT.CONFIG);
  });
  return loaded.config.node.control;
}

/** One request; a daemon that does not answer is exit 4, a refused request exit 1. */
export async function askDaemon(path: string, request: Record<string, unknown>, timeoutMs = 5000): Promise<unknown> {
  try {
    return await controlRequest(path, request, timeoutMs);
  } catch (err) {
    const msg = (err as Error).message;
    throw new CliError(msg, msg.startsWith(`control socket ${path}:`) ? EXIT.UNAVAILABLE : EXIT.FAILURE);
  }
}
