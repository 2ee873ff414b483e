/**
 * AWS Signature Version 4 (header form, HMAC-SHA256), written on node:crypto.
 *
 * Why not the AWS SDK's signer: @aws-sdk/signature-v4 drags in @smithy/* (protocol-http, util-*, types)
 * and the EC2 client another ~100 modules; the daemon's resident set is a product feature (it runs next
 * to the load balancer it guards) and SigV4 is ~100 lines of hashing. This module is checked against
 * AWS's published SigV4 test suite (test/aws/sigv4.test.ts) and used by both sides: the client signs,
 * the simulator verifies.
 *
 * Canonical request:
 *   METHOD \n canonical URI \n canonical query \n canonical headers \n signed headers \n hex(sha256(body))
 * String to sign:
 *   AWS4-HMAC-SHA256 \n amzDate \n date/region/service/aws4_request \n hex(sha256(canonical request))
 * Signing key: HMAC chain "AWS4"+secret → date → region → service → "aws4_request".
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const SIGV4_ALGORITHM = 'AWS4-HMAC-SHA256';

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface SignableRequest {
  method: string;
  url: URL;
  /** Header names in any case; every header given here is signed. */
  headers: Record<string, string>;
  body?: string;
}

export interface SignOptions {
  region: string;
  service: string;
  /** The signing instant (default now). */
  date?: Date;
}

export interface SignatureParts {
  canonicalRequest: string;
  stringToSign: string;
  signature: string;
  signedHeaders: string;
  scope: string;
}

/** RFC 3986 encoding as SigV4 wants it: everything but A-Z a-z 0-9 - _ . ~ is %XX (upper case). */
export function uriEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** "20150830T123600Z" */
export function amzDate(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

/** Parses an x-amz-date value; undefined when malformed. */
export function parseAmzDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return undefined;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
  return Number.isNaN(d.getTime()) ? undefined : d;
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

export function signingKey(secretAccessKey: string, day: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secretAccessKey}`, day), region), service), 'aws4_request');
}

/** The path, each segment decoded then encoded once (EC2's path is "/"). */
export function canonicalUri(pathname: string): string {
  if (pathname === '' || pathname === '/') return '/';
  return pathname
    .split('/')
    .map((seg) => {
      let decoded = seg;
      try {
        decoded = decodeURIComponent(seg);
      } catch {
        /* keep the raw segment */
      }
      return uriEncode(decoded);
    })
    .join('/');
}

/** The query string, parameters decoded, re-encoded and sorted by key then value. */
export function canonicalQuery(search: string): string {
  const raw = search.startsWith('?') ? search.slice(1) : search;
  if (raw === '') return '';
  const pairs = raw
    .split('&')
    .filter((p) => p !== '')
    .map((p) => {
      const eq = p.indexOf('=');
      const k = eq < 0 ? p : p.slice(0, eq);
      const v = eq < 0 ? '' : p.slice(eq + 1);
      return [uriEncode(safeDecode(k)), uriEncode(safeDecode(v))] as const;
    });
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Lower-cased names, values trimmed with inner runs of spaces collapsed, sorted by name. */
export function canonicalHeaders(headers: Record<string, string>, names?: readonly string[]): { canonical: string; signed: string } {
  const lower = new Map<string, string>();
  for (const [k, v] of Object.entries(headers)) {
    const name = k.toLowerCase();
    const value = v.trim().replace(/\s+/g, ' ');
    lower.set(name, lower.has(name) ? `${lower.get(name)},${value}` : value);
  }
  const keys = (names ? [...names] : [...lower.keys()]).sort();
  return {
    canonical: keys.map((k) => `${k}:${lower.get(k) ?? ''}\n`).join(''),
    signed: keys.join(';'),
  };
}

/** Everything SigV4 derives for `req` signed with `headerNames` (default: all of req.headers). */
export function signatureParts(
  req: SignableRequest,
  secretAccessKey: string,
  scope: { day: string; region: string; service: string; amzDate: string },
  headerNames?: readonly string[],
): SignatureParts {
  const { canonical, signed } = canonicalHeaders(req.headers, headerNames);
  const canonicalRequest = [
    req.method.toUpperCase(),
    canonicalUri(req.url.pathname),
    canonicalQuery(req.url.search),
    canonical,
    signed,
    sha256Hex(req.body ?? ''),
  ].join('\n');
  const scopeText = `${scope.day}/${scope.region}/${scope.service}/aws4_request`;
  const stringToSign = [SIGV4_ALGORITHM, scope.amzDate, scopeText, sha256Hex(canonicalRequest)].join('\n');
  const signature = createHmac('sha256', signingKey(secretAccessKey, scope.day, scope.region, scope.service))
    .update(stringToSign, 'utf8')
    .digest('hex');
  return { canonicalRequest, stringToSign, signature, signedHeaders: signed, scope: scopeText };
}

/**
 * The headers to add to `req`: x-amz-date, x-amz-security-token (with session credentials) and
 * authorization. `host` is signed: it is added from the URL when the caller did not set it.
 */
export function signRequest(req: SignableRequest, creds: AwsCredentials, opts: SignOptions): Record<string, string> {
  const stamp = amzDate(opts.date ?? new Date());
  const added: Record<string, string> = { 'x-amz-date': stamp };
  if (creds.sessionToken) added['x-amz-security-token'] = creds.sessionToken;
  const headers: Record<string, string> = { ...req.headers, ...added };
  if (!Object.keys(headers).some((k) => k.toLowerCase() === 'host')) headers.host = req.url.host;
  const parts = signatureParts({ ...req, headers }, creds.secretAccessKey, {
    day: stamp.slice(0, 8),
    region: opts.region,
    service: opts.service,
    amzDate: stamp,
  });
  added.authorization = `${SIGV4_ALGORITHM} Credential=${creds.accessKeyId}/${parts.scope}, SignedHeaders=${parts.signedHeaders}, Signature=${parts.signature}`;
  return added;
}

export interface ParsedAuthorization {
  accessKeyId: string;
  day: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

/** Parses an `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…` header; a message when malformed. */
export function parseAuthorization(value: string): ParsedAuthorization | string {
  if (!value.startsWith(`${SIGV4_ALGORITHM} `)) return `Authorization header must start with ${SIGV4_ALGORITHM}`;
  const fields = new Map<string, string>();
  for (const part of value.slice(SIGV4_ALGORITHM.length + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const credential = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (!credential || !signedHeaders || !signature) {
    return 'Authorization header requires \'Credential\', \'SignedHeaders\' and \'Signature\' parameters';
  }
  const scope = credential.split('/');
  if (scope.length !== 5 || scope[4] !== 'aws4_request') return `Credential should be scoped to a valid region, not ${JSON.stringify(credential)}`;
  return {
    accessKeyId: scope[0]!,
    day: scope[1]!,
    region: scope[2]!,
    service: scope[3]!,
    signedHeaders: signedHeaders.split(';'),
    signature,
  };
}

/** Constant-time comparison of two hex signatures. */
export function signaturesEqual(a: string, b: string): boolean {
  const ba = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  return ba.length === bb.length && timingSafeEqual(ba, bb);
}
