/**
 * The tcp check: open, closed, a server that never answers, and a listener whose accept queue is
 * full (connections hang like a filtered port).
 */
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, connect, type Socket, type AddressInfo } from 'node:net';
import tcp from '../../plugins/tcp/index.js';
import { freePort } from '../lib/checks/lab.js';
import { parseIssues, runCheck } from '../lib/checks/run-check.js';

async function server(t: Test, onConn: (s: Socket) => void): Promise<number> {
  const conns: Socket[] = [];
  const srv = createServer((s) => {
    conns.push(s);
    s.on('error', () => {});
    onConn(s);
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  t.teardown(() => {
    conns.forEach((s) => s.destroy());
    srv.close();
  });
  return (srv.address() as AddressInfo).port;
}

function abortAfter(ms: number): AbortSignal {
  const ac = new AbortController();
  setTimeout(() => ac.abort(new Error(`timed out after ${ms}ms`)), ms);
  return ac.signal;
}

t.test('open port passes, closed port fails', async (t) => {
  const port = await server(t, () => {});
  const r = await runCheck(tcp, { host: '127.0.0.1', port });
  t.equal(r.ok, true, r.detail);
  t.equal(r.detail, `127.0.0.1:${port}: connected`);
  const closed = await freePort();
  const c = await runCheck(tcp, { host: '127.0.0.1', port: closed });
  t.equal(c.ok, false);
  t.equal(c.detail, `127.0.0.1:${closed}: connection refused`);
});

t.test('send and expect', async (t) => {
  const pong = await server(t, (s) => s.on('data', (d) => (String(d).includes('PING') ? s.write('+PONG\r\n') : s.end('-ERR\r\n'))));
  const ok = await runCheck(tcp, { host: '127.0.0.1', port: pong, send: 'PING\r\n', expect: '^\\+PONG' });
  t.equal(ok.ok, true, ok.detail);
  t.equal(ok.detail, `127.0.0.1:${pong}: answer matches /^\\+PONG/`);
  const wrong = await runCheck(tcp, { host: '127.0.0.1', port: pong, send: 'HELLO\r\n', expect: '^\\+PONG' });
  t.equal(wrong.ok, false);
  t.equal(wrong.detail, `127.0.0.1:${pong}: closed without an answer matching /^\\+PONG/; got "-ERR\\r\\n"`);

  const banner = await server(t, (s) => s.write('SSH-2.0-test\r\n'));
  const b = await runCheck(tcp, { host: '127.0.0.1', port: banner, expect: '^SSH-2\\.0' });
  t.equal(b.ok, true, b.detail);

  const sink = await server(t, () => {});
  const sent = await runCheck(tcp, { host: '127.0.0.1', port: sink, send: 'hello' });
  t.equal(sent.ok, true, sent.detail);
  t.equal(sent.detail, `127.0.0.1:${sink}: connected, sent 5 bytes`);
});

t.test('a server that never answers: aborted at the timeout', async (t) => {
  const port = await server(t, () => {});
  const t0 = Date.now();
  const r = await runCheck(tcp, { host: '127.0.0.1', port, send: 'PING\r\n', expect: 'PONG' }, { signal: abortAfter(300) });
  t.ok(Date.now() - t0 < 1500, 'returned soon after the abort');
  t.equal(r.ok, false);
  t.equal(r.detail, `127.0.0.1:${port}: aborted (timed out after 300ms) while waiting for /PONG/; got ""`);
});

t.test('a listener with a full accept queue: connect hangs like a filtered port', async (t) => {
  // A stopped process cannot accept: once its backlog is full the kernel drops further SYNs.
  const child = spawn(process.execPath, [
    '-e',
    "require('net').createServer().listen({ port: 0, host: '127.0.0.1', backlog: 1 }, function () { console.log(this.address().port) })",
  ], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => child.kill('SIGKILL'));
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  const port = Number(String(line).trim());
  child.kill('SIGSTOP');
  const fillers: Socket[] = [];
  t.teardown(() => fillers.forEach((s) => s.destroy()));
  for (let i = 0; i < 4; i++) {
    const s = connect({ host: '127.0.0.1', port });
    s.on('error', () => {});
    fillers.push(s);
  }
  await new Promise((r) => setTimeout(r, 100));
  const t0 = Date.now();
  const r = await runCheck(tcp, { host: '127.0.0.1', port }, { signal: abortAfter(400) });
  t.ok(Date.now() - t0 >= 350, 'waited for the timeout');
  t.ok(Date.now() - t0 < 2000, 'returned soon after the abort');
  t.equal(r.ok, false);
  t.equal(r.detail, `127.0.0.1:${port}: aborted (timed out after 400ms) while connecting`);
});

t.test('config', async (t) => {
  t.match(parseIssues(tcp, { host: '127.0.0.1' }), [/^port: required/]);
  t.match(parseIssues(tcp, { host: '127.0.0.1', port: 70000 }), [/^port: /]);
  t.match(parseIssues(tcp, { host: '127.0.0.1', port: 80, expect: '[' }), [/^expect: invalid regular expression/]);
  t.match(parseIssues(tcp, { host: '127.0.0.1', port: 80, sned: 'x' }), ['sned: unknown key (did you mean "send"?)']);
});
