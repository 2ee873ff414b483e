/**
 * The `election:` setting: which backend elects an instance's MASTER (heartbeat, the default, or
 * etcd), and how to reach etcd. Written once at the top level and/or per instance; an instance's
 * keys override the top-level ones key by key (`tls` and `auth` as a whole).
 *
 * Validation happens in two places: the zod schema (shape, one key at a time, part of the rc file
 * schema) and resolveElections (the merged result: required keys, secrets read, TLS material
 * parsed), so every problem names the key to fix.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { formatDuration, parseDuration } from '../util/duration.js';
import { resolveSecret, SecretError } from '../config/secret.js';

export const ELECTION_DEFAULTS = { backend: 'heartbeat', prefix: '/ipwarden', ttl: '3s', heartbeat: false, onEtcdLoss: 'release' } as const;

/** What a MASTER does when it cannot renew its etcd lease (see etcd-peers.ts and ipwarden(8)). */
export const ETCD_LOSS_POLICIES = ['release', 'hold-if-peers-agree'] as const;
export type EtcdLossPolicy = (typeof ETCD_LOSS_POLICIES)[number];

/**
 * etcd (3.4, Debian's etcd-server) looks for expired leases every 500 ms (lessor runLoop) and then
 * revokes them through raft: a dead holder's key goes up to that much after its TTL.
 */
export const ETCD_EXPIRY_SCAN_MS = 500;
/**
 * The shortest ttl for which "a dead MASTER is replaced within ttl + ttl/4" holds: ttl/4 must
 * cover the 500 ms expiry scan plus the watch event and the claim transaction. Whole seconds.
 */
export const ETCD_MIN_BOUNDED_TTL_MS = 3000;

/** The config check's warning for a ttl below ETCD_MIN_BOUNDED_TTL_MS (undefined at or above it). */
export function shortTtlWarning(where: string, ttlMs: number): string | undefined {
  if (ttlMs >= ETCD_MIN_BOUNDED_TTL_MS) return undefined;
  const ttl = formatDuration(ttlMs);
  return (
    `${where}: ${ttl} is below ${formatDuration(ETCD_MIN_BOUNDED_TTL_MS)}: a dead MASTER is replaced within ${ttl} + ${ETCD_EXPIRY_SCAN_MS} ms ` +
    `(etcd checks lease expiry every ${ETCD_EXPIRY_SCAN_MS} ms) + one claim, not ${ttl} + ttl/4; and etcd grants at least ` +
    `ceil(1.5 × its --election-timeout) seconds (2s with its default 1000 ms${ttlMs < 2000 ? `: a ${ttl} lease needs --election-timeout 666 or less` : ''}). ` +
    `See ipwarden(8), ETCD ELECTION, Failover times`
  );
}

const TTL_MIN_MS = 1000;
const TTL_MAX_MS = 300_000;

const describe = <T extends z.ZodType>(schema: T, description: string): T => schema.meta({ description });

const ENDPOINT_MESSAGE = 'expected an etcd client URL like "https://198.51.100.5:2379"';
const endpointUrl = () =>
  z.string({ error: ENDPOINT_MESSAGE }).refine((s) => {
    if (!/^https?:\/\/[^/?#]+\/?$/.test(s) || !URL.canParse(s)) return false;
    const u = new URL(s);
    return u.port !== '' && u.username === '' && u.password === '';
  }, { error: ENDPOINT_MESSAGE });

const secretRef = (what: string) =>
  z.string({ error: `expected ${what} as a secret reference (file:PATH, env:NAME, credential:NAME)` }).min(1, { error: `expected ${what}` });

const ttlSchema = z
  .string({ error: 'expected a duration in whole seconds like "3s"' })
  .transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined || ms % 1000 !== 0) {
      ctx.issues.push({ code: 'custom', message: 'expected a duration in whole seconds like "3s" (etcd lease TTLs are whole seconds)', input: text });
      return z.NEVER;
    }
    if (ms < TTL_MIN_MS || ms > TTL_MAX_MS) {
      ctx.issues.push({ code: 'custom', message: 'expected a TTL from 1s to 5m', input: text });
      return z.NEVER;
    }
    return ms;
  })
  .meta({ type: 'string', pattern: '^\\d+(?:s|m)$' });

/** `election:` as written (top level or per instance): every key optional, merged in resolve. */
export const electionSchema = describe(
  z.strictObject({
    backend: describe(
      z.enum(['heartbeat', 'etcd']),
      `Who elects the MASTER: "heartbeat" (peers exchange UDP adverts; the default) or "etcd" (a leader key under a lease in an etcd v3 cluster: never two holders, even in a partition; see ipwarden(8), ETCD ELECTION).`,
    ).optional(),
    endpoints: describe(
      z.array(endpointUrl()).min(1, { error: 'expected at least one etcd endpoint' }),
      'etcd client URLs ("https://198.51.100.5:2379"), all http:// or all https://. Required with backend etcd.',
    ).optional(),
    prefix: describe(
      z
        .string({ error: 'expected a key prefix like "/ipwarden"' })
        .regex(/^\/[\x21-\x7e]*[\x21-\x2e\x30-\x7e]$/, { error: 'expected a key prefix starting with "/", without a trailing "/" or spaces, like "/ipwarden"' }),
      `etcd key prefix; an instance uses <prefix>/<instance>/leader and <prefix>/<instance>/candidates/<node> (default "${ELECTION_DEFAULTS.prefix}").`,
    ).optional(),
    ttl: describe(
      ttlSchema,
      `Lease TTL, whole seconds 1s..5m (default ${ELECTION_DEFAULTS.ttl}). A MASTER renews every ttl/4 and steps down after ttl/2 without a renewal; a dead MASTER is replaced within about ttl. etcd may grant more than asked (its minimum is 1.5 × its election timeout).`,
    ).optional(),
    heartbeat: describe(
      z.boolean({ error: 'expected true or false' }),
      'backend etcd: also exchange UDP heartbeats with the instance\'s peers (interval, deadRatio, peers and the top-level secret then apply). A backup with proof that the MASTER\'s daemon died while its host is up (ICMP port unreachable) revokes its lease: failover within one interval instead of the TTL. Needed by onEtcdLoss hold-if-peers-agree. Default false.',
    ).optional(),
    onEtcdLoss: describe(
      z.enum(ETCD_LOSS_POLICIES, { error: `expected one of ${ETCD_LOSS_POLICIES.join(', ')}` }),
      'backend etcd: what a MASTER does when it cannot renew its lease. "release" (default): step down before the lease can expire. "hold-if-peers-agree": keep the IP while every configured peer answers over the heartbeat channel that it cannot reach etcd either and sees this node as MASTER with the same fencing token; one peer silent or disagreeing and it steps down as with release. Needs heartbeat: true.',
    ).optional(),
    tls: describe(
      z.strictObject({
        ca: describe(secretRef('a PEM CA certificate'), 'CA certificate(s) (PEM) that sign the etcd server certificates: file:PATH, env:NAME or credential:NAME; default the system CAs.').optional(),
        cert: describe(secretRef('a PEM client certificate'), 'Client certificate (PEM) when etcd requires client certificates; needs `key`.').optional(),
        key: describe(secretRef('a PEM private key').meta({ writeOnly: true }), 'Private key (PEM) of `cert`: file:PATH, env:NAME or credential:NAME.').optional(),
      }),
      'TLS towards etcd (https:// endpoints).',
    ).optional(),
    auth: describe(
      z.strictObject({
        user: describe(z.string({ error: 'expected an etcd user name' }).min(1, { error: 'expected an etcd user name' }), 'etcd user name.'),
        password: describe(secretRef('the password').meta({ writeOnly: true }), 'Its password: env:NAME, file:PATH or credential:NAME.'),
      }),
      'etcd user/password authentication; the user needs readwrite on <prefix>/.',
    ).optional(),
  }),
  'Election backend: heartbeat (default) or etcd. At the top level: the default of every instance; in an instance: overrides the top-level keys one by one.',
);

/** `election:` after the schema (ttl in ms); unset keys inherit. */
export type ElectionConfig = z.output<typeof electionSchema>;

/** TLS material read and parsed (PEM text). */
export interface EtcdTlsSettings {
  ca?: string;
  cert?: string;
  key?: string;
}

/** An instance elected through etcd: everything needed to connect, secrets resolved. */
export interface EtcdElectionSettings {
  backend: 'etcd';
  endpoints: string[];
  prefix: string;
  /** Lease TTL asked for, ms (whole seconds). */
  ttlMs: number;
  /** Heartbeats with the instance's peers too (crash fast path, onEtcdLoss hold-if-peers-agree). */
  heartbeat: boolean;
  onEtcdLoss: EtcdLossPolicy;
  tls?: EtcdTlsSettings;
  auth?: { user: string; password: string };
}

export interface ElectionResolveContext {
  baseDir: string;
  env: NodeJS.ProcessEnv;
  /** A problem ("path: message"). */
  problem(message: string): void;
  warn(message: string): void;
}

const isReference = (value: string): boolean => /^(env|file|credential):/.test(value);

/**
 * Merges the top-level `election:` with each instance's and resolves the etcd ones (secrets
 * read, TLS material parsed). Returns the etcd settings by instance name; heartbeat instances
 * are absent. Problems of the top-level keys are reported once, under `election.`.
 */
export function resolveElections(
  top: ElectionConfig | undefined,
  instances: [name: string, election: ElectionConfig | undefined][],
  ctx: ElectionResolveContext,
): Map<string, EtcdElectionSettings> {
  const out = new Map<string, EtcdElectionSettings>();
  const reported = new Set<string>();
  const problem = (message: string) => {
    if (!reported.has(message)) ctx.problem(message);
    reported.add(message);
  };
  const warn = (message: string) => {
    if (!reported.has(message)) ctx.warn(message);
    reported.add(message);
  };
  const secretCache = new Map<string, string | undefined>();
  const read = (ref: string, where: string): string | undefined => {
    const key = `${where}\0${ref}`;
    if (secretCache.has(key)) return secretCache.get(key);
    let value: string | undefined;
    try {
      value = resolveSecret(ref, where, { baseDir: ctx.baseDir, env: ctx.env });
    } catch (err) {
      if (!(err instanceof SecretError)) throw err;
      problem(err.message);
    }
    secretCache.set(key, value);
    return value;
  };

  for (const [name, local] of instances) {
    const merged = { ...(top ?? {}), ...(local ?? {}) };
    if ((merged.backend ?? ELECTION_DEFAULTS.backend) !== 'etcd') continue;
    /** Where a merged key was written (for messages). */
    const at = (key: keyof ElectionConfig) => (local && local[key] !== undefined ? `instances.${name}.election.${key}` : `election.${key}`);
    const endpoints = merged.endpoints;
    if (!endpoints) {
      problem(`${local?.backend === 'etcd' ? `instances.${name}.election` : 'election'}.endpoints: required with backend etcd (etcd client URLs, e.g. ["https://198.51.100.5:2379"])`);
      continue;
    }
    const secure = endpoints.filter((e) => e.startsWith('https:')).length;
    if (secure !== 0 && secure !== endpoints.length) {
      problem(`${at('endpoints')}: expected all http:// or all https:// endpoints, got a mix`);
      continue;
    }
    const settings: EtcdElectionSettings = {
      backend: 'etcd',
      endpoints: endpoints.map((e) => e.replace(/\/$/, '')),
      prefix: merged.prefix ?? ELECTION_DEFAULTS.prefix,
      ttlMs: merged.ttl ?? parseDuration(ELECTION_DEFAULTS.ttl)!,
      heartbeat: merged.heartbeat ?? ELECTION_DEFAULTS.heartbeat,
      onEtcdLoss: merged.onEtcdLoss ?? ELECTION_DEFAULTS.onEtcdLoss,
    };
    let ok = true;
    if (settings.onEtcdLoss === 'hold-if-peers-agree' && !settings.heartbeat) {
      problem(`${at('onEtcdLoss')}: hold-if-peers-agree needs ${local?.heartbeat !== undefined ? `instances.${name}.election` : 'election'}.heartbeat: true (the peers answer over the heartbeat channel)`);
      ok = false;
    }
    const short = shortTtlWarning(at('ttl'), settings.ttlMs);
    if (short) warn(short);
    if (merged.tls) {
      const where = at('tls');
      if (secure === 0) {
        problem(`${where}: TLS needs https:// endpoints (${at('endpoints')} are http://)`);
        ok = false;
      }
      const tls = resolveTls(merged.tls, where, read, problem, warn);
      if (tls) settings.tls = tls;
      else ok = false;
    }
    if (merged.auth) {
      const where = at('auth');
      if (!isReference(merged.auth.password)) warn(`${where}.password: a literal secret in the config file; prefer env:NAME, file:PATH or credential:NAME`);
      const password = read(merged.auth.password, `${where}.password`);
      if (password === undefined) ok = false;
      else settings.auth = { user: merged.auth.user, password };
      if (secure === 0) warn(`${where}: the password travels in clear over http:// endpoints; prefer https://`);
    }
    if (ok) out.set(name, settings);
  }
  return out;
}

function resolveTls(
  tls: NonNullable<ElectionConfig['tls']>,
  where: string,
  read: (ref: string, where: string) => string | undefined,
  problem: (m: string) => void,
  warn: (m: string) => void,
): EtcdTlsSettings | undefined {
  const out: EtcdTlsSettings = {};
  let ok = true;
  const hint = (ref: string) => (isReference(ref) ? '' : ' (a literal value is taken as PEM text: use file:PATH to read a file)');
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    problem(`${where}.${tls.cert === undefined ? 'cert' : 'key'}: required with ${where}.${tls.cert === undefined ? 'key' : 'cert'} (a client certificate and its key go together)`);
    ok = false;
  }
  let cert: X509Certificate | undefined;
  let key: KeyObject | undefined;
  if (tls.ca !== undefined) {
    const pem = read(tls.ca, `${where}.ca`);
    if (pem === undefined) ok = false;
    else if (!parseCertificate(pem)) {
      problem(`${where}.ca: not a PEM certificate${hint(tls.ca)}`);
      ok = false;
    } else out.ca = pem;
  }
  if (tls.cert !== undefined) {
    const pem = read(tls.cert, `${where}.cert`);
    cert = pem === undefined ? undefined : parseCertificate(pem);
    if (pem !== undefined && !cert) problem(`${where}.cert: not a PEM certificate${hint(tls.cert)}`);
    if (!cert) ok = false;
    else out.cert = pem;
  }
  if (tls.key !== undefined) {
    if (!isReference(tls.key)) warn(`${where}.key: a literal secret in the config file; prefer file:PATH or credential:NAME`);
    const pem = read(tls.key, `${where}.key`);
    try {
      key = pem === undefined ? undefined : createPrivateKey(pem);
    } catch {
      problem(`${where}.key: not a PEM private key${isReference(tls.key) ? '' : ' (use file:PATH to read a file)'}`);
    }
    if (!key) ok = false;
    else out.key = pem;
  }
  if (cert && key && !cert.checkPrivateKey(key)) {
    problem(`${where}.key: does not match the certificate in ${where}.cert`);
    ok = false;
  }
  return ok ? out : undefined;
}

function parseCertificate(pem: string): X509Certificate | undefined {
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) return undefined;
  try {
    return new X509Certificate(pem);
  } catch {
    return undefined;
  }
}

/** A stable identity of an instance's election settings: a change restarts the instance. */
export function electionIdentity(e: EtcdElectionSettings | undefined): string {
  return e ? JSON.stringify(e) : 'heartbeat';
}
