/**
 * EXO2-HMAC-SHA256: the upstream test vectors (egoscale v2/api/security_test.go and
 * requests-exoscale-auth tests) copied exactly, the derived vectors of the reference,
 * and the server-side verification the simulator uses.
 */
import t from 'tap';
import {
  buildSigningMessage,
  computeSignature,
  parseAuthorization,
  selectSignedQuery,
  signRequest,
  verifyRequest,
  expiryFrom,
} from '../../src/exoscale/signature.js';

const KEY = 'EXOxxxxxxxxxxxxxxxxxxxxxxxx';
const SECRET = 'XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX';
const EXPIRES = 3376684800; // 2077-01-01T00:00:00Z
const PREFIX = `EXO2-HMAC-SHA256 credential=${KEY}`;

t.test('inputs are what the vectors say', async (t) => {
  t.equal(KEY.length, 27);
  t.equal(SECRET.length, 43);
  t.equal(new Date(EXPIRES * 1000).toISOString(), '2077-01-01T00:00:00.000Z');
});

t.test('upstream vectors', async (t) => {
  const sign = (method: string, url: string, body = ''): string =>
    signRequest({ apiKey: KEY, apiSecret: SECRET, method, url: new URL(url), body, expires: EXPIRES });

  t.equal(
    sign('GET', 'https://api.exoscale.com/v2/zone'),
    `${PREFIX},expires=3376684800,signature=Ntbq/p0HVmA3Zg1HHY+Lq1vjFGi7HeMrrgXDS5jRNlY=`,
    'vector 1: GET without query',
  );
  t.equal(
    sign('GET', 'https://api.exoscale.com/v2/zone?k1=v1&k2=v2'),
    `${PREFIX},signed-query-args=k1;k2,expires=3376684800,signature=iqOBz13+44L5j0uJclE8hmUhQQcvtCSoPEOXYK6liqY=`,
    'vector 2: GET with query',
  );
  t.equal(
    sign('POST', 'https://api.exoscale.com/v2/load-balancer', '{"name": "foo"}'),
    `${PREFIX},expires=3376684800,signature=duldkM0+pgWRtUznj0rMrZauzsYOtSVLn1LCGcs7CcE=`,
    'vector 3: POST with Python-spaced body',
  );
  t.equal(
    sign('POST', 'https://api.exoscale.com/v2/load-balancer', '{"name":"foo"}'),
    `${PREFIX},expires=3376684800,signature=y2xzRvQuzxGRld/2l3B9bGMUeB3rkZHxM+2r1FAJdxA=`,
    'control: body whitespace changes the signature',
  );
});

t.test('messages of the upstream vectors', async (t) => {
  const msg = (method: string, path: string, body: string, values: string[]): string =>
    buildSigningMessage({ method, path, body, queryValues: values, expires: EXPIRES }).toString('utf8');
  t.equal(msg('GET', '/v2/zone', '', []), 'GET /v2/zone\n\n\n\n3376684800');
  t.equal(msg('GET', '/v2/zone', '', ['v1', 'v2']), 'GET /v2/zone\n\nv1v2\n\n3376684800');
  t.equal(msg('POST', '/v2/load-balancer', '{"name": "foo"}', []), 'POST /v2/load-balancer\n{"name": "foo"}\n\n\n3376684800');
});

t.test('derived vectors (reference §2.6)', async (t) => {
  const sign = (method: string, url: string, body = ''): string =>
    signRequest({ apiKey: KEY, apiSecret: SECRET, method, url: new URL(url), body, expires: EXPIRES });
  const body = '{"instance":{"id":"9d2c6f1e-3a4b-4c5d-8e6f-7a8b9c0d1e2f"}}';
  const eip = 'https://api-ch-gva-2.exoscale.com/v2/elastic-ip/4e6f8a3c-1b2d-4c5e-9f70-8a9b0c1d2e3f';
  t.equal(sign('PUT', `${eip}:attach`, body), `${PREFIX},expires=3376684800,signature=DidRyIC68od5qY3GMgsbpTIYSUCqD0fWhwV91aynMkA=`);
  t.equal(sign('PUT', `${eip}:detach`, body), `${PREFIX},expires=3376684800,signature=HaA87NVY1KqYsjDjOlrT5SXQUsA4pwmbxPZfG60TE5g=`);
  t.equal(
    sign('GET', 'https://api-ch-gva-2.exoscale.com/v2/instance?ip-address=203.0.113.10'),
    `${PREFIX},signed-query-args=ip-address,expires=3376684800,signature=bkPd9Z1MtdU/cJV7XSzIz4az2X4buxCl/3OPygSKrDQ=`,
  );
  t.equal(
    sign('GET', 'https://api-ch-gva-2.exoscale.com/v2/instance?manager-type=instance-pool&labels=role%3Dlb'),
    `${PREFIX},signed-query-args=labels;manager-type,expires=3376684800,signature=slZMiecO/EAS/0LoYKOsdru52rccYhoPXgKiE/fZsWM=`,
    'names sorted, values URL-decoded',
  );
  t.equal(
    sign('GET', 'https://api-ch-gva-2.exoscale.com/v2/operation/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0'),
    `${PREFIX},expires=3376684800,signature=yuXm8VqR/LlLw3SSuEWo3QfZz3AnamngUrDgXsyE9XA=`,
  );
});

t.test('signed query selection', async (t) => {
  t.same(selectSignedQuery(new URLSearchParams('b=2&a=1&c=x&c=y')), { names: ['a', 'b'], values: ['1', '2'] }, 'repeated parameters are not signed');
  t.same(selectSignedQuery(new URLSearchParams('labels=role%3Dlb%20tier%3Dfront')).values, ['role=lb tier=front'], 'values decoded');
  t.same(selectSignedQuery(new URLSearchParams('Z=1&a=2&_=3')).names, ['Z', '_', 'a'], 'byte order: uppercase < underscore < lowercase');
  t.same(selectSignedQuery(new URLSearchParams('')), { names: [], values: [] });
});

t.test('signature is HMAC-SHA256 keyed with the secret as UTF-8, base64 std', async (t) => {
  const sig = computeSignature('s3cr3t/é', 'msg');
  t.match(sig, /^[A-Za-z0-9+/]{43}=$/);
  t.not(computeSignature('s3cr3t/e', 'msg'), sig);
  t.equal(expiryFrom(1_700_000_000_999), 1_700_000_600);
  t.equal(expiryFrom(1_700_000_000_000, 30), 1_700_000_030);
});

t.test('parseAuthorization', async (t) => {
  const header = `${PREFIX},signed-query-args=k1;k2,expires=3376684800,signature=iqOBz13+44L5j0uJclE8hmUhQQcvtCSoPEOXYK6liqY=`;
  t.same(parseAuthorization(header), {
    credential: KEY,
    signedQueryArgs: ['k1', 'k2'],
    expires: EXPIRES,
    signature: 'iqOBz13+44L5j0uJclE8hmUhQQcvtCSoPEOXYK6liqY=',
  }, 'signature keeps its "=" padding (split on the first "=")');
  t.match(parseAuthorization('Bearer abc'), { error: /scheme/ });
  t.match(parseAuthorization('EXO2-HMAC-SHA256 credential=k,expires=x,signature=s'), { error: /expires/ });
  t.match(parseAuthorization('EXO2-HMAC-SHA256 credential=k,expires=1'), { error: /signature/ });
  t.match(parseAuthorization('EXO2-HMAC-SHA256 expires=1,signature=s'), { error: /credential/ });
  t.match(parseAuthorization('EXO2-HMAC-SHA256 credential=k,garbage,expires=1,signature=s'), { error: /malformed/ });
  t.match(parseAuthorization('EXO2-HMAC-SHA256 credential=k,credential=j,expires=1,signature=s'), { error: /duplicate/ });
});

t.test('verifyRequest (the simulator side) accepts what signRequest produces and nothing else', async (t) => {
  const now = 1_800_000_000;
  const body = '{"instance":{"id":"9d2c6f1e-3a4b-4c5d-8e6f-7a8b9c0d1e2f"}}';
  const url = new URL('http://127.0.0.1:9/v2/instance?ip-address=198.51.100.50&manager-type=instance-pool');
  const auth = (o: Partial<{ secret: string; key: string; expires: number; body: string; url: URL; method: string }> = {}): string =>
    signRequest({
      apiKey: o.key ?? KEY,
      apiSecret: o.secret ?? SECRET,
      method: o.method ?? 'PUT',
      url: o.url ?? url,
      body: o.body ?? body,
      expires: o.expires ?? now + 600,
    });
  const verify = (authorization: string | undefined, o: Partial<{ rawUrl: string; body: string; method: string; strict: boolean }> = {}) =>
    verifyRequest({
      authorization,
      method: o.method ?? 'PUT',
      rawUrl: o.rawUrl ?? url.pathname + url.search,
      body: Buffer.from(o.body ?? body),
      lookupSecret: (k) => (k === KEY ? SECRET : undefined),
      nowSeconds: now,
      ...(o.strict !== undefined ? { strictQuery: o.strict } : {}),
    });

  t.same(verify(auth()), { ok: true, apiKey: KEY });
  t.match(verify(undefined), { ok: false, failure: 'missing' });
  t.match(verify('EXO2-HMAC-SHA256 nonsense'), { ok: false, failure: 'malformed' });
  t.match(verify(auth({ key: 'EXO000000000000000000000000' })), { ok: false, failure: 'unknown-key' });
  t.match(verify(auth({ secret: 'wrong' })), { ok: false, failure: 'bad-signature' });
  t.match(verify(auth(), { body: body.replace('9d2c', '0000') }), { ok: false, failure: 'bad-signature' }, 'tampered body');
  t.match(verify(auth(), { body: body.replace(':', ': ') }), { ok: false, failure: 'bad-signature' }, 'reformatted body');
  t.match(verify(auth(), { method: 'GET' }), { ok: false, failure: 'bad-signature' }, 'other method');
  t.match(verify(auth(), { rawUrl: '/v2/instance?ip-address=198.51.100.51&manager-type=instance-pool' }), { ok: false, failure: 'bad-signature' }, 'tampered query value');
  t.match(verify(auth({ expires: now - 1 })), { ok: false, failure: 'expired' });
  t.same(verify(auth({ expires: now })), { ok: true, apiKey: KEY }, 'valid through its expiry second');

  const extra = url.pathname + url.search + '&labels=x%3Dy';
  t.match(verify(auth(), { rawUrl: extra }), { ok: false, failure: 'unsigned-query' }, 'strict: an unsigned parameter is refused');
  t.same(verify(auth(), { rawUrl: extra, strict: false }), { ok: true, apiKey: KEY }, 'lenient: unsigned parameters ignored');
  const noQuery = new URL('http://127.0.0.1:9/v2/zone');
  t.match(verify(auth({ url: noQuery, method: 'GET', body: '' }), { rawUrl: '/v2/zone?k1=v1', method: 'GET', body: '' }), { ok: false, failure: 'unsigned-query' });

  const skewed = verifyRequest({
    authorization: auth({ expires: now - 5 }),
    method: 'PUT',
    rawUrl: url.pathname + url.search,
    body: Buffer.from(body),
    lookupSecret: () => SECRET,
    nowSeconds: now,
    clockSkewSeconds: 10,
  });
  t.same(skewed, { ok: true, apiKey: KEY }, 'clock skew allowance');
  const far = verifyRequest({
    authorization: auth({ expires: now + 7200 }),
    method: 'PUT',
    rawUrl: url.pathname + url.search,
    body: Buffer.from(body),
    lookupSecret: () => SECRET,
    nowSeconds: now,
    maxExpirySeconds: 3600,
  });
  t.match(far, { ok: false, failure: 'expired' }, 'expiry horizon');
});

t.test('percent-encoded paths are signed as sent', async (t) => {
  const url = new URL('http://127.0.0.1:9/v2/security-group/a b');
  t.equal(url.pathname, '/v2/security-group/a%20b');
  const header = signRequest({ apiKey: KEY, apiSecret: SECRET, method: 'GET', url, expires: EXPIRES });
  const ok = verifyRequest({
    authorization: header,
    method: 'GET',
    rawUrl: '/v2/security-group/a%20b',
    body: Buffer.alloc(0),
    lookupSecret: () => SECRET,
    nowSeconds: 0,
  });
  t.same(ok, { ok: true, apiKey: KEY });
});
