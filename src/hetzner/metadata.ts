/**
 * Hetzner's metadata service (no auth, plain text): http://169.254.169.254/hetzner/v1/metadata/<key>.
 * `metadataUrl` (rc file) / --metadata-url (CLI) override the base, e.g. the simulator's
 * http://127.0.0.1:PORT/_meta/lb1/hetzner/v1/metadata/.
 */
import { HttpAbortError, HttpTimeoutError, httpRequest } from '../cloud/http-exchange.js';
import { CloudApiError } from '../cloud/provider.js';
import { formatDuration } from '../util/duration.js';
import { retry } from '../util/retry.js';
import { DEFAULT_HETZNER_METADATA_URL, isHetznerId } from './types.js';

const KEYS = ['instance-id', 'hostname', 'public-ipv4', 'region', 'availability-zone', 'private-networks'] as const;
export type HetznerMetadataKey = (typeof KEYS)[number];

/** Pure: the URL of `key` from a base ("…/metadata/", "…/metadata") or a key URL ("…/metadata/instance-id"). */
export function hetznerMetadataUrl(base: string, key: HetznerMetadataKey): URL {
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new CloudApiError('hetzner', 'invalid', `hetzner metadata: ${JSON.stringify(base)} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CloudApiError('hetzner', 'invalid', `hetzner metadata: ${JSON.stringify(base)} must be http:// or https://`);
  const segments = url.pathname.split('/');
  const last = segments[segments.length - 1] ?? '';
  if ((KEYS as readonly string[]).includes(last) || last === '') segments[segments.length - 1] = key;
  else segments.push(key);
  url.pathname = segments.join('/');
  return url;
}

/** Reads one value (trimmed); unreachable or non-200 is a one-line `retryable`/`not-found` CloudApiError. */
export async function fetchHetznerMetadata(key: HetznerMetadataKey, opts: { url?: string; timeoutMs?: number; retries?: number; signal?: AbortSignal } = {}): Promise<string> {
  const url = hetznerMetadataUrl(opts.url ?? DEFAULT_HETZNER_METADATA_URL, key);
  const timeoutMs = opts.timeoutMs ?? 2_000;
  const hint = 'is this a Hetzner Cloud server? set serverId: or metadataUrl: (CLI: --target / --metadata-url)';
  return retry(
    async () => {
      let res;
      try {
        res = await httpRequest({ method: 'GET', url, headers: { accept: 'text/plain' }, timeoutMs, maxBodyBytes: 64 * 1024, ...(opts.signal ? { signal: opts.signal } : {}) });
      } catch (err) {
        if (err instanceof HttpAbortError) throw err;
        const why = err instanceof HttpTimeoutError ? `no answer within ${formatDuration(timeoutMs)}` : ((err as NodeJS.ErrnoException).code ?? (err as Error).message);
        throw new CloudApiError('hetzner', 'retryable', `hetzner metadata: cannot read ${url.href}: ${why} (${hint})`);
      }
      if (res.status !== 200) {
        const kind = res.status >= 500 ? 'retryable' : 'not-found';
        throw new CloudApiError('hetzner', kind, `hetzner metadata: ${url.href} answered HTTP ${res.status} (${hint})`, { status: res.status });
      }
      const value = res.body.trim();
      if (value === '') throw new CloudApiError('hetzner', 'invalid', `hetzner metadata: ${url.href} returned an empty value`);
      return value;
    },
    {
      retries: opts.retries ?? 2,
      minDelay: 200,
      maxDelay: 1_000,
      ...(opts.signal ? { signal: opts.signal } : {}),
      shouldRetry: (err) => err instanceof CloudApiError && err.kind === 'retryable',
    },
  );
}

/** This server's id (a decimal string). */
export async function fetchServerId(opts: { url?: string; signal?: AbortSignal; retries?: number } = {}): Promise<string> {
  const id = await fetchHetznerMetadata('instance-id', opts);
  if (!isHetznerId(id)) throw new CloudApiError('hetzner', 'invalid', `hetzner metadata: instance-id ${JSON.stringify(id.slice(0, 40))} is not a server id`);
  return id;
}
