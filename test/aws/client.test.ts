/**
 * ipwarden's AWS client against the simulator: SigV4 with long-term and session credentials, the
 * 15-minute window, a wrong secret (one clear error naming the credential source, never the secret),
 * throttling backed off, IMDSv2 (one token reused, IMDSv1 refused, per-caller tokens, a revoked token
 * replaced once) and every link of the credential chain, the instance role refreshed before expiry.
 * The simulator and the client share one fake clock, so expiry is tested without waiting for it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { AwsConnection } from '../../src/aws/connection.js';
import { CredentialChain, parseIni } from '../../src/aws/credentials.js';
import { Ec2Client } from '../../src/aws/ec2.js';
import { ImdsClient } from '../../src/aws/imds.js';
import { startAwsSimulator } from '../../src/aws/simulator/server.js';
import { instanceIdOf, interfaceIdOf, SIM_ACCESS_KEY_ID, SIM_SECRET_ACCESS_KEY } from '../../src/aws/simulator/world.js';
import { CloudApiError } from '../../src/cloud/provider.js';

const STATIC = { accessKeyId: SIM_ACCESS_KEY_ID, secretAccessKey: SIM_SECRET_ACCESS_KEY, source: 'test keys' };

function clock() {
  let ms = Date.now();
  return { now: () => ms, date: () => new Date(ms), advance: (d: number) => (ms += d) };
}

async function sim(t: Test, opts: Parameters<typeof startAwsSimulator>[0] = {}) {
  const s = await startAwsSimulator(opts);
  t.teardown(() => s.close());
  return s;
}


function ec2(t: Test, url: string, creds: ConstructorParameters<typeof CredentialChain>[0], extra: Partial<ConstructorParameters<typeof Ec2Client>[0]> = {}) {
  const c = new Ec2Client({ region: 'us-east-1', endpoint: url, credentials: new CredentialChain(creds), retry: { retries: 3, minDelayMs: 10, maxDelayMs: 50 }, ...extra });
  t.teardown(() => c.close());
  return c;
}

const errorOf = (p: Promise<unknown>): Promise<CloudApiError> => p.then(() => { throw new Error('expected a failure'); }, (e: unknown) => e as CloudApiError);

t.test('EC2 calls signed with SigV4: describe, associate (moves atomically), private IPs, routes', async (t) => {
  const s = await sim(t);
  const calls: string[] = [];
  const c = ec2(t, s.url, { explicit: STATIC }, { onCall: (x) => calls.push(`${x.call} ${x.status}`) });
  const [addr] = await c.describeAddresses({ publicIps: ['203.0.113.10'] });
  t.same(calls, ['DescribeAddresses 200'], 'every attempt reported by its Action (metrics)');
  t.match(addr, { publicIp: '203.0.113.10', allocationId: /^eipalloc-/ });
  t.equal(addr!.instanceId, undefined);
  const assoc = await c.associateAddress({ allocationId: addr!.allocationId!, instanceId: instanceIdOf(1) });
  await c.associateAddress({ allocationId: addr!.allocationId!, instanceId: instanceIdOf(2) });
  t.match((await c.describeAddresses({ allocationIds: [addr!.allocationId!] }))[0], { instanceId: instanceIdOf(2), networkInterfaceId: interfaceIdOf(2), privateIpAddress: '10.0.1.12' });
  t.match(await errorOf(c.disassociateAddress(assoc)), { kind: 'not-found', code: 'InvalidAssociationID.NotFound' });
  t.match(await errorOf(c.describeAddresses({ publicIps: ['198.51.100.99'] })), { kind: 'not-found', code: 'InvalidAddress.NotFound', message: /EC2 DescribeAddresses: InvalidAddress.NotFound: Address '198.51.100.99' not found/ });

  await c.assignPrivateIpAddresses(interfaceIdOf(1), ['10.0.1.100']);
  await c.assignPrivateIpAddresses(interfaceIdOf(3), ['10.0.1.100']);
  const enis = await c.describeNetworkInterfaces({ filters: [{ name: 'addresses.private-ip-address', values: ['10.0.1.100'] }] });
  t.same(enis.map((e) => e.networkInterfaceId), [interfaceIdOf(3)], 'AllowReassignment moved it');
  t.same(enis[0]!.privateIpAddresses, [{ privateIpAddress: '10.0.1.13', primary: true }, { privateIpAddress: '10.0.1.100', primary: false }]);

  const rtb = s.world().routeTables.map((x) => x.routeTableId);
  await c.replaceRoute(rtb[0]!, '192.168.100.10/32', interfaceIdOf(3));
  const tables = await c.describeRouteTables(rtb);
  t.same(tables.map((x) => x.routes.find((r) => r.destinationCidrBlock === '192.168.100.10/32')?.networkInterfaceId), [interfaceIdOf(3), interfaceIdOf(1)]);

  const inst = await c.describeInstances([{ name: 'tag:role', values: ['lb'] }, { name: 'instance-state-name', values: ['running'] }]);
  t.same(inst.map((i) => [i.instanceId, i.privateIpAddress, i.tags.role]), [1, 2, 3].map((n) => [instanceIdOf(n), `10.0.1.${10 + n}`, 'lb']));
  t.equal(inst[0]!.networkInterfaces[0]!.networkInterfaceId, interfaceIdOf(1));
});

t.test('session credentials, the 15-minute window, a wrong secret, a read-only key', async (t) => {
  const clk = clock();
  const s = await sim(t, { now: clk.now });
  const token = 'FwoGZXIvYXdzEXAMPLEsessiontoken0123456789';
  await fetch(`${s.url}/_sim/access-keys`, { method: 'POST', body: JSON.stringify({ accessKeyId: 'ASIATESTSESSION01', secretAccessKey: 'session-secret-0123456789', sessionToken: token, expiresInMs: 3600_000 }) });
  const session = ec2(t, s.url, { explicit: { accessKeyId: 'ASIATESTSESSION01', secretAccessKey: 'session-secret-0123456789', sessionToken: token, source: 'accessKeyId env:K, sessionToken env:T' } }, { now: clk.date });
  t.equal((await session.describeAddresses({})).length, 1, 'signed with x-amz-security-token');
  const noToken = ec2(t, s.url, { explicit: { accessKeyId: 'ASIATESTSESSION01', secretAccessKey: 'session-secret-0123456789', source: 'no token' } }, { now: clk.date });
  t.match(await errorOf(noToken.describeAddresses({})), { kind: 'auth', code: 'AuthFailure' }, 'session keys without their token');
  clk.advance(3600_000);
  const expired = await errorOf(session.describeAddresses({}));
  t.match(expired, { kind: 'auth', code: 'ExpiredToken' });
  t.notMatch(expired.message, token);

  let skew = 14 * 60_000;
  const skewed = ec2(t, s.url, { explicit: STATIC }, { now: () => new Date(clk.now() - skew) });
  t.equal((await skewed.describeAddresses({})).length, 1, '14 minutes of skew is accepted');
  skew = 16 * 60_000;
  const late = await errorOf(skewed.describeAddresses({}));
  t.match(late, { kind: 'auth', code: 'RequestExpired', message: /clock/ });
  skew = -16 * 60_000;
  t.match(await errorOf(skewed.describeAddresses({})), { code: 'RequestExpired' }, 'and 16 minutes ahead');

  const since = clk.now();
  const wrong = ec2(t, s.url, { explicit: { accessKeyId: SIM_ACCESS_KEY_ID, secretAccessKey: 'wrong-secret-0123456789', source: 'secretAccessKey file:/etc/ipwarden/aws-secret' } }, { now: clk.date });
  const err = await errorOf(wrong.describeAddresses({}));
  t.match(err, { kind: 'auth', code: 'AuthFailure', message: /credentials from secretAccessKey file:\/etc\/ipwarden\/aws-secret/ });
  t.notMatch(err.message, 'wrong-secret');
  t.equal(s.requests(since).filter((r) => r.status === 401).length, 1, 'an auth error is not retried');

  const wrongRegion = ec2(t, s.url, { explicit: STATIC }, { region: 'eu-west-1', now: clk.date });
  t.match(await errorOf(wrongRegion.describeAddresses({})), { code: 'AuthFailure', message: /scoped to a valid region/ });

  const ro = ec2(t, s.url, { explicit: { accessKeyId: 'AKIAIPWARDENREADONLY1', secretAccessKey: 'ipwarden/simulator/read-only/0123456789ab', source: 'read-only profile' } }, { now: clk.date });
  t.equal((await ro.describeAddresses({})).length, 1);
  t.match(await errorOf(ro.associateAddress({ allocationId: s.world().addresses[0]!.allocationId, instanceId: instanceIdOf(1) })), {
    kind: 'auth',
    code: 'UnauthorizedOperation',
    message: /AssociateAddress: UnauthorizedOperation.*credentials from read-only profile/,
  });
});

t.test('RequestLimitExceeded is backed off and retried', async (t) => {
  const s = await sim(t);
  const retries: string[] = [];
  const c = ec2(t, s.url, { explicit: STATIC }, { onRetry: ({ error }) => retries.push(error.code ?? '') });
  s.faults.add({ kind: 'rate-limit', count: 2, calls: ['describe-addresses'] });
  t.equal((await c.describeAddresses({})).length, 1);
  t.same(retries, ['RequestLimitExceeded', 'RequestLimitExceeded']);
  s.faults.add({ kind: 'rate-limit', calls: ['describe-addresses'] });
  t.match(await errorOf(c.describeAddresses({})), { kind: 'rate-limited', code: 'RequestLimitExceeded', status: 503 });
});

t.test('IMDSv2: one token reused, IMDSv1 refused, tokens per instance, a revoked token replaced once', async (t) => {
  const clk = clock();
  const s = await sim(t, { now: clk.now });
  const imds = new ImdsClient({ baseUrl: s.metadataUrl(instanceIdOf(2)), now: clk.now, tokenTtlSeconds: 600 });
  t.teardown(() => imds.close());
  t.equal(await imds.instanceId(), instanceIdOf(2));
  t.equal(await imds.region(), 'us-east-1');
  t.equal(await imds.primaryInterfaceId(), interfaceIdOf(2));
  t.equal(await imds.localIpv4(), '10.0.1.12');
  t.equal(s.tokensIssued(instanceIdOf(2)), 1, 'one token for four reads');

  const v1 = await fetch(`${s.metadataUrl(instanceIdOf(2))}/latest/meta-data/instance-id`);
  t.equal(v1.status, 401, 'IMDSv1 (no token) is refused');
  const token = await imds.token();
  const foreign = await fetch(`${s.metadataUrl(instanceIdOf(1))}/latest/meta-data/instance-id`, { headers: { 'x-aws-ec2-metadata-token': token } });
  t.equal(foreign.status, 401, "another instance's token is refused");
  const noTtl = await fetch(`${s.metadataUrl(instanceIdOf(1))}/latest/api/token`, { method: 'PUT' });
  t.equal(noTtl.status, 400, 'a token PUT needs the TTL header');

  clk.advance(541_000);
  await imds.instanceId();
  t.equal(s.tokensIssued(instanceIdOf(2)), 2, 'a new token shortly before the old one expires');
  await fetch(`${s.url}/_sim/reset`, { method: 'POST' });
  t.equal(await imds.instanceId(), instanceIdOf(2), 'a revoked token: 401, a new token, the read succeeds');
  const methods = s.requests().filter((r) => r.call === 'metadata').map((r) => `${r.method} ${r.status}`);
  t.same(methods.slice(-3), ['GET 401', 'PUT 200', 'GET 200']);
});

t.test('the credential chain: env, shared credentials file with AWS_PROFILE, config file, instance role refreshed before expiry, explicit override', async (t) => {
  const clk = clock();
  const s = await sim(t, { now: clk.now, roleCredentialTtlMs: 3600_000 });
  const dir = mkdtempSync(join(tmpdir(), 'ipw-aws-chain-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const credFile = join(dir, 'credentials');
  const configFile = join(dir, 'config');
  writeFileSync(credFile, `# test\n[default]\naws_access_key_id = AKIAWRONGDEFAULT0001\naws_secret_access_key = nope-0123456789\n\n[ha]\naws_access_key_id = ${SIM_ACCESS_KEY_ID}\naws_secret_access_key = ${SIM_SECRET_ACCESS_KEY}\n`);
  writeFileSync(configFile, `[default]\nregion = us-east-1\n[profile cfg]\nregion = us-east-1\naws_access_key_id = ${SIM_ACCESS_KEY_ID}\naws_secret_access_key = ${SIM_SECRET_ACCESS_KEY}\n`);
  const files = { AWS_SHARED_CREDENTIALS_FILE: credFile, AWS_CONFIG_FILE: configFile };
  const imds = new ImdsClient({ baseUrl: s.metadataUrl(instanceIdOf(1)), now: clk.now });
  t.teardown(() => imds.close());

  const links: Array<[string, NodeJS.ProcessEnv, RegExp]> = [
    ['env', { ...files, AWS_PROFILE: 'ha', AWS_ACCESS_KEY_ID: SIM_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: SIM_SECRET_ACCESS_KEY }, /^env:AWS_ACCESS_KEY_ID$/],
    ['shared credentials file', { ...files, AWS_PROFILE: 'ha' }, /^profile ha in .*credentials$/],
    ['config file', { ...files, AWS_PROFILE: 'cfg' }, /^profile cfg in .*config$/],
    ['instance role', { AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none'), AWS_CONFIG_FILE: join(dir, 'none') }, /^instance role ipwarden-lb \(IMDSv2 /],
  ];
  for (const [name, env, source] of links) {
    const chain = new CredentialChain({ env, imds, now: clk.now, homeDir: dir });
    const c = new Ec2Client({ region: 'us-east-1', endpoint: s.url, credentials: chain, now: clk.date });
    t.equal((await c.describeAddresses({})).length, 1, `${name}: signed requests accepted`);
    t.match(chain.source(), source, `${name}: source named`);
    c.close();
  }
  const wrongDefault = new CredentialChain({ env: files, imds, homeDir: dir });
  t.equal((await wrongDefault.get()).accessKeyId, 'AKIAWRONGDEFAULT0001', 'without AWS_PROFILE the default profile is used (before IMDS)');
  await t.rejects(new CredentialChain({ env: { ...files, AWS_PROFILE: 'nope' }, imds }).get(), /AWS_PROFILE=nope: no such profile/);
  const explicit = new CredentialChain({ env: { AWS_ACCESS_KEY_ID: 'AKIAENV', AWS_SECRET_ACCESS_KEY: 'x' }, explicit: STATIC });
  t.equal((await explicit.get()).accessKeyId, SIM_ACCESS_KEY_ID, 'explicit references override the chain');

  // The instance role: refreshed 5 minutes before Expiration, not at every call.
  const role = new CredentialChain({ env: { AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none'), AWS_CONFIG_FILE: join(dir, 'none') }, imds, now: clk.now });
  const c = new Ec2Client({ region: 'us-east-1', endpoint: s.url, credentials: role, now: clk.date });
  t.teardown(() => c.close());
  await c.describeAddresses({});
  const first = await role.get();
  t.ok(first.expiresMs! > clk.now() + 3500_000, 'Expiration read');
  clk.advance(30 * 60_000);
  await c.describeAddresses({});
  t.equal((await role.get()).accessKeyId, first.accessKeyId, 'reused while far from expiry');
  clk.advance(26 * 60_000);
  await c.describeAddresses({});
  const second = await role.get();
  t.not(second.accessKeyId, first.accessKeyId, 'refreshed within 5 minutes of expiry');
  t.ok(second.expiresMs! > first.expiresMs!);
  clk.advance(60 * 60_000);
  t.equal((await c.describeAddresses({})).length, 1, 'and again after the old ones expired');

  const conn = new AwsConnection({ metadataUrl: s.metadataUrl(instanceIdOf(3)), endpoint: s.url }, { AWS_ACCESS_KEY_ID: SIM_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: SIM_SECRET_ACCESS_KEY, AWS_CONFIG_FILE: join(dir, 'none') });
  t.teardown(() => conn.close());
  t.equal((await conn.ec2()).region, 'us-east-1', 'region from IMDSv2 when nothing else names it');
  t.same([...parseIni('[a]\nk = v\n  continued\n; c\n[profile b]\nx=1').entries()].map(([k, v]) => [k, [...v.entries()]]), [['a', [['k', 'v']]], ['profile b', [['x', '1']]]]);
});
