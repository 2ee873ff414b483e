/**
 * The haproxy check against a real HAProxy (stats socket) in front of two real nginx servers.
 */
import t, { type Test } from 'tap';
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { requireEnv } from '../lib/env.js';
import haproxy from '../../plugins/haproxy/index.js';
import { queryStatsSocket } from '../../plugins/haproxy/stats-socket.js';
import { parseShowStat } from '../../plugins/haproxy/stat.js';
import { CheckRunner, scheduleCheck, type CheckSnapshot } from '../../src/plugins/check-runner.js';
import { freePort, removeDir, startHaproxy, startNginx, tempDir, waitFor, type Proc } from '../lib/checks/lab.js';
import { parse, runCheck, testEnv } from '../lib/checks/run-check.js';

const skip = requireEnv({ bins: ['haproxy', 'nginx'] });

async function serverStatus(sock: string, backend: string, server: string): Promise<string | undefined> {
  try {
    const rows = parseShowStat(await queryStatsSocket({ kind: 'unix', path: sock }, 'show stat', AbortSignal.timeout(2000)));
    return rows.find((r) => r.pxname === backend && r.svname === server)?.status;
  } catch {
    return undefined;
  }
}

t.test('haproxy check against real HAProxy and nginx', { skip }, async (t) => {
  const dir = tempDir('haproxy');
  const procs: Proc[] = [];
  t.teardown(async () => {
    for (const p of procs) await p.stop('SIGKILL');
    removeDir(dir);
  });

  const web1 = await startNginx(dir, 'web1');
  procs.push(web1.proc);
  const web2 = await startNginx(dir, 'web2');
  procs.push(web2.proc);
  const closedPort = await freePort();
  const fePort = await freePort();
  const tcpStatsPort = await freePort();
  const sock = join(dir, 'haproxy.sock');

  const hap = await startHaproxy(
    dir,
    `global
  stats socket ${sock} level admin
  stats socket ipv4@127.0.0.1:${tcpStatsPort} level user
defaults
  mode http
  timeout connect 1s
  timeout client 5s
  timeout server 5s
frontend fe
  bind 127.0.0.1:${fePort}
  default_backend web
backend web
  server web1 127.0.0.1:${web1.port} check inter 100ms fall 1 rise 1
  server web2 127.0.0.1:${web2.port} check inter 100ms fall 1 rise 1
backend empty
backend mixed
  server m1 127.0.0.1:${web1.port} check inter 100ms fall 1 rise 1
  server m2 127.0.0.1:${closedPort} check inter 100ms fall 1 rise 1
  server m3 127.0.0.1:${web1.port} check inter 100ms disabled
  server m4 127.0.0.1:${web2.port} check inter 100ms fall 1 rise 1
`,
    async () =>
      (await serverStatus(sock, 'web', 'web1')) === 'UP' &&
      (await serverStatus(sock, 'web', 'web2')) === 'UP' &&
      (await serverStatus(sock, 'mixed', 'm2'))?.startsWith('DOWN') === true,
  );
  procs.push(hap);
  await queryStatsSocket({ kind: 'unix', path: sock }, 'set server mixed/m4 state drain', AbortSignal.timeout(2000));

  await t.test('backend with both servers UP passes', async (t) => {
    const r = await runCheck(haproxy, { socket: sock, backend: 'web' });
    t.equal(r.ok, true, r.detail);
    t.equal(r.detail, 'backend web: 2/2 servers up');
    t.same(r.metrics, { serversUp: 2, servers: 2 });
    t.equal((await runCheck(haproxy, { socket: sock, backend: 'web', minUp: 2 })).ok, true);
    const three = await runCheck(haproxy, { socket: sock, backend: 'web', minUp: 3 });
    t.equal(three.ok, false);
    t.match(three.detail, 'backend web: 2/2 servers up, need 3');
  });

  await t.test('a TCP stats socket at level user works too', async (t) => {
    const r = await runCheck(haproxy, { socket: `127.0.0.1:${tcpStatsPort}`, backend: 'web' });
    t.equal(r.ok, true, r.detail);
  });

  await t.test('frontend must be OPEN when given', async (t) => {
    const r = await runCheck(haproxy, { socket: sock, backend: 'web', frontend: 'fe' });
    t.equal(r.ok, true, r.detail);
    t.match(r.detail, 'frontend fe OPEN');
    const missing = await runCheck(haproxy, { socket: sock, backend: 'web', frontend: 'nope' });
    t.equal(missing.ok, false);
    t.match(missing.detail, 'frontend nope not found');
  });

  await t.test('unknown backend fails and lists the backends', async (t) => {
    const r = await runCheck(haproxy, { socket: sock, backend: 'nope' });
    t.equal(r.ok, false);
    t.match(r.detail, /backend nope not found; backends: .*web.*empty.*mixed/);
  });

  await t.test('an empty backend says UP but fails the check', async (t) => {
    const rows = parseShowStat(await queryStatsSocket({ kind: 'unix', path: sock }, 'show stat', AbortSignal.timeout(2000)));
    t.match(rows.find((r) => r.pxname === 'empty' && r.svname === 'BACKEND')?.status, /^UP/, 'HAProxy reports the empty backend UP');
    const r = await runCheck(haproxy, { socket: sock, backend: 'empty' });
    t.equal(r.ok, false);
    t.equal(r.detail, 'backend empty: 0/0 servers up (no servers), need 1');
  });

  await t.test('detail names DOWN, MAINT and DRAIN servers', async (t) => {
    const r = await runCheck(haproxy, { socket: sock, backend: 'mixed' });
    t.equal(r.ok, true, r.detail);
    t.match(r.detail, /^backend mixed: 1\/4 servers up; down: m2 \(DOWN[^)]*\); maint: m3 \(MAINT[^)]*\); drain: m4 \(DRAIN[^)]*\)$/);
    const two = await runCheck(haproxy, { socket: sock, backend: 'mixed', minUp: 2 });
    t.equal(two.ok, false);
    t.match(two.detail, 'backend mixed: 1/4 servers up, need 2; down: m2');
  });

  await t.test('one nginx stopped: passes with minUp 1, fails with minUp 2 naming it', async (t) => {
    const runner = new CheckRunner([
      scheduleCheck(haproxy, parse(haproxy, { socket: sock, backend: 'web', minUp: 2 }), { intervalMs: 100, rise: 1, fall: 1, initialState: 'ok' }),
    ]);
    t.teardown(() => runner.stop());
    runner.start();
    await waitFor('first run', () => runner.snapshot()[0]!.runs > 0);
    t.equal(runner.snapshot()[0]!.state, 'ok');
    const changed = once(runner, 'change') as Promise<[CheckSnapshot, string]>;

    await web2.proc.stop('SIGKILL');
    await waitFor('web2 DOWN in HAProxy', async () => (await serverStatus(sock, 'web', 'web2'))?.startsWith('DOWN') === true);

    const one = await runCheck(haproxy, { socket: sock, backend: 'web', minUp: 1 });
    t.equal(one.ok, true, one.detail);
    t.match(one.detail, /^backend web: 1\/2 servers up; down: web2 \(DOWN: /);
    const two = await runCheck(haproxy, { socket: sock, backend: 'web', minUp: 2 });
    t.equal(two.ok, false);
    t.match(two.detail, /^backend web: 1\/2 servers up, need 2; down: web2 \(DOWN/);

    const [snap, previous] = await changed;
    t.equal(previous, 'ok');
    t.equal(snap.state, 'fail');
    t.match(snap.lastResult?.detail, 'down: web2');
  });

  await t.test('all nginx stopped: fails naming the down servers', async (t) => {
    await web1.proc.stop('SIGKILL');
    await waitFor('web1 DOWN in HAProxy', async () => (await serverStatus(sock, 'web', 'web1'))?.startsWith('DOWN') === true);
    const r = await runCheck(haproxy, { socket: sock, backend: 'web' });
    t.equal(r.ok, false);
    t.match(r.detail, /^backend web: 0\/2 servers up, backend is DOWN, need 1; down: web1 \(DOWN[^)]*\), web2 \(DOWN[^)]*\)$/);
  });

  await t.test('HAProxy stopped: fails with a clear reason', async (t) => {
    await hap.stop('SIGKILL');
    const r = await runCheck(haproxy, { socket: sock, backend: 'web' });
    t.equal(r.ok, false);
    t.equal(r.detail, `stats socket ${sock}: connection refused (HAProxy stopped or reloading)`);
    const viaTcp = await runCheck(haproxy, { socket: `127.0.0.1:${tcpStatsPort}`, backend: 'web' });
    t.equal(viaTcp.ok, false);
    t.equal(viaTcp.detail, `stats socket 127.0.0.1:${tcpStatsPort}: connection refused (HAProxy stopped or reloading)`);
  });
});

t.test('socket missing', async (t) => {
  const dir = tempDir('haproxy-missing');
  t.teardown(() => removeDir(dir));
  const r = await runCheck(haproxy, { socket: join(dir, 'nope.sock'), backend: 'web' });
  t.equal(r.ok, false);
  t.equal(r.detail, `stats socket ${join(dir, 'nope.sock')}: no such file (is HAProxy running with this \`stats socket\`?)`);
});

/** A unix socket server that answers each connection with `handler`. */
async function fakeSocket(t: Test, handler: (s: import('node:net').Socket) => void): Promise<string> {
  const dir = tempDir('haproxy-fake');
  const path = join(dir, 's.sock');
  const srv: Server = createServer(handler);
  srv.listen(path);
  await once(srv, 'listening');
  t.teardown(() => {
    srv.close();
    removeDir(dir);
  });
  return path;
}

t.test('an answer that is not show stat CSV fails', async (t) => {
  const path = await fakeSocket(t, (s) => s.end('Unknown command: show stat\n'));
  const r = await runCheck(haproxy, { socket: path, backend: 'web' });
  t.equal(r.ok, false);
  t.equal(r.detail, `stats socket ${path}: not "show stat" CSV output: "Unknown command: show stat"`);
  const empty = await fakeSocket(t, (s) => s.end());
  t.match((await runCheck(haproxy, { socket: empty, backend: 'web' })).detail, 'empty answer');
});

t.test('a socket that never answers: the check honours its abort signal', async (t) => {
  const held: import('node:net').Socket[] = [];
  const path = await fakeSocket(t, (s) => held.push(s));
  t.teardown(() => held.forEach((s) => s.destroy()));
  const ac = new AbortController();
  setTimeout(() => ac.abort(new Error('timed out after 200ms')), 200);
  const t0 = Date.now();
  const r = await runCheck(haproxy, { socket: path, backend: 'web' }, { signal: ac.signal });
  t.ok(Date.now() - t0 < 1500, 'returned soon after the abort');
  t.equal(r.ok, false);
  t.equal(r.detail, `stats socket ${path}: aborted (timed out after 200ms)`);
});

t.test('config', async (t) => {
  t.same(parse(haproxy, { backend: 'web' }), { socket: { kind: 'unix', path: '/run/haproxy/admin.sock' }, backend: 'web', minUp: 1 });
  t.same(parse(haproxy, { backend: 'web', socket: 'run/h.sock' }, '/etc/ipwarden').socket, { kind: 'unix', path: '/etc/ipwarden/run/h.sock' });
  t.same(parse(haproxy, { backend: 'web', socket: '[::1]:9999' }).socket, { kind: 'tcp', host: '::1', port: 9999 });
  t.same(parse(haproxy, { backend: 'web', socket: 'ipv4@127.0.0.1:9999' }).socket, { kind: 'tcp', host: '127.0.0.1', port: 9999 });
  t.same(parse(haproxy, { backend: 'web', socket: 'unix@/x.sock' }).socket, { kind: 'unix', path: '/x.sock' });
  const bad = haproxy.parseConfig({ minUp: -1, backend: 'web', bakend: 'x' }, testEnv());
  t.equal(bad.ok, false);
  if (!bad.ok) {
    const text = bad.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n');
    t.match(text, 'minUp');
    t.match(text, 'bakend: unknown key (did you mean "backend"?)');
  }
  const noBackend = haproxy.parseConfig({}, testEnv());
  t.match(noBackend.ok ? [] : noBackend.issues, [{ path: ['backend'], message: /^required/ }]);
});
