/**
 * The Hetzner CLI surface: `ipwarden ip show|attach|detach --provider hetzner` with HCLOUD_TOKEN /
 * HCLOUD_ENDPOINT (and --token, --endpoint, --metadata-url, --network), and `ipwarden simulate hetzner`
 * (banner, action lines, --help, bad flags), through the built CLI.
 */
import t from 'tap';
import { cleanEnv, runCli, startCli } from '../exoscale-integration/lib/cli.js';
import { hetznerSimulatorHelp, parseHetznerSimulatorArgs } from '../../src/hetzner/simulator/index.js';
import { FIP_ID, LB1, LB2, LB3, READONLY_TOKEN, TOKEN, VIP, admin, hetznerSim, until } from './lib/sim.js';

t.test('ip attach / detach / show --provider hetzner with HCLOUD_TOKEN and HCLOUD_ENDPOINT', async (t) => {
  const sim = await hetznerSim(t, { actionDelayMs: 30 });
  const env = cleanEnv({ HCLOUD_TOKEN: TOKEN, HCLOUD_ENDPOINT: sim.endpoint });
  const ip = (...args: string[]) => runCli(['ip', ...args, '--provider', 'hetzner', '--address', VIP], env);

  let r = await ip('attach', '--target', LB1);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, `attached ${VIP} to ${LB1}\nholders: ${LB1} (lb1)\n`);
  r = await ip('attach', '--target', LB1);
  t.equal(r.stdout, `already attached: ${VIP} on ${LB1}\nholders: ${LB1} (lb1)\n`, 'idempotent');
  r = await ip('attach', '--target', LB2);
  t.equal(r.stdout, `attached ${VIP} to ${LB2}\nholders: ${LB2} (lb2)\n`, 'one assign moves it');
  t.same(sim.history.events(0, VIP).map((e) => e.holders), [[], [LB1], [LB2]]);

  r = await ip('show', '--json');
  t.same(JSON.parse(r.stdout), { provider: 'hetzner', address: VIP, holderMode: 'single', holders: [LB2] });
  r = await ip('show');
  t.equal(r.stdout, `Hetzner floating IP ${VIP}  (one target at a time)\nholders: ${LB2} (lb2)\n`);

  r = await ip('detach', '--target', LB1);
  t.equal(r.stdout, `not attached: ${VIP} on ${LB1}\nholders: ${LB2} (lb2)\n`, 'detaching a non-holder: nothing sent');
  t.equal(sim.world.floatingIps.get(FIP_ID)!.server, Number(LB2));
  r = await ip('detach', '--target', LB2);
  t.equal(r.stdout, `detached ${VIP} from ${LB2}\nholders: none\n`);

  // the default target: this server, from the metadata service
  r = await ip('attach', '--metadata-url', sim.metadataUrl('lb3'));
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, `attached ${VIP} to ${LB3}`);

  // flags instead of the environment; a token file
  const flagsEnv = cleanEnv({ MY_TOKEN: TOKEN });
  r = await runCli(['ip', 'show', '--provider', 'hetzner', '--address', VIP, '--token', 'env:MY_TOKEN', '--endpoint', sim.endpoint], flagsEnv);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, `holders: ${LB3} (lb3)`);
});

t.test('ip --provider hetzner --network: alias IPs', async (t) => {
  const sim = await hetznerSim(t, { actionDelayMs: 30 });
  const env = cleanEnv({ HCLOUD_TOKEN: TOKEN, HCLOUD_ENDPOINT: sim.endpoint });
  const r = await runCli(['ip', 'attach', '--provider', 'hetzner', '--address', '10.0.9.1', '--network', 'lb-net', '--target', LB2], env);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, `attached 10.0.9.1 to ${LB2}\nholders: ${LB2} (lb2)\n`);
  t.same(sim.world.servers.get(1002)!.privateNet[0]!.aliasIps, ['10.0.9.1']);
});

t.test('ip --provider hetzner: usage errors exit 2; API failures are one line naming the token reference, never the token', async (t) => {
  const sim = await hetznerSim(t);
  let r = await runCli(['ip', 'show', '--provider', 'hetzner', '--address', VIP], cleanEnv({ HCLOUD_ENDPOINT: sim.endpoint }));
  t.equal(r.code, 2);
  t.match(r.stderr, /environment variable HCLOUD_TOKEN is not set \(set HCLOUD_TOKEN or pass --token/);
  r = await runCli(['ip', 'show', '--provider', 'hetzner', '--address', VIP, '--token', 'literal-token'], cleanEnv({}));
  t.equal(r.code, 2);
  t.match(r.stderr, /--token: expected env:NAME, file:PATH or credential:NAME/);
  r = await runCli(['ip', 'attach', '--provider', 'hetzner', '--address', VIP, '--target', 'lb1'], cleanEnv({ HCLOUD_TOKEN: TOKEN, HCLOUD_ENDPOINT: sim.endpoint }));
  t.equal(r.code, 2);
  t.match(r.stderr, /--target: expected a server id \(a number\), got "lb1"/);
  r = await runCli(['ip', 'show', '--provider', 'hetzner', '--address', VIP], cleanEnv({ HCLOUD_TOKEN: 'wrong-token-value', HCLOUD_ENDPOINT: sim.endpoint }));
  t.equal(r.code, 1);
  t.match(r.stderr, /^ipwarden ip show: hetzner: GET \/v1\/floating_ips: the API token from env:HCLOUD_TOKEN was refused \(401 unauthorized/);
  t.notOk(r.stderr.includes('wrong-token-value'));
  t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  r = await runCli(['ip', 'attach', '--provider', 'hetzner', '--address', VIP, '--target', LB1], cleanEnv({ HCLOUD_TOKEN: READONLY_TOKEN, HCLOUD_ENDPOINT: sim.endpoint }));
  t.equal(r.code, 1);
  t.match(r.stderr, /the API token from env:HCLOUD_TOKEN is read-only \(403 token_readonly\)/);
  r = await runCli(['ip', 'show', '--provider', 'hetzner', '--address', '203.0.113.99'], cleanEnv({ HCLOUD_TOKEN: TOKEN, HCLOUD_ENDPOINT: sim.endpoint }));
  t.equal(r.code, 1);
  t.match(r.stderr, /no floating IP 203\.0\.113\.99 in this project/);
  await admin(sim, 'GET', 'state');
});

t.test('simulate hetzner: banner, one line per action, --help, bad flags, SIGTERM', async (t) => {
  const env = cleanEnv({});
  const sim = startCli(t, ['simulate', 'hetzner', '--port', '0', '--action-delay', '50ms'], env);
  await until('the banner', () => /floating IPs:\n\s+198\.51\.100\.50/.test(sim.output()), 15_000);
  const out = sim.output();
  const endpoint = /HCLOUD_ENDPOINT=(\S+)/.exec(out)?.[1];
  t.match(endpoint, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
  t.match(out, `HCLOUD_TOKEN=${TOKEN}`);
  t.match(out, /lb1\s+1001\s+198\.51\.100\.11\s+running\s+lb-net:10\.0\.1\.11 \[role=lb\]/);
  const res = await fetch(`${endpoint}/floating_ips/${FIP_ID}/actions/assign`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ server: 1002 }) });
  t.equal(res.status, 201);
  await until('the action line', () => /action \d+ assign_floating_ip success; 198\.51\.100\.50: lb2/.test(sim.output()), 10_000);
  sim.child.kill('SIGTERM');
  t.equal(await sim.exited, 0);
  t.match(sim.output(), /hetzner API simulator stopped\n$/);

  const help = await runCli(['simulate', 'hetzner', '--help'], env);
  t.equal(help.code, 0);
  t.equal(help.stdout, hetznerSimulatorHelp());
  const bad = await runCli(['simulate', 'hetzner', '--action-delay', 'soon'], env);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /ipwarden simulate hetzner: --action-delay: expected a duration like "2s", got "soon"/);
  t.throws(() => parseHetznerSimulatorArgs(['--fault', 'error:calls=nope']), /--fault: fault calls: unknown call "nope"/);
  t.throws(() => parseHetznerSimulatorArgs(['--state', '/nonexistent/x.json']), /--state: cannot read \/nonexistent\/x\.json: ENOENT/);
  t.match(parseHetznerSimulatorArgs(['--empty', '--fault', 'latency:ms=5', '--port', '0']).options, { seed: {}, faults: [{ kind: 'latency', ms: 5 }], port: 0 });
});
