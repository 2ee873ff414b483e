/**
 * The instance metadata server (EC2/CloudStack style, plain text values):
 *   http://169.254.169.254/latest/meta-data/<key>
 * The URL is overridable (EXOSCALE_METADATA_URL / --metadata-url), e.g. the simulator's
 * http://127.0.0.1:PORT/_meta/<instance-id>/latest/meta-data/instance-id.
 */
import { isIP } from 'node:net';
import { retry } from '../util/retry.js';
import { formatDuration } from '../util/duration.js';
import { HttpAbortError, HttpTimeoutError, httpRequest } from '../cloud/http-exchange.js';
import { isUuid } from './types.js';

export const DEFAULT_METADATA_BASE_URL = 'http://169.254.169.254/latest/meta-data/';
export const DEFAULT_INSTANCE_ID_URL = `${DEFAULT_METADATA_BASE_URL}instance-id`;

/** Keys served by Exoscale's metadata server. */
export const METADATA_KEYS = [
  'availability-zone',
  'cloud-identifier',
  'instance-id',
  'local-hostname',
  'local-ipv4',
  'public-hostname',
  'public-ipv4',
  'service-offering',
  'vm-id',
] as const;
export type MetadataKey = (typeof METADATA_KEYS)[number];

export interface MetadataOptions {
  /**
   * Either the URL of a key (".../meta-data/instance-id"; its last segment is replaced
   * by the key asked for) or a base ending in "/" or "/meta-data" (the key is appended).
   * Default http://169.254.169.254/latest/meta-data/.
   */
  url?: string;
  /** Budget per attempt (default 2 s). */
  timeoutMs?: number;
  /** Attempts after the first (default 2). */
  retries?: number;
  signal?: AbortSignal;
}

export class MetadataError extends Error {
  override name = 'MetadataError';
}

/** The URL of `key` given a key URL or a base URL (see MetadataOptions.url). */
export function metadataUrlFor(url: string, key: MetadataKey): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new MetadataError(`exoscale metadata: ${JSON.stringify(url)} is not a URL`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new MetadataError(`exoscale metadata: ${JSON.stringify(url)} must be http:// or https://`);
  }
  const segments = parsed.pathname.split('/');
  const last = segments[segments.length - 1] ?? '';
  if ((METADATA_KEYS as readonly string[]).includes(last)) segments[segments.length - 1] = key;
  else if (last === '') segments[segments.length - 1] = key;
  else segments.push(key);
  parsed.pathname = segments.join('/');
  return parsed.toString();
}

/** Reads one metadata value (trimmed). Unreachable or non-200 is a clear one-line MetadataError. */
export async function fetchMetadata(key: MetadataKey, opts: MetadataOptions = {}): Promise<string> {
  const url = metadataUrlFor(opts.url ?? DEFAULT_METADATA_BASE_URL, key);
  const timeoutMs = opts.timeoutMs ?? 2_000;
  const hint = 'is this an Exoscale instance? set --metadata-url or EXOSCALE_METADATA_URL to override';
  return retry(
    async () => {
      let res;
      try {
        res = await httpRequest({
          method: 'GET',
          url: new URL(url),
          headers: { accept: 'text/plain' },
          timeoutMs,
          maxBodyBytes: 64 * 1024,
          ...(opts.signal ? { signal: opts.signal } : {}),
        });
      } catch (err) {
        if (err instanceof HttpAbortError) throw err;
        const why =
          err instanceof HttpTimeoutError
            ? `no answer within ${formatDuration(timeoutMs)}`
            : ((err as NodeJS.ErrnoException).code ?? (err as Error).message);
        throw new MetadataError(`exoscale metadata: cannot read ${url}: ${why} (${hint})`);
      }
      if (res.status !== 200) {
        throw Object.assign(new MetadataError(`exoscale metadata: ${url} answered HTTP ${res.status}`), {
          status: res.status,
        });
      }
      const value = res.body.trim();
      if (value === '') throw Object.assign(new MetadataError(`exoscale metadata: ${url} returned an empty value`), { status: 200 });
      return value;
    },
    {
      retries: opts.retries ?? 2,
      minDelay: 200,
      maxDelay: 1_000,
      ...(opts.signal ? { signal: opts.signal } : {}),
      // 4xx and empty values will not improve; connection errors, timeouts and 5xx may
      shouldRetry: (err) => {
        const status = (err as { status?: number }).status;
        return err instanceof MetadataError && (status === undefined || status >= 500);
      },
    },
  );
}

/** This instance's UUID (the id API v2 uses). Default URL http://169.254.169.254/latest/meta-data/instance-id. */
export async function fetchInstanceId(opts: MetadataOptions = {}): Promise<string> {
  const id = await fetchMetadata('instance-id', { ...opts, url: opts.url ?? DEFAULT_INSTANCE_ID_URL });
  if (!isUuid(id)) {
    throw new MetadataError(`exoscale metadata: instance-id ${JSON.stringify(id.slice(0, 60))} is not a UUID`);
  }
  return id.toLowerCase();
}

/** This instance's public IPv4 address. */
export async function fetchPublicIpv4(opts: MetadataOptions = {}): Promise<string> {
  const ip = await fetchMetadata('public-ipv4', opts);
  if (isIP(ip) !== 4) throw new MetadataError(`exoscale metadata: public-ipv4 ${JSON.stringify(ip.slice(0, 60))} is not an IPv4 address`);
  return ip;
}
