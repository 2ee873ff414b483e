/**
 * `ipwarden check`: runs checks once and prints the results.
 *
 *   ipwarden check [NAME|INSTANCE/NAME...] [--config FILE] [--json]   the configured checks
 *   ipwarden check haproxy --socket S --backend B [--min-up N]       ad hoc, no config needed
 *   ipwarden check http --url U | tcp --host H --port P | exec --command "..." | file --path F
 *
 * Exit 0 when every check passes, 1 otherwise: the ad hoc form works as a keepalived
 * `vrrp_script` command.
 */
import type { CheckPlugin, ConfigIssue, PluginEnvironment } from '../../plugins/api.js';
import { CheckRunner, scheduleCheck, toScheduledCheck, type CheckSnapshot, type ScheduledCheck } from '../../plugins/check-runner.js';
import { PluginError } from '../../plugins/loader.js';
import { loadRuntime } from '../runtime.js';
import { resolveSecret } from '../../config/secret.js';
import { ConfigError } from '../../config/issues.js';
import { formatDuration, requireDuration } from '../../util/duration.js';
import { CliError, EXIT, UsageError, type Command, type CommandContext } from '../command.js';

/** The built-ins usable ad hoc, loaded only when asked for (keeps the CLI start fast). */
const AD_HOC: Record<string, () => Promise<{ default: CheckPlugin<any> }>> = {
  haproxy: () => import('../../../plugins/haproxy/index.js'),
  http: () => import('../../../plugins/http/index.js'),
  tcp: () => import('../../../plugins/tcp/index.js'),
  exec: () => import('../../../plugins/exec/index.js'),
  file: () => import('../../../plugins/file/index.js'),
};

type Kind = 'string' | 'int' | 'list' | 'bool';
/** Ad hoc flags: which plugin takes them, under which config key. */
const AD_HOC_FLAGS: Record<string, { plugins: Record<string, string>; kind: Kind }> = {
  socket: { plugins: { haproxy: 'socket' }, kind: 'string' },
  backend: { plugins: { haproxy: 'backend' }, kind: 'string' },
  'min-up': { plugins: { haproxy: 'minUp' }, kind: 'int' },
  frontend: { plugins: { haproxy: 'frontend' }, kind: 'string' },
  url: { plugins: { http: 'url' }, kind: 'string' },
  method: { plugins: { http: 'method' }, kind: 'string' },
  expect: { plugins: { http: 'expect', tcp: 'expect' }, kind: 'list' },
  'body-match': { plugins: { http: 'bodyMatch' }, kind: 'string' },
  header: { plugins: { http: 'headers' }, kind: 'list' },
  ca: { plugins: { http: 'tls.ca' }, kind: 'string' },
  insecure: { plugins: { http: 'tls.insecure' }, kind: 'bool' },
  'follow-redirects': { plugins: { http: 'followRedirects' }, kind: 'bool' },
  host: { plugins: { tcp: 'host' }, kind: 'string' },
  port: { plugins: { tcp: 'port' }, kind: 'int' },
  send: { plugins: { tcp: 'send' }, kind: 'string' },
  command: { plugins: { exec: 'command' }, kind: 'string' },
  user: { plugins: { exec: 'user' }, kind: 'string' },
  path: { plugins: { file: 'path' }, kind: 'string' },
  init: { plugins: { file: 'init' }, kind: 'int' },
};

export const DEFAULT_AD_HOC_TIMEOUT = '2s';

export const checkCommand: Command = {
  name: 'check',
  summary: 'run health checks once: the configured ones, or one given on the command line',
  usage: '[NAME|INSTANCE/NAME...] [--config FILE] [--json] | haproxy|http|tcp|exec|file --FLAG VALUE...',
  positionals: true,
  details: `Without a plugin name, runs the checks of the config (all, or those named; a name may be
INSTANCE/NAME) once, in parallel, each with its configured timeout, and prints a table: name,
plugin, result, latency, detail. Results are after \`reverse\`; rise/fall do not apply to one run.

With a check plugin name and its flags, runs that one check without any config, e.g.
  ipwarden check haproxy --socket /run/haproxy/admin.sock --backend web --min-up 2
  ipwarden check http --url http://127.0.0.1:8080/health --expect 200-299 --body-match ok
  ipwarden check tcp --host 127.0.0.1 --port 5432
  ipwarden check exec --command "/usr/local/bin/check-app --fast"
  ipwarden check file --path /run/ipwarden/maintenance
Exit status 0 when every check passed, 1 when one failed (so the ad hoc form can be a keepalived
vrrp_script: script "/usr/bin/ipwarden check haproxy --backend web --quiet"), 2 for bad usage,
3 for an invalid config.`,
  flags: {
    config: { type: 'string', short: 'c', arg: 'FILE', description: 'rc file (configured checks)' },
    json: { type: 'boolean', description: 'print JSON instead of the table' },
    quiet: { type: 'boolean', short: 'q', description: 'print nothing; the exit status says it all' },
    timeout: { type: 'string', arg: 'DURATION', description: 'ad hoc: time limit of the check', default: DEFAULT_AD_HOC_TIMEOUT },
    socket: { type: 'string', arg: 'PATH|HOST:PORT', description: 'haproxy: stats socket (default /run/haproxy/admin.sock)' },
    backend: { type: 'string', arg: 'NAME', description: 'haproxy: backend to judge' },
    'min-up': { type: 'string', arg: 'N', description: 'haproxy: usable servers needed (default 1)' },
    frontend: { type: 'string', arg: 'NAME', description: 'haproxy: frontend that must be OPEN' },
    url: { type: 'string', arg: 'URL', description: 'http: URL to request' },
    method: { type: 'string', arg: 'METHOD', description: 'http: request method (default GET)' },
    expect: { type: 'string', multiple: true, arg: 'STATUS|REGEX', description: 'http: accepted status or range (repeatable); tcp: regex the answer must match' },
    'body-match': { type: 'string', arg: 'REGEX', description: 'http: regex the body must match' },
    header: { type: 'string', multiple: true, arg: '"NAME: VALUE"', description: 'http: request header (repeatable)' },
    ca: { type: 'string', arg: 'FILE', description: 'http: CA bundle to verify the server with' },
    insecure: { type: 'boolean', description: 'http: do not verify the TLS certificate' },
    'follow-redirects': { type: 'boolean', description: 'http: follow redirects' },
    host: { type: 'string', arg: 'HOST', description: 'tcp: host to connect to' },
    port: { type: 'string', arg: 'PORT', description: 'tcp: port to connect to' },
    send: { type: 'string', arg: 'TEXT', description: 'tcp: text to send after connecting' },
    command: { type: 'string', arg: 'COMMAND', description: 'exec: command line (keepalived-style quoting, no shell)' },
    user: { type: 'string', arg: 'USER', description: 'exec: run as this user (needs root)' },
    path: { type: 'string', arg: 'FILE', description: 'file: file holding a number (0 passes)' },
    init: { type: 'string', arg: 'N', description: 'file: value while the file is missing (default 0)' },
  },
  run: runCheckCommand,
};

async function runCheckCommand(ctx: CommandContext): Promise<number> {
  const adHocFlags = Object.keys(AD_HOC_FLAGS).filter((f) => ctx.values[f] !== undefined);
  const configured = adHocFlags.length === 0;
  const checks = configured ? await configuredChecks(ctx) : [await adHocCheck(ctx, adHocFlags)];
  const runner = new CheckRunner(checks);
  let results: CheckSnapshot[];
  try {
    results = await runner.runOnce();
  } finally {
    await runner.stop();
  }
  if (!ctx.values.quiet) ctx.stdout.write(ctx.values.json ? `${JSON.stringify(results.map(jsonRow), null, 2)}\n` : formatResults(results, configured));
  return results.every((r) => r.lastResult?.ok) ? EXIT.OK : EXIT.FAILURE;
}

// ------------------------------------------------------------------ ad hoc

async function adHocCheck(ctx: CommandContext, flags: string[]): Promise<ScheduledCheck> {
  const name = ctx.positionals[0];
  if (name === undefined || !(name in AD_HOC)) {
    throw new UsageError(`${flags.map((f) => `--${f}`).join(', ')} need a check plugin first: ipwarden check ${Object.keys(AD_HOC).join('|')} --FLAG VALUE`);
  }
  if (ctx.positionals.length > 1) throw new UsageError(`an ad hoc check takes no more arguments, got "${ctx.positionals[1]}"`);
  if (ctx.values.config) throw new UsageError('--config does not apply to an ad hoc check');
  const wrong = flags.filter((f) => !(name in AD_HOC_FLAGS[f]!.plugins));
  if (wrong.length) throw new UsageError(`${wrong.map((f) => `--${f}`).join(', ')} ${wrong.length > 1 ? 'do' : 'does'} not apply to the ${name} check`);

  const raw: Record<string, unknown> = {};
  for (const flag of flags) {
    const key = AD_HOC_FLAGS[flag]!.plugins[name]!;
    setPath(raw, key, flagValue(name, flag, ctx.values[flag]));
  }
  const plugin = (await AD_HOC[name]!()).default;
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
  if (!parsed.ok) throw new UsageError(issuesAsFlags(name, parsed.issues).join('; '));
  const timeoutMs = requireDurationFlag(String(ctx.values.timeout ?? DEFAULT_AD_HOC_TIMEOUT), '--timeout');
  return scheduleCheck(plugin, parsed.config, { intervalMs: timeoutMs, timeoutMs, rise: 1, fall: 1, initialState: 'ok' });
}

function requireDurationFlag(text: string, flag: string): number {
  try {
    return requireDuration(text, flag);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function flagValue(plugin: string, flag: string, value: unknown): unknown {
  const spec = AD_HOC_FLAGS[flag]!;
  if (spec.kind === 'bool') return value === true;
  if (spec.kind === 'int') {
    const text = String(value);
    if (!/^-?\d+$/.test(text.trim())) throw new UsageError(`--${flag}: expected an integer, got ${JSON.stringify(text)}`);
    return Number(text);
  }
  if (spec.kind === 'list') {
    const items = (value as string[]).map(String);
    if (flag === 'header') {
      const headers: Record<string, string> = {};
      for (const h of items) {
        const m = /^([^:\s]+)\s*:\s?(.*)$/.exec(h);
        if (!m) throw new UsageError(`--header: expected "Name: value", got ${JSON.stringify(h)}`);
        headers[m[1]!] = m[2]!;
      }
      return headers;
    }
    if (plugin === 'tcp') {
      if (items.length > 1) throw new UsageError('--expect: the tcp check takes one regular expression');
      return items[0];
    }
    return items.map((s) => (/^\d+$/.test(s.trim()) ? Number(s) : s));
  }
  return String(value);
}

function setPath(obj: Record<string, unknown>, dotted: string, value: unknown): void {
  const keys = dotted.split('.');
  let cur = obj;
  for (const k of keys.slice(0, -1)) cur = (cur[k] ??= {}) as Record<string, unknown>;
  cur[keys[keys.length - 1]!] = value;
}

/** Plugin config issues, named by the flag that set the key ("--min-up: ..."). */
function issuesAsFlags(plugin: string, issues: readonly ConfigIssue[]): string[] {
  return issues.map((i) => {
    const path = i.path.join('.');
    const flag = Object.entries(AD_HOC_FLAGS).find(([, f]) => {
      const key = f.plugins[plugin];
      return key !== undefined && (path === key || path.startsWith(`${key}.`));
    })?.[0];
    if (!flag) return `${path || plugin}: ${i.message}`;
    if (/^required/.test(i.message)) return `--${flag} is required for the ${plugin} check`;
    return `--${flag}: ${i.message}`;
  });
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
    if (err instanceof CliError && file === undefined && ctx.positionals.length === 1 && first !== undefined && first in AD_HOC) {
      const flags = Object.entries(AD_HOC_FLAGS).filter(([, f]) => first in f.plugins).map(([n]) => `--${n}`);
      throw new UsageError(`${err.message}; for an ad hoc ${first} check give its flags (${flags.join(', ')})`);
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
