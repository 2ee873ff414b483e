/**
 * The generic cloud CLI against the Exoscale simulator: `ipwarden ip show|attach|detach --provider`,
 * `ipwarden simulate <cloud>` through the registry, and command groups listing their commands.
 */
import t from 'tap';
import { EIP, KEY, LB1, LB2, LB3, SECRET, until, withSim } from '../exoscale/lib/sim.js';
import { cleanEnv, runCli, startCli } from '../exoscale-integration/lib/cli.js';
import { cloudNames } from '../../src/cloud/registry.js';

/** The registered clouds as messages list them (every cloud added to the registry joins the list). */
const KNOWN = cloudNames().join(', ');

t.test('ip attach / detach / show --provider exoscale against the simulator', async (t) => {
  const sim = await withSim(t, { operationDelayMs: 30 });
  const env = cleanEnv({ EXOSCALE_API_KEY: KEY, EXOSCALE_API_SECRET: SECRET, EXOSCALE_API_ENDPOINT: sim.endpoint, EXOSCALE_ZONE: 'ch-gva-2' });
  const ip = (...args: string[]) => runCli(['ip', ...args, '--provider', 'exoscale', '--address', EIP], env);

  let r = await ip('attach', '--target', LB1);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, `attached ${EIP} to ${LB1}\nholders: ${LB1} (lb1)\n`);
  t.same(sim.state.holdersOf(EIP), [LB1]);
  r = await ip('attach', '--target', LB1);
  t.equal(r.stdout, `already attached: ${EIP} on ${LB1}\nholders: ${LB1} (lb1)\n`, 'idempotent');

  r = await ip('attach', '--target', LB2, '--exclusive');
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, `attached ${EIP} to ${LB2}; detached from ${LB1}\nholders: ${LB2} (lb2)\n`, '--exclusive: make-before-break move');
  const changes = sim.state.events().filter((e) => e.type === 'attach' || e.type === 'detach').slice(-2).map((e) => `${e.type} ${e.instance}`);
  t.same(changes, [`attach ${LB2}`, `detach ${LB1}`], 'attached before detaching');

  sim.state.setHolders(EIP, [LB2, LB3]);
  r = await ip('show', '--json');
  t.same(JSON.parse(r.stdout), { provider: 'exoscale', address: EIP, holderMode: 'multi', holders: [LB2, LB3].sort() });
  r = await ip('show');
  t.equal(r.stdout, `Exoscale Elastic IP ${EIP}  (may sit on several targets)\nholders: ${LB2} (lb2), ${LB3} (lb3)\n`);

  r = await ip('detach', '--target', LB3);
  t.equal(r.stdout, `detached ${EIP} from ${LB3}\nholders: ${LB2} (lb2)\n`);
  r = await ip('detach', '--target', LB3);
  t.equal(r.stdout, `not attached: ${EIP} on ${LB3}\nholders: ${LB2} (lb2)\n`, 'not attached is success');
  t.equal(r.code, 0);

  // the default target: this machine, from the metadata service (per caller on the simulator)
  r = await ip('attach', '--metadata-url', `${sim.url}/_meta/lb3/latest/meta-data/instance-id`);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, `attached ${EIP} to ${LB3}`);
});

t.test('ip: usage errors exit 2, API failures are one line without the secret', async (t) => {
  const sim = await withSim(t);
  const env = cleanEnv({ EXOSCALE_API_KEY: KEY, EXOSCALE_API_SECRET: 'wrong-secret-value', EXOSCALE_API_ENDPOINT: sim.endpoint, EXOSCALE_ZONE: 'ch-gva-2' });
  let r = await runCli(['ip', 'show', '--address', EIP], env);
  t.equal(r.code, 2);
  t.match(r.stderr, `ipwarden ip show: --provider is required (${KNOWN})`);
  r = await runCli(['ip', 'show', '--provider', 'gcp', '--address', EIP], env);
  t.equal(r.code, 2);
  t.match(r.stderr, `--provider: unknown cloud "gcp" (known: ${KNOWN})`);
  r = await runCli(['ip', 'show', '--provider', 'exoscale', '--address', 'nope'], env);
  t.equal(r.code, 2);
  t.match(r.stderr, /--address: expected an IP address, got "nope"/);
  r = await runCli(['ip', 'show', '--provider', 'exoscale', '--address', EIP], env);
  t.equal(r.code, 1);
  t.match(r.stderr, /^ipwarden ip show: exoscale: .*403 forbidden/);
  t.notOk(r.stderr.includes('wrong-secret-value'));
  t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
});

t.test('a command group alone or with --help lists its commands', async (t) => {
  const env = cleanEnv({});
  for (const [args, code] of [[['eip', '--help'], 0], [['eip'], 2], [['config'], 2], [['ip', '--help'], 0]] as const) {
    const r = await runCli([...args], env);
    t.equal(r.code, code, `${args.join(' ')}: exit ${code}`);
    const head = args[0];
    t.match(r.stdout, new RegExp(`^Usage: ipwarden ${head} <command>`), `${args.join(' ')} lists the group`);
    const names = [...r.stdout.matchAll(new RegExp(`^  (${head} \\S+)`, 'gm'))].map((m) => m[1]);
    t.same(names, head === 'eip' ? ['eip attach', 'eip detach', 'eip show'] : head === 'config' ? ['config check', 'config print', 'config schema'] : ['ip show', 'ip attach', 'ip detach']);
  }
  const r = await runCli(['eip', 'frobnicate'], env);
  t.equal(r.code, 2);
  t.match(r.stderr, /unknown command "eip frobnicate"/, 'an unknown member stays an unknown command');
});

t.test('simulate <cloud> dispatches through the registry', async (t) => {
  const env = cleanEnv({});
  let r = await runCli(['simulate', 'nowhere'], env);
  t.equal(r.code, 2);
  t.match(r.stderr, `unknown cloud "nowhere" (known: ${KNOWN})`);
  r = await runCli(['simulate'], env);
  t.equal(r.code, 2);
  t.match(r.stdout, `CLOUD is one of: ${KNOWN}`);
  const sim = startCli(t, ['simulate', 'exoscale', '--port', '0'], env);
  await until(() => /EXOSCALE_API_ENDPOINT=(\S+)/.test(sim.output()), 10_000);
  sim.child.kill('SIGTERM');
  t.equal(await sim.exited, 0, 'the Exoscale simulator ran and stopped on SIGTERM');
});
