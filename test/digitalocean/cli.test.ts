/**
 * `ipwarden simulate digitalocean` and `ipwarden ip show|attach|detach --provider digitalocean`, as the
 * built CLI: the simulator runs as its own process, the ip commands talk to it with the cloud's usual
 * environment variables (DIGITALOCEAN_ACCESS_TOKEN, DIGITALOCEAN_API_URL).
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { CLI, STRICT } from '../lib/env.js';
import { cleanEnv, runCli, startCli } from '../exoscale-integration/lib/cli.js';
import { DEFAULT_SIM_READONLY_TOKEN, DEFAULT_SIM_TOKEN, LAB_RESERVED_IP, parseDoSimulatorArgs, runDigitalOceanSimulatorCli, type RunningDigitalOceanSimulator } from '../../src/digitalocean/simulator/index.js';

const built = existsSync(CLI);
if (!built && STRICT) throw new Error(`IPWARDEN_TEST_STRICT=1 but ${CLI} is missing (npm run build)`);
const skip = built ? false : `skipped: needs the built CLI (${CLI}; npm run build)`;

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

t.test('simulate digitalocean + ip show/attach/detach through the built CLI', { skip }, async (t) => {
  const sim = startCli(t, ['simulate', 'digitalocean', '--port', '0', '--action-delay', '300ms'], cleanEnv({}));
  await until(() => sim.output().includes('reserved IPs:') && sim.output().includes(LAB_RESERVED_IP), 'the banner');
  const url = /listening on (http:\S+)/.exec(sim.output())?.[1];
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  t.match(sim.output(), `DIGITALOCEAN_TOKEN=${DEFAULT_SIM_TOKEN}`);
  t.match(sim.output(), /lb1\s+3001\s+public 203\.0\.113\.11\s+private 10\.110\.0\.11\s+anchor 10\.20\.0\.11/);
  const env = cleanEnv({ DIGITALOCEAN_ACCESS_TOKEN: DEFAULT_SIM_TOKEN, DIGITALOCEAN_API_URL: url });
  const ip = (...args: string[]) => runCli(['ip', ...args, '--provider', 'digitalocean', '--address', LAB_RESERVED_IP], env);

  t.match(await ip('show'), { code: 0, stdout: `DigitalOcean reserved IP ${LAB_RESERVED_IP}  (one target at a time)\nholders: none\n` });
  const attach = await ip('attach', '--metadata-url', `${url}/_meta/3002`);
  t.equal(attach.code, 0, attach.stderr);
  t.equal(attach.stdout, `attached ${LAB_RESERVED_IP} to 3002\nholders: 3002 (lb2)\n`, 'the target defaults to this droplet, from the metadata service');
  await until(() => sim.output().includes(`${LAB_RESERVED_IP}: nobody -> lb2 (3002) (assign_ip)`), 'the simulator line');
  t.match(await ip('attach', '--target', '3001'), { code: 0, stdout: `attached ${LAB_RESERVED_IP} to 3001\nholders: 3001 (lb1)\n` }, 'one assign moves it');
  t.match(await ip('detach', '--target', '3002'), { code: 0, stdout: `not attached: ${LAB_RESERVED_IP} on 3002\nholders: 3001 (lb1)\n` });
  t.match(await ip('detach', '--target', '3001'), { code: 0, stdout: `detached ${LAB_RESERVED_IP} from 3001\nholders: none\n` });
  const json = await ip('show', '--json');
  t.same(JSON.parse(json.stdout), { provider: 'digitalocean', address: LAB_RESERVED_IP, holderMode: 'single', holders: [] });

  const wrong = await runCli(['ip', 'show', '--provider', 'digitalocean', '--address', LAB_RESERVED_IP], cleanEnv({ DIGITALOCEAN_TOKEN: 'dop_v1_wrong_token', DIGITALOCEAN_API_URL: url }));
  t.equal(wrong.code, 1);
  t.match(wrong.stderr, /refused the API token from env:DIGITALOCEAN_TOKEN/);
  t.notMatch(wrong.stderr + wrong.stdout, /wrong_token/);
  const ro = await runCli(['ip', 'attach', '--provider', 'digitalocean', '--address', LAB_RESERVED_IP, '--target', '3001', '--token', 'env:RO'], cleanEnv({ RO: DEFAULT_SIM_READONLY_TOKEN, DIGITALOCEAN_API_URL: url }));
  t.equal(ro.code, 1);
  t.match(ro.stderr, /token from env:RO may not do POST .*read-only/);

  t.match(await runCli(['ip', 'show', '--address', LAB_RESERVED_IP], env), { code: 2, stderr: /--provider is required/ });
  t.match(await runCli(['ip', 'show', '--provider', 'gcp', '--address', LAB_RESERVED_IP], env), { code: 2, stderr: /--provider: unknown cloud "gcp"/ });
  t.match(await runCli(['ip', 'show', '--provider', 'digitalocean', '--address', 'lb'], env), { code: 2, stderr: /--address: expected an IP address/ });
  t.match(await ip('show', '--token', 'dop_v1_literal'), { code: 2, stderr: /--token: expected env:NAME/ });
  t.match(await runCli(['ip', 'show', '--provider', 'digitalocean', '--address', LAB_RESERVED_IP], cleanEnv({ DIGITALOCEAN_API_URL: url })), { code: 2, stderr: /no API token: set DIGITALOCEAN_TOKEN or DIGITALOCEAN_ACCESS_TOKEN/ });

  sim.child.kill('SIGTERM');
  t.equal(await sim.exited, 0);
  t.match(sim.output(), 'digitalocean API simulator stopped');
});

t.test('simulator runner: --verbose request lines, flags and usage errors', async (t) => {
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  const err = new PassThrough();
  const ac = new AbortController();
  let sim: RunningDigitalOceanSimulator | undefined;
  const done = runDigitalOceanSimulatorCli(['--port', '0', '--verbose', '--token', 'tok-1', '--fault', 'latency:ms=1,calls=get-account'], { stdout: out, stderr: err, signal: ac.signal, onReady: (s) => (sim = s) });
  t.teardown(() => ac.abort());
  await until(() => sim !== undefined, 'ready');
  t.match(text, 'DIGITALOCEAN_TOKEN=tok-1');
  t.match(text, /fault f1: .*"latency"/);
  const res = await fetch(`${sim!.url}/v2/account`, { headers: { authorization: 'Bearer tok-1' } });
  t.equal(res.status, 200);
  await until(() => text.includes('GET /v2/account 200 [get-account]'), 'the request line');
  ac.abort();
  t.equal(await done, 0);

  t.throws(() => parseDoSimulatorArgs(['--port', 'x']), /--port: expected 0\.\.65535/);
  t.throws(() => parseDoSimulatorArgs(['--action-delay', 'soon']), /--action-delay: expected a duration/);
  t.throws(() => parseDoSimulatorArgs(['--fault', 'error:calls=nope']), /--fault: fault calls: unknown call "nope"/);
  t.throws(() => parseDoSimulatorArgs(['--rate-limit', '0']), /--rate-limit/);
  t.match(parseDoSimulatorArgs(['--action-delay', '1.5s', '--rate-limit', '10']).options, { actionDelayMs: 1500, ratePerMinute: 10 });
  const e2 = new PassThrough();
  let etext = '';
  e2.on('data', (c: Buffer) => (etext += c.toString()));
  t.equal(await runDigitalOceanSimulatorCli(['--bogus'], { stdout: new PassThrough(), stderr: e2 }), 2);
  t.match(etext, /ipwarden simulate digitalocean: .*bogus/);
});
