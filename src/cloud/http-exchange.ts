/**
 * One HTTP exchange over node:http/https with a hard overall timeout and abort support: the bottom of
 * the cloud HTTP layer (src/cloud/http.ts) and of metadata readers. No retries here.
 */
import http from 'node:http';
import https from 'node:https';

export interface HttpRequest {
  method: string;
  url: URL;
  headers?: Record<string, string>;
  body?: string;
  /** Budget for the whole exchange (connect, send, full response body). */
  timeoutMs: number;
  signal?: AbortSignal;
  agent?: http.Agent;
  /** Largest response body accepted (default 4 MiB). */
  maxBodyBytes?: number;
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** The timeout expired before the response was complete. */
export class HttpTimeoutError extends Error {
  override name = 'HttpTimeoutError';
  readonly code = 'ETIMEDOUT';
}

/** The caller's signal aborted the request. */
export class HttpAbortError extends Error {
  override name = 'AbortError';
  readonly code = 'ABORT_ERR';
}

export function httpRequest(req: HttpRequest): Promise<HttpResponse> {
  const lib = req.url.protocol === 'https:' ? https : http;
  const maxBody = req.maxBodyBytes ?? 4 * 1024 * 1024;
  return new Promise<HttpResponse>((resolve, reject) => {
    if (req.signal?.aborted) {
      reject(new HttpAbortError('request aborted'));
      return;
    }
    let settled = false;
    const finish = (err: Error | undefined, res?: HttpResponse): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(res!);
    };
    const headers: Record<string, string> = { ...req.headers };
    if (req.body !== undefined) headers['content-length'] = String(Buffer.byteLength(req.body, 'utf8'));
    const outgoing = lib.request(req.url, { method: req.method, headers, ...(req.agent ? { agent: req.agent } : {}) });
    const timer = setTimeout(() => {
      const err = new HttpTimeoutError(`no response within ${req.timeoutMs}ms`);
      finish(err);
      outgoing.destroy(err);
    }, Math.max(1, req.timeoutMs));
    const onAbort = (): void => {
      const err = new HttpAbortError('request aborted');
      finish(err);
      outgoing.destroy(err);
    };
    req.signal?.addEventListener('abort', onAbort, { once: true });
    outgoing.on('error', (err) => finish(err));
    outgoing.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBody) {
          const err = new Error(`response body larger than ${maxBody} bytes`);
          finish(err);
          res.destroy(err);
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', (err) => finish(err));
      res.on('aborted', () => finish(Object.assign(new Error('response aborted'), { code: 'ECONNRESET' })));
      res.on('end', () =>
        finish(undefined, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
      );
    });
    outgoing.end(req.body);
  });
}
