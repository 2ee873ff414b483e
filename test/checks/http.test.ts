/**
 * The http check against real nginx and against a Node HTTP(S) server with chosen statuses,
 * redirects and slow answers.
 */
import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { requireEnv } from '../lib/env.js';
import http from '../../plugins/http/index.js';
import { freePort, removeDir, startNginx, tempDir } from '../lib/checks/lab.js';
import { parse, parseIssues, runCheck } from '../lib/checks/run-check.js';

t.test('against real nginx', { skip: requireEnv({ bins: ['nginx'] }) }, async (t) => {
  const dir = tempDir('http-nginx');
  const web = await startNginx(dir, 'web1');
  t.teardown(async () => {
    await web.proc.stop('SIGKILL');
    removeDir(dir);
  });
  const base = `http://127.0.0.1:${web.port}`;

  const ok = await runCheck(http, { url: `${base}/health` });
  t.equal(ok.ok, true, ok.detail);
  t.equal(ok.detail, `GET ${base}/health -> 200`);
  t.same(ok.metrics, { status: 200 });

  const body = await runCheck(http, { url: `${base}/health`, bodyMatch: '^healthy web1$' });
  t.equal(body.ok, false, 'the body ends with a newline, ^...$ without m flag does not match');
  const body2 = await runCheck(http, { url: `${base}/health`, bodyMatch: 'healthy web\\d' });
  t.equal(body2.ok, true, body2.detail);
  t.equal(body2.detail, `GET ${base}/health -> 200, body matches /healthy web\\d/`);

  const missing = await runCheck(http, { url: `${base}/missing` });
  t.equal(missing.ok, false);
  t.equal(missing.detail, `GET ${base}/missing -> 404 (expected 200-399)`);
  t.equal((await runCheck(http, { url: `${base}/missing`, expect: [404] })).ok, true);

  const head = await runCheck(http, { url: `${base}/health`, method: 'head' });
  t.equal(head.detail, `HEAD ${base}/health -> 200`);

  await web.proc.stop('SIGKILL');
  const down = await runCheck(http, { url: `${base}/health` });
  t.equal(down.ok, false);
  t.equal(down.detail, `GET ${base}/health: connection refused`);
});

/** A Node server: /status/N, /redirect, /loop, /slow-body, /slow-headers, /echo-header. */
async function nodeServer(t: Test) {
  const held: ServerResponse[] = [];
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const status = /^\/status\/(\d{3})$/.exec(url.pathname);
    if (status) {
      res.writeHead(Number(status[1]), { 'content-type': 'text/plain' });
      return res.end(`status ${status[1]}\n`);
    }
    if (url.pathname === '/redirect') {
      res.writeHead(302, { location: '/status/200' });
      return res.end();
    }
    if (url.pathname === '/loop') {
      res.writeHead(301, { location: '/loop' });
      return res.end();
    }
    if (url.pathname === '/slow-body') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial ');
      held.push(res);
      return;
    }
    if (url.pathname === '/slow-headers') {
      held.push(res);
      return;
    }
    if (url.pathname === '/echo-header') {
      res.writeHead(200);
      return res.end(`token=${String(req.headers['x-token'])} ua=${String(req.headers['user-agent'])}`);
    }
    res.writeHead(500);
    res.end();
  };
  const srv = createServer(handler);
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  t.teardown(() => {
    held.forEach((r) => r.destroy());
    srv.closeAllConnections();
    srv.close();
  });
  return { srv, handler, base: `http://127.0.0.1:${(srv.address() as AddressInfo).port}` };
}

t.test('statuses, expect lists and ranges', async (t) => {
  const { base } = await nodeServer(t);
  const r503 = await runCheck(http, { url: `${base}/status/503` });
  t.equal(r503.ok, false);
  t.equal(r503.detail, `GET ${base}/status/503 -> 503 (expected 200-399)`);
  t.equal((await runCheck(http, { url: `${base}/status/503`, expect: ['500-599'] })).ok, true);
  t.equal((await runCheck(http, { url: `${base}/status/204`, expect: [200, '204'] })).ok, true);
  const r = await runCheck(http, { url: `${base}/status/201`, expect: [200, '202-204'] });
  t.equal(r.detail, `GET ${base}/status/201 -> 201 (expected 200, 202-204)`);
  t.equal((await runCheck(http, { url: `${base}/status/418`, expect: 418 })).ok, true);
});

t.test('redirects', async (t) => {
  const { base } = await nodeServer(t);
  const plain = await runCheck(http, { url: `${base}/redirect` });
  t.equal(plain.ok, true, 'a 302 is within the default 200-399');
  t.equal(plain.detail, `GET ${base}/redirect -> 302`);
  t.equal((await runCheck(http, { url: `${base}/redirect`, expect: [200] })).ok, false);
  const followed = await runCheck(http, { url: `${base}/redirect`, expect: [200], followRedirects: true });
  t.equal(followed.ok, true, followed.detail);
  t.equal(followed.detail, `GET ${base}/status/200 -> 200`);
  const loop = await runCheck(http, { url: `${base}/loop`, followRedirects: true });
  t.equal(loop.ok, false);
  t.equal(loop.detail, `GET ${base}/loop -> 301: more than 5 redirects`);
});

t.test('slow answers: the check honours its abort signal', async (t) => {
  const { base } = await nodeServer(t);
  for (const [path, extra, want] of [
    ['/slow-headers', {}, 'aborted (timed out after 300ms)'],
    ['/slow-body', { bodyMatch: 'done' }, '-> 200, reading the body: aborted (timed out after 300ms)'],
  ] as const) {
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('timed out after 300ms')), 300);
    const t0 = Date.now();
    const r = await runCheck(http, { url: `${base}${path}`, ...extra }, { signal: ac.signal });
    t.ok(Date.now() - t0 < 1500, `${path}: returned soon after the abort`);
    t.equal(r.ok, false);
    t.match(r.detail, want);
  }
  const noBody = await runCheck(http, { url: `${base}/slow-body` }, { timeoutMs: 2000 });
  t.equal(noBody.ok, true, 'without bodyMatch the body is not waited for');
});

t.test('headers (secret references resolved), credentials never shown', async (t) => {
  const { base } = await nodeServer(t);
  process.env.IPW_TEST_HTTP_TOKEN = 's3cret';
  t.teardown(() => delete process.env.IPW_TEST_HTTP_TOKEN);
  const r = await runCheck(http, { url: `${base}/echo-header`, headers: { 'X-Token': 'env:IPW_TEST_HTTP_TOKEN' }, bodyMatch: 'token=s\\dcret ua=ipwarden-check' });
  t.equal(r.ok, true, r.detail);
  t.notMatch(r.detail, 's3cret');
  const withUser = await runCheck(http, { url: base.replace('http://', 'http://admin:hunter2@') + '/status/200' });
  t.equal(withUser.detail, `GET ${base}/status/200 -> 200`);
  t.match(parseIssues(http, { url: base, headers: { 'X-Token': 'env:IPW_TEST_HTTP_NOT_SET' } }), ['headers.X-Token: environment variable IPW_TEST_HTTP_NOT_SET is not set']);
});

t.test('https: ca, insecure, and verification failures', { skip: requireEnv({ bins: ['openssl'] }) }, async (t) => {
  const dir = tempDir('http-tls');
  t.teardown(() => removeDir(dir));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=ipwarden-test', '-addext', 'subjectAltName=IP:127.0.0.1',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
  ], { stdio: 'ignore' });
  const { handler } = await nodeServer(t);
  const srv = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, handler);
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  t.teardown(() => {
    srv.closeAllConnections();
    srv.close();
  });
  const url = `https://127.0.0.1:${(srv.address() as AddressInfo).port}/status/200`;
  const unverified = await runCheck(http, { url });
  t.equal(unverified.ok, false);
  t.match(unverified.detail, `GET ${url}: TLS: self-signed certificate`);
  const insecure = await runCheck(http, { url, tls: { insecure: true } });
  t.equal(insecure.ok, true, insecure.detail);
  const withCa = await runCheck(http, { url, tls: { ca: 'cert.pem' } }, { baseDir: dir });
  t.equal(withCa.ok, true, withCa.detail);
  t.equal(withCa.detail, `GET ${url} -> 200`);
});

t.test('connection refused', async (t) => {
  const port = await freePort();
  const r = await runCheck(http, { url: `http://127.0.0.1:${port}/` });
  t.equal(r.ok, false);
  t.equal(r.detail, `GET http://127.0.0.1:${port}/: connection refused`);
});

t.test('config', async (t) => {
  const c = parse(http, { url: 'http://127.0.0.1/health' });
  t.same(c.expect, [[200, 399]]);
  t.equal(c.method, 'GET');
  t.equal(c.followRedirects, false);
  t.equal(c.insecure, false);
  t.match(parseIssues(http, { url: 'ftp://x/' }), ['url: expected an http:// or https:// URL']);
  t.match(parseIssues(http, { url: 'not a url' }), ['url: expected an http:// or https:// URL']);
  t.match(parseIssues(http, { url: 'http://x/', expect: ['399-200'] }), [/^expect: a range must be low-high/]);
  t.match(parseIssues(http, { url: 'http://x/', expect: ['2xx'] }), [/^expect/]);
  t.match(parseIssues(http, { url: 'http://x/', bodyMatch: '(' }), [/^bodyMatch: invalid regular expression/]);
  t.match(parseIssues(http, { url: 'http://x/', tls: { ca: '/nonexistent/ca.pem' } }), ['tls.ca: cannot read /nonexistent/ca.pem: ENOENT']);
  t.match(parseIssues(http, { url: 'http://x/', folowRedirects: true }), ['folowRedirects: unknown key (did you mean "followRedirects"?)']);
  t.match(parseIssues(http, {}), [/^url: required/]);
});
