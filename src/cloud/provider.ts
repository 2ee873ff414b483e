/**
 * What a cloud must answer for one floating address so that the shared controller can keep it on the
 * MASTER. A cloud is a small module implementing this interface on top of the one HTTP layer
 * (src/cloud/http.ts); everything about *when* to attach, fence, verify, retry and reconcile is the
 * controller's, never the provider's.
 *
 * Targets are the cloud's own ids of what holds the address: an Exoscale instance UUID, a Hetzner
 * server id, a DigitalOcean droplet id, an AWS instance or network-interface id. They are strings
 * everywhere (numeric ids included) so that the controller compares them with `===`.
 *
 * Holder modes:
 * - `multi`: the cloud lets the address sit on several targets at once (Exoscale EIP). The controller
 *   makes before it breaks: attach here, verify, then detach the others.
 * - `single`: attaching moves the address atomically (Hetzner floating IP, DigitalOcean reserved IP,
 *   AWS Elastic IP with AllowReassociation). One call moves it; `detach(self)` releases it.
 *
 * attach/detach perform one change and resolve only when the cloud reports it complete (clouds with
 * asynchronous actions poll through src/cloud/poll.ts). They are idempotent from the controller's point
 * of view: attaching a holder or detaching a non-holder must resolve (or fail with a `conflict`/`invalid`
 * error that the controller settles by reading `holders()` back). Every failure is a CloudApiError.
 */

export type HolderMode = 'single' | 'multi';

export interface CallOptions {
  /** Aborts the call between steps (an in-flight mutation is still awaited by the controller). */
  signal?: AbortSignal;
  /**
   * attach/detach: once aborted, a change that was refused (a locked address, a failed attempt) is not
   * sent again; a change already accepted is still followed to its end. The controller aborts it when
   * the node leaves the state that wanted the change: a node that is no longer MASTER must not keep
   * re-sending its assign until the lock frees, where it would land on the new MASTER's address.
   */
  resend?: AbortSignal;
}

export interface FloatingIpProvider {
  /** Registry name of the cloud: 'exoscale', 'hetzner', 'aws', 'digitalocean'. */
  readonly cloud: string;
  readonly holderMode: HolderMode;
  /** The floating address (the instance's `address`). */
  readonly address: string;
  /** For log lines and errors, e.g. "Hetzner floating IP 203.0.113.7". Never contains a secret. */
  describe(): string;
  /** The targets the cloud says hold the address now: the source of truth for every pass. */
  holders(opts?: CallOptions): Promise<string[]>;
  /** Attaches (single-holder: moves) the address to `target`, awaited to completion. */
  attach(target: string, opts?: CallOptions): Promise<void>;
  /** Detaches the address from `target`, awaited to completion. */
  detach(target: string, opts?: CallOptions): Promise<void>;
  /** This machine's target (configured, else from the cloud's metadata service; cached). */
  self(opts?: CallOptions): Promise<string>;
  /**
   * Optional (strategy all-healthy): the target of a peer declared dead, from its node id and the
   * address it heartbeats from; undefined when it is not one of this cloud's targets.
   */
  targetOfPeer?(peer: { id: string; address: string }, opts?: CallOptions): Promise<string | undefined>;
  /** Releases sockets/timers. */
  close?(): void | Promise<void>;
}

/**
 * Error classes every provider maps its answers to:
 * - `retryable`: network error, timeout, 5xx: retried with backoff, then "API unreachable";
 * - `rate-limited`: 429 / throttling; `retryAfterMs` from Retry-After, RateLimit-Reset, ratelimit-reset;
 * - `conflict`: another change is running on the resource (locked, pending event, 409): wait, retry;
 * - `auth`: bad or insufficient credentials (401/403): not retried; the message names the credential
 *   reference (e.g. "env:HCLOUD_TOKEN"), never its value;
 * - `not-found`: the address or target does not exist: not retried; the message names it;
 * - `invalid`: the cloud refused the request as such (400/422): not retried.
 */
export type CloudErrorKind = 'retryable' | 'rate-limited' | 'conflict' | 'auth' | 'not-found' | 'invalid';

export interface CloudApiErrorDetails {
  /** HTTP status, when there was an answer. */
  status?: number;
  /** The cloud's own error code ("locked", "RequestLimitExceeded", "unprocessable_entity"…). */
  code?: string;
  /** How long the cloud asked us to wait (rate limits). */
  retryAfterMs?: number;
  cause?: unknown;
}

export class CloudApiError extends Error {
  override name = 'CloudApiError';
  readonly status: number | undefined;
  readonly code: string | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(
    readonly cloud: string,
    readonly kind: CloudErrorKind,
    message: string,
    details: CloudApiErrorDetails = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.status = details.status;
    this.code = details.code;
    this.retryAfterMs = details.retryAfterMs;
  }

  /** Whether waiting and trying again can help. */
  get retryable(): boolean {
    return this.kind === 'retryable' || this.kind === 'rate-limited' || this.kind === 'conflict';
  }
}

/** After the HTTP layer's own retries: does this error mean "the API is unreachable or overloaded"? */
export function isApiUnreachable(err: unknown): boolean {
  return err instanceof CloudApiError && (err.kind === 'retryable' || err.kind === 'rate-limited');
}
