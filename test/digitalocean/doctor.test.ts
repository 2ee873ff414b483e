/**
 * `ipwarden doctor` (the built CLI) with the digitalocean-reserved-ip action against the simulator:
 * the token and the reserved IP are OK, this droplet's anchor IP is read from
 * /metadata/v1/interfaces/public/0/anchor_ipv4/address and reported missing from the local
 * interfaces, an ip-alias of the reserved IP is flagged, a wrong token is named by its reference.
 */
import t from 'tap';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, STRICT } from '../lib/env.js';
import { cleanEnv, runCli } from '../exoscale-integration/lib/cli.js';
import { DEFAULT_SIM_TOKEN, LAB_RESERVED_IP, startDigitalOceanSimulator } from '../../src/digitalocean/simulator/index.js';

const built = existsSync(CLI);
if (!built && STRICT) throw new Error(`IPWARDEN_TEST_STRICT=1 but ${CLI} is missing (npm run build)`);

t.test('doctor checks the token, the reserved IP, the droplet and its anchor IP', { skip: built ? false : `skipped: needs the built CLI (${CLI})` }, async (t) => {
  const sim = await startDigitalOceanSimulator({ actionDelayMs: 0 });
  const dir = mkdtempSync(join(tmpdir(), 'ipw-do-doctor-'));
  t.teardown(async () => {
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  });
  writeFileSync(join(dir, 'heartbeat.key'), 'k'.repeat(64), { mode: 0o600 });
  const config = (actions: unknown[]) => {
    const file = join(dir, 'ipwarden.json');
    writeFileSync(
      file,
      JSON.stringify({
        node: { id: 'lb1', bind: '127.0.0.1:12399', control: join(dir, 'ctl.sock') },
        secret: 'file:heartbeat.key',
        instances: { web: { address: LAB_RESERVED_IP, priority: 100, peers: ['127.0.0.2'], actions } },
      }),
    );
    return file;
  };
  const action = { plugin: 'digitalocean-reserved-ip', endpoint: sim.url, metadataUrl: `${sim.url}/_meta/3001` };
  const file = config([action]);
  const r = await runCli(['doctor', '--config', file], cleanEnv({ DIGITALOCEAN_TOKEN: DEFAULT_SIM_TOKEN }));
  t.equal(r.code, 1, 'the anchor IP of the simulated droplet is not on this machine');
  t.match(r.stdout, /^OK +web\/digitalocean-reserved-ip: DigitalOcean API token: accepted \(env:DIGITALOCEAN_TOKEN at http:/m);
  t.match(r.stdout, new RegExp(`^OK +web/digitalocean-reserved-ip: reserved IP ${LAB_RESERVED_IP.replace(/\./g, '\\.')}: exists in nyc3, held by nobody`, 'm'));
  t.match(r.stdout, /^OK +web\/digitalocean-reserved-ip: this droplet: 3001 \(lb1\) from the metadata service: active/m);
  t.match(r.stdout, /^FAIL +web\/digitalocean-reserved-ip: anchor IP: 10\.20\.0\.11 is not on any local interface.*\n +fix: add it to the public interface/m);
  t.ok(sim.requests().some((q) => q.path === '/_meta/3001/metadata/v1/interfaces/public/0/anchor_ipv4/address'), 'read from the metadata service');
  t.notMatch(r.stdout + r.stderr, DEFAULT_SIM_TOKEN);

  const aliased = await runCli(['doctor', '--config', config([action, { plugin: 'ip-alias', device: 'lo' }])], cleanEnv({ DIGITALOCEAN_TOKEN: DEFAULT_SIM_TOKEN }));
  t.match(aliased.stdout, /^FAIL +web: ip-alias: 203\.0\.113\.100 is a DigitalOcean reserved IP: its traffic arrives on the anchor IP, a local alias is not needed/m);

  const wrong = await runCli(['doctor', '--config', config([{ ...action, token: 'env:MY_DO_TOKEN' }])], cleanEnv({ MY_DO_TOKEN: 'dop_v1_wrong_one' }));
  t.equal(wrong.code, 1);
  t.match(wrong.stdout, /^FAIL +web\/digitalocean-reserved-ip: DigitalOcean API token: DigitalOcean refused the API token from env:MY_DO_TOKEN/m);
  t.match(wrong.stdout, /fix: check the token in env:MY_DO_TOKEN/);
  t.notMatch(wrong.stdout + wrong.stderr, /dop_v1_wrong_one/);
});
