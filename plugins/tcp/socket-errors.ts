/**
 * Human wording for socket, DNS and TLS errors in check details, shared by the network checks
 * (tcp, http, haproxy).
 */

const WORDS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ECONNRESET: 'connection reset by peer',
  EPIPE: 'connection closed by peer',
  ENOTFOUND: 'cannot resolve host name',
  EAI_AGAIN: 'cannot resolve host name (temporary DNS failure)',
  EADDRNOTAVAIL: 'address not available',
  ENOTSOCK: 'not a socket',
  ECONNABORTED: 'connection aborted',
};

/** The abort reason as text ("timed out after 2.0s"), for details of aborted runs. */
export function abortReason(signal: AbortSignal): string {
  const r: unknown = signal.reason;
  if (r instanceof Error && r.name !== 'AbortError') return r.message;
  if (typeof r === 'string' && r) return r;
  return 'aborted';
}

/** "connection refused", "TLS: self-signed certificate", or the error's own message. */
export function describeSocketError(err: unknown, signal?: AbortSignal): string {
  if (signal?.aborted) return `aborted (${abortReason(signal)})`;
  const e = err as NodeJS.ErrnoException & { reason?: string };
  const code = typeof e?.code === 'string' ? e.code : undefined;
  if (code === 'ABORT_ERR' || e?.name === 'AbortError') return 'aborted';
  if (code && WORDS[code]) return WORDS[code]!;
  if (code && (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_|ALTNAME/.test(code) || /certificate/i.test(e.message ?? ''))) {
    return `TLS: ${e.message}`;
  }
  const msg = e instanceof Error ? e.message : String(err);
  return msg || code || 'unknown error';
}
