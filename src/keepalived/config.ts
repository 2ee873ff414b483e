/** Loading the `keepalived:` section for scripts mode (shared by `ipwarden notify` and `ipwarden keepalived-fifo`). */
import { createWriteStream } from 'node:fs';
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

/** The config's logger, writing to `logFile` (appended) or to `fallback`. */
export function scriptsModeLogger(resolved: ResolvedConfig, base: Record<string, unknown>, logFile: string | undefined, fallback: NodeJS.WritableStream): { log: Logger; done: () => Promise<void> } {
  const stream = logFile ? createWriteStream(logFile, { flags: 'a' }) : undefined;
  const log = createLogger({ level: resolved.log.level, format: resolved.log.format, base, destination: stream ?? fallback });
  const done = () =>
    new Promise<void>((resolve) => {
      if (!stream) return resolve();
      stream.end(() => resolve());
    });
  return { log, done };
}
