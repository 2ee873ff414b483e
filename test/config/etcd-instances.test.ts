/**
 * etcd-elected instances and the heartbeat (issue 12): an etcd-only config needs no heartbeat
 * secret and its daemon opens no heartbeat socket; heartbeat-only keys on an etcd instance are a
 * config error naming the key.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dgram from 'node:dgram';
import { checkConfigData } from '../../src/config/schema.js';
import { resolveConfig } from '../../src/config/resolve.js';
import { toDaemonSettings } from '../../src/cli/runtime.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { createLogger } from '../../src/log.js';
import { freeUdpPort } from '../../src/lab/local-cluster.js';

const etcd = { backend: 'etcd', endpoints: ['http://127.0.0.1:9'] };

t.test('an etcd-only config needs no secret; a heartbeat instance still does', async (t) => {
  const only = checkConfigData({ election: etcd, instances: { web: { address: '198.51.100.50' } } });
  t.ok(only.ok, `valid without a secret: ${only.ok ? '' : only.problems.join('; ')}`);
  const perInstance = checkConfigData({ instances: { web: { address: '198.51.100.50', election: etcd } } });
  t.ok(perInstance.ok, 'also with the backend set on the instance');
  const mixed = checkConfigData({ election: etcd, instances: { web: { address: '198.51.100.50' }, db: { address: '198.51.100.60', election: { backend: 'heartbeat' } } } });
  t.match(mixed.ok ? [] : mixed.problems, [/^secret: required with protocol ipwarden/], 'a heartbeat instance needs the key');
  t.equal(mixed.ok ? 0 : mixed.problems.length, 1);
});

t.test('heartbeat-only keys on an etcd instance are errors naming the key', async (t) => {
  for (const [key, value] of [['interval', '1s'], ['deadRatio', 3], ['peers', ['198.51.100.11']]] as const) {
    const r = checkConfigData({ election: etcd, instances: { web: { address: '198.51.100.50', [key]: value } } });
    t.same(r.ok ? [] : r.problems, [`instances.web.${key}: a heartbeat setting, but this instance is elected through etcd without heartbeats (election.backend etcd): remove it, or set election.heartbeat: true`], key);
  }
  const withHeartbeat = checkConfigData({ secret: 'env:K', election: { ...etcd, heartbeat: true }, instances: { web: { address: '198.51.100.50', interval: '1s', deadRatio: 3, peers: ['198.51.100.11'] } } });
  t.ok(withHeartbeat.ok, `election.heartbeat: true takes the heartbeat keys (${withHeartbeat.ok ? '' : withHeartbeat.problems.join('; ')})`);
  const noSecret = checkConfigData({ election: { ...etcd, heartbeat: true }, instances: { web: { address: '198.51.100.50', peers: ['198.51.100.11'] } } });
  t.match(noSecret.ok ? [] : noSecret.problems, [/^secret: required with protocol ipwarden/], 'and needs the heartbeat key');
  const onInstance = checkConfigData({ secret: 'env:K', instances: { web: { address: '198.51.100.50', election: etcd, interval: '1s' } } });
  t.match(onInstance.ok ? [] : onInstance.problems, [/^instances\.web\.interval: a heartbeat setting/], 'backend set on the instance');
  const heartbeat = checkConfigData({ secret: 'env:K', election: etcd, instances: { web: { address: '198.51.100.50', election: { backend: 'heartbeat' }, interval: '1s', peers: ['198.51.100.11'] } } });
  t.ok(heartbeat.ok, 'an instance that overrides the backend to heartbeat keeps its keys');
  const alsoBroken = checkConfigData({ election: etcd, instances: { web: { address: '198.51.100.50', peers: ['198.51.100.11'], priority: 'high' } } });
  t.ok(!alsoBroken.ok && alsoBroken.problems.some((p) => p.startsWith('instances.web.peers')) && alsoBroken.problems.some((p) => p.startsWith('instances.web.priority')), 'reported with the other problems of the file');
});

t.test('an etcd-only daemon opens no heartbeat socket', async (t) => {
  const port = await freeUdpPort(['127.0.0.94']);
  // a control socket of the test's own (the default, /run/ipwarden, is root's and a real daemon's)
  const dir = mkdtempSync(join(tmpdir(), 'ipw-etcd-only-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const raw = { node: { id: 'lb1', bind: `127.0.0.94:${port}`, control: join(dir, 'control.sock') }, stateFile: join(dir, 'state.json'), election: { ...etcd, ttl: '2s' }, instances: { web: { address: '198.51.100.50' } } };
  const parsed = checkConfigData(raw);
  if (!parsed.ok) throw new Error(parsed.problems.join('; '));
  const resolved = resolveConfig({ file: '/tmp/x.json', baseDir: '/tmp', raw, config: parsed.config }, { registry: { checks: new Map(), actions: new Map() }, env: {} });
  const d = new Daemon(toDaemonSettings(resolved), createLogger({ level: 'silent' }), { version: 'test' });
  t.teardown(() => d.stop());
  await d.start();
  // the heartbeat port is still free: nothing bound it
  const probe = dgram.createSocket('udp4');
  const bound = await new Promise<boolean>((resolve) => {
    probe.once('error', () => resolve(false));
    probe.bind({ address: '127.0.0.94', port, exclusive: true }, () => resolve(true));
  });
  probe.close();
  t.ok(bound, `127.0.0.94:${port} (node.bind) was not bound by the daemon`);
  t.same(d.status().instances.map((i) => i.election?.backend), ['etcd']);
  await d.stop();
});
