/**
 * The AWS simulator is faithful to EC2 as the official AWS CLI v2 (Debian's awscli, /usr/bin/aws,
 * `--endpoint-url` at the simulator) sees it: the CLI signs with SigV4 and parses our XML with
 * botocore's EC2 model. Credentials come from temp shared files (AWS_CONFIG_FILE /
 * AWS_SHARED_CREDENTIALS_FILE), IMDS is disabled so the CLI never looks for 169.254.169.254.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { startAwsSimulator, type RunningAwsSimulator } from '../../src/aws/simulator/server.js';
import {
  instanceIdOf,
  interfaceIdOf,
  SIM_ACCESS_KEY_ID,
  SIM_READONLY_ACCESS_KEY_ID,
  SIM_READONLY_SECRET_ACCESS_KEY,
  SIM_SECRET_ACCESS_KEY,
} from '../../src/aws/simulator/world.js';
import { requireEnv } from '../lib/env.js';

const AWS = '/usr/bin/aws';
const skip = requireEnv({ bins: [AWS] });

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function setup(t: Test, sim: RunningAwsSimulator) {
  const dir = mkdtempSync(join(tmpdir(), 'ipw-awscli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'config'), `[default]\nregion = ${sim.region}\noutput = json\n\n[profile ro]\nregion = ${sim.region}\n\n[profile wrong]\nregion = ${sim.region}\n`);
  writeFileSync(
    join(dir, 'credentials'),
    `[default]\naws_access_key_id = ${SIM_ACCESS_KEY_ID}\naws_secret_access_key = ${SIM_SECRET_ACCESS_KEY}\n\n` +
      `[wrong]\naws_access_key_id = ${SIM_ACCESS_KEY_ID}\naws_secret_access_key = not-the-secret-0123456789\n\n` +
      `[ro]\naws_access_key_id = ${SIM_READONLY_ACCESS_KEY_ID}\naws_secret_access_key = ${SIM_READONLY_SECRET_ACCESS_KEY}\n`,
  );
  return (args: string[], profile = 'default'): Promise<CliResult> =>
    new Promise((resolve) => {
      execFile(
        AWS,
        ['--endpoint-url', sim.url, '--output', 'json', 'ec2', ...args],
        {
          env: {
            PATH: '/usr/bin:/bin',
            HOME: dir,
            AWS_PAGER: '',
            AWS_CONFIG_FILE: join(dir, 'config'),
            AWS_SHARED_CREDENTIALS_FILE: join(dir, 'credentials'),
            AWS_PROFILE: profile,
            AWS_EC2_METADATA_DISABLED: 'true',
            AWS_MAX_ATTEMPTS: '1',
          },
          timeout: 60_000,
        },
        (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
}


// Each CLI run starts a Python interpreter (seconds on a loaded CI machine): few runs, checks through the world.
t.setTimeout(480_000);

t.test('the AWS CLI v2 against the simulator', { skip }, async (t) => {
  const sim = await startAwsSimulator();
  t.teardown(() => sim.close());
  const aws = setup(t, sim);
  const eip = sim.world().addresses[0]!;
  const json = (r: CliResult): any => JSON.parse(r.stdout);

  const d = await aws(['describe-addresses', '--public-ips', eip.publicIp]);
  t.equal(d.code, 0, d.stderr);
  t.same(json(d).Addresses.map((a: { PublicIp: string; AllocationId: string; Domain: string }) => [a.PublicIp, a.AllocationId, a.Domain]), [[eip.publicIp, eip.allocationId, 'vpc']]);

  const a1 = await aws(['associate-address', '--allocation-id', eip.allocationId, '--instance-id', instanceIdOf(1)]);
  t.equal(a1.code, 0, a1.stderr);
  t.match(json(a1).AssociationId, /^eipassoc-/);

  const refused = await aws(['associate-address', '--allocation-id', eip.allocationId, '--instance-id', instanceIdOf(2), '--no-allow-reassociation']);
  t.not(refused.code, 0);
  t.match(refused.stderr, /Resource\.AlreadyAssociated/);

  const a2 = await aws(['associate-address', '--allocation-id', eip.allocationId, '--instance-id', instanceIdOf(2), '--allow-reassociation']);
  t.equal(a2.code, 0, a2.stderr);
  const assoc2 = json(a2).AssociationId as string;
  t.same(sim.world().addresses[0]!.association, { associationId: assoc2, networkInterfaceId: interfaceIdOf(2), privateIpAddress: '10.0.1.12' });
  t.same(sim.history.events(0, eip.publicIp).map((e) => e.holders), [[], [instanceIdOf(1)], [instanceIdOf(2)]], 'unheld at the seed, then moved in one step, never on two');

  const dis = await aws(['disassociate-address', '--association-id', assoc2]);
  t.equal(dis.code, 0, dis.stderr);
  t.equal(sim.world().addresses[0]!.association, undefined);

  await fetch(`${sim.url}/_sim/instances/${instanceIdOf(3)}/state`, { method: 'POST', body: JSON.stringify({ state: 'stopped' }) });
  const inst = await aws(['describe-instances', '--filters', 'Name=tag:role,Values=l?', 'Name=instance-state-name,Values=running']);
  t.equal(inst.code, 0, inst.stderr);
  const instances = (json(inst).Reservations as Array<{ Instances: Array<{ InstanceId: string; PrivateIpAddress: string; Tags: Array<{ Key: string; Value: string }>; State: { Name: string }; NetworkInterfaces: Array<{ NetworkInterfaceId: string }> }> }>).flatMap((r) => r.Instances);
  t.same(instances.map((i) => [i.InstanceId, i.PrivateIpAddress, i.State.Name, i.NetworkInterfaces[0]!.NetworkInterfaceId]), [1, 2].map((n) => [instanceIdOf(n), `10.0.1.${10 + n}`, 'running', interfaceIdOf(n)]), 'the stopped instance is filtered out; tag values are globs');
  t.same(instances[0]!.Tags.find((x) => x.Key === 'role'), { Key: 'role', Value: 'lb' });

  const vip = '10.0.1.100';
  const as1 = await aws(['assign-private-ip-addresses', '--network-interface-id', interfaceIdOf(1), '--private-ip-addresses', vip]);
  t.equal(as1.code, 0, as1.stderr);
  const as2 = await aws(['assign-private-ip-addresses', '--network-interface-id', interfaceIdOf(2), '--private-ip-addresses', vip, '--allow-reassignment']);
  t.equal(as2.code, 0, as2.stderr);
  t.same(sim.world().interfaces.filter((e) => e.privateIps.includes(vip)).map((e) => e.networkInterfaceId), [interfaceIdOf(2)], 'moved with --allow-reassignment');

  const rtb = sim.world().routeTables[0]!.routeTableId;
  const rr = await aws(['replace-route', '--route-table-id', rtb, '--destination-cidr-block', '192.168.100.10/32', '--network-interface-id', interfaceIdOf(2)]);
  t.equal(rr.code, 0, rr.stderr);
  const tables = json(await aws(['describe-route-tables', '--route-table-ids', rtb])).RouteTables;
  t.same(
    tables[0].Routes.find((r: { DestinationCidrBlock: string }) => r.DestinationCidrBlock === '192.168.100.10/32'),
    { DestinationCidrBlock: '192.168.100.10/32', InstanceId: instanceIdOf(2), InstanceOwnerId: '123456789012', NetworkInterfaceId: interfaceIdOf(2), Origin: 'CreateRoute', State: 'active' },
  );

  const wrong = await aws(['describe-addresses'], 'wrong');
  t.not(wrong.code, 0);
  t.match(wrong.stderr, /AuthFailure/, 'a wrong secret: AuthFailure');
  t.notMatch(wrong.stderr, /not-the-secret/);

  const roWrite = await aws(['associate-address', '--allocation-id', eip.allocationId, '--instance-id', instanceIdOf(1)], 'ro');
  t.match(roWrite.stderr, /UnauthorizedOperation/, 'a read-only key may not associate');
});

t.test('throttling: RequestLimitExceeded as the CLI knows it', { skip }, async (t) => {
  const sim = await startAwsSimulator({ rateLimit: { limit: 1, refillPerSecond: 0.01 } });
  t.teardown(() => sim.close());
  const aws = setup(t, sim);
  t.equal((await aws(['describe-addresses'])).code, 0);
  const throttled = await aws(['describe-addresses']);
  t.not(throttled.code, 0);
  t.match(throttled.stderr, /RequestLimitExceeded/);
});
