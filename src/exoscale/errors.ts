/**
 * Typed errors of the Exoscale client. Every message is one line of the form
 *   "exoscale: <what was being done>: <what went wrong>"
 * e.g. "exoscale: attach elastic-ip 198.51.100.50 to instance 9d2c…: 403 forbidden: Invalid request signature".
 * Messages never carry the API secret or the Authorization header (see redactSecrets).
 *
 * Retryable: network errors, timeouts, 429 and 5xx except 501. Everything else fails fast.
 */
import { STATUS_CODES } from 'node:http';
import { formatDuration } from '../util/duration.js';
import { redactSecrets as redactAny, retryAfterFromHeaders } from '../cloud/http.js';

/** Base class: `call` is the API operation (e.g. "attach-instance-to-elastic-ip"), `what` the human action. */
export abstract class ExoscaleError extends Error {
  /** Whether retrying the same request may succeed. */
  abstract readonly retryable: boolean;
  /** Attempts made before giving up (set by the client's retry loop). */
  attempts = 1;

  constructor(
    readonly call: string,
    readonly what: string,
    detail: string,
  ) {
    super(`exoscale: ${what}: ${oneLine(detail)}`);
  }

  /** Records how many attempts were made; appends it to the message when more than one. */
  noteAttempts(attempts: number, elapsedMs: number): this {
    this.attempts = attempts;
    if (attempts > 1) this.message += ` (gave up after ${attempts} attempts in ${formatDuration(elapsedMs)})`;
    return this;
  }
}

/** The API answered with an error status (or a 2xx the client could not understand). */
export class ExoscaleApiError extends ExoscaleError {
  override name = 'ExoscaleApiError';
  readonly retryable: boolean;

  constructor(
    call: string,
    what: string,
    readonly status: number,
    /** The message from the response body ("message" | "error" | "title" | "detail" | raw text). */
    readonly apiMessage: string,
    /** Server-requested wait before retrying (Retry-After header or retry_after body field). */
    readonly retryAfterMs?: number,
  ) {
    super(call, what, `${status} ${statusText(status)}${apiMessage ? `: ${apiMessage}` : ''}`);
    this.retryable = isRetryableStatus(status);
  }
}

/** The request never got an answer: connection refused/reset, DNS failure... */
export class ExoscaleNetworkError extends ExoscaleError {
  override name = 'ExoscaleNetworkError';
  readonly retryable = true;

  constructor(
    call: string,
    what: string,
    /** errno-style code when known (ECONNREFUSED, ECONNRESET...). */
    readonly code: string | undefined,
    detail: string,
  ) {
    super(call, what, `network error: ${detail}`);
  }
}

/** No complete answer within the per-request timeout. */
export class ExoscaleTimeoutError extends ExoscaleError {
  override name = 'ExoscaleTimeoutError';
  readonly retryable = true;

  constructor(
    call: string,
    what: string,
    readonly timeoutMs: number,
  ) {
    super(call, what, `no response within ${formatDuration(timeoutMs)}`);
  }
}

/** An async operation ended in state failure or timeout. */
export class ExoscaleOperationError extends ExoscaleError {
  override name = 'ExoscaleOperationError';
  readonly retryable = false;

  constructor(
    call: string,
    what: string,
    readonly operationId: string,
    readonly state: string,
    readonly reason: string | undefined,
    readonly apiMessage: string | undefined,
  ) {
    super(
      call,
      what,
      `operation ${operationId} ended in ${state}${reason ? ` (${reason})` : ''}${apiMessage ? `: ${apiMessage}` : ''}`,
    );
  }
}

/** An operation was still pending when the client stopped waiting (it may still complete). */
export class ExoscaleWaitTimeoutError extends ExoscaleError {
  override name = 'ExoscaleWaitTimeoutError';
  readonly retryable = false;

  constructor(
    call: string,
    what: string,
    readonly operationId: string,
    readonly waitedMs: number,
  ) {
    super(call, what, `operation ${operationId} still pending after ${formatDuration(waitedMs)}`);
  }
}

/** A resource looked up by address or name does not exist (client-side resolution). */
export class ExoscaleNotFoundError extends ExoscaleError {
  override name = 'ExoscaleNotFoundError';
  readonly retryable = false;

  constructor(call: string, what: string, detail: string) {
    super(call, what, detail);
  }
}

/** A mutation reported success but reading the state back disagrees. */
export class ExoscaleVerifyError extends ExoscaleError {
  override name = 'ExoscaleVerifyError';
  readonly retryable = false;

  constructor(call: string, what: string, detail: string) {
    super(call, what, detail);
  }
}

/** Bad client options or arguments (fail fast, names the field). */
export class ExoscaleConfigError extends Error {
  override name = 'ExoscaleConfigError';
}

/** 429 and every 5xx except 501 (what go-retryablehttp retries). */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || (status >= 500 && status <= 599 && status !== 501);
}

/** Whether an error (of any type) is worth retrying. Unknown errors are not. */
export function isRetryable(error: unknown): boolean {
  return error instanceof ExoscaleError && error.retryable;
}

/** "forbidden", "too many requests", "service unavailable"... */
export function statusText(status: number): string {
  return (STATUS_CODES[status] ?? 'unknown status').toLowerCase();
}

/**
 * The human message of an error body: JSON `message` | `error` | `title` | `detail` |
 * `errors`, or the raw text. One line, at most 300 characters.
 */
export function bodyMessage(body: string): string {
  const text = body.trim();
  if (text === '') return '';
  try {
    const json = JSON.parse(text) as unknown;
    if (json && typeof json === 'object') {
      const o = json as Record<string, unknown>;
      for (const key of ['message', 'error', 'title', 'detail']) {
        if (typeof o[key] === 'string' && o[key] !== '') return clip(oneLine(o[key] as string));
      }
      if (Array.isArray(o.errors) && o.errors.length > 0) return clip(oneLine(JSON.stringify(o.errors)));
    }
  } catch {
    // not JSON: use the text itself
  }
  return clip(oneLine(text));
}

/**
 * Milliseconds to wait from a Retry-After header (seconds or HTTP-date) or a
 * `retry_after` body field (seconds); undefined when neither is present or valid.
 */
export function parseRetryAfter(header: string | undefined, body: string, nowMs: number): number | undefined {
  // the header as every cloud reads it (src/cloud/http.ts), then Exoscale's body hint
  const fromHeader = header !== undefined && header.trim() !== '' ? retryAfterFromHeaders({ 'retry-after': header.trim() }, nowMs) : undefined;
  if (fromHeader !== undefined) return Math.round(fromHeader);
  try {
    const json = JSON.parse(body) as { retry_after?: unknown };
    if (typeof json.retry_after === 'number' && json.retry_after >= 0) return Math.round(json.retry_after * 1000);
  } catch {
    // no body hint
  }
  return undefined;
}

/** Replaces every occurrence of the given secrets, and any EXO2 Authorization value, with "[redacted]". */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  return redactAny(text, secrets).replace(/EXO2-HMAC-SHA256 [^\s"']+/g, 'EXO2-HMAC-SHA256 [redacted]');
}

function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

function clip(text: string, max = 300): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
