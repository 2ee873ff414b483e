/**
 * EC2 error codes mapped to the provider error kinds (src/cloud/provider.ts). Auth errors name the
 * credential source ("env:AWS_ACCESS_KEY_ID", "profile ha in /etc/ipwarden/aws/credentials",
 * "instance role lb-role (IMDSv2)"), never a key, secret or token.
 */
import type { HttpResponse, OutgoingRequest } from '../cloud/http.js';
import { CloudApiError, type CloudErrorKind } from '../cloud/provider.js';
import { decodeQuery, parseErrorDocument } from './query.js';

const AUTH_CODES = new Set([
  'AuthFailure',
  'UnauthorizedOperation',
  'InvalidClientTokenId',
  'SignatureDoesNotMatch',
  'IncompleteSignature',
  'MissingAuthenticationToken',
  'ExpiredToken',
  'RequestExpired',
  'OptInRequired',
  'Blocked',
]);
const THROTTLE_CODES = new Set(['RequestLimitExceeded', 'Throttling', 'ThrottlingException']);
const RETRYABLE_CODES = new Set(['InternalError', 'InternalFailure', 'ServiceUnavailable', 'Unavailable']);
const CONFLICT_CODES = new Set(['IncorrectInstanceState', 'IncorrectState', 'ConcurrentTagAccess']);

export function kindOfEc2Code(code: string, status: number): CloudErrorKind {
  if (AUTH_CODES.has(code)) return 'auth';
  if (THROTTLE_CODES.has(code)) return 'rate-limited';
  if (RETRYABLE_CODES.has(code)) return 'retryable';
  if (CONFLICT_CODES.has(code)) return 'conflict';
  if (code.endsWith('.NotFound')) return 'not-found';
  if (status >= 500) return 'retryable';
  if (status === 401 || status === 403) return 'auth';
  return 'invalid';
}

/** The Action of a Query request body, for messages. */
export function actionOf(req: OutgoingRequest): string {
  return (req.body && decodeQuery(req.body).get('Action')) || `${req.method} ${req.url.pathname}`;
}

/** Maps a non-2xx EC2 answer; `credentialSource` names where the credentials came from. */
export function classifyEc2(res: HttpResponse, req: OutgoingRequest, credentialSource: () => string): CloudApiError {
  const action = actionOf(req);
  const doc = parseErrorDocument(res.body);
  if (!doc) {
    const kind: CloudErrorKind = res.status >= 500 || res.status === 429 ? 'retryable' : res.status === 401 || res.status === 403 ? 'auth' : 'invalid';
    return new CloudApiError('aws', kind, `EC2 ${action}: HTTP ${res.status} without an EC2 error document: ${res.body.slice(0, 200)}`, {
      status: res.status,
    });
  }
  const kind = kindOfEc2Code(doc.code, res.status);
  let message = `EC2 ${action}: ${doc.code}: ${doc.message}`;
  if (kind === 'auth') {
    message += ` (credentials from ${credentialSource()})`;
    if (doc.code === 'RequestExpired') message += '; is this machine\'s clock right? SigV4 allows 15 minutes of skew';
  }
  if (doc.requestId) message += ` [request ${doc.requestId}]`;
  return new CloudApiError('aws', kind, message, { status: res.status, code: doc.code });
}
