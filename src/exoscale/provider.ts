/**
 * Exoscale as a FloatingIpProvider (src/cloud/provider.ts): an Elastic IP may sit on several
 * instances at once (holder mode `multi`: the controller makes before it breaks). Holders are
 * `GET /instance?ip-address=`, attach/detach are one operation each, awaited with fast polls first
 * (attach/detach usually take well under a second), then slower ones. This machine's target is
 * `instanceId`, else the node id when it is an instance UUID, else the metadata server.
 *
 * Every failure is mapped to a CloudApiError whose message is the client's own one-line message
 * ("exoscale: attach elastic-ip …: 403 forbidden: …") and whose `cause` is the Exoscale error.
 */
import type { Logger } from '../plugins/api.js';
import { CloudApiError, type CallOptions, type CloudErrorKind, type FloatingIpProvider } from '../cloud/provider.js';
import { parseEndpoint } from '../config/endpoint.js';
import type { ExoscaleClient } from './client.js';
import {
  ExoscaleApiError,
  ExoscaleError,
  ExoscaleNetworkError,
  ExoscaleOperationError,
  ExoscaleTimeoutError,
  ExoscaleWaitTimeoutError,
} from './errors.js';
import { fetchInstanceId } from './metadata.js';
import type { ElasticIp, Operation } from './types.js';
import { isUuid } from './types.js';

export interface ExoscaleProviderSettings {
  /** The Elastic IP address (the instance's `address`). */
  address: string;
  /** This node's instance id when known; else the node id if a UUID, else the metadata server. */
  instanceId?: string;
  nodeId: string;
  /** Metadata URL for the instance id (default EXOSCALE_METADATA_URL or 169.254.169.254). */
  metadataUrl?: string;
  /** Operation polling: fast polls for fastPollMs, then every slowPollIntervalMs (tests shorten them). */
  pollIntervalMs?: number;
  fastPollMs?: number;
  slowPollIntervalMs?: number;
}

/** The CloudApiError kind of an Exoscale client error (undefined: not an API error, passed through). */
export function exoscaleErrorKind(err: unknown): CloudErrorKind | undefined {
  if (err instanceof ExoscaleNetworkError || err instanceof ExoscaleTimeoutError || err instanceof ExoscaleWaitTimeoutError) return 'retryable';
  if (err instanceof ExoscaleOperationError) return err.state === 'timeout' ? 'retryable' : 'conflict';
  if (err instanceof ExoscaleApiError) {
    if (err.status === 429) return 'rate-limited';
    if (err.status === 401 || err.status === 403) return 'auth';
    if (err.status === 404) return 'not-found';
    if (err.status === 409) return 'conflict';
    return err.retryable ? 'retryable' : 'invalid';
  }
  if (err instanceof ExoscaleError) return err.retryable ? 'retryable' : 'invalid';
  return undefined;
}

/** Wraps an Exoscale client error as a CloudApiError (same message, the original as cause). */
export function toCloudError(err: unknown): unknown {
  const kind = exoscaleErrorKind(err);
  if (kind === undefined) return err;
  const e = err as ExoscaleError;
  return new CloudApiError('exoscale', kind, e.message, {
    ...(e instanceof ExoscaleApiError ? { status: e.status, ...(e.retryAfterMs !== undefined ? { retryAfterMs: e.retryAfterMs } : {}) } : {}),
    ...(e instanceof ExoscaleNetworkError && e.code ? { code: e.code } : {}),
    cause: e,
  });
}

export class ExoscaleEipProvider implements FloatingIpProvider {
  readonly cloud = 'exoscale';
  readonly holderMode = 'multi' as const;
  readonly address: string;
  #eip: ElasticIp | undefined;
  #self: string | undefined;
  /** peer node id -> instance id (or null: not an instance). */
  readonly #peerInstances = new Map<string, string | null>();

  constructor(
    readonly client: ExoscaleClient,
    private readonly settings: ExoscaleProviderSettings,
    private readonly log?: Logger,
  ) {
    this.address = settings.address;
    if (settings.instanceId !== undefined) this.#self = settings.instanceId.toLowerCase();
  }

  describe(): string {
    return `Exoscale Elastic IP ${this.address}`;
  }

  async holders(opts: CallOptions = {}): Promise<string[]> {
    return wrap(async () => {
      const eip = await this.#elasticIp(opts.signal);
      return (await this.client.instancesHolding(eip.ip, opts.signal ? { signal: opts.signal } : {})).map((i) => i.id.toLowerCase()).sort();
    });
  }

  attach(target: string, opts: CallOptions = {}): Promise<void> {
    return this.#mutate('attach', target, opts.resend);
  }

  detach(target: string, opts: CallOptions = {}): Promise<void> {
    return this.#mutate('detach', target, opts.resend);
  }

  /** This node's instance id: explicit, the node id if it is a UUID, else the metadata server (once). */
  async self(opts: CallOptions = {}): Promise<string> {
    if (this.#self) return this.#self;
    if (isUuid(this.settings.nodeId)) {
      this.#self = this.settings.nodeId.toLowerCase();
    } else {
      const url = this.settings.metadataUrl ?? process.env.EXOSCALE_METADATA_URL;
      this.#self = await fetchInstanceId({ ...(url ? { url } : {}), ...(opts.signal ? { signal: opts.signal } : {}) });
      this.log?.info({ instanceId: this.#self }, `instance id ${this.#self} (from the metadata server)`);
    }
    return this.#self;
  }

  /** A peer's instance id: its node id when that is an instance, else the instance whose public IP it sends from. */
  async targetOfPeer(peer: { id: string; address: string }, opts: CallOptions = {}): Promise<string | undefined> {
    if (this.#peerInstances.has(peer.id)) return this.#peerInstances.get(peer.id) ?? undefined;
    const call = opts.signal ? { signal: opts.signal } : {};
    let found: string | null = null;
    await wrap(async () => {
      if (isUuid(peer.id)) {
        try {
          found = (await this.client.getInstance(peer.id, call)).id.toLowerCase();
        } catch (err) {
          if (!(err instanceof ExoscaleApiError && err.status === 404)) throw err;
        }
      }
      if (!found) {
        const host = hostOf(peer.address);
        if (host) {
          const matches = (await this.client.listInstances({ ipAddress: host }, call)).filter((i) => i['public-ip'] === host || i['ipv6-address'] === host);
          if (matches.length === 1) found = matches[0]!.id.toLowerCase();
        }
      }
    });
    this.#peerInstances.set(peer.id, found);
    return found ?? undefined;
  }

  close(): void {
    this.client.close();
  }

  /** The Elastic IP (resolved once: its id never changes). */
  async #elasticIp(signal?: AbortSignal): Promise<ElasticIp> {
    this.#eip ??= await this.client.resolveElasticIp(this.address, signal ? { signal } : {});
    return this.#eip;
  }

  /**
   * attach/detach and wait for its operation (not abortable: once sent, followed to its end). Once
   * `resend` is aborted (the node left the state that wanted it) a failed attempt is not sent again: a
   * fencing detach timed out while MASTER and re-sent as BACKUP removed the new MASTER's attachment
   * (chaos Exoscale seed 600050276, episode 73).
   */
  #mutate(kind: 'attach' | 'detach', instanceId: string, resend: AbortSignal | undefined): Promise<void> {
    return wrap(async () => {
      const eip = await this.#elasticIp();
      const call = kind === 'attach' ? 'attach-instance-to-elastic-ip' : 'detach-instance-from-elastic-ip';
      const what = kind === 'attach' ? `attach elastic-ip ${eip.ip} to instance ${instanceId}` : `detach elastic-ip ${eip.ip} from instance ${instanceId}`;
      const opts = resend ? { resend } : {};
      const op = kind === 'attach' ? await this.client.attachElasticIp(eip.id, instanceId, opts) : await this.client.detachElasticIp(eip.id, instanceId, opts);
      await this.#wait(op, what, call);
    });
  }

  /** Fast polls first, then slower ones. */
  async #wait(op: Operation, what: string, call: string): Promise<Operation> {
    const fast = this.settings.fastPollMs ?? 3_000;
    try {
      return await this.client.waitOperation(op, { timeoutMs: fast, pollIntervalMs: this.settings.pollIntervalMs ?? 150, what, call });
    } catch (err) {
      if (!(err instanceof ExoscaleWaitTimeoutError)) throw err;
      return this.client.waitOperation(op.id, { timeoutMs: 30_000 - fast, pollIntervalMs: this.settings.slowPollIntervalMs ?? 1_000, what, call });
    }
  }
}

async function wrap<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toCloudError(err);
  }
}

/** "198.51.100.11:12345" -> "198.51.100.11"; "[2001:db8::1]:12345" -> "2001:db8::1" (the one endpoint parser). */
export function hostOf(address: string): string | undefined {
  return parseEndpoint(address, 0)?.host;
}
