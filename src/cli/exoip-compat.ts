/**
 * exoip drop-in: exoip's command line (Go `flag` syntax: -W, -xi VALUE, -P=10, --t 1) and its
 * ifupdown IF_* environment, mapped to an ipwarden rc config. Pure (no I/O): the command in
 * commands/exoip.ts adds what needs the network (instance id, zone) and runs it.
 *
 * | exoip            | env (ifupdown)             | ipwarden                                                        |
 * |------------------|----------------------------|-----------------------------------------------------------------|
 * | -W / -A / -D     |                            | run the daemon / `eip attach` / `eip detach` for this instance  |
 * | -xi ADDRESS      | IF_ADDRESS                 | instances.eip.address (IPv4 only, as exoip)                     |
 * | -xk KEY          | IF_EXOSCALE_API_KEY        | exoscale-eip / discovery apiKey                                 |
 * | -xs SECRET       | IF_EXOSCALE_API_SECRET     | exoscale-eip / discovery apiSecret                              |
 * | -xe URL          | IF_EXOSCALE_API_ENDPOINT   | endpoint, if it is an API v2 URL (…/v2); exoip's v1 URL ignored |
 * | -P PRIO (10)     | IF_HOST_PRIORITY           | priority = 255 − PRIO (exoip's LOWEST wins, ipwarden's HIGHEST) |
 * | -t SECONDS (1)   | IF_ADVERTISEMENT_INTERVAL  | interval                                                        |
 * | -r RATIO (3)     | IF_DEAD_RATIO              | deadRatio                                                       |
 * | -l [IP]:PORT     | IF_BIND_TO                 | node.bind (":12345" = all addresses); peers use its port        |
 * | -p IP[,IP]…      | IF_EXOSCALE_PEERS          | peers (the first -p replaces the env list, as exoip)            |
 * | -G GROUP         | IF_EXOSCALE_PEER_GROUP     | discovery: exoscale-security-group, refresh 5m (exoip's)        |
 * | -i UUID          | IF_EXOSCALE_INSTANCE_ID    | node.id and the action's instanceId (default: metadata server)  |
 * | -v, -O, -n       |                            | log level debug; no-op (ipwarden logs to stdout); check + print |
 * | -version         |                            | print the version                                               |
 *
 * Always `protocol: exoip` (exoip's 24-byte heartbeat), so remaining exoip nodes keep working
 * during a node-by-node migration. ipwarden-only extras (same syntax): -zone, -metadata-url,
 * -control, -state-file.
 *
 * Differences on purpose: equal priorities no longer make every node MASTER (ipwarden breaks the
 * tie by node id); -p and -G may be combined; the strategy is `move` with fencing, reconcile 30 s.
 */
import { isIP } from 'node:net';
import { parseEndpoint } from '../config/endpoint.js';
import { DEFAULT_HEARTBEAT_PORT } from '../config/endpoint.js';
import { isUuid } from '../exoscale/types.js';
import { ZONE_NAME_RE } from '../exoscale/connection.js';

export type ExoipMode = 'W' | 'A' | 'D';

/** exoip's settings after flags and environment. */
export interface ExoipSettings {
  mode: ExoipMode;
  /** exoip priority 0..255, lower wins. */
  priority: number;
  /** exoip -l as written. */
  bindTo: string;
  peers: string[];
  peerGroup?: string;
  address: string;
  apiKey: string;
  apiSecret: string;
  endpoint?: string;
  instanceId?: string;
  intervalSeconds: number;
  deadRatio: number;
  verbose: boolean;
  checkOnly: boolean;
  stdout: boolean;
  // ipwarden extras
  zone?: string;
  metadataUrl?: string;
  control?: string;
  stateFile?: string;
}

/** A usage error (exit 2), worded like exoip's where exoip has a message. */
export class ExoipUsageError extends Error {
  override name = 'ExoipUsageError';
}

interface FlagDef {
  bool?: boolean;
  env?: string;
}

/** exoip's flags (cmd/exoip/main.go) plus ipwarden's extras. */
export const EXOIP_FLAGS: Record<string, FlagDef> = {
  W: { bool: true },
  A: { bool: true },
  D: { bool: true },
  t: { env: 'IF_ADVERTISEMENT_INTERVAL' },
  r: { env: 'IF_DEAD_RATIO' },
  P: { env: 'IF_HOST_PRIORITY' },
  l: { env: 'IF_BIND_TO' },
  p: { env: 'IF_EXOSCALE_PEERS' },
  G: { env: 'IF_EXOSCALE_PEER_GROUP' },
  xi: { env: 'IF_ADDRESS' },
  xk: { env: 'IF_EXOSCALE_API_KEY' },
  xs: { env: 'IF_EXOSCALE_API_SECRET' },
  xe: { env: 'IF_EXOSCALE_API_ENDPOINT' },
  i: { env: 'IF_EXOSCALE_INSTANCE_ID' },
  v: { bool: true },
  n: { bool: true },
  O: { bool: true },
  version: { bool: true },
  // ipwarden extras
  zone: {},
  'metadata-url': {},
  control: {},
  'state-file': {},
};

/** exoip's defaults. */
export const EXOIP_DEFAULTS = { priority: 10, bindTo: `:${DEFAULT_HEARTBEAT_PORT}`, intervalSeconds: 1, deadRatio: 3 } as const;
/** exoip's default -xe: the legacy v1 (CloudStack) endpoint, which ipwarden cannot use. */
export const EXOIP_V1_ENDPOINT = 'https://api.exoscale.ch/compute';

const BOOL_VALUES: Record<string, boolean> = { '1': true, t: true, T: true, true: true, TRUE: true, True: true, '0': false, f: false, F: false, false: false, FALSE: false, False: false };

/** Splits a peer list the way exoip reads -p and IF_EXOSCALE_PEERS: commas (and blanks). */
function splitPeers(text: string): string[] {
  return text.split(/[\s,]+/).filter((p) => p !== '');
}

/**
 * Parses exoip's argv with Go `flag` rules (one or two dashes, `-f value` or `-f=value`, booleans
 * only as `-f` or `-f=bool`, stops at `--` or the first non-flag) over the IF_* environment
 * (flags win). Returns `{ version: true }` for -version.
 */
export function parseExoipArgs(argv: readonly string[], env: NodeJS.ProcessEnv): { version: true } | ExoipSettings {
  const raw = new Map<string, string[]>();
  const bools = new Set<string>();
  const setBools = new Map<string, boolean>();
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      i++;
      break;
    }
    if (!arg.startsWith('-') || arg === '-') break;
    let name = arg.slice(arg.startsWith('--') ? 2 : 1);
    if (name === '' || name.startsWith('-') || name.startsWith('=')) throw new ExoipUsageError(`bad flag syntax: ${arg}`);
    let value: string | undefined;
    const eq = name.indexOf('=');
    if (eq >= 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    const def = EXOIP_FLAGS[name];
    if (!def) throw new ExoipUsageError(`flag provided but not defined: -${name}`);
    if (def.bool) {
      if (value === undefined) setBools.set(name, true);
      else if (value in BOOL_VALUES) setBools.set(name, BOOL_VALUES[value]!);
      else throw new ExoipUsageError(`invalid boolean value ${JSON.stringify(value)} for -${name}`);
      bools.add(name);
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new ExoipUsageError(`flag needs an argument: -${name}`);
      value = argv[++i]!;
    }
    raw.set(name, [...(raw.get(name) ?? []), value]);
  }
  if (i < argv.length) throw new ExoipUsageError(`unexpected argument ${JSON.stringify(argv[i])} (exoip takes flags only)`);
  if (setBools.get('version')) return { version: true };

  // environment first, then flags (exoip applies IF_* with flag.Set before flag.Parse)
  const value = (name: string): string | undefined => {
    const fromFlag = raw.get(name);
    if (fromFlag) return fromFlag[fromFlag.length - 1];
    const envName = EXOIP_FLAGS[name]!.env;
    const fromEnv = envName ? env[envName] : undefined;
    return fromEnv !== undefined && fromEnv !== '' ? fromEnv : undefined;
  };
  const intValue = (name: string, fallback: number, what: string): number => {
    const text = value(name);
    if (text === undefined) return fallback;
    if (!/^[+-]?\d+$/.test(text.trim())) {
      throw new ExoipUsageError(`invalid value ${JSON.stringify(text)} for flag -${name} (${what}): parse error`);
    }
    return Number(text.trim());
  };

  const modes = (['A', 'D', 'W'] as const).filter((m) => setBools.get(m));
  if (modes.length !== 1) throw new ExoipUsageError('need exactly one of -A, -D, or -W');
  const mode = modes[0]!;

  const address = value('xi');
  if (address === undefined) throw new ExoipUsageError('missing Elastic IP: -xi ADDRESS or IF_ADDRESS');
  if (isIP(address) === 6) throw new ExoipUsageError('IPv6 addresses are unsupported');
  if (isIP(address) !== 4) throw new ExoipUsageError(`-xi: ${JSON.stringify(address)} is not an IPv4 address`);
  const apiKey = value('xk');
  if (apiKey === undefined) throw new ExoipUsageError('missing API key: -xk KEY or IF_EXOSCALE_API_KEY');
  const apiSecret = value('xs');
  if (apiSecret === undefined) throw new ExoipUsageError('missing API secret: -xs SECRET or IF_EXOSCALE_API_SECRET');

  const priority = intValue('P', EXOIP_DEFAULTS.priority, 'host priority');
  if (mode === 'W' && (priority < 0 || priority > 255)) throw new ExoipUsageError(`-P: priority must be within 0..255, got ${priority}`);
  const intervalSeconds = intValue('t', EXOIP_DEFAULTS.intervalSeconds, 'advertisement interval');
  if (intervalSeconds < 1 || intervalSeconds > 60) throw new ExoipUsageError(`-t: advertisement interval must be 1..60 seconds, got ${intervalSeconds}`);
  const deadRatio = intValue('r', EXOIP_DEFAULTS.deadRatio, 'dead ratio');
  if (deadRatio < 2 || deadRatio > 20) throw new ExoipUsageError(`-r: dead ratio must be 2..20, got ${deadRatio}`);

  const bindTo = value('l') ?? EXOIP_DEFAULTS.bindTo;
  if (!bindEndpoint(bindTo)) throw new ExoipUsageError(`-l: expected [IP]:PORT like ":12345" or "198.51.100.11:12345", got ${JSON.stringify(bindTo)}`);

  // -p: the first command-line -p replaces the environment list; further ones append
  const peerTexts = raw.has('p') ? raw.get('p')! : env.IF_EXOSCALE_PEERS ? [env.IF_EXOSCALE_PEERS] : [];
  const peers = peerTexts.flatMap(splitPeers);
  for (const p of peers) {
    if (!parseEndpoint(p, 1)) throw new ExoipUsageError(`-p: ${JSON.stringify(p)} is not an IP address`);
  }

  const instanceId = value('i');
  if (instanceId !== undefined && !isUuid(instanceId)) throw new ExoipUsageError(`-i: ${JSON.stringify(instanceId)} is not a valid instance ID (UUID)`);
  const zone = value('zone');
  if (zone !== undefined && !ZONE_NAME_RE.test(zone)) throw new ExoipUsageError(`-zone: expected a zone name like ch-gva-2, got ${JSON.stringify(zone)}`);
  const endpoint = value('xe');
  if (endpoint !== undefined && !URL.canParse(endpoint)) throw new ExoipUsageError(`-xe: ${JSON.stringify(endpoint)} is not a URL`);
  const group = value('G');
  const opt = <K extends string>(k: K, v: string | undefined) => (v !== undefined ? ({ [k]: v } as Record<K, string>) : {});

  return {
    mode,
    priority,
    bindTo,
    peers,
    address,
    apiKey,
    apiSecret,
    intervalSeconds,
    deadRatio,
    verbose: setBools.get('v') === true,
    checkOnly: setBools.get('n') === true,
    stdout: setBools.get('O') === true,
    ...opt('peerGroup', group),
    ...opt('endpoint', endpoint),
    ...opt('instanceId', instanceId?.toLowerCase()),
    ...opt('zone', zone),
    ...opt('metadataUrl', value('metadata-url')),
    ...opt('control', value('control')),
    ...opt('stateFile', value('state-file')),
  };
}

/** exoip's -l: "[IP]:PORT" (":12345" = all addresses) or a bare IP (port 12345). */
export function bindEndpoint(text: string): { host: string; port: number } | undefined {
  if (text.startsWith(':')) {
    const port = Number(text.slice(1));
    return /^\d{1,5}$/.test(text.slice(1)) && port >= 1 && port <= 65535 ? { host: '0.0.0.0', port } : undefined;
  }
  const e = parseEndpoint(text, DEFAULT_HEARTBEAT_PORT);
  return e && isIP(e.host) === 4 ? e : undefined;
}

/** exoip priority (lower wins, 0..255) -> ipwarden priority (higher wins, 1..254): 255 − p, clamped. */
export function ipwardenPriority(exoipPriority: number): number {
  return Math.min(254, Math.max(1, 255 - exoipPriority));
}

/** The API v2 endpoint to use from exoip's -xe, or undefined (exoip's v1 URL, or anything not ending in /v2). */
export function v2Endpoint(xe: string | undefined): string | undefined {
  if (xe === undefined) return undefined;
  const u = new URL(xe);
  return /\/v2\/?$/.test(u.pathname) ? xe.replace(/\/+$/, '') : undefined;
}

/** Environment names the generated config reads the credentials from (never literals in the config). */
export const EXOIP_KEY_ENV = 'IPWARDEN_EXOIP_API_KEY';
export const EXOIP_SECRET_ENV = 'IPWARDEN_EXOIP_API_SECRET';

export interface ExoipRuntimeFacts {
  /** This instance's id (from -i or the metadata server). */
  instanceId: string;
  zone: string;
  /** API v2 endpoint (from -xe, EXOSCALE_API_ENDPOINT, or the zone's). */
  endpoint?: string;
  /** Where the metadata came from, for the action (only when not the default). */
  metadataUrl?: string;
}

/**
 * The ipwarden rc config (input form, as a file would hold it) equivalent to exoip -W with these
 * settings. Credentials are `env:` references to EXOIP_KEY_ENV / EXOIP_SECRET_ENV.
 */
export function exoipConfig(s: ExoipSettings, facts: ExoipRuntimeFacts): Record<string, unknown> {
  const bind = bindEndpoint(s.bindTo)!;
  const connection = {
    zone: facts.zone,
    apiKey: `env:${EXOIP_KEY_ENV}`,
    apiSecret: `env:${EXOIP_SECRET_ENV}`,
    ...(facts.endpoint ? { endpoint: facts.endpoint } : {}),
  };
  const safeAddress = s.address.replace(/[^0-9.]/g, '_');
  return {
    node: {
      id: facts.instanceId,
      bind: `${bind.host}:${bind.port}`,
      control: s.control ?? `/run/ipwarden/exoip-${safeAddress}.sock`,
    },
    protocol: 'exoip',
    log: { level: s.verbose ? 'debug' : 'info', format: 'json' },
    stateFile: s.stateFile ?? `/var/lib/ipwarden/exoip-${safeAddress}.json`,
    instances: {
      eip: {
        address: s.address,
        priority: ipwardenPriority(s.priority),
        interval: `${s.intervalSeconds}s`,
        deadRatio: s.deadRatio,
        preempt: true,
        peers: s.peers,
        ...(s.peerGroup
          ? { discovery: { plugin: 'exoscale-security-group', refresh: '5m', securityGroup: s.peerGroup, instanceId: facts.instanceId, ...connection } }
          : {}),
        actions: [
          {
            plugin: 'exoscale-eip',
            ...connection,
            instanceId: facts.instanceId,
            ...(facts.metadataUrl ? { metadataUrl: facts.metadataUrl } : {}),
            strategy: 'move',
            release: true,
          },
        ],
      },
    },
  };
}
