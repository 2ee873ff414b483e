/**
 * The droplet metadata service (no auth, plain text leaves):
 *   http://169.254.169.254/metadata/v1/id
 *   http://169.254.169.254/metadata/v1/interfaces/public/0/anchor_ipv4/address
 * The base is overridable (`metadataUrl:`), e.g. the simulator's http://127.0.0.1:PORT/_meta/<droplet-id>.
 */
import { formatDuration } from '../util/duration.js';
import { retry } from '../util/retry.js';
import { HttpAbortError, HttpTimeoutError, httpRequest } from '../cloud/http-exchange.js';

export const DEFAULT_METADATA_BASE = 'http://169.254.169.254';

export class MetadataError extends Error {
  override name = 'MetadataError';
}

export interface MetadataOptions {
  /** Base URL (the part before /metadata/v1/); default http://169.254.169.254. */
  base?: string;
  timeoutMs?: number;
  retries?: number;
  signal?: AbortSignal;
}

/** The URL of a leaf ("id", "interfaces/public/0/anchor_ipv4/address") under a base. */
export function metadataUrl(base: string, leaf: string): URL {
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new MetadataError(`digitalocean metadata: ${JSON.stringify(base)} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new MetadataError(`digitalocean metadata: ${JSON.stringify(base)} must be http:// or https://`);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/metadata/v1/${leaf}`;
  return url;
}

/** Reads one leaf (trimmed). Unreachable, non-200 or empty: a one-line MetadataError. */
export async function fetchMetadata(leaf: string, opts: MetadataOptions = {}): Promise<string> {
  const url = metadataUrl(opts.base ?? DEFAULT_METADATA_BASE, leaf);
  const timeoutMs = opts.timeoutMs ?? 2_000;
  return retry(
    async () => {
      let res;
      try {
        res = await httpRequest({ method: 'GET', url, timeoutMs, maxBodyBytes: 64 * 1024, ...(opts.signal ? { signal: opts.signal } : {}) });
      } catch (err) {
        if (err instanceof HttpAbortError) throw err;
        const why = err instanceof HttpTimeoutError ? `no answer within ${formatDuration(timeoutMs)}` : ((err as NodeJS.ErrnoException).code ?? (err as Error).message);
        throw new MetadataError(`digitalocean metadata: cannot read ${url}: ${why} (is this a droplet? set metadataUrl: to override)`);
      }
      if (res.status !== 200) throw Object.assign(new MetadataError(`digitalocean metadata: ${url} answered HTTP ${res.status}`), { status: res.status });
      const value = res.body.trim();
      if (value === '') throw Object.assign(new MetadataError(`digitalocean metadata: ${url} returned an empty value`), { status: 200 });
      return value;
    },
    {
      retries: opts.retries ?? 2,
      minDelay: 200,
      maxDelay: 1_000,
      ...(opts.signal ? { signal: opts.signal } : {}),
      shouldRetry: (err) => {
        const status = (err as { status?: number }).status;
        return err instanceof MetadataError && (status === undefined || status >= 500);
      },
    },
  );
}

/** This droplet's id (a positive integer, as a string). */
export async function fetchDropletId(opts: MetadataOptions = {}): Promise<string> {
  const id = await fetchMetadata('id', opts);
  if (!/^\d+$/.test(id)) throw new MetadataError(`digitalocean metadata: id ${JSON.stringify(id.slice(0, 60))} is not a droplet id`);
  return id;
}

/** This droplet's anchor IPv4: where traffic to a reserved IP arrives. */
export async function fetchAnchorIpv4(opts: MetadataOptions = {}): Promise<string> {
  return fetchMetadata('interfaces/public/0/anchor_ipv4/address', opts);
}
