/** Parses a raw plugin config (throwing on issues) and runs the check once with a timeout. */
import type { CheckPlugin, CheckResult, PluginEnvironment } from '../../../src/plugins/api.js';
import { silentLogger } from '../../../src/log.js';
import { resolveSecret } from '../../../src/config/secret.js';

export const testEnv = (baseDir = process.cwd()): PluginEnvironment => ({
  baseDir,
  resolveSecret: (ref, where) => resolveSecret(ref, where, { baseDir }),
});

export function parse<C>(plugin: CheckPlugin<C>, raw: Record<string, unknown>, baseDir?: string): C {
  const r = plugin.parseConfig(raw, testEnv(baseDir));
  if (!r.ok) throw new Error(`config: ${r.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return r.config;
}

export function parseIssues<C>(plugin: CheckPlugin<C>, raw: Record<string, unknown>): string[] {
  const r = plugin.parseConfig(raw, testEnv());
  return r.ok ? [] : r.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

export async function runCheck<C>(
  plugin: CheckPlugin<C>,
  raw: Record<string, unknown>,
  opts: { timeoutMs?: number; signal?: AbortSignal; baseDir?: string } = {},
): Promise<CheckResult> {
  const config = parse(plugin, raw, opts.baseDir);
  const signal = opts.signal ?? AbortSignal.timeout(opts.timeoutMs ?? 3000);
  return plugin.run({ config, signal, log: silentLogger });
}
