/**
 * The plugin API: what a check or action plugin module default-exports.
 * Third-party authors: `import type { CheckPlugin, ActionPlugin } from "ipwarden"`.
 *
 * A plugin config in the rc file is a flat object: the scheduling keys
 * (`plugin`, `name`, `interval`, `timeout`, ... ) belong to ipwarden, every other key
 * is handed to the plugin's `parseConfig`.
 */

/**
 * What a plugin logs with: `log.info({ key: value }, 'message')` or `log.info('message')`. ipwarden
 * hands plugins its own (pino) logger; `console` fits too (tests, examples).
 */
export interface Logger {
  debug(objOrMsg: unknown, msg?: string): void;
  info(objOrMsg: unknown, msg?: string): void;
  warn(objOrMsg: unknown, msg?: string): void;
  error(objOrMsg: unknown, msg?: string): void;
}

/** States of an instance, as keepalived names them. */
export type InstanceState = 'INIT' | 'BACKUP' | 'MASTER' | 'FAULT' | 'STOP';

/** One problem in a plugin's config; `path` is relative to the plugin's config object. */
export interface ConfigIssue {
  path: (string | number)[];
  message: string;
}

export type ParseResult<C> = { ok: true; config: C } | { ok: false; issues: ConfigIssue[] };

/** Everything a plugin sees besides its own config. */
export interface PluginEnvironment {
  /** Resolves an `env:`/`file:`/`credential:` secret reference (relative to the config file). */
  resolveSecret(ref: string, where: string): string;
  /** Directory of the config file (for relative paths in plugin config). */
  baseDir: string;
}

/** One finding of `ipwarden doctor` (see the optional `doctor` hook of plugins). */
export interface DoctorFinding {
  ok: boolean;
  /** What was examined ("script /etc/ipwarden/check.sh", "Exoscale API credentials"). */
  item: string;
  detail: string;
  /** How to fix it, when not ok. */
  fix?: string;
}

/**
 * What every plugin's `doctor` hook gets, whatever its kind (check, action, discovery): its parsed
 * config and where it runs. `signal` is aborted when `ipwarden doctor` gives up on the plugin.
 */
export interface DoctorContext<C> {
  config: C;
  log: Logger;
  /** The instance whose entry this is. */
  instance: { name: string; address: string };
  node: { id: string };
  signal: AbortSignal;
}

// ---------------------------------------------------------------- checks

export interface CheckResult {
  ok: boolean;
  /** One human line: why it passed or failed ("backend web: 2/2 servers up"). */
  detail: string;
  /** Optional numbers exported with the check (latency is measured by ipwarden itself). */
  metrics?: Record<string, number>;
}

export interface CheckContext<C> {
  /** Aborted when the check's timeout expires or the daemon stops: stop work and return. */
  signal: AbortSignal;
  config: C;
  log: Logger;
  /** The check's name (the entry's `name`, default the plugin name); set by ipwarden's runner. */
  name?: string;
  /** The instance the check belongs to; unset for checks run outside an instance (ad hoc `ipwarden check`). */
  instance?: string;
}

/**
 * One flag of `ipwarden check <plugin> --flag VALUE` (an ad hoc run, no config file): it sets a key
 * of the raw config that parseConfig then validates, so its errors name the flag ("--port: ...").
 * `type` says how the value is read: 'string' (the default), 'integer', 'boolean' (a switch that
 * sets true) or 'list' (repeatable: every value, in order, as string[]). `parse` turns the value
 * into the config value (throw an Error whose message says what was expected).
 */
export type CheckFlag = CheckFlagHelp &
  (
    | { type?: 'string'; parse?(value: string): unknown }
    | { type: 'integer'; parse?(value: number): unknown }
    | { type: 'boolean' }
    | { type: 'list'; parse?(values: string[]): unknown }
  );

export interface CheckFlagHelp {
  /** The flag without dashes, lower-case words joined by "-": "min-up". */
  name: string;
  /** The config key it sets; dotted for a nested key ("tls.ca"). */
  key: string;
  /** Placeholder of the value in --help ("N", "FILE"); not for 'boolean'. */
  arg?: string;
  /** One line of --help. */
  description: string;
}

export interface CheckPlugin<C = unknown> {
  kind: 'check';
  /** The name used as `plugin:` in the rc file. */
  name: string;
  description?: string;
  /** Optional: the flags of `ipwarden check <name>` (listed by `ipwarden check <name> --help`). */
  flags?: readonly CheckFlag[];
  /** Validates the plugin's own keys; issues name the path inside the plugin config. */
  parseConfig(raw: Record<string, unknown>, env: PluginEnvironment): ParseResult<C>;
  /** One run of the check. Throwing, hanging or returning garbage counts as a failure. */
  run(ctx: CheckContext<C>): Promise<CheckResult>;
  /** Optional: what `ipwarden doctor` should verify (script permissions, files...). */
  doctor?(ctx: DoctorContext<C>): Promise<DoctorFinding[]>;
}

// ---------------------------------------------------------------- actions

export interface TransitionEvent {
  instance: { name: string; address: string };
  node: { id: string };
  from: InstanceState;
  to: InstanceState;
  /** Effective priority at the transition. */
  priority: number;
  /** Why (e.g. "peer lb1 dead after 3.0s"). */
  reason: string;
  /**
   * Why, for programs: 'yield' (a better peer), 'shutdown', 'handover' (a MASTER
   * shutting down while a live peer takes over), 'lease-lost' (etcd: stepped down without
   * quorum), 'master-dead', 'preempt', 'fault', 'maintenance', 'recovered', 'startup'... Absent when the
   * transition did not come from an election (keepalived scripts mode).
   */
  cause?: string;
  /** Aborted when the action's timeout expires or a newer transition supersedes this one. */
  signal: AbortSignal;
  /** Fencing token, when the election backend provides one (etcd). */
  fencingToken?: bigint;
}

export interface PeerDeadEvent {
  instance: { name: string; address: string };
  node: { id: string };
  /** The peer declared dead (its node id) and the address it advertised from. */
  peer: { id: string; address: string };
  /** This node's state when the peer was declared dead. */
  state: InstanceState;
  signal: AbortSignal;
}

export interface ActionHandlers {
  onMaster?(event: TransitionEvent): Promise<void>;
  onBackup?(event: TransitionEvent): Promise<void>;
  onFault?(event: TransitionEvent): Promise<void>;
  onStop?(event: TransitionEvent): Promise<void>;
  onPeerDead?(event: PeerDeadEvent): Promise<void>;
  /** Releases resources (timers, sockets) when the daemon stops or reloads. */
  close?(): Promise<void>;
}

/** One cloud API request made by an action, for ipwarden's metrics (ipwarden_api_*). */
export interface ApiCallSample {
  /** Name of the call, e.g. "attach-elastic-ip". */
  call: string;
  /** HTTP status, undefined for a network error or timeout. */
  status?: number;
  durationMs: number;
  error?: boolean;
}

export interface ActionContext<C> {
  config: C;
  log: Logger;
  instance: { name: string; address: string };
  node: { id: string };
  /** Report each API request (metrics); optional for plugins that call no API. */
  onApiCall?: (sample: ApiCallSample) => void;
}

export interface ActionPlugin<C = unknown> {
  kind: 'action';
  name: string;
  description?: string;
  parseConfig(raw: Record<string, unknown>, env: PluginEnvironment): ParseResult<C>;
  /** Creates the per-instance handlers (called once per instance that lists the action). */
  create(ctx: ActionContext<C>): ActionHandlers | Promise<ActionHandlers>;
  /** Optional: what `ipwarden doctor` should verify (API credentials with one read call, tools present...). */
  doctor?(ctx: DoctorContext<C>): Promise<DoctorFinding[]>;
}

// ---------------------------------------------------------------- peer discovery

/** A peer found by a discovery plugin; `port` defaults to the node.bind port (or the entry's own default). */
export interface DiscoveredPeer {
  /** IP literal (heartbeats are matched to peers by source address). */
  host: string;
  port?: number;
  /** What the source calls it (an instance id, a name), for logs and status. */
  id?: string;
}

export interface DiscoveryContext<C> {
  config: C;
  log: Logger;
  instance: { name: string; address: string };
  /** This node: its id and heartbeat bind address (to leave itself out of the list). */
  node: { id: string; bind: { host: string; port: number } };
}

/** One instance's peer source, asked again every `refresh`. */
export interface DiscoverySource {
  /**
   * The current peers, this node excluded. Throwing (or a timeout) keeps the last good
   * list; an empty array is a valid answer (no peers).
   */
  discover(signal: AbortSignal): Promise<DiscoveredPeer[]>;
  close?(): Promise<void>;
}

/** `discovery: { plugin: <name>, refresh: 60s, ... }` of an instance: peers found at runtime. */
export interface DiscoveryPlugin<C = unknown> {
  kind: 'discovery';
  name: string;
  description?: string;
  parseConfig(raw: Record<string, unknown>, env: PluginEnvironment): ParseResult<C>;
  create(ctx: DiscoveryContext<C>): DiscoverySource | Promise<DiscoverySource>;
  /** Optional: what `ipwarden doctor` should verify (credentials with one read call...). */
  doctor?(ctx: DoctorContext<C>): Promise<DoctorFinding[]>;
}

export type Plugin = CheckPlugin<any> | ActionPlugin<any> | DiscoveryPlugin<any>;

/** Identity helpers that give plugin authors type inference. */
export function defineCheck<C>(plugin: CheckPlugin<C>): CheckPlugin<C> {
  return plugin;
}
export function defineAction<C>(plugin: ActionPlugin<C>): ActionPlugin<C> {
  return plugin;
}
export function defineDiscovery<C>(plugin: DiscoveryPlugin<C>): DiscoveryPlugin<C> {
  return plugin;
}
