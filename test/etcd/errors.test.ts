/**
 * etcd over TLS with client certificates and user/password auth, and what a misconfigured node
 * says: bad TLS material is a config error naming the key; a CA that did not sign the server's
 * certificate, a wrong password and an unreachable endpoint each give one clear error line
 * (and status), the daemon keeps running as BACKUP, and no secret reaches the logs.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI_ENTRY, LocalCluster, sleep } from '../../src/lab/local-cluster.js';
import { EtcdCluster, freeTcpPort, makeTestPki } from '../lib/etcd-cluster.js';
import { requireEnv } from '../lib/env.js';

const skip = requireEnv({ bins: ['etcd', 'etcdctl', 'openssl'] });
const PASSWORD = 'etcd-pass-9f3b7c1e';
const WRONG = 'wrong-pass-51c0d2aa';

t.test('etcd TLS + auth: one working node, and one clear error per misconfiguration', { skip }, async (t) => {
  const etcd = new EtcdCluster({ members: 1, pki: await makeTestPki(join(process.env.TMPDIR ?? '/tmp', `ipwarden-pki-${process.pid}`)) });
  t.teardown(() => etcd.destroy());
  const pki = etcd.opts.pki!;
  t.teardown(() => rmSync(pki.dir, { recursive: true, force: true }));
  await etcd.start();
  await etcd.enableAuth('ipwarden', PASSWORD, '/ipwarden/');
  const closed = await freeTcpPort();

  const c = new LocalCluster({
    nodes: 4,
    intervalMs: 1000,
    nodeExtras: (i): Record<string, unknown> => {
      const tls = { ca: `file:${i === 1 ? pki.otherCa : pki.ca}`, cert: `file:${pki.clientCert}`, key: `file:${pki.clientKey}` };
      const endpoints = i === 3 ? [`https://127.0.0.1:${closed}`] : etcd.clientUrls();
      return { election: { backend: 'etcd', endpoints, ttl: '2s', tls, auth: { user: 'ipwarden', password: `file:${join(c.dir, i === 2 ? 'wrong' : 'pass')}` } } };
    },
  });
  t.teardown(() => c.destroy());
  await c.prepare();
  writeFileSync(join(c.dir, 'pass'), PASSWORD);
  writeFileSync(join(c.dir, 'wrong'), WRONG);

  t.test('bad TLS material is a config error naming the key', async (t) => {
    const bad = join(c.dir, 'not-a-cert.pem');
    writeFileSync(bad, 'hello\n');
    const n = c.nodes[0]!;
    const cfg = JSON.parse(readFileSync(n.configFile, 'utf8')) as { election: { tls: Record<string, string> } };
    cfg.election.tls.ca = `file:${bad}`;
    cfg.election.tls.key = `file:${pki.serverKey}`;
    const file = join(c.dir, 'bad.json');
    writeFileSync(file, JSON.stringify(cfg));
    const r = spawnSync(process.execPath, [CLI_ENTRY, 'config', 'check', '--config', file], { encoding: 'utf8' });
    t.equal(r.status, 1, 'config check fails');
    t.match(r.stderr, /election\.tls\.ca: not a PEM certificate/);
    t.match(r.stderr, /election\.tls\.key: does not match the certificate in election\.tls\.cert/);
    t.notMatch(r.stderr + r.stdout, /BEGIN/, 'no PEM content echoed');
    const run = spawnSync(process.execPath, [CLI_ENTRY, 'run', '--config', file], { encoding: 'utf8', timeout: 10_000 });
    t.not(run.status, 0, 'run refuses to start');
    t.match(run.stderr, /election\.tls\.ca: not a PEM certificate/);
  });

  t.test('runtime failures: wrong CA, wrong password, unreachable endpoint', async (t) => {
    await c.startAll();
    await c.waitFor('lab1 MASTER over TLS with auth', 10_000, async () => ((await c.masters()).join() === 'lab1' ? true : undefined), 50);
    await sleep(3000); // several renewal rounds: errors must not repeat
    const expected: [number, string, RegExp][] = [
      [1, 'tls', /TLS with etcd failed: .*certificate.*\(check election\.tls/],
      [2, 'auth', /etcd rejected the credentials of user "ipwarden" \(check election\.auth\.user and election\.auth\.password\)/],
      [3, 'unreachable', new RegExp(`etcd unreachable \\(https://127\\.0\\.0\\.1:${closed}\\)`)],
    ];
    for (const [i, kind, message] of expected) {
      const n = c.nodes[i]!;
      t.ok(n.process && n.process.exitCode === null, `${n.id} is still running`);
      const inst = (await c.status(n))!.instances[0]!;
      t.equal(inst.state, 'BACKUP', `${n.id} is BACKUP`);
      t.match(inst.election, { connected: false, error: { kind, message } }, `${n.id} status: ${inst.election?.error?.message}`);
      const errors = readFileSync(n.logFile, 'utf8')
        .split('\n')
        .filter((l) => l.includes('"event":"etcd-error"'))
        .map((l) => (JSON.parse(l) as { msg: string }).msg);
      t.equal(errors.length, 1, `${n.id}: one error line (${errors.length})`);
      t.match(errors[0] ?? '', message);
    }
    const good = (await c.status(c.nodes[0]!))!.instances[0]!;
    t.match(good.election, { connected: true, role: 'master' });
    t.notOk(good.election?.error);
    await c.stopAll();
    for (const n of c.nodes) {
      const log = readFileSync(n.logFile, 'utf8');
      t.notOk(log.includes(PASSWORD) || log.includes(WRONG), `${n.id}: no password in the log`);
      t.notOk(log.includes('PRIVATE KEY'), `${n.id}: no private key in the log`);
    }
  });
});
