/** Loading the `keepalived:` section for scripts mode (shared by `ipwarden notify` and `ipwarden keepalived-fifo`). */
import { openSync, writeSync } from 'node:fs';
import { loadRuntime } from '../cli/runtime.js';
import type { ResolvedConfig, ResolvedKeepalivedInstance } from '../config/resolve.js';
import { ConfigError, didYouMean } from '../config/issues.js';
import { PluginError } from '../plugins/loader.js';
import { SecretError } from '../config/secret.js';
import { createLogger, type Logger } from '../log.js';

export class ScriptsModeConfigError extends Error {
  override name = 'ScriptsModeConfigError';
}

/** Loads and resolves the rc file; every config problem becomes one ScriptsModeConfigError. */
export async function loadScriptsModeConfig(opts: { file?: string; env: NodeJS.ProcessEnv }): Promise<ResolvedConfig> {
  try {
    const { resolved } = await loadRuntime({ ...(opts.file !== undefined ? { file: opts.file } : {}), env: opts.env });
    if (resolved.keepalived.instances.length === 0) throw new ScriptsModeConfigError(`${resolved.file}: no keepalived.instances section: nothing for scripts mode to run`);
    return resolved;
  } catch (err) {
    if (err instanceof ConfigError || err instanceof PluginError || err instanceof SecretError) throw new ScriptsModeConfigError(err.message);
    throw err;
  }
}

/** The instance named `name`, or an error listing the configured ones (with a did-you-mean). */
export function findKeepalivedInstance(resolved: ResolvedConfig, name: string): ResolvedKeepalivedInstance {
  const inst = resolved.keepalived.instances.find((i) => i.name === name);
  if (inst) return inst;
  const names = resolved.keepalived.instances.map((i) => i.name);
  const hint = didYouMean(name, names);
  throw new ScriptsModeConfigError(
    `no keepalived.instances.${name} in ${resolved.file}${hint ? ` (did you mean "${hint}"?)` : ''}; configured: ${names.join(', ')}`,
  );
}

/** A destination appending each line to `logFile` with one synchronous write (O_APPEND). */
function fileDestination(logFile: string): NodeJS.WritableStream {
  let fd: number;
  try {
    fd = openSync(logFile, 'a', 0o640);
  } catch (err) {
    throw new ScriptsModeConfigError(`--log-file ${logFile}: ${(err as Error).message}`);
  }
  return { write: (line: string) => (writeSync(fd, line), true) } as unknown as NodeJS.WritableStream;
}

/**
 * The config's logger, appending to `logFile` or writing to `fallback`. File lines are written
 * synchronously (O_APPEND): nothing is lost when the process exits right after, lines of
 * concurrent invocations do not interleave, and late lines (an aborted script reporting its
 * end) are still written after the command returned.
 */
export function scriptsModeLogger(resolved: ResolvedConfig, base: Record<string, unknown>, logFile: string | undefined, fallback: NodeJS.WritableStream): Logger {
  const destination = logFile ? fileDestination(logFile) : fallback;
  return createLogger({ level: resolved.log.level, format: resolved.log.format, base, destination });
}

/** For problems before the config is known (a detached worker's config error): JSON lines to `logFile`, or undefined. */
export function earlyLogger(logFile: string | undefined, base: Record<string, unknown>): Logger | undefined {
  if (!logFile) return undefined;
  try {
    return createLogger({ level: 'info', format: 'json', base, destination: fileDestination(logFile) });
  } catch {
    return undefined;
  }
}
