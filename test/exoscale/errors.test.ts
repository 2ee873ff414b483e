/** Error helpers: what is retryable, body messages, Retry-After, secret redaction, message format. */
import t from 'tap';
import {
  ExoscaleApiError,
  ExoscaleNetworkError,
  ExoscaleOperationError,
  bodyMessage,
  isRetryable,
  isRetryableStatus,
  parseRetryAfter,
  redactSecrets,
} from '../../src/exoscale/errors.js';

t.test('retryable statuses', async (t) => {
  t.same([400, 401, 403, 404, 409, 429, 500, 501, 502, 503, 504].filter(isRetryableStatus), [429, 500, 502, 503, 504]);
  t.ok(isRetryable(new ExoscaleNetworkError('c', 'w', 'ECONNRESET', 'reset')));
  t.notOk(isRetryable(new ExoscaleApiError('c', 'w', 404, 'x')));
  t.notOk(isRetryable(new Error('plain')));
  t.notOk(isRetryable(new ExoscaleOperationError('c', 'w', 'id', 'failure', 'busy', 'm')));
});

t.test('message format', async (t) => {
  const e = new ExoscaleApiError('attach-instance-to-elastic-ip', 'attach elastic-ip 198.51.100.50', 403, 'Invalid request signature');
  t.equal(e.message, 'exoscale: attach elastic-ip 198.51.100.50: 403 forbidden: Invalid request signature');
  t.equal(new ExoscaleApiError('c', 'list x', 502, '').message, 'exoscale: list x: 502 bad gateway');
  t.equal(new ExoscaleApiError('c', 'w', 500, 'line1\n  line2').message, 'exoscale: w: 500 internal server error: line1 line2', 'one line');
  t.equal(e.noteAttempts(3, 1500).message, 'exoscale: attach elastic-ip 198.51.100.50: 403 forbidden: Invalid request signature (gave up after 3 attempts in 1.5s)');
  t.equal(e.attempts, 3);
});

t.test('bodyMessage', async (t) => {
  t.equal(bodyMessage('{"message":"Instance not found"}'), 'Instance not found');
  t.equal(bodyMessage('{"error":"Too Many Requests","retry_after":2}'), 'Too Many Requests');
  t.equal(bodyMessage('{"type":"x","title":"Conflict","status":409,"detail":"d"}'), 'Conflict');
  t.equal(bodyMessage('{"errors":[{"field":"a"}]}'), '[{"field":"a"}]');
  t.equal(bodyMessage('<html>\n<body>Bad Gateway</body>\n</html>'), '<html> <body>Bad Gateway</body> </html>');
  t.equal(bodyMessage(''), '');
  t.equal(bodyMessage('x'.repeat(1000)).length, 300);
});

t.test('parseRetryAfter', async (t) => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  t.equal(parseRetryAfter('2', '', now), 2000);
  t.equal(parseRetryAfter('0.5', '', now), 500);
  t.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:03 GMT', '', now), 3000, 'HTTP-date');
  t.equal(parseRetryAfter(undefined, '{"retry_after":4}', now), 4000, 'body field');
  t.equal(parseRetryAfter('soon', 'not json', now), undefined);
  t.equal(parseRetryAfter(undefined, '', now), undefined);
});

t.test('redactSecrets', async (t) => {
  const secret = 'abcdEFGH1234';
  t.equal(redactSecrets(`got ${secret} twice ${secret}`, [secret]), 'got [redacted] twice [redacted]');
  t.equal(
    redactSecrets('header EXO2-HMAC-SHA256 credential=EXOx,expires=1,signature=abc= end', []),
    'header EXO2-HMAC-SHA256 [redacted] end',
  );
  t.equal(redactSecrets('short ab', ['ab']), 'short ab', 'too-short "secrets" are not blanked everywhere');
});
