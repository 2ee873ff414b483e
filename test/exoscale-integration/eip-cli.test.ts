/**
 * `ipwarden eip attach|detach|show` and `ipwarden simulate exoscale` as a user runs them (the
 * built CLI as a child process) against the simulator: results, idempotence, the metadata
 * server for the instance and zone, one-line errors (exit 1) and usage errors (exit 2).
 */
import t from 'tap';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EIP, EIP_ID, KEY, LB1, LB2, LB3, SECRET, until, withSim } from '../exoscale/lib/sim.js';
import { cleanEnv, runCli, startCli } from './lib/cli.js';

t.test('eip attach / detach / show against the simulator', async (t) => {
  const sim = await withSim(t, { operationDelayMs: 30 });
  const env = cleanEnv({ EXOSCALE_API_KEY: KEY, EXOSCALE_API_SECRET: SECRET, EXOSCALE_API_ENDPOINT: sim.endpoint, EXOSCALE_ZONE: 'ch-gva-2' });
  const eip = (...args: string[]) => runCli(['eip', ...args], env);

  let r = await eip('attach', '--address', EIP, '--instance', LB1);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, `attached ${EIP} to ${LB1}\nholders: ${LB1} (lb1)\n`);
  t.same(sim.state.holdersOf(EIP), [LB1]);

  r = await eip('attach', '--address', EIP, '--instance', LB1);
  t.match(r.stdout, `already attached: ${EIP} on ${LB1}`, 'idempotent');
  t.equal(r.code, 0);

  r = await eip('attach', '--address', EIP_ID, '--instance', LB2, '--exclusive');
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, `attached ${EIP} to ${LB2}; detached from ${LB1}\nholders: ${LB2} (lb2)\n`, 'by EIP id, --exclusive moves it');

  r = await eip('show', '--address', EIP);
  t.equal(r.code, 0);
  t.match(r.stdout, new RegExp(`^elastic IP ${EIP.replace(/\./g, '\\.')}  id ${EIP_ID}  manual  zone ch-gva-2`));
  t.match(r.stdout, /holders: 1\n {2}10000000-0000-4000-8000-000000000002  lb2 +198\.51\.100\.12 +running/);
  sim.state.setHolders(EIP, [LB2, LB3]);
  r = await eip('show', '--address', EIP, '--json');
  t.same(JSON.parse(r.stdout), {
    elasticIp: { id: EIP_ID, ip: EIP, zone: 'ch-gva-2', type: 'manual', description: 'ipwarden lab (manual)' },
    holders: [
      { id: LB2, name: 'lb2', publicIp: '198.51.100.12', state: 'running' },
      { id: LB3, name: 'lb3', publicIp: '198.51.100.13', state: 'running' },
    ],
  });

  r = await eip('detach', '--address', EIP, '--instance', LB3);
  t.equal(r.stdout, `detached ${EIP} from ${LB3}\nholders: ${LB2} (lb2)\n`);
  r = await eip('detach', '--address', EIP, '--instance', LB3);
  t.match(r.stdout, `not attached: ${EIP} on ${LB3}`);
  t.equal(r.code, 0, 'detaching what is not attached is success');
});

t.test('eip: this instance and the zone from the metadata server; credentials from files', async (t) => {
  const sim = await withSim(t, { operationDelayMs: 30 });
  const dir = mkdtempSync(join(tmpdir(), 'ipw-eip-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'secret'), `${SECRET}\n`);
  const env = cleanEnv({ EXOSCALE_API_KEY: KEY, EXOSCALE_METADATA_URL: `${sim.url}/_meta/lb3/latest/meta-data/instance-id` });
  const r = await runCli(['eip', 'attach', '--address', EIP, '--endpoint', sim.endpoint, '--api-secret', `file:${join(dir, 'secret')}`], env);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, `attached ${EIP} to ${LB3}`);
  t.same(sim.state.holdersOf(EIP), [LB3]);
  const d = await runCli(['eip', 'detach', '--address', EIP, '--endpoint', sim.endpoint, '--api-secret', `file:${join(dir, 'secret')}`, '--metadata-url', `${sim.url}/_meta/lb3/latest/meta-data/`], cleanEnv({ EXOSCALE_API_KEY: KEY }));
  t.equal(d.code, 0, d.stderr);
  t.same(sim.state.holdersOf(EIP), []);
});

t.test('eip: every failure is one clear line; usage errors exit 2', async (t) => {
  const sim = await withSim(t, { operationDelayMs: 30 });
  const base = { EXOSCALE_API_ENDPOINT: sim.endpoint, EXOSCALE_ZONE: 'ch-gva-2' };
  const good = cleanEnv({ ...base, EXOSCALE_API_KEY: KEY, EXOSCALE_API_SECRET: SECRET });

  const bad = await runCli(['eip', 'attach', '--address', EIP, '--instance', LB1], cleanEnv({ ...base, EXOSCALE_API_KEY: KEY, EXOSCALE_API_SECRET: 'not-the-secret-at-all' }));
  t.equal(bad.code, 1);
  t.equal(bad.stderr, `ipwarden eip attach: exoscale: list elastic-ips: 403 forbidden: Invalid request signature\n`, 'bad credentials: one clear line');
  t.equal(bad.stdout, '');
  t.notMatch(bad.stderr, /not-the-secret/);

  const unknownKey = await runCli(['eip', 'show', '--address', EIP], cleanEnv({ ...base, EXOSCALE_API_KEY: 'EXO000000000000000000000000', EXOSCALE_API_SECRET: SECRET }));
  t.equal(unknownKey.code, 1);
  t.match(unknownKey.stderr, /^ipwarden eip show: exoscale: list elastic-ips: 403 forbidden: Invalid API key\n$/);

  const missing = await runCli(['eip', 'show', '--address', '203.0.113.9'], good);
  t.equal(missing.code, 1);
  t.equal(missing.stderr, 'ipwarden eip show: exoscale: find elastic-ip 203.0.113.9: no elastic-ip with this address in zone ch-gva-2\n');

  const noInstance = await runCli(['eip', 'attach', '--address', EIP, '--instance', '99999999-0000-4000-8000-000000000000'], good);
  t.equal(noInstance.code, 1);
  t.match(noInstance.stderr, /^ipwarden eip attach: exoscale: get instance 99999999-0000-4000-8000-000000000000: 404 not found: Instance not found\n$/);

  const failedOp = sim.state.faults.add({ kind: 'fail-operation', reason: 'busy', message: 'try later' });
  const op = await runCli(['eip', 'attach', '--address', EIP, '--instance', LB1], good);
  sim.state.faults.remove(failedOp.id);
  t.equal(op.code, 1);
  t.match(op.stderr, /^ipwarden eip attach: exoscale: attach elastic-ip 198\.51\.100\.50 to instance .*: operation .* ended in failure \(busy\): try later\n$/);

  const usage = async (args: string[], env: NodeJS.ProcessEnv, message: RegExp) => {
    const r = await runCli(['eip', ...args], env);
    t.equal(r.code, 2, `exit 2: ${args.join(' ')}`);
    t.match(r.stderr, message);
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  };
  await usage(['attach', '--instance', LB1], good, /--address is required/);
  await usage(['attach', '--address', 'lb.example.com'], good, /--address: expected an IP address or an Elastic IP UUID/);
  await usage(['attach', '--address', EIP, '--instance', 'lb1'], good, /--instance: expected an instance UUID, got "lb1"/);
  await usage(['show', '--address', EIP], cleanEnv(base), /no API key: set EXOSCALE_API_KEY or pass --api-key/);
  await usage(['show', '--address', EIP, '--api-secret', 'literal'], good, /--api-secret: expected env:NAME, file:PATH or credential:NAME/);
  await usage(['show', '--address', EIP, '--zone', 'Geneva'], good, /--zone: expected a zone name like ch-gva-2/);
  await usage(['show', '--address', EIP, '--bogus'], good, /unknown flag --bogus/);
  const noSecretVar = await runCli(['eip', 'show', '--address', EIP, '--api-secret', 'env:NOPE'], good);
  t.equal(noSecretVar.code, 1);
  t.equal(noSecretVar.stderr, 'ipwarden eip show: --api-secret: environment variable NOPE is not set\n');
});

t.test('simulate exoscale: runs in the foreground, serves the API, stops on SIGTERM', async (t) => {
  const sim = startCli(t, ['simulate', 'exoscale', '--port', '0', '--operation-delay', '20ms'], cleanEnv({}));
  await until(() => /EXOSCALE_API_ENDPOINT=(\S+)/.test(sim.output()), 10_000);
  const endpoint = /EXOSCALE_API_ENDPOINT=(\S+)/.exec(sim.output())![1]!;
  t.match(sim.output(), /listening on http:\/\/127\.0\.0\.1:\d+/);
  const r = await runCli(['eip', 'attach', '--address', EIP, '--instance', LB1, '--zone', 'ch-gva-2', '--endpoint', endpoint], cleanEnv({ EXOSCALE_API_KEY: KEY, EXOSCALE_API_SECRET: SECRET }));
  t.equal(r.code, 0, r.stderr);
  await until(() => /attach 198\.51\.100\.50 to lb1 \(api\)/.test(sim.output()), 5_000);
  t.pass('the simulator printed the attach');
  sim.child.kill('SIGTERM');
  t.equal(await sim.exited, 0, 'exit 0 on SIGTERM');
  const bad = await runCli(['simulate', 'exoscale', '--port', 'x'], cleanEnv({}));
  t.equal(bad.code, 2);
  t.match(bad.stderr, /--port: expected 0\.\.65535/);
});
