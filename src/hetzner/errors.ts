/**
 * Hetzner's error answers `{"error": {"code", "message", "details"}}` mapped to the shared
 * CloudApiError kinds (src/cloud/provider.ts). Auth errors name the token's reference
 * ("env:HCLOUD_TOKEN"), never its value.
 */
import { retryAfterFromHeaders, type HttpResponse, type OutgoingRequest } from '../cloud/http.js';
import { CloudApiError, type CloudErrorKind } from '../cloud/provider.js';

/** Pure: the error code and message of an answer (falls back to the status for a body that is not Hetzner's). */
export function hetznerErrorOf(res: HttpResponse): { code: string | undefined; message: string } {
  try {
    const body = JSON.parse(res.body) as { error?: { code?: unknown; message?: unknown } };
    if (body?.error && typeof body.error === 'object') {
      return {
        code: typeof body.error.code === 'string' ? body.error.code : undefined,
        message: typeof body.error.message === 'string' ? body.error.message : `HTTP ${res.status}`,
      };
    }
  } catch {
    /* not JSON: a proxy's page */
  }
  return { code: undefined, message: `HTTP ${res.status}${res.body ? `: ${res.body.slice(0, 120).replace(/\s+/g, ' ')}` : ''}` };
}

/** Pure: the kind of an answer, by Hetzner's code first, then by status. */
export function hetznerErrorKind(status: number, code: string | undefined): CloudErrorKind {
  if (status === 429 || code === 'rate_limit_exceeded') return 'rate-limited';
  if (status === 401 || status === 403 || code === 'unauthorized' || code === 'forbidden' || code === 'token_readonly') return 'auth';
  if (code === 'locked' || code === 'conflict' || status === 423 || status === 409) return 'conflict';
  if (status === 404 || code === 'not_found') return 'not-found';
  if (status >= 500 || code === 'unavailable' || code === 'timeout') return 'retryable';
  return 'invalid';
}

/** The `classify` hook of the Hetzner HTTP client. */
export function classifyHetzner(tokenRef: string) {
  return (res: HttpResponse, req: OutgoingRequest): CloudApiError => {
    const { code, message } = hetznerErrorOf(res);
    const kind = hetznerErrorKind(res.status, code);
    const what = `${req.method} ${req.url.pathname}`;
    let text = `${what}: ${res.status}${code ? ` ${code}` : ''}: ${message}`;
    if (kind === 'auth') {
      text =
        code === 'token_readonly'
          ? `${what}: the API token from ${tokenRef} is read-only (403 token_readonly): create a Read & Write token in the project`
          : `${what}: the API token from ${tokenRef} was refused (${res.status}${code ? ` ${code}` : ''}: ${message})`;
    }
    const retryAfterMs = retryAfterFromHeaders(res.headers);
    return new CloudApiError('hetzner', kind, `hetzner: ${text}`, {
      status: res.status,
      ...(code ? { code } : {}),
      ...(retryAfterMs !== undefined && kind === 'rate-limited' ? { retryAfterMs } : {}),
    });
  };
}
