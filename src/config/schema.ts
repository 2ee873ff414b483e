/**
 * The rc file's schema: one zod 4 schema that validates (all problems at once, unknown keys
 * with did-you-mean), applies defaults, turns durations into milliseconds, and generates the
 * published JSON Schema (schema/ipwardenrc.schema.json).
 *
 * Strict objects everywhere except check/action entries, whose non-scheduling keys belong to
 * the plugin and are checked by its parseConfig in the resolve step (resolve.ts).
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import type { ConfigIssue } from '../plugins/api.js';
import { zodDuration } from '../plugins/zod-config.js';
import { ConfigError, didYouMean, formatIssues, formatPath, zodIssues } from './issues.js';
import { canonicalAddress, DEFAULT_HEARTBEAT_PORT, isWildcard, parseEndpoint } from './endpoint.js';
import { electionSchema, type ElectionConfig } from '../election/config.js';

// ------------------------------------------------------------------ types (the parsed config)

export type LogLevelName = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'silent';
export type LogFormatName = 'json' | 'pretty';
export type ProtocolName = 'ipwarden' | 'exoip';
/** A check's state before its first result. */
export type InitialCheckState = 'ok' | 'fail';

/** One heartbeat key of a rotation list; `key` is a secret reference (see secret.ts). */
export interface SecretKeyEntry {
  id: number;
  key: string;
}
/** `secret:` as written: one reference (key id 1), or a list whose first entry signs. */
export type SecretSetting = string | SecretKeyEntry[];

export interface NodeConfig {
  /** Unset means os.hostname() (filled in by resolveConfig). */
  id?: string;
  /** "host[:port]" as written; parsed by resolveConfig. */
  bind: string;
  /** Control socket path. */
  control: string;
}

/** A check entry: ipwarden's scheduling keys, durations in ms; `options` = the plugin's own keys. */
export interface CheckEntryConfig {
  plugin: string;
  /** Defaults to the plugin name; unique per instance. */
  name: string;
  interval: number;
  /** Defaults to `interval`. */
  timeout: number;
  rise: number;
  fall: number;
  weight: number;
  reverse: boolean;
  initialState: InitialCheckState;
  options: Record<string, unknown>;
}

/** An action entry: ipwarden's keys, durations in ms; `options` = the plugin's own keys. */
export interface ActionEntryConfig {
  plugin: string;
  /** Defaults to the plugin name; unique per instance. */
  name: string;
  timeout: number;
  retries: number;
  required: boolean;
  /** Names of actions of the same instance this one waits for on each transition (empty: starts at once). */
  after: string[];
  options: Record<string, unknown>;
}

/** A discovery entry: the plugin, how often it is asked (ms); `options` = the plugin's own keys. */
export interface DiscoveryEntryConfig {
  plugin: string;
  refresh: number;
  options: Record<string, unknown>;
}

export interface InstanceConfig {
  address: string;
  priority: number;
  /** ms */
  interval: number;
  deadRatio: number;
  preempt: boolean;
  /** ms */
  preemptDelay: number;
  /** "host[:port]" strings as written; parsed by resolveConfig. */
  peers: string[];
  checks: CheckEntryConfig[];
  actions: ActionEntryConfig[];
  /** Peers found at runtime, in addition to `peers`. */
  discovery?: DiscoveryEntryConfig;
  /** Election backend override (merged over the top-level `election`). */
  election?: ElectionConfig;
}

export interface KeepalivedInstanceConfig {
  address: string;
  actions: ActionEntryConfig[];
}

/** The rc file after validation: defaults applied, durations in milliseconds, secrets unresolved. */
export interface IpwardenConfig {
  /** JSON Schema hint for editors; ignored. */
  $schema?: string;
  node: NodeConfig;
  secret?: SecretSetting;
  log: { level: LogLevelName; format: LogFormatName };
  plugins: string[];
  protocol: ProtocolName;
  /** ms */
  clockSkew: number;
  metrics?: { listen: string };
  stateFile: string;
  instances: Record<string, InstanceConfig>;
  keepalived?: { instances: Record<string, KeepalivedInstanceConfig> };
  /** Election backend of every instance (heartbeat unless set); instances may override keys. */
  election?: ElectionConfig;
}

// ------------------------------------------------------------------ defaults and limits

export const DEFAULTS = {
  bind: `0.0.0.0:${DEFAULT_HEARTBEAT_PORT}`,
  control: '/run/ipwarden/ipwarden.sock',
  stateFile: '/var/lib/ipwarden/state.json',
  logLevel: 'info',
  logFormat: 'json',
  protocol: 'ipwarden',
  clockSkew: '60s',
  priority: 100,
  interval: '1s',
  deadRatio: 3,
  preempt: true,
  preemptDelay: '0s',
  checkInterval: '1s',
  checkRise: 2,
  checkFall: 3,
  checkWeight: 0,
  checkInitialState: 'fail',
  actionTimeout: '30s',
  actionRetries: 2,
  actionRequired: false,
  discoveryRefresh: '60s',
} as const;

/** The keys of a check entry that belong to ipwarden (the rest go to the plugin). */
export const CHECK_SCHEDULING_KEYS = ['plugin', 'name', 'interval', 'timeout', 'rise', 'fall', 'weight', 'reverse', 'initialState'] as const;
/** The keys of an action entry that belong to ipwarden (the rest go to the plugin). */
export const ACTION_SCHEDULING_KEYS = ['plugin', 'name', 'timeout', 'retries', 'required', 'after'] as const;
/** The keys of a discovery entry that belong to ipwarden (the rest go to the plugin). */
export const DISCOVERY_SCHEDULING_KEYS = ['plugin', 'refresh'] as const;

export const INSTANCE_NAME = /^[A-Za-z0-9_.-]{1,32}$/;
const ENTRY_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;
const NODE_ID_MAX_BYTES = 64;


// ------------------------------------------------------------------ building blocks

function doc<T extends z.ZodType>(schema: T, description: string): T {
  return schema.meta({ description });
}

function int(min: number, max: number) {
  const error = `expected an integer ${min}..${max}`;
  return z.int({ error }).min(min, { error }).max(max, { error });
}

const bool = () => z.boolean({ error: 'expected true or false' });

const IP_MESSAGE = 'expected an IPv4 or IPv6 address';
const ipAddress = () =>
  z
    .string({ error: IP_MESSAGE })
    .refine((s) => isIP(s) !== 0, { error: IP_MESSAGE })
    .meta({ anyOf: [{ format: 'ipv4' }, { format: 'ipv6' }] });

function endpoint(message: string, defaultPort: number | undefined) {
  return z.string({ error: message }).refine((s) => parseEndpoint(s, defaultPort) !== undefined, { error: message });
}

const absolutePath = () =>
  z.string({ error: 'expected an absolute path' }).refine((s) => s.startsWith('/'), { error: 'expected an absolute path' });

const pluginName = () =>
  doc(z.string({ error: 'expected a plugin name' }).min(1, { error: 'expected a plugin name' }), 'The plugin (its `name`, e.g. "haproxy").');

const entryName = () =>
  doc(
    z.string({ error: `expected a name matching ${ENTRY_NAME}` }).regex(ENTRY_NAME, { error: `expected a name matching ${ENTRY_NAME}` }),
    'Name shown in logs and status; defaults to the plugin name. Unique within the instance.',
  );

// ------------------------------------------------------------------ the schema

const checkEntrySchema = doc(
  z
    .object({
      plugin: pluginName(),
      name: entryName().optional(),
      interval: doc(zodDuration(20, 3_600_000).prefault(DEFAULTS.checkInterval), 'How often the check runs (20ms..1h).'),
      timeout: doc(zodDuration(10, 3_600_000).optional(), 'A run longer than this fails (10ms..1h); defaults to `interval`.'),
      rise: doc(int(1, 100).default(DEFAULTS.checkRise), 'Consecutive successes that make a failed check OK (1..100).'),
      fall: doc(int(1, 100).default(DEFAULTS.checkFall), 'Consecutive failures that make an OK check fail (1..100).'),
      weight: doc(
        int(-253, 253).default(DEFAULTS.checkWeight),
        'keepalived semantics: 0 = a failed check puts the instance in FAULT; > 0 adds to the priority while OK; < 0 subtracts while failed (-253..253).',
      ),
      reverse: doc(bool().default(false), 'Inverts the check result.'),
      initialState: doc(
        z.enum(['ok', 'fail']).default(DEFAULTS.checkInitialState),
        'State before the first result, at daemon start; from "fail" it takes `rise` successes to become OK. A check a reload adds counts as passing until it has failed `fall` times in a row (see ipwarden(8), RELOAD).',
      ),
    })
    .catchall(z.unknown())
    .transform(({ plugin, name, interval, timeout, rise, fall, weight, reverse, initialState, ...options }): CheckEntryConfig => ({
      plugin,
      name: name ?? plugin,
      interval,
      timeout: timeout ?? interval,
      rise,
      fall,
      weight,
      reverse,
      initialState,
      options,
    })),
  'A health check: the scheduling keys below, plus the keys of the plugin (checked by the plugin).',
);

const actionEntrySchema = doc(
  z
    .object({
      plugin: pluginName(),
      name: entryName().optional(),
      timeout: doc(zodDuration(10, 3_600_000).prefault(DEFAULTS.actionTimeout), 'Time limit of one run of the action (10ms..1h).'),
      retries: doc(int(0, 10).default(DEFAULTS.actionRetries), 'Retries after a failed run (0..10).'),
      required: doc(
        bool().default(DEFAULTS.actionRequired),
        'When true, a failure of this action on MASTER makes the node give up the instance (FAULT); actions not started yet for that transition are skipped.',
      ),
      after: doc(
        z.array(z.string({ error: 'expected an action name' }), { error: 'expected a list of action names, e.g. [ip-alias]' }).default([]),
        'Names of other actions of this instance that must finish (ok or failed) before this one starts, on every transition. Actions without `after` start together when the transition starts.',
      ),
    })
    .catchall(z.unknown())
    .transform(({ plugin, name, timeout, retries, required, after, ...options }): ActionEntryConfig => ({
      plugin,
      name: name ?? plugin,
      timeout,
      retries,
      required,
      after,
      options,
    })),
  'An action run on state changes: the keys below, plus the keys of the plugin (checked by the plugin).',
);

const actionsList = () =>
  doc(
    z.array(actionEntrySchema).default([]),
    'Actions run on state changes (e.g. attach the Elastic IP): all at once, except that an action with `after` waits for the actions it names.',
  );

const discoveryEntrySchema = doc(
  z
    .object({
      plugin: pluginName(),
      refresh: doc(zodDuration(1000, 86_400_000).prefault(DEFAULTS.discoveryRefresh), 'How often the peer list is read again (1s..24h); a failed read keeps the last good list.'),
    })
    .catchall(z.unknown())
    .transform(({ plugin, refresh, ...options }): DiscoveryEntryConfig => ({ plugin, refresh, options })),
  'Peers found at runtime (e.g. plugin exoscale-security-group), combined with `peers`: the keys below, plus the keys of the plugin.',
);

const instanceSchema = z.strictObject({
  address: doc(ipAddress(), 'The shared IP (IPv4 or IPv6); unique across instances. Required.'),
  priority: doc(int(1, 254).default(DEFAULTS.priority), 'Election priority 1..254; the highest live priority is MASTER.'),
  interval: doc(zodDuration(20, 60_000).prefault(DEFAULTS.interval), 'Advert interval (20ms..60s). Heartbeat only: an error on an etcd-elected instance unless election.heartbeat is true.'),
  deadRatio: doc(int(2, 20).default(DEFAULTS.deadRatio), 'A peer silent for interval × deadRatio is dead; a silent MASTER whose probes go unanswered is taken over half an interval sooner (2..20). Heartbeat only: an error on an etcd-elected instance unless election.heartbeat is true.'),
  preempt: doc(bool().default(DEFAULTS.preempt), 'Take over from a lower-priority MASTER.'),
  preemptDelay: doc(zodDuration(0, 3_600_000).prefault(DEFAULTS.preemptDelay), 'Wait this long before preempting (0s..1h).'),
  peers: doc(
    z
      .array(
        endpoint('expected an IP address with an optional port, like "198.51.100.11" or "[2001:db8::1]:12345"', DEFAULT_HEARTBEAT_PORT),
      )
      .default([]),
    'The other nodes: "ip", "ip:port" or "[ipv6]:port"; the port defaults to the node.bind port. Heartbeat only: an error on an etcd-elected instance unless election.heartbeat is true.',
  ),
  checks: doc(z.array(checkEntrySchema).default([]), 'Health checks that can fault the instance or change its priority.'),
  actions: actionsList(),
  discovery: discoveryEntrySchema.optional(),
  election: electionSchema.optional(),
});

const keepalivedInstanceSchema = z.strictObject({
  address: doc(ipAddress(), 'The shared IP this keepalived VRRP instance stands for. Required.'),
  actions: actionsList(),
});

const secretEntrySchema = z.strictObject({
  id: doc(int(1, 255), 'Key id carried in each heartbeat (1..255, unique).'),
  key: doc(
    z.string({ error: 'expected a secret reference' }).min(1, { error: 'expected a non-empty secret reference' }).meta({ writeOnly: true }),
    'The key: env:NAME, file:PATH, credential:NAME or a literal.',
  ),
});

const secretSchema = doc(
  z
    .union([
      z.string({ error: 'expected a secret reference' }).min(1, { error: 'expected a non-empty secret reference' }),
      z.array(secretEntrySchema).min(1, { error: 'expected at least one key' }),
    ], { error: 'expected a secret reference (env:NAME, file:PATH, credential:NAME) or a list of { id, key }' })
    .meta({ writeOnly: true }),
  'Heartbeat authentication key: env:NAME, file:PATH (relative to this file), credential:NAME (systemd LoadCredential=) or a literal; or a rotation list [{ id, key }] whose first entry signs and all verify. Required with protocol ipwarden when an instance uses the heartbeat (not when every instance is elected through etcd).',
);

const rootShape = {
  $schema: doc(z.string().optional(), 'JSON Schema reference for editors; ignored.'),
  node: doc(
    z
      .strictObject({
        id: doc(
          z
            .string({ error: 'expected a node id' })
            .regex(/^[^\s\x00-\x1f\x7f]+$/, { error: 'expected a node id without spaces or control characters' })
            .refine((s) => Buffer.byteLength(s) <= NODE_ID_MAX_BYTES, { error: `expected a node id of 1..${NODE_ID_MAX_BYTES} bytes` })
            .optional(),
          'This node\'s id in heartbeats (1..64 bytes); defaults to the hostname.',
        ),
        bind: doc(
          endpoint('expected an address like "0.0.0.0:12345", "[::]:12345" or "127.0.0.1"', DEFAULT_HEARTBEAT_PORT).default(DEFAULTS.bind),
          'UDP heartbeat listen address, "ip[:port]" or "[ipv6]:port"; the port defaults to 12345.',
        ),
        control: doc(absolutePath().default(DEFAULTS.control), 'Local control socket (for `ipwarden status`).'),
      })
      .prefault({}),
    'This node.',
  ),
  secret: secretSchema.optional(),
  log: doc(
    z
      .strictObject({
        level: doc(z.enum(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default(DEFAULTS.logLevel), 'Lowest level logged.'),
        format: doc(z.enum(['json', 'pretty']).default(DEFAULTS.logFormat), 'json lines (journald) or pretty single lines.'),
      })
      .prefault({}),
    'Logging.',
  ),
  plugins: doc(
    z.array(z.string({ error: 'expected a module path or package name' }).min(1, { error: 'expected a module path or package name' })).default([]),
    'Extra plugin modules: paths relative to this file, or package names.',
  ),
  protocol: doc(
    z.enum(['ipwarden', 'exoip']).default(DEFAULTS.protocol),
    'Heartbeat wire format: ipwarden (authenticated) or exoip (its 24-byte unauthenticated advert, for migration; IPv4 only).',
  ),
  clockSkew: doc(zodDuration(1000, 3_600_000).prefault(DEFAULTS.clockSkew), 'Heartbeats whose timestamp is further off than this are dropped as replays (1s..1h).'),
  metrics: doc(
    z
      .strictObject({
        listen: doc(
          endpoint('expected an address with a port, like "127.0.0.1:9842"', undefined).default('127.0.0.1:9842'),
          'Prometheus endpoint address "ip:port"; loopback by default (`metrics: {}` turns metrics on there).',
        ),
      })
      .optional(),
    'Prometheus metrics over HTTP; off when absent.',
  ),
  stateFile: doc(absolutePath().default(DEFAULTS.stateFile), 'Where persistent state (maintenance mode) is kept.'),
  election: electionSchema.optional(),
  instances: doc(
    z
      .record(
        z.string().regex(INSTANCE_NAME, { error: `expected an instance name matching ${INSTANCE_NAME}` }),
        doc(instanceSchema, 'One shared IP managed by the heartbeat engine.'),
      )
      .default({}),
    'The shared IPs, by name; at least one (unless a keepalived: section is used).',
  ),
  keepalived: doc(
    z
      .strictObject({
        instances: doc(
          z.record(z.string().min(1, { error: 'expected a keepalived instance name' }), doc(keepalivedInstanceSchema, 'Actions for one keepalived VRRP instance.')),
          'keepalived VRRP instances (their names as in keepalived.conf, e.g. VI_1).',
        ),
      })
      .optional(),
    'Scripts mode: actions run by `ipwarden notify` from keepalived notify scripts or its notify FIFO.',
  ),
};

/** The rc file schema (input: the file's data; output: IpwardenConfig). */
export const ipwardenConfigSchema: z.ZodType<IpwardenConfig> = z
  .strictObject(rootShape)
  .superRefine((value, ctx) => crossCheck(value, (path, message) => ctx.addIssue({ code: 'custom', message, path, input: undefined })))
  .meta({ title: 'ipwarden configuration', description: 'The ipwarden rc file (.ipwardenrc, /etc/ipwarden/config.yaml, ...).' });

// ------------------------------------------------------------------ rules across keys

/** Receives one cross-key problem. */
type Report = (path: (string | number)[], message: string) => void;

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Instance keys that only the heartbeat election uses (a config error on an etcd-elected instance). */
export const HEARTBEAT_ONLY_KEYS = ['interval', 'deadRatio', 'peers'] as const;

/** An instance's merged `election` key (its own over the top level's), read from raw data. */
function electionKey(top: unknown, inst: unknown, key: string): unknown {
  const own = isRecord(inst) && isRecord(inst.election) ? inst.election[key] : undefined;
  return own !== undefined ? own : isRecord(top) ? top[key] : undefined;
}

/** Elected through etcd (election.backend etcd), from raw data. */
function etcdElected(top: unknown, inst: unknown): boolean {
  return (electionKey(top, inst, 'backend') ?? 'heartbeat') === 'etcd';
}

/** Sends heartbeats: every heartbeat-elected instance, and etcd-elected ones with election.heartbeat true. */
function exchangesHeartbeats(top: unknown, inst: unknown): boolean {
  return !etcdElected(top, inst) || electionKey(top, inst, 'heartbeat') === true;
}

/**
 * An etcd-elected instance without election.heartbeat exchanges no heartbeats: the heartbeat's own
 * keys, as written (not their defaults: this reads the raw file data), would be silently ignored.
 */
function heartbeatKeysOnEtcd(raw: unknown, report: Report): void {
  if (!isRecord(raw) || !isRecord(raw.instances)) return;
  for (const [name, inst] of Object.entries(raw.instances)) {
    if (!isRecord(inst) || exchangesHeartbeats(raw.election, inst)) continue;
    for (const key of HEARTBEAT_ONLY_KEYS) {
      if (inst[key] !== undefined) report(['instances', name, key], 'a heartbeat setting, but this instance is elected through etcd without heartbeats (election.backend etcd): remove it, or set election.heartbeat: true');
    }
  }
}

/**
 * Rules that span keys. Reads the value defensively: checkConfigData also runs it on the raw
 * input when other keys failed (zod skips refinements then), so every problem is reported at once.
 */
function crossCheck(value: unknown, report: Report): void {
  if (!isRecord(value)) return;
  const protocol = value.protocol ?? DEFAULTS.protocol;
  const instances = isRecord(value.instances) ? value.instances : {};
  const keepalived = isRecord(value.keepalived) && isRecord(value.keepalived.instances) ? value.keepalived.instances : {};
  const instanceCount = Object.keys(instances).length;

  if (instanceCount === 0 && Object.keys(keepalived).length === 0 && (value.instances === undefined || isRecord(value.instances))) {
    report(['instances'], 'expected at least one instance (or a keepalived: section for scripts mode), got none');
  }
  const heartbeatInstances = Object.values(instances).filter((inst) => exchangesHeartbeats(value.election, inst)).length;
  if (protocol === 'ipwarden' && heartbeatInstances > 0 && value.secret === undefined) {
    report(['secret'], 'required with protocol ipwarden: the heartbeat key (env:NAME, file:PATH, credential:NAME), or set protocol: exoip');
  }
  if (protocol === 'exoip') {
    // exoip's 24-byte heartbeat has no room for the etcd report the peers' agreement travels in
    for (const [name, inst] of Object.entries(instances)) {
      if (etcdElected(value.election, inst) && electionKey(value.election, inst, 'onEtcdLoss') === 'hold-if-peers-agree') {
        const own = isRecord(inst) && isRecord(inst.election) && inst.election.onEtcdLoss !== undefined;
        report(own ? ['instances', name, 'election', 'onEtcdLoss'] : ['election', 'onEtcdLoss'], 'hold-if-peers-agree needs protocol ipwarden (exoip heartbeats cannot carry the peers\' etcd report)');
      }
    }
  }

  if (Array.isArray(value.secret)) {
    const seen = new Map<unknown, number>();
    value.secret.forEach((entry, i) => {
      if (!isRecord(entry) || typeof entry.id !== 'number') return;
      const first = seen.get(entry.id);
      if (first !== undefined) report(['secret', i, 'id'], `expected a unique key id, got ${entry.id} (also secret[${first}])`);
      else seen.set(entry.id, i);
    });
  }

  const bindText = isRecord(value.node) && typeof value.node.bind === 'string' ? value.node.bind : DEFAULTS.bind;
  const bind = parseEndpoint(bindText, DEFAULT_HEARTBEAT_PORT);
  const bindFamily = bind ? isIP(bind.host) : 0;

  const addresses = new Map<string, string>();
  for (const [name, inst] of Object.entries(instances)) {
    if (!isRecord(inst)) continue;
    if (typeof inst.address === 'string' && isIP(inst.address)) {
      const canonical = canonicalAddress(inst.address);
      const other = addresses.get(canonical);
      if (other !== undefined) {
        report(['instances', name, 'address'], `expected an address unique across instances, got ${JSON.stringify(inst.address)} (also instance ${JSON.stringify(other)})`);
      }
      else addresses.set(canonical, name);
      if (protocol === 'exoip' && isIP(inst.address) === 6) {
        report(['instances', name, 'address'], `protocol exoip supports IPv4 addresses only, got ${JSON.stringify(inst.address)}`);
      }
    }
    if (Array.isArray(inst.peers) && bind) checkPeers(report, name, inst.peers, bind.host, bind.port, bindFamily);
    for (const list of ['checks', 'actions'] as const) uniqueNames(report, ['instances', name, list], inst[list]);
    checkAfter(report, ['instances', name, 'actions'], inst.actions);
  }
  for (const [name, inst] of Object.entries(keepalived)) {
    if (!isRecord(inst)) continue;
    uniqueNames(report, ['keepalived', 'instances', name, 'actions'], inst.actions);
    checkAfter(report, ['keepalived', 'instances', name, 'actions'], inst.actions);
  }
}

function checkPeers(report: Report, instance: string, peers: unknown[], bindHost: string, bindPort: number, bindFamily: number): void {
  const seen = new Map<string, number>();
  peers.forEach((text, i) => {
    if (typeof text !== 'string') return;
    const peer = parseEndpoint(text, bindPort);
    if (!peer) return;
    const path = ['instances', instance, 'peers', i];
    const family = isIP(peer.host);
    if (family === 6 && bindFamily === 4) {
      report(path, `an IPv6 peer needs an IPv6 node.bind (e.g. "[::]:${bindPort}"), got ${JSON.stringify(text)}`);
    } else if (family === 4 && bindFamily === 6 && !isWildcard(bindHost)) {
      report(path, `an IPv4 peer needs node.bind on an IPv4 address or "[::]", got ${JSON.stringify(text)}`);
    }
    const key = `${canonicalAddress(peer.host)}/${peer.port}`;
    const first = seen.get(key);
    if (first !== undefined) report(path, `duplicate peer (same as ${formatPath(['peers', first])}), got ${JSON.stringify(text)}`);
    else seen.set(key, i);
  });
}

function uniqueNames(report: Report, path: (string | number)[], entries: unknown): void {
  if (!Array.isArray(entries)) return;
  const kind = path[path.length - 1] === 'checks' ? 'check' : 'action';
  const seen = new Map<string, number>();
  entries.forEach((entry, i) => {
    if (!isRecord(entry)) return;
    const name = typeof entry.name === 'string' ? entry.name : typeof entry.plugin === 'string' ? entry.plugin : undefined;
    if (name === undefined) return;
    const first = seen.get(name);
    if (first === undefined) {
      seen.set(name, i);
      return;
    }
    const where = typeof entry.name === 'string' && entry.name !== entry.plugin ? 'name' : 'plugin';
    report([...path, i, where], `expected a unique ${kind} name, got ${JSON.stringify(name)} (also ${formatPath([path[path.length - 1]!, first])}; set name: to tell them apart)`);
  });
}

/** An entry's name as resolved: `name`, else the plugin name. */
function entryNameOf(entry: unknown): string | undefined {
  if (!isRecord(entry)) return undefined;
  return typeof entry.name === 'string' ? entry.name : typeof entry.plugin === 'string' ? entry.plugin : undefined;
}

/**
 * `after:` names other actions of the same list, none twice, and the waits form no cycle
 * (a cycle would never start: each action waits for another of the cycle).
 */
function checkAfter(report: Report, path: (string | number)[], entries: unknown): void {
  if (!Array.isArray(entries)) return;
  const names = entries.map(entryNameOf);
  const index = new Map<string, number>();
  names.forEach((n, i) => n !== undefined && !index.has(n) && index.set(n, i));
  const known = [...index.keys()];
  const edges: number[][] = entries.map(() => []);
  entries.forEach((entry, i) => {
    if (!isRecord(entry) || !Array.isArray(entry.after)) return;
    const seen = new Set<string>();
    entry.after.forEach((dep, j) => {
      if (typeof dep !== 'string') return;
      const at = [...path, i, 'after', j];
      if (seen.has(dep)) return report(at, `expected each name once, got ${JSON.stringify(dep)} twice`);
      seen.add(dep);
      if (dep === names[i]) return report(at, `an action cannot wait for itself, got ${JSON.stringify(dep)}`);
      const target = index.get(dep);
      if (target === undefined) {
        const others = known.filter((n) => n !== names[i]);
        const hint = didYouMean(dep, others);
        const tail = hint ? ` (did you mean "${hint}"?)` : others.length ? ` (actions of this instance: ${others.join(', ')})` : ' (this instance has no other action)';
        return report(at, `expected the name of another action of this instance, got ${JSON.stringify(dep)}${tail}`);
      }
      edges[i]!.push(target);
    });
  });
  for (const cycle of findCycles(edges)) {
    const first = Math.min(...cycle);
    const start = cycle.indexOf(first);
    const loop = [...cycle.slice(start), ...cycle.slice(0, start), first].map((i) => names[i]);
    report([...path, first, 'after'], `expected no cycle, got ${loop.join(' -> ')} (these actions would wait for each other forever)`);
  }
}

/** The cycles of a directed graph (node -> the nodes it waits for), each once (one per strongly connected knot found by DFS). */
function findCycles(edges: readonly number[][]): number[][] {
  const state = edges.map(() => 0); // 0 new, 1 on the DFS stack, 2 done
  const stack: number[] = [];
  const cycles: number[][] = [];
  const visit = (v: number): void => {
    state[v] = 1;
    stack.push(v);
    for (const w of edges[v]!) {
      if (state[w] === 1) cycles.push(stack.slice(stack.indexOf(w)));
      else if (state[w] === 0) visit(w);
    }
    stack.pop();
    state[v] = 2;
  };
  edges.forEach((_, v) => state[v] === 0 && visit(v));
  return cycles;
}

// ------------------------------------------------------------------ parse and JSON Schema

export type ParsedConfig = { ok: true; config: IpwardenConfig } | { ok: false; problems: string[] };

/** Validates rc file data; on failure returns every problem as "path: message". */
export function checkConfigData(raw: unknown): ParsedConfig {
  const r = ipwardenConfigSchema.safeParse(raw);
  const cross: ConfigIssue[] = [];
  heartbeatKeysOnEtcd(raw, (path, message) => cross.push({ path, message }));
  if (r.success && cross.length === 0) return { ok: true, config: r.data };
  if (r.success) return { ok: false, problems: [...new Set(formatIssues(cross))] };
  crossCheck(raw, (path, message) => cross.push({ path, message }));
  const problems = [...formatIssues(zodIssues(r.error, raw, ipwardenConfigSchema)), ...formatIssues(cross)];
  return { ok: false, problems: [...new Set(problems)] };
}

/** Validates rc file data; throws ConfigError(file, problems) listing every problem. */
export function parseConfigData(raw: unknown, file?: string): IpwardenConfig {
  const r = checkConfigData(raw);
  if (!r.ok) throw new ConfigError(file, r.problems);
  return r.config;
}

/** The JSON Schema (draft 2020-12) of the rc file, generated from ipwardenConfigSchema. */
export function configJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(ipwardenConfigSchema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>;
  return generated;
}

/** configJsonSchema() as the text committed in schema/ipwardenrc.schema.json. */
export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}
