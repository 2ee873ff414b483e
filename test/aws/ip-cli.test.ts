/**
 * `ipwarden ip show|attach|detach --provider aws --mode eip|private-ip|route` (the built CLI) against
 * the AWS simulator, credentials from the environment (the chain's first link), the default target
 * from IMDSv2; and `ipwarden simulate aws` through the registry.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { startAwsSimulator } from '../../src/aws/simulator/server.js';
import { instanceIdOf, interfaceIdOf, SIM_ACCESS_KEY_ID, SIM_SECRET_ACCESS_KEY } from '../../src/aws/simulator/world.js';
import { cleanEnv, runCli, startCli } from '../exoscale-integration/lib/cli.js';

async function setup(t: Test) {
  const sim = await startAwsSimulator();
  t.teardown(() => sim.close());
  const home = mkdtempSync(join(tmpdir(), 'ipw-aws-ip-'));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const env = (extra: Record<string, string> = {}) =>
    cleanEnv({ HOME: home, AWS_REGION: sim.region, AWS_ENDPOINT_URL_EC2: sim.url, AWS_ACCESS_KEY_ID: SIM_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: SIM_SECRET_ACCESS_KEY, ...extra });
  return { sim, env };
}

t.test('--mode eip: attach moves the Elastic IP in one call, default target from IMDSv2, detach releases', async (t) => {
  const { sim, env } = await setup(t);
  const ip = (args: string[], e = env()) => runCli(['ip', ...args, '--provider', 'aws', '--address', '203.0.113.10'], e);
  let r = await ip(['attach', '--target', instanceIdOf(1)]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, `attached 203.0.113.10 to ${instanceIdOf(1)}`);
  r = await ip(['attach'], env({ AWS_EC2_METADATA_SERVICE_ENDPOINT: sim.metadataUrl(instanceIdOf(2)) }));
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, `attached 203.0.113.10 to ${instanceIdOf(2)}`);
  t.same(sim.history.events(0, '203.0.113.10').map((e) => e.holders), [[], [instanceIdOf(1)], [instanceIdOf(2)]], 'moved in one step');
  r = await ip(['show', '--json']);
  t.same(JSON.parse(r.stdout), { provider: 'aws', address: '203.0.113.10', holderMode: 'single', holders: [instanceIdOf(2)] });
  r = await ip(['detach', '--target', instanceIdOf(2)]);
  t.equal(r.code, 0, r.stderr);
  t.equal(sim.world().addresses[0]!.association, undefined);
});

t.test('--mode private-ip and --mode route', async (t) => {
  const { sim, env } = await setup(t);
  let r = await runCli(['ip', 'attach', '--provider', 'aws', '--mode', 'private-ip', '--address', '10.0.1.100', '--target', interfaceIdOf(1)], env());
  t.equal(r.code, 0, r.stderr);
  r = await runCli(['ip', 'attach', '--provider', 'aws', '--mode', 'private-ip', '--address', '10.0.1.100', '--target', interfaceIdOf(2)], env());
  t.equal(r.code, 0, r.stderr);
  t.same(sim.world().interfaces.filter((e) => e.privateIps.includes('10.0.1.100')).map((e) => e.networkInterfaceId), [interfaceIdOf(2)]);
  const tables = sim.world().routeTables.map((x) => x.routeTableId).join(',');
  r = await runCli(['ip', 'attach', '--provider', 'aws', '--mode', 'route', '--route-table-ids', tables, '--address', '192.168.100.10'], env({ AWS_EC2_METADATA_SERVICE_ENDPOINT: sim.metadataUrl(instanceIdOf(3)) }));
  t.equal(r.code, 0, r.stderr);
  t.same(sim.world().routeTables.map((x) => x.routes.find((rt) => rt.destinationCidrBlock === '192.168.100.10/32')?.networkInterfaceId), [interfaceIdOf(3), interfaceIdOf(3)], 'every table routes the VIP to the default target (IMDSv2 primary interface)');
});

t.test('usage errors exit 2; a wrong secret is one line naming the source, never the secret', async (t) => {
  const { env } = await setup(t);
  let r = await runCli(['ip', 'show', '--provider', 'aws', '--mode', 'bogus', '--address', '203.0.113.10'], env());
  t.equal(r.code, 2);
  t.match(r.stderr, /--mode: expected eip, private-ip, route/);
  r = await runCli(['ip', 'show', '--provider', 'aws', '--mode', 'route', '--address', '192.168.100.10'], env());
  t.equal(r.code, 2);
  t.match(r.stderr, /--route-table-ids: required with --mode route/);
  r = await runCli(['ip', 'show', '--provider', 'aws', '--address', '203.0.113.10'], env({ AWS_SECRET_ACCESS_KEY: 'wrong-secret-value-42' }));
  t.equal(r.code, 1);
  t.match(r.stderr, /AuthFailure.*credentials from env:AWS_ACCESS_KEY_ID/);
  t.notOk(r.stderr.includes('wrong-secret-value-42'));
  t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
});

t.test('ipwarden simulate aws runs through the registry and stops on SIGTERM', async (t) => {
  const sim = startCli(t, ['simulate', 'aws', '--port', '0'], cleanEnv({}));
  const deadline = Date.now() + 15_000;
  while (!/AWS_ENDPOINT_URL_EC2=http:\/\/127\.0\.0\.1:\d+/.test(sim.output()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.match(sim.output(), /AWS_ENDPOINT_URL_EC2=http:\/\/127\.0\.0\.1:\d+/);
  t.match(sim.output(), new RegExp(instanceIdOf(1)));
  sim.child.kill('SIGTERM');
  t.equal(await sim.exited, 0);
});
