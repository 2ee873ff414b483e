/**
 * The SigV4 signer against AWS's published Signature Version 4 test suite (aws-sig-v4-test-suite,
 * 2015-08-30 edition: credentials AKIDEXAMPLE, region us-east-1, service "service"). The expected
 * Authorization values are the suite's *.authz files; requests are the suite's *.req files (header
 * duplicates and continuation lines given already folded, as the suite's *.creq shows them).
 * Then the verifying side: what the simulator uses to check a request.
 */
import t from 'tap';
import {
  amzDate,
  canonicalQuery,
  parseAmzDate,
  parseAuthorization,
  signRequest,
  signatureParts,
  signaturesEqual,
} from '../../src/aws/sigv4.js';

const CREDS = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const DATE = new Date('2015-08-30T12:36:00Z');
const OPTS = { region: 'us-east-1', service: 'service', date: DATE };
const PREFIX = 'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, ';
/** The suite's example session token (post-sts-token). */
const STS_TOKEN =
  'AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==';

interface Vector {
  name: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
  sessionToken?: string;
  authz: string;
}

const VECTORS: Vector[] = [
  { name: 'get-vanilla', method: 'GET', path: '/', authz: 'SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31' },
  { name: 'get-vanilla-query', method: 'GET', path: '/', authz: 'SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31' },
  { name: 'get-vanilla-empty-query-key', method: 'GET', path: '/?Param1=value1', authz: 'SignedHeaders=host;x-amz-date, Signature=a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb' },
  { name: 'get-vanilla-query-order-key-case', method: 'GET', path: '/?Param2=value2&Param1=value1', authz: 'SignedHeaders=host;x-amz-date, Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500' },
  {
    name: 'get-vanilla-query-unreserved',
    method: 'GET',
    path: '/?-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz',
    authz: 'SignedHeaders=host;x-amz-date, Signature=9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197',
  },
  { name: 'get-vanilla-utf8-query', method: 'GET', path: '/?ሴ=bar', authz: 'SignedHeaders=host;x-amz-date, Signature=2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04' },
  { name: 'get-unreserved', method: 'GET', path: '/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz', authz: 'SignedHeaders=host;x-amz-date, Signature=07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f' },
  { name: 'get-utf8', method: 'GET', path: '/ሴ', authz: 'SignedHeaders=host;x-amz-date, Signature=8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85' },
  { name: 'get-header-key-duplicate', method: 'GET', path: '/', headers: { 'My-Header1': 'value2,value2,value1' }, authz: 'SignedHeaders=host;my-header1;x-amz-date, Signature=c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea' },
  { name: 'get-header-value-multiline', method: 'GET', path: '/', headers: { 'My-Header1': 'value1,value2,value3' }, authz: 'SignedHeaders=host;my-header1;x-amz-date, Signature=ba17b383a53190154eb5fa66a1b836cc297cc0a3d70a5d00705980573d8ff790' },
  { name: 'get-header-value-order', method: 'GET', path: '/', headers: { 'My-Header1': 'value4,value1,value3,value2' }, authz: 'SignedHeaders=host;my-header1;x-amz-date, Signature=08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01' },
  { name: 'get-header-value-trim', method: 'GET', path: '/', headers: { 'My-Header1': ' value1', 'My-Header2': '"a   b   c"' }, authz: 'SignedHeaders=host;my-header1;my-header2;x-amz-date, Signature=acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736' },
  { name: 'post-vanilla', method: 'POST', path: '/', authz: 'SignedHeaders=host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b' },
  { name: 'post-header-key-case', method: 'POST', path: '/', authz: 'SignedHeaders=host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b' },
  { name: 'post-header-key-sort', method: 'POST', path: '/', headers: { 'My-Header1': 'value1' }, authz: 'SignedHeaders=host;my-header1;x-amz-date, Signature=c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c' },
  { name: 'post-header-value-case', method: 'POST', path: '/', headers: { 'My-Header1': 'VALUE1' }, authz: 'SignedHeaders=host;my-header1;x-amz-date, Signature=cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d' },
  { name: 'post-vanilla-query', method: 'POST', path: '/?Param1=value1', authz: 'SignedHeaders=host;x-amz-date, Signature=28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11' },
  { name: 'post-vanilla-empty-query-value', method: 'POST', path: '/?Param1=value1', authz: 'SignedHeaders=host;x-amz-date, Signature=28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11' },
  { name: 'post-vanilla-query-space', method: 'POST', path: '/?p=', authz: 'SignedHeaders=host;x-amz-date, Signature=e71688addb58a26418614085fb730ba3faa623b461c17f48f2fbdb9361b94a9b' },
  {
    name: 'post-vanilla-query-nonunreserved',
    method: 'POST',
    path: `/?${encodeURIComponent('@#$%^')}=&${encodeURIComponent('+')}=${encodeURIComponent('/,?><`";:\\|][{}')}`,
    authz: 'SignedHeaders=host;x-amz-date, Signature=66c82657c86e26fb25238d0e69f011edc4c6df5ae71119d7cb98ed9b87393c1e',
  },
  {
    name: 'post-x-www-form-urlencoded',
    method: 'POST',
    path: '/',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: 'Param1=value1',
    authz: 'SignedHeaders=content-type;host;x-amz-date, Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a',
  },
  {
    name: 'post-x-www-form-urlencoded-parameters',
    method: 'POST',
    path: '/',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded; charset=utf8' },
    body: 'Param1=value1',
    authz: 'SignedHeaders=content-type;host;x-amz-date, Signature=1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe',
  },
  {
    name: 'post-sts-token/post-sts-header-before',
    method: 'POST',
    path: '/',
    sessionToken: STS_TOKEN,
    authz: 'SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead',
  },
];

for (const v of VECTORS) {
  t.test(`aws-sig-v4-test-suite ${v.name}`, async (t) => {
    const url = new URL(`https://example.amazonaws.com${v.path}`);
    const headers = { Host: 'example.amazonaws.com', ...v.headers };
    const creds = { ...CREDS, ...(v.sessionToken ? { sessionToken: v.sessionToken } : {}) };
    const added = signRequest({ method: v.method, url, headers, ...(v.body !== undefined ? { body: v.body } : {}) }, creds, OPTS);
    t.equal(added.authorization, PREFIX + v.authz);
    t.equal(added['x-amz-date'], '20150830T123600Z');
    t.equal(added['x-amz-security-token'], v.sessionToken);
  });
}

t.test('get-vanilla: the suite\'s canonical request and string to sign', async (t) => {
  const url = new URL('https://example.amazonaws.com/');
  const parts = signatureParts(
    { method: 'GET', url, headers: { host: 'example.amazonaws.com', 'x-amz-date': '20150830T123600Z' } },
    CREDS.secretAccessKey,
    { day: '20150830', region: 'us-east-1', service: 'service', amzDate: '20150830T123600Z' },
  );
  t.equal(
    parts.canonicalRequest,
    'GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  );
  t.equal(
    parts.stringToSign,
    'AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63',
  );
});

t.test('host is added from the URL (with its port) when the caller did not set it', async (t) => {
  const withHost = signRequest({ method: 'POST', url: new URL('http://127.0.0.1:8080/'), headers: { host: '127.0.0.1:8080' } }, CREDS, OPTS);
  const without = signRequest({ method: 'POST', url: new URL('http://127.0.0.1:8080/'), headers: {} }, CREDS, OPTS);
  t.equal(without.authorization, withHost.authorization);
  const otherPort = signRequest({ method: 'POST', url: new URL('http://127.0.0.1:8081/'), headers: {} }, CREDS, OPTS);
  t.not(otherPort.authorization, withHost.authorization, 'the port is part of the signed host');
});

t.test('the verifying side: parse the Authorization header, dates, canonical query order', async (t) => {
  const parsed = parseAuthorization(PREFIX + 'SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31');
  t.same(parsed, {
    accessKeyId: 'AKIDEXAMPLE',
    day: '20150830',
    region: 'us-east-1',
    service: 'service',
    signedHeaders: ['host', 'x-amz-date'],
    signature: '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
  });
  t.match(parseAuthorization('Bearer x'), /must start with AWS4-HMAC-SHA256/);
  t.match(parseAuthorization('AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws4_request'), /requires 'Credential', 'SignedHeaders' and 'Signature'/);
  t.match(parseAuthorization('AWS4-HMAC-SHA256 Credential=AKID/20150830, SignedHeaders=host, Signature=ab'), /scoped/);
  t.equal(amzDate(DATE), '20150830T123600Z');
  t.equal(parseAmzDate('20150830T123600Z')?.getTime(), DATE.getTime());
  t.equal(parseAmzDate('2015-08-30T12:36:00Z'), undefined);
  t.equal(canonicalQuery('?b=2&a=2&a=1&c'), 'a=1&a=2&b=2&c=');
  t.equal(canonicalQuery('?x=a+b%20c'), 'x=a%2Bb%20c', '"+" is a literal plus, spaces are %20');
  t.ok(signaturesEqual('abc', 'abc'));
  t.notOk(signaturesEqual('abc', 'abd'));
  t.notOk(signaturesEqual('abc', 'abcd'));
});
