/**
 * `ipwarden check`: runs checks once and prints the results.
 *
 *   ipwarden check [NAME|INSTANCE/NAME...] [--config FILE] [--json]   the configured checks
 *   ipwarden check PLUGIN --FLAG VALUE... [--plugin MODULE]...        ad hoc, no config needed
 *   ipwarden check PLUGIN --help                                      that plugin's flags
 *
 * An ad hoc check takes the flags its plugin declares (CheckPlugin.flags): the built-ins' and a
 * third-party plugin's alike, the latter loaded with --plugin MODULE or the `plugins:` of --config.
 * Exit 0 when every check passes, 1 otherwise: the ad hoc form works as a keepalived
 * `vrrp_script` command.
 */
import type { CheckPlugin, PluginEnvironment } from '../../plugins/api.js';
import { CheckRunner, scheduleCheck, toScheduledCheck, type CheckSnapshot, type ScheduledCheck } from '../../plugins/check-runner.js';
import { builtinPluginNames, loadPlugins, PluginError } from '../../plugins/loader.js';
import { loadRuntime } from '../runtime.js';
import { loadConfig } from '../../config/load.js';
import { resolveSecret } from '../../config/secret.js';
import { ConfigError, didYouMean } from '../../config/issues.js';
import { formatDuration, requireDuration } from '../../util/duration.js';
import { CliError, EXIT, UsageError, type Command, type CommandContext, type CommandIO } from '../command.js';
import { formatHelp } from '../help.js';
import { flagList, issuesAsFlags, parseAdHocArgs, pluginFlagLines, scanArgs, unknownFlag, whyNotFlags } from '../check-flags.js';

export const DEFAULT_AD_HOC_TIMEOUT = '2s';

export const checkCommand: Command = {
  name: 'check',
  summary: 'run health checks once: the configured ones, or one given on the command line',
  usage: '[NAME|INSTANCE/NAME...] [--config FILE] [--json] | PLUGIN --FLAG VALUE... [--plugin MODULE]',
  positionals: true,
  rawArgs: true,
  ownHelp: true,
  details: `Without a plugin name, runs the checks of the config (all, or those named; a name may be
INSTANCE/NAME) once, in parallel, each with its configured timeout, and prints a table: name,
plugin, result, latency, detail. Results are after \`reverse\`; rise/fall do not apply to one run.

With a check plugin name and its flags, runs that one check without any config, e.g.
  ipwarden check haproxy --socket /run/haproxy/admin.sock --backend web --min-up 2
  ipwarden check http --url http://127.0.0.1:8080/health --expect 200-299 --body-match ok
  ipwarden check tcp --host 127.0.0.1 --port 5432
  ipwarden check exec --command "/usr/local/bin/check-app --fast"
  ipwarden check file --path /run/ipwarden/maintenance
  ipwarden check my-check --plugin /etc/ipwarden/plugins/my-check.mjs --its-flag VALUE
Each plugin declares its flags (\`ipwarden check PLUGIN --help\` lists them); a third-party plugin is
loaded with --plugin MODULE (a path or a package name) or from the \`plugins:\` of --config FILE.
Exit status 0 when every check passed, 1 when one failed (so the ad hoc form can be a keepalived
vrrp_script: script "/usr/bin/ipwarden check haproxy --backend web --quiet"), 2 for bad usage,
3 for an invalid config.`,
  flags: {
    config: { type: 'string', short: 'c', arg: 'FILE', description: 'rc file (configured checks; ad hoc: its plugins: are loaded)' },
    json: { type: 'boolean', description: 'print JSON instead of the table' },
    quiet: { type: 'boolean', short: 'q', description: 'print nothing; the exit status says it all' },
    timeout: { type: 'string', arg: 'DURATION', description: 'ad hoc: time limit of the check', default: DEFAULT_AD_HOC_TIMEOUT },
    plugin: { type: 'string', multiple: true, arg: 'MODULE', description: 'ad hoc: load a third-party plugin module (repeatable; path or package name)' },
  },
  run: runCheckCommand,
};

const OWN = checkCommand.flags;

async function runCheckCommand(ctx: CommandContext): Promise<number> {
  const args = scanArgs(ctx.positionals, OWN);
  if (args.values.help) {
    ctx.stdout.write(await checkHelp(ctx, args.positionals[0], args.values));
    return EXIT.OK;
  }
  const adHoc = args.foreign.length > 0 || args.values.plugin !== undefined;
  const values: Values = { ...args.values, timeout: args.values.timeout ?? DEFAULT_AD_HOC_TIMEOUT };
  const checks = adHoc ? [await adHocCheck(ctx, args)] : await configuredChecks({ ...ctx, values, positionals: args.positionals });
  const runner = new CheckRunner(checks);
  let results: CheckSnapshot[];
  try {
    results = await runner.runOnce();
  } finally {
    await runner.stop();
  }
  if (!values.quiet) ctx.stdout.write(values.json ? `${JSON.stringify(results.map(jsonRow), null, 2)}\n` : formatResults(results, !adHoc));
  return results.every((r) => r.lastResult?.ok) ? EXIT.OK : EXIT.FAILURE;
}

// ------------------------------------------------------------------ ad hoc

type Values = ReturnType<typeof scanArgs>['values'];

/** The check plugins an ad hoc run can use: `name` (when it is a built-in), --plugin modules and --config's plugins:. */
async function adHocPlugins(ctx: CommandIO, values: Values, name?: string): Promise<Map<string, CheckPlugin<any>>> {
  const specs = (values.plugin as string[] | undefined) ?? [];
  const only = name !== undefined && builtinPluginNames().includes(name) ? new Set([name]) : name === undefined ? undefined : new Set<string>();
  try {
    const checks = new Map((await loadPlugins(specs, process.cwd(), only)).checks);
    if (values.config !== undefined) {
      const loaded = await loadConfig({ file: String(values.config), env: ctx.env });
      for (const [n, p] of (await loadPlugins(loaded.config.plugins, loaded.baseDir, new Set())).checks) checks.set(n, p);
    }
    return checks;
  } catch (err) {
    if (err instanceof ConfigError || err instanceof PluginError) throw new CliError(err.message, EXIT.CONFIG);
    throw err;
  }
}

/** The named check plugin, its flag declarations checked; a usage error naming the known ones otherwise. */
async function findCheckPlugin(ctx: CommandIO, values: Values, name: string): Promise<CheckPlugin<unknown>> {
  const plugin = (await adHocPlugins(ctx, values, name)).get(name);
  if (!plugin) {
    const names = [...(await adHocPlugins(ctx, values)).keys()].sort();
    const hint = didYouMean(name, names);
    throw new UsageError(`no check plugin "${name}"${hint ? ` (did you mean "${hint}"?)` : ''}; check plugins: ${names.join(', ')} (a third-party one: --plugin MODULE)`);
  }
  const why = whyNotFlags(plugin, OWN);
  if (why) throw new CliError(`check plugin ${name}: its flags cannot be used: ${why}`, EXIT.CONFIG);
  return plugin;
}

async function adHocCheck(ctx: CommandContext, args: ReturnType<typeof scanArgs>): Promise<ScheduledCheck> {
  const name = args.positionals[0];
  // a typo of one of the command's own flags ("--jsn") is that, not a plugin flag
  const typo = args.foreign.find((f) => didYouMean(f.replace(/^-+/, ''), Object.keys(OWN)) !== undefined);
  if (name === undefined) {
    if (typo) throw unknownFlag(typo, Object.keys(OWN), '');
    const flags = args.foreign.length ? args.foreign : ['--plugin'];
    throw new UsageError(`${flags.join(', ')} need${flags.length > 1 ? '' : 's'} a check plugin first: ipwarden check PLUGIN --FLAG VALUE (ipwarden check --help lists the plugins)`);
  }
  let plugin: CheckPlugin<unknown>;
  try {
    plugin = await findCheckPlugin(ctx, args.values, name);
  } catch (err) {
    if (err instanceof UsageError && typo && args.values.plugin === undefined) throw unknownFlag(typo, Object.keys(OWN), '');
    throw err;
  }
  const { values, raw } = parseAdHocArgs(ctx.positionals, OWN, plugin);
  const env: PluginEnvironment = {
    baseDir: process.cwd(),
    resolveSecret: (ref, where) => resolveSecret(ref, where, { baseDir: process.cwd(), env: ctx.env }),
  };
  let parsed;
  try {
    parsed = plugin.parseConfig(raw, env);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (!parsed.ok) throw new UsageError(issuesAsFlags(plugin, parsed.issues).join('; '));
  const timeoutMs = requireDurationFlag(String(values.timeout ?? DEFAULT_AD_HOC_TIMEOUT), '--timeout');
  return scheduleCheck(plugin, parsed.config, { intervalMs: timeoutMs, timeoutMs, rise: 1, fall: 1, initialState: 'ok' });
}

function requireDurationFlag(text: string, flag: string): number {
  try {
    return requireDuration(text, flag);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

// ------------------------------------------------------------------ help

/** `ipwarden check --help` (every check plugin's flags) or `ipwarden check PLUGIN --help` (that one's). */
async function checkHelp(ctx: CommandIO, name: string | undefined, values: Values): Promise<string> {
  const checks = await adHocPlugins(ctx, values);
  const plugin = name === undefined ? undefined : checks.get(name);
  if (plugin) {
    const lines = [
      `Usage: ipwarden check ${plugin.name} --FLAG VALUE... [--timeout DURATION] [--json] [--quiet]`,
      '',
      plugin.description ?? `the ${plugin.name} check`,
      '',
      `Flags of the ${plugin.name} check:`,
      ...pluginFlagLines(plugin),
      '',
      'See ipwarden check --help for the flags of the command itself.',
    ];
    return `${lines.join('\n')}\n`;
  }
  const sections = [...checks.values()]
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((p) => [`  ${p.name}: ${p.description ?? ''}`.trimEnd(), ...pluginFlagLines(p, '    ')]);
  return `${formatHelp(checkCommand)}\nCheck plugins and their flags (ipwarden check PLUGIN --FLAG VALUE):\n${sections.join('\n')}\n`;
}

// ------------------------------------------------------------------ configured

/** The configured checks (all, or those named), ready to run. */
async function configuredChecks(ctx: CommandContext): Promise<ScheduledCheck[]> {
  const file = ctx.values.config === undefined ? undefined : String(ctx.values.config);
  let all: ScheduledCheck[];
  try {
    all = await loadConfiguredChecks({ ...(file !== undefined ? { file } : {}), env: ctx.env });
  } catch (err) {
    const first = ctx.positionals[0];
    if (err instanceof CliError && file === undefined && ctx.positionals.length === 1 && first !== undefined) {
      const plugin = (await adHocPlugins(ctx, {}, first).catch(() => undefined))?.get(first);
      if (plugin?.flags?.length) throw new UsageError(`${err.message}; for an ad hoc ${first} check give its flags (${flagList(plugin)})`);
    }
    throw err;
  }
  if (all.length === 0) throw new CliError('the config has no checks', EXIT.CONFIG);
  if (ctx.positionals.length === 0) return all;
  const label = (c: ScheduledCheck) => `${c.instance}/${c.name}`;
  const picked = new Set<ScheduledCheck>();
  for (const want of ctx.positionals) {
    const hits = all.filter((c) => (want.includes('/') ? label(c) === want : c.name === want));
    if (hits.length === 0) throw new UsageError(`no check named "${want}" (configured: ${all.map(label).join(', ')})`);
    hits.forEach((h) => picked.add(h));
  }
  return all.filter((c) => picked.has(c));
}

/** Loads the config, its plugins and its check entries (every instance's), as the daemon does. */
export async function loadConfiguredChecks(opts: { file?: string; env?: NodeJS.ProcessEnv } = {}): Promise<ScheduledCheck[]> {
  try {
    const { resolved } = await loadRuntime(opts);
    return resolved.instances.flatMap((inst) => inst.checks.map((c) => toScheduledCheck(c, inst.name)));
  } catch (err) {
    if (err instanceof ConfigError || err instanceof PluginError) throw new CliError(err.message, EXIT.CONFIG);
    throw err;
  }
}

// ------------------------------------------------------------------ output

function jsonRow(s: CheckSnapshot) {
  const r = s.lastResult!;
  return {
    ...(s.instance !== undefined ? { instance: s.instance } : {}),
    name: s.name,
    plugin: s.plugin,
    ok: r.ok,
    detail: r.detail,
    latencyMs: r.latencyMs,
    at: new Date(r.at).toISOString(),
    ...(r.metrics ? { metrics: r.metrics } : {}),
    weight: s.weight,
    reverse: s.reverse,
  };
}

/** The results table: NAME PLUGIN RESULT LATENCY DETAIL (INSTANCE first for configured checks). */
export function formatResults(results: readonly CheckSnapshot[], withInstance: boolean): string {
  const head = [...(withInstance ? ['INSTANCE'] : []), 'NAME', 'PLUGIN', 'RESULT', 'LATENCY', 'DETAIL'];
  const rows = results.map((s) => [
    ...(withInstance ? [s.instance ?? '-'] : []),
    s.name,
    s.plugin,
    s.lastResult?.ok ? 'ok' : 'FAIL',
    s.lastResult ? formatDuration(s.lastResult.latencyMs) : '-',
    s.lastResult?.detail ?? '',
  ]);
  const all = [head, ...rows];
  const widths = head.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  return all.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n') + '\n';
}
