/**
 * EXO2-HMAC-SHA256, the request signature of the Exoscale API v2.
 *
 * The message is five segments joined with "\n":
 *   1. METHOD + " " + PATH   (escaped path as sent on the wire, "/v2" included, no query)
 *   2. the raw request body  (exact bytes, or empty)
 *   3. the values of the signed query parameters, URL-decoded, concatenated in the
 *      order of their names (ascending byte order; only single-valued parameters)
 *   4. header values         (always empty)
 *   5. the expiry            (UNIX seconds)
 * signature = base64(HMAC-SHA256(key = secret as UTF-8, message)).
 *
 * One message builder serves both the client (signRequest) and the simulator's
 * server-side check (verifyRequest), so they cannot drift apart.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const EXO2_SCHEME = 'EXO2-HMAC-SHA256';
/** What every official client uses: requests expire 10 minutes after signing. */
export const DEFAULT_EXPIRY_SECONDS = 600;

export interface SignedQuery {
  /** Names of the signed parameters, ascending byte order. */
  names: string[];
  /** Their URL-decoded values, in the same order. */
  values: string[];
}

/**
 * The query parameters a request signs: every parameter that appears exactly once,
 * sorted by name in byte order. Repeated parameters are left out (as egoscale does).
 */
export function selectSignedQuery(params: URLSearchParams): SignedQuery {
  const byName = new Map<string, string[]>();
  for (const [name, value] of params) byName.set(name, [...(byName.get(name) ?? []), value]);
  const names = [...byName.keys()]
    .filter((n) => byName.get(n)!.length === 1)
    .sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
  return { names, values: names.map((n) => byName.get(n)![0]!) };
}

export interface SigningMessageParts {
  method: string;
  /** Escaped path as sent, e.g. "/v2/elastic-ip/<uuid>:attach". */
  path: string;
  /** Raw body bytes (a string is taken as UTF-8); empty for none. */
  body: string | Uint8Array;
  /** Values of the signed query parameters, already ordered. */
  queryValues: string[];
  expires: number;
}

/** Builds the exact bytes that get signed. */
export function buildSigningMessage(parts: SigningMessageParts): Buffer {
  const body = typeof parts.body === 'string' ? Buffer.from(parts.body, 'utf8') : Buffer.from(parts.body);
  return Buffer.concat([
    Buffer.from(`${parts.method.toUpperCase()} ${parts.path}\n`, 'utf8'),
    body,
    Buffer.from(`\n${parts.queryValues.join('')}\n\n${parts.expires}`, 'utf8'),
  ]);
}

/** base64(HMAC-SHA256(secret, message)), standard alphabet with padding. */
export function computeSignature(secret: string, message: Uint8Array | string): string {
  return createHmac('sha256', Buffer.from(secret, 'utf8')).update(message).digest('base64');
}

export interface SignRequestInput {
  apiKey: string;
  apiSecret: string;
  method: string;
  /** The full request URL; its escaped pathname and query are what gets signed. */
  url: URL;
  /** The exact body that will be sent ("" or undefined for none). */
  body?: string | Uint8Array;
  /** UNIX seconds. */
  expires: number;
}

/** The Authorization header value for a request. */
export function signRequest(input: SignRequestInput): string {
  const query = selectSignedQuery(input.url.searchParams);
  const message = buildSigningMessage({
    method: input.method,
    path: input.url.pathname,
    body: input.body ?? '',
    queryValues: query.values,
    expires: input.expires,
  });
  const signature = computeSignature(input.apiSecret, message);
  return (
    `${EXO2_SCHEME} credential=${input.apiKey}` +
    (query.names.length > 0 ? `,signed-query-args=${query.names.join(';')}` : '') +
    `,expires=${input.expires},signature=${signature}`
  );
}

/** The expiry to sign with: now + `seconds`, as UNIX seconds. */
export function expiryFrom(nowMs: number, seconds = DEFAULT_EXPIRY_SECONDS): number {
  return Math.floor(nowMs / 1000) + seconds;
}

// ------------------------------------------------------------------ server side

export interface ParsedAuthorization {
  credential: string;
  signedQueryArgs: string[];
  expires: number;
  signature: string;
}

/** Parses an Authorization header; returns a one-line reason when it is not a valid EXO2 header. */
export function parseAuthorization(header: string): ParsedAuthorization | { error: string } {
  const prefix = `${EXO2_SCHEME} `;
  if (!header.startsWith(prefix)) return { error: `authorization scheme is not ${EXO2_SCHEME}` };
  const fields = new Map<string, string>();
  for (const pair of header.slice(prefix.length).split(',')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) return { error: `malformed authorization field ${JSON.stringify(pair.slice(0, 40))}` };
    const name = pair.slice(0, eq);
    if (fields.has(name)) return { error: `duplicate authorization field ${name}` };
    fields.set(name, pair.slice(eq + 1));
  }
  const credential = fields.get('credential');
  const expiresText = fields.get('expires');
  const signature = fields.get('signature');
  if (!credential) return { error: 'authorization lacks credential' };
  if (!expiresText || !/^\d{1,12}$/.test(expiresText)) return { error: 'authorization lacks a numeric expires' };
  if (!signature) return { error: 'authorization lacks signature' };
  const args = fields.get('signed-query-args');
  return {
    credential,
    signedQueryArgs: args === undefined || args === '' ? [] : args.split(';'),
    expires: Number(expiresText),
    signature,
  };
}

export type VerifyFailure = 'missing' | 'malformed' | 'unknown-key' | 'bad-signature' | 'expired' | 'unsigned-query';

export type VerifyResult = { ok: true; apiKey: string } | { ok: false; failure: VerifyFailure; detail: string };

export interface VerifyInput {
  /** The Authorization header, if any. */
  authorization: string | undefined;
  method: string;
  /** The raw request target as received: escaped path plus optional "?query". */
  rawUrl: string;
  /** Raw body bytes as received. */
  body: Uint8Array;
  /** Secret for an API key, or undefined when the key is unknown. */
  lookupSecret: (apiKey: string) => string | undefined;
  nowSeconds: number;
  /** Require signed-query-args to list every single-valued query parameter (default true). */
  strictQuery?: boolean;
  /** Accept requests that expired up to this many seconds ago (default 0). */
  clockSkewSeconds?: number;
  /** Reject expiries further than this in the future (default: no limit). */
  maxExpirySeconds?: number;
}

/** Server-side check of an EXO2-HMAC-SHA256 request (the simulator's auth). */
export function verifyRequest(input: VerifyInput): VerifyResult {
  if (!input.authorization) return { ok: false, failure: 'missing', detail: 'no Authorization header' };
  const parsed = parseAuthorization(input.authorization);
  if ('error' in parsed) return { ok: false, failure: 'malformed', detail: parsed.error };
  const secret = input.lookupSecret(parsed.credential);
  if (secret === undefined) return { ok: false, failure: 'unknown-key', detail: 'unknown API key' };

  const q = input.rawUrl.indexOf('?');
  const path = q < 0 ? input.rawUrl : input.rawUrl.slice(0, q);
  const params = new URLSearchParams(q < 0 ? '' : input.rawUrl.slice(q + 1));
  const values: string[] = [];
  for (const name of parsed.signedQueryArgs) {
    const all = params.getAll(name);
    if (all.length !== 1) {
      return { ok: false, failure: 'bad-signature', detail: `signed query parameter ${name} is missing or repeated` };
    }
    values.push(all[0]!);
  }
  if (input.strictQuery ?? true) {
    const listed = new Set(parsed.signedQueryArgs);
    const unsigned = selectSignedQuery(params).names.filter((n) => !listed.has(n));
    if (unsigned.length > 0) {
      return { ok: false, failure: 'unsigned-query', detail: `query parameter ${unsigned[0]} is not signed` };
    }
  }
  const expected = computeSignature(
    secret,
    buildSigningMessage({ method: input.method, path, body: input.body, queryValues: values, expires: parsed.expires }),
  );
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(parsed.signature, 'utf8');
  if (a.length !== b.length || !timingSafeEqual(a, b)) {
    return { ok: false, failure: 'bad-signature', detail: 'signature mismatch' };
  }
  if (parsed.expires + (input.clockSkewSeconds ?? 0) < input.nowSeconds) {
    return { ok: false, failure: 'expired', detail: `request expired at ${parsed.expires}` };
  }
  if (input.maxExpirySeconds !== undefined && parsed.expires > input.nowSeconds + input.maxExpirySeconds) {
    return { ok: false, failure: 'expired', detail: `expires ${parsed.expires} is too far in the future` };
  }
  return { ok: true, apiKey: parsed.credential };
}
