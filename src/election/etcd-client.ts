/**
 * Connections to etcd (etcd3, the maintained etcd v3 gRPC client), shared by the instances of a
 * daemon that use the same endpoints, TLS material, credentials and timing; and the one place
 * that turns etcd/gRPC failures into clear, secret-free messages.
 *
 * Every unary call has a deadline (callTimeoutMs); there is no hidden retry: the election's own
 * loops retry on their schedule. An endpoint whose call failed for a connection reason is skipped
 * for `skipMs` (all skipped: the last error is reported), so a dead member does not cost every
 * other call a timeout.
 */
import { createRequire } from 'node:module';
import type { Etcd3, IOptions } from 'etcd3';

/** etcd3 (and gRPC under it) load only when an instance uses the etcd backend. */
const requireLazily = createRequire(import.meta.url);
import type { EtcdElectionSettings } from './config.js';

type Policy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>;

/** What went wrong talking to etcd, as a small fixed set (status, log de-duplication). */
export type EtcdErrorKind = 'unreachable' | 'tls' | 'auth' | 'permission' | 'lease' | 'other';

export interface EtcdFailure {
  kind: EtcdErrorKind;
  /** One line, naming what to check; never a secret. */
  message: string;
}

/** The raw message, first line, with a secret (if ever echoed) masked. */
function rawMessage(err: unknown, secrets: string[]): string {
  let text = String((err as Error)?.message ?? err).split('\n')[0]!.trim();
  for (const s of secrets) if (s.length >= 4) text = text.split(s).join('[redacted]');
  return text.replace(/^\d+ [A-Z_]+: /, '').replace(/ Resolution note: *$/, '').replace(/\.\s*$/, '');
}

/** Classifies an etcd/gRPC failure and words it for an operator. */
export function describeEtcdError(err: unknown, settings: Pick<EtcdElectionSettings, 'endpoints' | 'prefix' | 'auth' | 'tls'>): EtcdFailure {
  const raw = String((err as Error)?.message ?? err);
  const text = rawMessage(err, settings.auth ? [settings.auth.password] : []);
  const user = settings.auth?.user;
  const endpoints = settings.endpoints.join(', ');
  if (/user name is empty/i.test(raw)) {
    return { kind: 'auth', message: 'etcd requires authentication: set election.auth (user and password)' };
  }
  if (/authentication failed|invalid user ID or password|user name not found/i.test(raw)) {
    return { kind: 'auth', message: `etcd rejected the credentials of user "${user ?? ''}" (check election.auth.user and election.auth.password)` };
  }
  if (/permission denied/i.test(raw)) {
    return { kind: 'permission', message: `etcd user "${user ?? ''}" may not read/write ${settings.prefix}/ (grant it a role with readwrite on the prefix ${settings.prefix}/)` };
  }
  if (/auth(entication)? is not enabled/i.test(raw)) {
    return { kind: 'auth', message: 'etcd has authentication disabled but election.auth is set (remove it, or enable auth in etcd)' };
  }
  if (/certificate|SSL|TLS|handshake|wrong version number|unknown ca|alert number|self.signed|ERR_OSSL/i.test(raw)) {
    const why = text.replace(/^No connection established\. Last error: (Error: )?/i, '');
    return { kind: 'tls', message: `TLS with etcd failed: ${why} (check election.tls: ca must sign the etcd server certificate and match its address; cert/key must be a client certificate etcd trusts)` };
  }
  if (/lease not found|expired or revoked/i.test(raw)) {
    return { kind: 'lease', message: 'our etcd lease expired or was revoked' };
  }
  if (/UNAVAILABLE|DEADLINE|No connection established|ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|Connection dropped|no leader|leader changed|timed out|Deadline exceeded|skipped/i.test(raw)) {
    return { kind: 'unreachable', message: `etcd unreachable (${endpoints}): ${unreachableWhy(raw, text)}` };
  }
  return { kind: 'other', message: `etcd error: ${text}` };
}

/** Short words for gRPC's connection failures. */
function unreachableWhy(raw: string, text: string): string {
  if (/no leader|leader changed/i.test(raw)) return 'no etcd leader (quorum lost?)';
  if (/ECONNREFUSED/.test(raw)) return 'connection refused';
  if (/EHOSTUNREACH|ENETUNREACH/.test(raw)) return 'no route to host';
  if (/No connection established/i.test(raw)) {
    const last = /Last error: (?:Error: )?([^.,]+)/.exec(text)?.[1];
    return last && last !== 'null' ? `cannot connect: ${last}` : 'cannot connect';
  }
  if (/Deadline exceeded|DEADLINE|timed out/i.test(raw)) return 'no answer in time';
  return text;
}

/** A failure that says nothing about the endpoint itself (the call reached etcd). */
function reachedEtcd(err: unknown): boolean {
  return /etcdserver:|permission denied|authentication/i.test(String((err as Error)?.message ?? err));
}

/** Skips an endpoint for `skipMs` after a connection failure (a minimal circuit breaker). */
function endpointSkipper(skipMs: number): Policy {
  let skipUntil = 0;
  let lastError: unknown;
  const disposable = { dispose() {} };
  const policy = {
    onSuccess: () => disposable,
    onFailure: () => disposable,
    async execute<T>(fn: (context: { signal: AbortSignal }) => PromiseLike<T> | T): Promise<T> {
      if (performance.now() < skipUntil) throw lastError ?? new Error('endpoint skipped after a failure');
      try {
        return await fn({ signal: new AbortController().signal });
      } catch (err) {
        if (!reachedEtcd(err)) {
          skipUntil = performance.now() + skipMs;
          lastError = err;
        }
        throw err;
      }
    },
  };
  return policy as unknown as Policy;
}

/** Runs the call once, no retry (the election retries on its own schedule). */
const once = {
  onSuccess: () => ({ dispose() {} }),
  onFailure: () => ({ dispose() {} }),
  execute: async <T>(fn: (context: { signal: AbortSignal }) => PromiseLike<T> | T): Promise<T> => fn({ signal: new AbortController().signal }),
} as unknown as Policy;

export interface EtcdConnectionOptions {
  /** Deadline of every unary call. */
  callTimeoutMs: number;
  /** How long an endpoint that failed is skipped; also the watch reconnect pace. */
  skipMs: number;
}

/** A shared client; call release() when done (the last release closes it). */
export interface EtcdConnection {
  readonly client: Etcd3;
  release(): void;
}

const shared = new Map<string, { client: Etcd3; refs: number }>();

function buildClient(s: EtcdElectionSettings, o: EtcdConnectionOptions): Etcd3 {
  const options: IOptions = {
    hosts: s.endpoints,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + o.callTimeoutMs }),
    faultHandling: {
      global: once,
      host: () => endpointSkipper(o.skipMs),
      watchBackoff: constantBackoff(o.skipMs),
    },
    // No gRPC keepalive pings: etcd answers pings more often than every 5 s (its default
    // --grpc-keepalive-min-time) with GOAWAY. A dead connection (a partition does not close it)
    // shows as calls missing their deadline, and etcd3 then drops that endpoint's channel.
    grpcOptions: {
      'grpc.initial_reconnect_backoff_ms': Math.min(1000, o.skipMs),
      'grpc.max_reconnect_backoff_ms': Math.max(1000, o.skipMs),
    },
  };
  if (s.tls) {
    options.credentials = {
      rootCertificate: s.tls.ca !== undefined ? Buffer.from(s.tls.ca) : (null as unknown as Buffer),
      ...(s.tls.key !== undefined ? { privateKey: Buffer.from(s.tls.key) } : {}),
      ...(s.tls.cert !== undefined ? { certChain: Buffer.from(s.tls.cert) } : {}),
    };
  }
  if (s.auth) options.auth = { username: s.auth.user, password: s.auth.password };
  const { Etcd3: Client } = requireLazily('etcd3') as typeof import('etcd3');
  return new Client(options);
}

type Backoff = NonNullable<NonNullable<IOptions['faultHandling']>['watchBackoff']>;

function constantBackoff(ms: number): Backoff {
  const b = { duration: ms, next: () => b };
  return b as unknown as Backoff;
}

/** A client for these settings, shared with other instances that use the same ones. */
export function acquireEtcd(s: EtcdElectionSettings, o: EtcdConnectionOptions): EtcdConnection {
  const key = JSON.stringify([s.endpoints, s.tls ?? null, s.auth ?? null, o.callTimeoutMs, o.skipMs]);
  let entry = shared.get(key);
  if (!entry) {
    entry = { client: buildClient(s, o), refs: 0 };
    shared.set(key, entry);
  }
  entry.refs++;
  const held = entry;
  let released = false;
  return {
    client: held.client,
    release() {
      if (released) return;
      released = true;
      held.refs--;
      if (held.refs === 0) {
        shared.delete(key);
        held.client.close();
      }
    },
  };
}
