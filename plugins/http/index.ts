/**
 * `http` check: one HTTP(S) request, judged by status (and optionally body).
 *
 *   url              http:// or https:// URL (required)
 *   method           default GET
 *   expect           accepted statuses: numbers and "200-399" ranges (default ["200-399"])
 *   bodyMatch        a regular expression the body must match (the body is read only when given,
 *                    at most 1 MiB)
 *   headers          extra request headers; values may be secret references (env:, file:, credential:)
 *   tls.ca           a CA bundle file (PEM) to verify the server with
 *   tls.insecure     do not verify the certificate (default false)
 *   followRedirects  follow up to 5 redirects (default false: a 3xx is judged by `expect`)
 *
 * Detail: "GET http://127.0.0.1:8080/health -> 200" (credentials in the URL are never shown).
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { defineCheck, type CheckResult, type ConfigIssue } from '../../src/index.js';
import { zodConfig } from '../../src/kit.js';
import { describeSocketError } from '../tcp/socket-errors.js';

export const MAX_REDIRECTS = 5;
export const MAX_BODY = 1024 * 1024;

/** An accepted status range, inclusive. */
export type StatusRange = [number, number];

const statusItem = z.union([
  z.number().int().min(100).max(599),
  z.string().regex(/^\s*\d{3}\s*(-\s*\d{3}\s*)?$/, 'expected a status like 200 or a range like "200-399"'),
]);

export const httpSchema = z
  .object({
    url: z.string().refine((u) => {
      try {
        return ['http:', 'https:'].includes(new URL(u).protocol);
      } catch {
        return false;
      }
    }, 'expected an http:// or https:// URL'),
    method: z
      .string()
      .regex(/^[A-Za-z]+$/, 'expected an HTTP method like GET or HEAD')
      .transform((m) => m.toUpperCase())
      .default('GET'),
    expect: z.union([statusItem, z.array(statusItem).min(1)]).default('200-399'),
    bodyMatch: z.string().optional(),
    headers: z.record(z.string(), z.string()).default({}),
    tls: z.object({ ca: z.string().min(1).optional(), insecure: z.boolean().default(false) }).strict().default({ insecure: false }),
    followRedirects: z.boolean().default(false),
  })
  .strict();

export interface HttpConfig {
  url: string;
  method: string;
  expect: StatusRange[];
  bodyMatch?: RegExp;
  headers: Record<string, string>;
  ca?: Buffer;
  insecure: boolean;
  followRedirects: boolean;
}

/** Turns `expect` items into ranges; undefined for an item that is not a status or a valid range. */
export function parseExpect(items: readonly (number | string)[]): StatusRange[] | undefined {
  const out: StatusRange[] = [];
  for (const item of items) {
    if (typeof item === 'number') {
      out.push([item, item]);
      continue;
    }
    const [a, b] = item.split('-').map((x) => Number(x.trim()));
    const lo = a!;
    const hi = b ?? lo;
    if (!(lo >= 100 && hi <= 599 && lo <= hi)) return undefined;
    out.push([lo, hi]);
  }
  return out;
}

export function formatExpect(ranges: readonly StatusRange[]): string {
  return ranges.map(([a, b]) => (a === b ? String(a) : `${a}-${b}`)).join(', ');
}

/** The URL as shown in details: without user:password. */
export function displayUrl(url: string | URL): string {
  const u = new URL(String(url));
  u.username = '';
  u.password = '';
  return u.toString();
}

const parseRaw = zodConfig(httpSchema);

export default defineCheck<HttpConfig>({
  kind: 'check',
  name: 'http',
  description: 'An HTTP(S) URL answers with an expected status (and body)',
  flags: [
    { name: 'url', key: 'url', arg: 'URL', description: 'URL to request' },
    { name: 'method', key: 'method', arg: 'METHOD', description: 'request method (default GET)' },
    {
      name: 'expect',
      key: 'expect',
      type: 'list',
      arg: 'STATUS',
      description: 'accepted status or range, e.g. 200-299 (repeatable; default 200-399)',
      parse: (values) => values.map((s) => (/^\d+$/.test(s.trim()) ? Number(s) : s)),
    },
    { name: 'body-match', key: 'bodyMatch', arg: 'REGEX', description: 'regex the body must match' },
    {
      name: 'header',
      key: 'headers',
      type: 'list',
      arg: '"NAME: VALUE"',
      description: 'request header (repeatable; the value may be an env:/file: secret reference)',
      parse: (values) =>
        Object.fromEntries(
          values.map((h) => {
            const m = /^([^:\s]+)\s*:\s?(.*)$/.exec(h);
            if (!m) throw new Error(`expected "Name: value", got ${JSON.stringify(h)}`);
            return [m[1]!, m[2]!];
          }),
        ),
    },
    { name: 'ca', key: 'tls.ca', arg: 'FILE', description: 'CA bundle to verify the server with' },
    { name: 'insecure', key: 'tls.insecure', type: 'boolean', description: 'do not verify the TLS certificate' },
    { name: 'follow-redirects', key: 'followRedirects', type: 'boolean', description: 'follow redirects' },
  ],
  parseConfig(raw, env) {
    const r = parseRaw(raw);
    if (!r.ok) return r;
    const c = r.config;
    const issues: ConfigIssue[] = [];
    const expect = parseExpect(Array.isArray(c.expect) ? c.expect : [c.expect]);
    if (!expect) issues.push({ path: ['expect'], message: 'a range must be low-high within 100-599, e.g. "200-399"' });
    let bodyMatch: RegExp | undefined;
    if (c.bodyMatch !== undefined) {
      try {
        bodyMatch = new RegExp(c.bodyMatch);
      } catch (err) {
        issues.push({ path: ['bodyMatch'], message: `invalid regular expression: ${(err as Error).message}` });
      }
    }
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(c.headers)) {
      if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
        issues.push({ path: ['headers', name], message: 'not a valid header name' });
        continue;
      }
      const where = `headers.${name}`;
      try {
        headers[name] = env ? env.resolveSecret(value, where) : value;
      } catch (err) {
        const msg = (err as Error).message;
        issues.push({ path: ['headers', name], message: msg.startsWith(`${where}: `) ? msg.slice(where.length + 2) : msg });
      }
    }
    let ca: Buffer | undefined;
    if (c.tls.ca !== undefined) {
      const file = isAbsolute(c.tls.ca) ? c.tls.ca : resolve(env?.baseDir ?? process.cwd(), c.tls.ca);
      try {
        ca = readFileSync(file);
      } catch (err) {
        issues.push({ path: ['tls', 'ca'], message: `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
      }
    }
    if (issues.length > 0) return { ok: false, issues };
    const config: HttpConfig = { url: c.url, method: c.method, expect: expect!, headers, insecure: c.tls.insecure, followRedirects: c.followRedirects };
    if (bodyMatch) config.bodyMatch = bodyMatch;
    if (ca) config.ca = ca;
    return { ok: true, config };
  },
  async run({ config, signal }) {
    let url = new URL(config.url);
    const label = () => `${config.method} ${displayUrl(url)}`;
    for (let hop = 0; ; hop++) {
      let res: IncomingMessage;
      try {
        res = await send(url, config, signal);
      } catch (err) {
        return { ok: false, detail: `${label()}: ${describeSocketError(err, signal)}` };
      }
      const status = res.statusCode ?? 0;
      const location = res.headers.location;
      if (config.followRedirects && status >= 300 && status < 400 && location) {
        res.destroy();
        if (hop >= MAX_REDIRECTS) return { ok: false, detail: `${label()} -> ${status}: more than ${MAX_REDIRECTS} redirects` };
        try {
          url = new URL(location, url);
        } catch {
          return { ok: false, detail: `${label()} -> ${status}: bad Location ${JSON.stringify(location)}` };
        }
        if (url.protocol !== 'http:' && url.protocol !== 'https:') return { ok: false, detail: `${label()}: redirect to a non-HTTP URL` };
        continue;
      }
      return judge(res, status, label(), config, signal);
    }
  },
});

function send(url: URL, config: HttpConfig, signal: AbortSignal): Promise<IncomingMessage> {
  return new Promise((resolvePromise, reject) => {
    const options = {
      method: config.method,
      headers: { 'user-agent': 'ipwarden-check', ...config.headers },
      signal,
      agent: false as const,
    };
    const req =
      url.protocol === 'https:'
        ? httpsRequest(url, { ...options, ca: config.ca, rejectUnauthorized: !config.insecure })
        : httpRequest(url, options);
    req.once('response', resolvePromise);
    req.once('error', reject);
    req.end();
  });
}

async function judge(res: IncomingMessage, status: number, label: string, config: HttpConfig, signal: AbortSignal): Promise<CheckResult> {
  const head = `${label} -> ${status}`;
  const metrics = { status };
  const accepted = config.expect.some(([lo, hi]) => status >= lo && status <= hi);
  if (!accepted) {
    res.destroy();
    return { ok: false, detail: `${head} (expected ${formatExpect(config.expect)})`, metrics };
  }
  if (!config.bodyMatch) {
    res.destroy();
    return { ok: true, detail: head, metrics };
  }
  let body: string;
  try {
    body = await readBody(res, signal);
  } catch (err) {
    return { ok: false, detail: `${head}, reading the body: ${describeSocketError(err, signal)}`, metrics };
  }
  if (!config.bodyMatch.test(body)) return { ok: false, detail: `${head}, body does not match ${config.bodyMatch}`, metrics };
  return { ok: true, detail: `${head}, body matches ${config.bodyMatch}`, metrics };
}

/** Reads at most MAX_BODY bytes of the body (a longer body is cut, not an error). */
function readBody(res: IncomingMessage, signal: AbortSignal): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = () => {
      signal.removeEventListener('abort', onAbort);
      resolvePromise(Buffer.concat(chunks).toString('utf8'));
    };
    const onAbort = () => {
      res.destroy();
      reject(signal.reason);
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    res.on('data', (chunk: Buffer) => {
      if (size >= MAX_BODY) return;
      chunks.push(chunk.subarray(0, MAX_BODY - size));
      size += chunk.length;
      if (size >= MAX_BODY) {
        res.destroy();
        finish();
      }
    });
    res.once('end', finish);
    res.once('error', (err) => {
      signal.removeEventListener('abort', onAbort);
      reject(err);
    });
  });
}
