/**
 * A DigitalOcean reserved IP as a FloatingIpProvider (single holder: an assign moves the IP).
 *
 *   holders()       GET /v2/reserved_ips/{ip} -> [droplet id] or []
 *   attach(d)       POST .../actions {"type":"assign","droplet_id":d}, polled until completed
 *   detach(d)       only while d holds it: POST .../actions {"type":"unassign"}, polled; an IP that is
 *                   on another droplet (or none) is left alone, a 422 "not assigned" counts as done, and
 *                   every retry reads the holder again first
 *   self()          the configured dropletId, else /metadata/v1/id (cached)
 */
import { retry } from '../util/retry.js';
import type { CallOptions, FloatingIpProvider } from '../cloud/provider.js';
import { CloudApiError } from '../cloud/provider.js';
import { CLOUD, DigitalOceanClient, type DigitalOceanClientOptions } from './client.js';
import { fetchDropletId, MetadataError } from './metadata.js';

export interface ReservedIpProviderOptions extends DigitalOceanClientOptions {
  address: string;
  /** This droplet's id; default read from the metadata service. */
  dropletId?: string;
  /** Metadata base URL (default http://169.254.169.254). */
  metadataUrl?: string;
}

export class DigitalOceanReservedIpProvider implements FloatingIpProvider {
  readonly cloud = CLOUD;
  readonly holderMode = 'single' as const;
  readonly address: string;
  readonly client: DigitalOceanClient;
  #self: Promise<string> | undefined;
  readonly #opts: ReservedIpProviderOptions;

  constructor(opts: ReservedIpProviderOptions) {
    this.#opts = opts;
    this.address = opts.address;
    this.client = new DigitalOceanClient(opts);
  }

  describe(): string {
    return `DigitalOcean reserved IP ${this.address}`;
  }

  async holders(opts: CallOptions = {}): Promise<string[]> {
    const r = await this.client.reservedIp(this.address, opts.signal);
    return r.dropletId === null ? [] : [r.dropletId];
  }

  async attach(target: string, opts: CallOptions = {}): Promise<void> {
    if (!/^\d+$/.test(target)) throw new CloudApiError(CLOUD, 'invalid', `${this.describe()}: droplet id ${JSON.stringify(target)} is not a number`);
    await this.client.ipAction(this.address, { type: 'assign', droplet_id: Number(target) }, { ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.resend ? { resend: opts.resend } : {}) });
  }

  /**
   * DigitalOcean's unassign names no droplet, so every attempt reads the holder first and sends one
   * unassign only while `target` holds the IP; a refused or failed unassign (pending event, rate limit,
   * network, errored action) is never repeated blindly: the next attempt reads again, so a release can
   * not take the IP off a peer whose assign landed in between.
   */
  async detach(target: string, opts: CallOptions = {}): Promise<void> {
    await retry(
      async () => {
        if (!(await this.holders(opts)).includes(target)) return;
        try {
          await this.client.ipAction(this.address, { type: 'unassign' }, { attempts: 1, retry: false, ...(opts.signal ? { signal: opts.signal } : {}) });
        } catch (err) {
          if (err instanceof CloudApiError && err.status === 422 && /not assigned/i.test(err.message)) return;
          throw err;
        }
      },
      {
        retries: 10,
        minDelay: 250,
        maxDelay: 2_000,
        deadline: 60_000,
        ...(opts.signal ? { signal: opts.signal } : {}),
        shouldRetry: (err) => err instanceof CloudApiError && err.retryable,
      },
    );
  }

  self(opts: CallOptions = {}): Promise<string> {
    if (this.#opts.dropletId !== undefined) return Promise.resolve(this.#opts.dropletId);
    this.#self ??= fetchDropletId({ ...(this.#opts.metadataUrl ? { base: this.#opts.metadataUrl } : {}), ...(opts.signal ? { signal: opts.signal } : {}) }).catch((err: unknown) => {
      this.#self = undefined;
      if (!(err instanceof MetadataError)) throw err;
      // 4xx: not a droplet / no such leaf (will not improve); otherwise the service may come back
      const status = (err as { status?: number }).status;
      throw new CloudApiError(CLOUD, status !== undefined && status < 500 ? 'invalid' : 'retryable', `${err.message} (or set dropletId:)`, { cause: err });
    });
    return this.#self;
  }

  close(): void {
    this.client.close();
  }
}
