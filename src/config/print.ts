/**
 * `ipwarden config print`: the effective config (defaults applied, durations as "1s"), with
 * every secret redacted. Secret references (env:/file:/credential:) are shown as written;
 * literal values under secret-bearing keys (isSecretKeyName) at any depth become "[redacted]".
 * The YAML output is itself a valid rc file.
 */
import { hostname as osHostname } from 'node:os';
import { durationText } from '../util/duration.js';
import { type ActionEntryConfig, type CheckEntryConfig, type InstanceConfig } from './schema.js';
import type { LoadedConfig } from './load.js';
import { isSecretKeyName, redactSecretRef } from './secret.js';
import { dumpYaml } from './yaml.js';
import { ELECTION_DEFAULTS, type ElectionConfig } from '../election/config.js';

export type PrintFormat = 'yaml' | 'json';

export interface PrintOptions {
  /** Shown as node.id when the config sets none (default os.hostname()). */
  hostname?: string;
}

/** Redacts every string inside a secret-bearing value; recurses by key name elsewhere. */
/** "http://user:pw@host/" -> "http://user:[redacted]@host/" (a password in any URL-like string). */
export function redactUrlPassword(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/[^\s/:@]*):[^\s/@]*@/gi, '$1:[redacted]@');
}

function redact(value: unknown, underSecret: boolean): unknown {
  if (typeof value === 'string') return underSecret ? redactSecretRef(value) : redactUrlPassword(value);
  if (Array.isArray(value)) return value.map((v) => redact(v, underSecret));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redact(v, underSecret || isSecretKeyName(k))]));
  }
  return value;
}

function printableCheck(c: CheckEntryConfig): Record<string, unknown> {
  return {
    plugin: c.plugin,
    name: c.name,
    interval: durationText(c.interval),
    timeout: durationText(c.timeout),
    rise: c.rise,
    fall: c.fall,
    weight: c.weight,
    reverse: c.reverse,
    initialState: c.initialState,
    ...c.options,
  };
}

function printableAction(a: ActionEntryConfig): Record<string, unknown> {
  return {
    plugin: a.plugin,
    name: a.name,
    timeout: durationText(a.timeout),
    retries: a.retries,
    required: a.required,
    ...(a.after.length ? { after: a.after } : {}),
    ...a.options,
  };
}

/**
 * `election:` as written (only the keys set; ttl back to text), plus, where backend etcd is set,
 * the etcd-loss policy in effect (heartbeat, onEtcdLoss: what happens when etcd is lost should be
 * visible); secrets redacted by key name.
 */
function printableElection(e: ElectionConfig): Record<string, unknown> {
  const { ttl, ...rest } = e;
  const policy = e.backend === 'etcd' ? { heartbeat: e.heartbeat ?? ELECTION_DEFAULTS.heartbeat, onEtcdLoss: e.onEtcdLoss ?? ELECTION_DEFAULTS.onEtcdLoss } : {};
  return { ...rest, ...policy, ...(ttl !== undefined ? { ttl: durationText(ttl) } : {}) };
}

function printableInstance(i: InstanceConfig): Record<string, unknown> {
  return {
    address: i.address,
    priority: i.priority,
    interval: durationText(i.interval),
    deadRatio: i.deadRatio,
    preempt: i.preempt,
    preemptDelay: durationText(i.preemptDelay),
    peers: [...i.peers],
    checks: i.checks.map(printableCheck),
    actions: i.actions.map(printableAction),
    ...(i.discovery ? { discovery: { plugin: i.discovery.plugin, refresh: durationText(i.discovery.refresh), ...i.discovery.options } } : {}),
    ...(i.election ? { election: printableElection(i.election) } : {}),
  };
}

/** The effective config as plain data in rc-file form, secrets redacted. */
export function printableConfig(loaded: LoadedConfig, opts: PrintOptions = {}): Record<string, unknown> {
  const c = loaded.config;
  const out: Record<string, unknown> = {
    node: { id: c.node.id ?? opts.hostname ?? osHostname(), bind: c.node.bind, control: c.node.control },
    ...(c.secret !== undefined ? { secret: c.secret } : {}),
    log: { ...c.log },
    plugins: [...c.plugins],
    protocol: c.protocol,
    clockSkew: durationText(c.clockSkew),
    ...(c.metrics ? { metrics: { ...c.metrics } } : {}),
    stateFile: c.stateFile,
    ...(c.election ? { election: printableElection(c.election) } : {}),
    instances: Object.fromEntries(Object.entries(c.instances).map(([name, i]) => [name, printableInstance(i)])),
    ...(c.keepalived
      ? {
          keepalived: {
            instances: Object.fromEntries(
              Object.entries(c.keepalived.instances).map(([name, k]) => [name, { address: k.address, actions: k.actions.map(printableAction) }]),
            ),
          },
        }
      : {}),
  };
  return redact(out, false) as Record<string, unknown>;
}

/** printableConfig rendered as YAML (default) or JSON, with a header naming the source file in YAML. */
export function printConfig(loaded: LoadedConfig, format: PrintFormat = 'yaml', opts: PrintOptions = {}): string {
  const data = printableConfig(loaded, opts);
  if (format === 'json') return `${JSON.stringify(data, null, 2)}\n`;
  return `# effective ipwarden config from ${loaded.file} (secrets redacted)\n${dumpYaml(data)}`;
}
