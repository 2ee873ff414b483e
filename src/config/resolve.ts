/**
 * The resolve step: a validated config (load.ts) becomes what the daemon runs on. Secrets are
 * read, node.id defaults to the hostname, addresses become endpoints, and each check/action
 * entry is matched to its plugin, whose parseConfig checks the plugin's own keys.
 * Every problem is collected; they are thrown together as one ConfigError.
 */
import type { ScheduledCheck } from '../plugins/check-runner.js';
import type { ScheduledAction } from '../plugins/action-runner.js';
import type { ScheduledDiscovery } from '../daemon/discovery.js';
import { MIN_KEY_BYTES, type HeartbeatKey } from '../protocol/advert.js';
import { hostname as osHostname } from 'node:os';
import { isIP } from 'node:net';
import type { ActionPlugin, CheckPlugin, ConfigIssue, DiscoveryPlugin, ParseResult, PluginEnvironment } from '../plugins/api.js';
import { loadPlugins, PluginError, type PluginRegistry } from '../plugins/loader.js';
import { DEFAULT_HEARTBEAT_PORT, parseEndpoint, type Endpoint } from './endpoint.js';
import { ConfigError, didYouMean, formatIssues, formatPath } from './issues.js';
import { loadConfig, type LoadConfigOptions, type LoadedConfig } from './load.js';
import {
  ACTION_SCHEDULING_KEYS,
  CHECK_SCHEDULING_KEYS,
  DISCOVERY_SCHEDULING_KEYS,
  type ActionEntryConfig,
  type CheckEntryConfig,
  type DiscoveryEntryConfig,
  type LogFormatName,
  type LogLevelName,
  type ProtocolName,
} from './schema.js';
import { isSecretKeyName, resolveSecret, SecretError } from './secret.js';
import { resolveElections, type EtcdElectionSettings } from '../election/config.js';

export type { Endpoint } from './endpoint.js';
export type { IpwardenConfig, InstanceConfig } from './schema.js';
export type { LoadedConfig } from './load.js';

/** A check ready to schedule (the check runner's own type: one shape from rc file to runner). */
export type ResolvedCheck = ScheduledCheck;
/** An action ready to run (the action runner's own type). */
export type ResolvedAction = ScheduledAction;
/** A discovery source ready to schedule (the discovery runner's own type). */
export type ResolvedDiscovery = ScheduledDiscovery;

/** One shared IP run by the heartbeat engine. */
export interface ResolvedInstance {
  name: string;
  address: string;
  family: 4 | 6;
  priority: number;
  /** ms */
  interval: number;
  deadRatio: number;
  preempt: boolean;
  /** ms */
  preemptDelay: number;
  /** Ports filled in from node.bind. */
  peers: Endpoint[];
  checks: ResolvedCheck[];
  actions: ResolvedAction[];
  /** Peers found at runtime, combined with `peers`. */
  discovery?: ResolvedDiscovery;
  /** Elected through etcd (election.backend etcd); absent = the heartbeat engine. */
  election?: EtcdElectionSettings;
}

/** Actions for one keepalived VRRP instance (scripts mode). */
export interface ResolvedKeepalivedInstance {
  name: string;
  address: string;
  actions: ResolvedAction[];
}

export type { HeartbeatKey };

/** Everything the daemon needs, resolved. */
export interface ResolvedConfig {
  file: string;
  baseDir: string;
  node: { id: string; bind: Endpoint; control: string };
  /** First signs, all verify. Empty with protocol exoip (unauthenticated). */
  secrets: HeartbeatKey[];
  log: { level: LogLevelName; format: LogFormatName };
  plugins: string[];
  protocol: ProtocolName;
  /** ms */
  clockSkew: number;
  metrics?: { listen: Endpoint };
  stateFile: string;
  instances: ResolvedInstance[];
  keepalived: { instances: ResolvedKeepalivedInstance[] };
  /** Non-fatal advice ("a literal secret in the config file"); log them at startup. */
  warnings: string[];
}

export interface ResolveOptions {
  registry: PluginRegistry;
  /** For env: secrets and $CREDENTIALS_DIRECTORY (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** node.id when the config sets none (default os.hostname()). */
  hostname?: string;
}

const isReference = (value: string): boolean => /^(env|file|credential):/.test(value);

class Problems {
  readonly problems: string[] = [];
  readonly warnings: string[] = [];
  add(message: string): void {
    this.problems.push(message);
  }
  warn(message: string): void {
    this.warnings.push(message);
  }
}

/** Resolves a loaded config; throws ConfigError(file, problems) listing every problem. */
export function resolveConfig(loaded: LoadedConfig, opts: ResolveOptions): ResolvedConfig {
  const r = collect(loaded, opts);
  if (!r.resolved) throw new ConfigError(loaded.file, r.problems);
  return r.resolved;
}

function collect(loaded: LoadedConfig, opts: ResolveOptions): { resolved?: ResolvedConfig; problems: string[]; warnings: string[] } {
  const { config, file, baseDir } = loaded;
  const env = opts.env ?? process.env;
  const out = new Problems();

  const id = config.node.id ?? opts.hostname ?? osHostname();
  if (config.node.id === undefined && (id === '' || Buffer.byteLength(id) > 64 || /[\s\x00-\x1f\x7f]/.test(id))) {
    out.add(`node.id: the hostname ${JSON.stringify(id)} cannot be a node id (1..64 bytes, no spaces); set node.id`);
  }
  const bind = parseEndpoint(config.node.bind, DEFAULT_HEARTBEAT_PORT)!;

  const secrets = resolveSecrets(loaded, env, out);

  const entryContext = { registry: opts.registry, baseDir, env, out };
  const elections = resolveElections(
    config.election,
    Object.entries(config.instances).map(([name, inst]) => [name, inst.election]),
    { baseDir, env, problem: (m) => out.add(m), warn: (m) => out.warn(m) },
  );
  const instances: ResolvedInstance[] = Object.entries(config.instances).map(([name, inst]) => ({
    name,
    address: inst.address,
    family: isIP(inst.address) === 6 ? 6 : 4,
    priority: inst.priority,
    interval: inst.interval,
    deadRatio: inst.deadRatio,
    preempt: inst.preempt,
    preemptDelay: inst.preemptDelay,
    peers: inst.peers.map((p) => parseEndpoint(p, bind.port)!),
    checks: resolveEntries('check', inst.checks, ['instances', name, 'checks'], entryContext),
    actions: resolveEntries('action', inst.actions, ['instances', name, 'actions'], entryContext),
    ...(inst.discovery ? optionalDiscovery(inst.discovery, ['instances', name, 'discovery'], entryContext) : {}),
    ...(elections.has(name) ? { election: elections.get(name)! } : {}),
  }));
  for (const inst of instances) {
    if (inst.peers.length === 0 && !inst.discovery && !inst.election) out.warn(`instances.${inst.name}.peers: no peers: this node alone decides and will be MASTER`);
    if (inst.peers.length === 0 && !inst.discovery && inst.election?.heartbeat) {
      out.warn(`instances.${inst.name}.peers: election.heartbeat is on but there are no peers to exchange heartbeats with (no crash fast path${inst.election.onEtcdLoss === 'hold-if-peers-agree' ? ', and hold-if-peers-agree never holds' : ''})`);
    }
  }
  const keepalived = Object.entries(config.keepalived?.instances ?? {}).map(([name, inst]) => ({
    name,
    address: inst.address,
    actions: resolveEntries('action', inst.actions, ['keepalived', 'instances', name, 'actions'], entryContext),
  }));

  if (out.problems.length) return { problems: out.problems, warnings: out.warnings };
  const resolved: ResolvedConfig = {
    file,
    baseDir,
    node: { id, bind, control: config.node.control },
    secrets,
    log: { ...config.log },
    plugins: [...config.plugins],
    protocol: config.protocol,
    clockSkew: config.clockSkew,
    ...(config.metrics ? { metrics: { listen: parseEndpoint(config.metrics.listen)! } } : {}),
    stateFile: config.stateFile,
    instances,
    keepalived: { instances: keepalived },
    warnings: out.warnings,
  };
  return { resolved, problems: [], warnings: out.warnings };
}

function resolveSecrets(loaded: LoadedConfig, env: NodeJS.ProcessEnv, out: Problems): HeartbeatKey[] {
  const { secret, protocol } = loaded.config;
  if (secret === undefined) return [];
  if (protocol === 'exoip') {
    out.warn('secret: ignored with protocol exoip (its heartbeats are not authenticated)');
    return [];
  }
  const entries = typeof secret === 'string' ? [{ id: 1, key: secret, where: 'secret' }] : secret.map((e, i) => ({ ...e, where: `secret[${i}].key` }));
  const keys: HeartbeatKey[] = [];
  for (const { id, key, where } of entries) {
    if (!isReference(key)) out.warn(`${where}: a literal key in the config file; prefer env:NAME, file:PATH or credential:NAME`);
    try {
      const bytes = Buffer.from(resolveSecret(key, where, { baseDir: loaded.baseDir, env }), 'utf8');
      if (bytes.length < MIN_KEY_BYTES) out.add(`${where}: the key is only ${bytes.length} bytes; at least ${MIN_KEY_BYTES} are needed (use 32 random bytes, e.g. openssl rand -hex 32)`);
      keys.push({ id, key: bytes });
    } catch (err) {
      if (!(err instanceof SecretError)) throw err;
      out.add(err.message);
    }
  }
  return keys;
}

// ------------------------------------------------------------------ plugin entries

interface EntryContext {
  registry: PluginRegistry;
  baseDir: string;
  env: NodeJS.ProcessEnv;
  out: Problems;
}

type Kind = 'check' | 'action';

function resolveEntries(kind: 'check', entries: CheckEntryConfig[], path: (string | number)[], ctx: EntryContext): ResolvedCheck[];
function resolveEntries(kind: 'action', entries: ActionEntryConfig[], path: (string | number)[], ctx: EntryContext): ResolvedAction[];
function resolveEntries(kind: Kind, entries: (CheckEntryConfig | ActionEntryConfig)[], path: (string | number)[], ctx: EntryContext): (ResolvedCheck | ResolvedAction)[] {
  const resolved: (ResolvedCheck | ResolvedAction)[] = [];
  entries.forEach((entry, i) => {
    const r = resolveEntry(kind, entry, [...path, i], ctx);
    if (r) resolved.push(r);
  });
  return resolved;
}

function findPlugin(kind: Kind, name: string, registry: PluginRegistry, where: string): { plugin?: CheckPlugin<unknown> | ActionPlugin<unknown>; problem?: string } {
  const own: Map<string, CheckPlugin<unknown> | ActionPlugin<unknown>> = kind === 'check' ? registry.checks : registry.actions;
  const plugin = own.get(name);
  if (plugin) return { plugin };
  const other = kind === 'check' ? registry.actions : registry.checks;
  if (other.has(name)) return { problem: `${where}: "${name}" is ${kind === 'check' ? 'an action' : 'a check'} plugin, not ${kind === 'check' ? 'a check' : 'an action'}` };
  const names = [...own.keys()].sort();
  const hint = didYouMean(name, names);
  const tail = hint ? ` (did you mean "${hint}"?)` : names.length ? ` (available: ${names.join(', ')})` : ` (no ${kind} plugins are loaded)`;
  return { problem: `${where}: unknown ${kind} plugin "${name}"${tail}` };
}

/** A plugin's "unknown key" for a misspelt scheduling key gets the did-you-mean the plugin could not give. */
function withSchedulingHints(keys: readonly string[], issues: ConfigIssue[]): ConfigIssue[] {
  return issues.map((issue) => {
    const key = issue.path[0];
    if (issue.path.length !== 1 || typeof key !== 'string' || !issue.message.startsWith('unknown key') || issue.message.includes('did you mean')) return issue;
    const hint = didYouMean(key, keys);
    return hint ? { ...issue, message: `unknown key (did you mean "${hint}"?)` } : issue;
  });
}

/**
 * Hands an entry's own keys to its plugin's parseConfig (literal secrets warned about, secret
 * references resolved relative to the config file); problems are added to ctx.out.
 */
function parsePluginOptions(
  plugin: { parseConfig(raw: Record<string, unknown>, env: PluginEnvironment): ParseResult<unknown> },
  entry: { plugin: string; options: Record<string, unknown> },
  path: (string | number)[],
  schedulingKeys: readonly string[],
  ctx: EntryContext,
): { config: unknown } | undefined {
  const where = formatPath(path);
  for (const [key, value] of Object.entries(entry.options)) {
    if (typeof value === 'string' && isSecretKeyName(key) && !isReference(value)) {
      ctx.out.warn(`${formatPath([...path, key])}: a literal secret in the config file; prefer env:NAME, file:PATH or credential:NAME`);
    }
  }
  const pluginEnv: PluginEnvironment = {
    baseDir: ctx.baseDir,
    resolveSecret: (ref, at) => resolveSecret(ref, at ? `${where}.${at}` : where, { baseDir: ctx.baseDir, env: ctx.env }),
  };
  let result: ParseResult<unknown>;
  try {
    result = plugin.parseConfig({ ...entry.options }, pluginEnv);
  } catch (err) {
    ctx.out.add(err instanceof SecretError ? err.message : `${where}: plugin "${entry.plugin}" failed to check its config: ${String((err as Error).message ?? err).split('\n')[0]}`);
    return undefined;
  }
  if (!result.ok) {
    for (const p of formatIssues(withSchedulingHints(schedulingKeys, result.issues), path)) ctx.out.add(p);
    return undefined;
  }
  return { config: result.config };
}

function resolveEntry(kind: Kind, entry: CheckEntryConfig | ActionEntryConfig, path: (string | number)[], ctx: EntryContext): ResolvedCheck | ResolvedAction | undefined {
  const where = formatPath(path);
  const found = findPlugin(kind, entry.plugin, ctx.registry, `${where}.plugin`);
  if (!found.plugin) {
    ctx.out.add(found.problem!);
    return undefined;
  }
  const parsed = parsePluginOptions(found.plugin, entry, path, kind === 'check' ? CHECK_SCHEDULING_KEYS : ACTION_SCHEDULING_KEYS, ctx);
  if (!parsed) return undefined;
  if (kind === 'check') {
    const e = entry as CheckEntryConfig;
    return {
      name: e.name,
      plugin: e.plugin,
      impl: found.plugin as CheckPlugin<unknown>,
      config: parsed.config,
      intervalMs: e.interval,
      timeoutMs: e.timeout,
      rise: e.rise,
      fall: e.fall,
      weight: e.weight,
      reverse: e.reverse,
      initialState: e.initialState,
    };
  }
  const e = entry as ActionEntryConfig;
  return {
    name: e.name,
    plugin: e.plugin,
    impl: found.plugin as ActionPlugin<unknown>,
    config: parsed.config,
    timeoutMs: e.timeout,
    retries: e.retries,
    required: e.required,
    after: e.after,
  };
}

function optionalDiscovery(entry: DiscoveryEntryConfig, path: (string | number)[], ctx: EntryContext): { discovery?: ResolvedDiscovery } {
  const discovery = resolveDiscovery(entry, path, ctx);
  return discovery ? { discovery } : {};
}

/** Matches a discovery entry to its plugin and lets the plugin check its own keys. */
function resolveDiscovery(entry: DiscoveryEntryConfig, path: (string | number)[], ctx: EntryContext): ResolvedDiscovery | undefined {
  const where = formatPath(path);
  const plugins = ctx.registry.discovery ?? new Map<string, DiscoveryPlugin<unknown>>();
  const plugin = plugins.get(entry.plugin);
  if (!plugin) {
    const names = [...plugins.keys()].sort();
    const hint = didYouMean(entry.plugin, names);
    const kind = ctx.registry.checks.has(entry.plugin) ? ' (it is a check plugin)' : ctx.registry.actions.has(entry.plugin) ? ' (it is an action plugin)' : '';
    const tail = kind || (hint ? ` (did you mean "${hint}"?)` : names.length ? ` (available: ${names.join(', ')})` : ' (no discovery plugins are loaded)');
    ctx.out.add(`${where}.plugin: unknown discovery plugin "${entry.plugin}"${tail}`);
    return undefined;
  }
  const parsed = parsePluginOptions(plugin, entry, path, DISCOVERY_SCHEDULING_KEYS, ctx);
  if (!parsed) return undefined;
  return { plugin: entry.plugin, impl: plugin, config: parsed.config, refreshMs: entry.refresh };
}

// ------------------------------------------------------------------ config check

export interface ValidateOptions extends LoadConfigOptions {
  /** Plugins to check entries against (default: the built-ins plus the config's `plugins:`). */
  registry?: PluginRegistry;
  hostname?: string;
}

export interface ValidationReport {
  ok: boolean;
  /** The config file, when one was found. */
  file?: string;
  /** "path: message" lines (or one line about the file itself). */
  problems: string[];
  warnings: string[];
  /** The resolved config, when valid (for the cluster cross-check of several files). */
  resolved?: ResolvedConfig;
}

/** `ipwarden config check`: load, validate, load plugins, resolve; reports instead of throwing. */
export async function validateConfigFile(opts: ValidateOptions = {}): Promise<ValidationReport> {
  let loaded: LoadedConfig;
  try {
    loaded = await loadConfig(opts);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return { ok: false, ...(err.file ? { file: err.file } : {}), problems: err.problems, warnings: [] };
  }
  const file = loaded.file;
  let registry = opts.registry;
  if (!registry) {
    try {
      registry = await loadPlugins(loaded.config.plugins, loaded.baseDir);
    } catch (err) {
      if (!(err instanceof PluginError)) throw err;
      return { ok: false, file, problems: [err.message], warnings: [] };
    }
  }
  const r = collect(loaded, { registry, env: opts.env, ...(opts.hostname ? { hostname: opts.hostname } : {}) });
  return { ok: r.problems.length === 0, file, problems: r.problems, warnings: r.warnings, ...(r.resolved ? { resolved: r.resolved } : {}) };
}
