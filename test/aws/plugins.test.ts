/**
 * The AWS plugins' rc-file contracts (keys, defaults, errors naming the key) and the aws-tag discovery
 * against the simulator: running instances carrying every tag, by private IPv4, this node left out.
 */
import t from 'tap';
import awsEip from '../../plugins/aws-eip/index.js';
import awsRoute from '../../plugins/aws-route/index.js';
import awsTag from '../../plugins/aws-tag/index.js';
import { createLogger } from '../../src/log.js';
import { FAILOVER_FIRST_TIMEOUT_MS } from '../../src/cloud/http.js';
import type { PluginEnvironment } from '../../src/plugins/api.js';
import { startAwsSimulator } from '../../src/aws/simulator/server.js';
import { instanceIdOf, SIM_ACCESS_KEY_ID, SIM_SECRET_ACCESS_KEY } from '../../src/aws/simulator/world.js';

const secrets: Record<string, string> = { 'env:KEY': SIM_ACCESS_KEY_ID, 'env:SECRET': SIM_SECRET_ACCESS_KEY };
const env: PluginEnvironment = {
  baseDir: '/',
  resolveSecret: (ref, where) => {
    const v = secrets[ref];
    if (v === undefined) throw new Error(`${where}: ${ref} is not set`);
    return v;
  },
};

t.test('aws-eip / aws-route config: defaults, explicit credentials named by reference, errors naming the key', async (t) => {
  const ok = awsEip.parseConfig({ accessKeyId: 'env:KEY', secretAccessKey: 'env:SECRET' }, env);
  t.ok(ok.ok);
  if (ok.ok) {
    t.same(ok.config.controller, { strategy: 'move', release: true, onApiUnreachable: 'hold', reconcileMs: 30_000, startupGraceMs: 10_000 });
    t.equal(ok.config.connection.explicit?.source, 'accessKeyId env:KEY, secretAccessKey env:SECRET', 'the source names references, not values');
    t.equal(ok.config.connection.region, undefined, 'region left to the environment / IMDSv2');
  }
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ accessKeyId: 'env:KEY' }, /secretAccessKey/],
    [{ instanceId: 'i-0123456789abcdef0', networkInterfaceId: 'eni-0123456789abcdef0' }, /networkInterfaceId/],
    [{ privateIpAddress: '10.0.1.5' }, /privateIpAddress/],
    [{ instanceId: 'web1' }, /instanceId/],
    [{ region: 'Europe' }, /region/],
    [{ strategy: 'all-healthy' }, /strategy/],
    [{ allocationId: 'eip-1' }, /allocationId/],
    [{ bogus: 1 }, /bogus/],
  ];
  for (const [raw, key] of cases) {
    const r = awsEip.parseConfig(raw, env);
    t.notOk(r.ok, JSON.stringify(raw));
    if (!r.ok) t.match(JSON.stringify(r.issues), key, `${JSON.stringify(raw)}: the issue names ${key}`);
  }
  const route = awsRoute.parseConfig({}, env);
  t.notOk(route.ok);
  if (!route.ok) t.match(JSON.stringify(route.issues), /routeTableIds/);
  const route2 = awsRoute.parseConfig({ routeTableIds: ['rtb-0a1b2c3d4e5f60001', 'rtb-0a1b2c3d4e5f60001'] }, env);
  t.ok(route2.ok && route2.config.provider.routeTableIds.length === 1, 'duplicate tables collapse');
});

t.test('aws-tag discovery: running instances with every tag, by private IPv4, this node left out', async (t) => {
  const sim = await startAwsSimulator({ seed: { instances: 4 } });
  t.teardown(() => sim.close());
  sim.world().instances[3]!.tags.role = 'db';
  sim.world().instances[2]!.state = 'stopped';
  const parsed = awsTag.parseConfig({ tag: { role: 'lb' }, endpoint: sim.url, region: sim.region, metadataUrl: sim.metadataUrl(instanceIdOf(1)), accessKeyId: 'env:KEY', secretAccessKey: 'env:SECRET', port: 12345 }, env);
  t.ok(parsed.ok);
  if (!parsed.ok) return;
  const source = await awsTag.create({ config: parsed.config, log: createLogger({ level: 'silent' }), instance: { name: 'web', address: '203.0.113.10' }, node: { id: 'lb-1', bind: { host: '0.0.0.0', port: 12345 } } });
  t.teardown(() => source.close?.());
  const peers = await source.discover(new AbortController().signal);
  t.same(peers, [{ host: '10.0.1.12', port: 12345, id: `lb-2 (${instanceIdOf(2)})` }], 'lb-1 is this node (IMDSv2), lb-3 is stopped, lb-4 is tagged db');
  const bad = awsTag.parseConfig({ tag: {} }, env);
  t.notOk(bad.ok);
  if (!bad.ok) t.match(JSON.stringify(bad.issues), /tag/);
});

/**
 * The failover path's first attempt: an AssociateAddress sent while the API hangs is re-sent after
 * FAILOVER_FIRST_TIMEOUT_MS (2 s), not after the action's 5 s per-attempt timeout (the chaos campaign's
 * AWS episode 120 of session 8: a re-attach hung into an API-timeout fault waited out the 5 s).
 */
t.test('aws-eip: an attach that hangs is re-sent after the first attempt\'s 2 s, not the 5 s timeout', async (t) => {
  const sim = await startAwsSimulator({ seed: { instances: 2 } });
  t.teardown(() => sim.close());
  const parsed = awsEip.parseConfig({ endpoint: sim.url, region: sim.region, metadataUrl: sim.metadataUrl(instanceIdOf(1)), instanceId: instanceIdOf(1), accessKeyId: 'env:KEY', secretAccessKey: 'env:SECRET', startupGrace: '0s', reconcile: '0s' }, env);
  if (!parsed.ok) return t.fail(JSON.stringify(parsed.issues));
  t.equal(parsed.config.connection.firstTimeoutMs, FAILOVER_FIRST_TIMEOUT_MS);
  const handlers = await awsEip.create({ config: parsed.config, log: createLogger({ level: 'silent' }), instance: { name: 'web', address: '203.0.113.10' }, node: { id: 'lb1' } });
  t.teardown(() => handlers.close?.());
  sim.faults.add({ kind: 'hang', count: 1, calls: ['associate-address'] });
  const started = performance.now();
  await handlers.onMaster!({ instance: { name: 'web', address: '203.0.113.10' }, node: { id: 'lb1' }, from: 'BACKUP', to: 'MASTER', priority: 100, reason: 'test', signal: new AbortController().signal });
  const took = performance.now() - started;
  const associations = sim.requests().filter((r) => r.call === 'associate-address').length;
  t.equal(associations, 2, 'the hung AssociateAddress was sent again');
  t.ok(sim.world().addresses[0]!.association, 'the Elastic IP is associated');
  t.ok(took >= FAILOVER_FIRST_TIMEOUT_MS && took < 5000, `MASTER held the address ${Math.round(took)} ms after the transition (first attempt cut at 2 s, not at the 5 s timeout)`);
});
