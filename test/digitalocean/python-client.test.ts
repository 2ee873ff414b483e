/**
 * The DigitalOcean simulator is faithful enough for DigitalOcean's own Python client (Debian's
 * python3-digitalocean, pointed at it through DIGITALOCEAN_END_POINT): assign, unassign and the
 * action wait through the floating_ips paths, a second action refused while one is pending, droplets
 * by tag across pages, the metadata service, a wrong token and a read-only token.
 */
import t from 'tap';
import { execFile, execFileSync } from 'node:child_process';
import { STRICT } from '../lib/env.js';
import {
  DEFAULT_SIM_READONLY_TOKEN,
  DEFAULT_SIM_TOKEN,
  LAB_RESERVED_IP,
  startDigitalOceanSimulator,
  type RunningDigitalOceanSimulator,
} from '../../src/digitalocean/simulator/index.js';

const PYTHON = '/usr/bin/python3';

function pythonClientMissing(): string | false {
  try {
    execFileSync(PYTHON, ['-c', 'import digitalocean'], { stdio: 'ignore' });
    return false;
  } catch {
    const why = `needs ${PYTHON} with python3-digitalocean (Debian package; .ci/run installs it)`;
    if (STRICT) throw new Error(`IPWARDEN_TEST_STRICT=1 but the environment is missing something: ${why}`);
    return `skipped: ${why}`;
  }
}

/** Runs a Python snippet against the simulator; the snippet prints one JSON document. */
function py(sim: RunningDigitalOceanSimulator, code: string, token = DEFAULT_SIM_TOKEN): Promise<any> {
  const script = `import json, sys, digitalocean\nfrom digitalocean import FloatingIP, Action, Manager\nfrom digitalocean.Metadata import Metadata\nTOKEN = ${JSON.stringify(token)}\nIP = ${JSON.stringify(LAB_RESERVED_IP)}\nURL = ${JSON.stringify(sim.url)}\n${code}\n`;
  return new Promise((resolve, reject) => {
    execFile(
      PYTHON,
      ['-c', script],
      { env: { PATH: '/usr/bin:/bin', DIGITALOCEAN_END_POINT: sim.endpoint, PYTHON_DIGITALOCEAN_REQUEST_TIMEOUT_SEC: '10' }, timeout: 30_000 },
      (err, stdout, stderr) => {
        if (err) return reject(new Error(`python failed: ${err.message}\n${stderr}`));
        try {
          resolve(JSON.parse(stdout));
        } catch {
          reject(new Error(`python printed no JSON: ${stdout}\n${stderr}`));
        }
      },
    );
  });
}

const skip = pythonClientMissing();

t.test('python3-digitalocean assigns, waits for and unassigns a reserved IP (floating_ips paths)', { skip }, async (t) => {
  const sim = await startDigitalOceanSimulator({ actionDelayMs: 400 });
  t.teardown(() => sim.close());
  const out = await py(
    sim,
    `
fip = FloatingIP.get_object(TOKEN, IP)
before = fip.droplet
res = fip.assign(3001)
a = Action(token=TOKEN, id=res['action']['id'])
a.load_directly()
first = {'status': a.status, 'type': a.type, 'resource_id': a.resource_id, 'resource_type': a.resource_type, 'completed_at': a.completed_at}
try:
    fip.assign(3002)
    busy = None
except digitalocean.DataReadError as e:
    busy = str(e)
ok = a.wait(update_every_seconds=0.1)
after = FloatingIP.get_object(TOKEN, IP).droplet
res = fip.unassign()
u = Action(token=TOKEN, id=res['action']['id'])
u.load_directly()
uok = u.wait(update_every_seconds=0.1)
final = FloatingIP.get_object(TOKEN, IP).droplet
try:
    fip.unassign()
    again = None
except digitalocean.DataReadError as e:
    again = str(e)
print(json.dumps({'before': before, 'first': first, 'busy': busy, 'ok': ok, 'status': a.status, 'after_id': after and after['id'],
  'after_networks': after and [n['ip_address'] for n in after['networks']['v4']], 'unassign_ok': uok, 'unassign_type': u.type,
  'final': final, 'again': again}))
`,
  );
  t.equal(out.before, null, 'the lab IP starts unassigned');
  t.match(out.first, { status: 'in-progress', type: 'assign_ip', resource_type: 'floating_ip', completed_at: null });
  t.equal(out.first.resource_id, 203 * 2 ** 24 + 113 * 2 ** 8 + 100, 'resource_id is the IPv4 as an integer');
  t.equal(out.busy, 'The floating IP already has a pending event.', 'a second action while one runs is refused');
  t.equal(out.ok, true, 'Action.wait() sees completed');
  t.equal(out.status, 'completed');
  t.equal(out.after_id, 3001, 'the IP is on droplet 3001');
  t.ok(out.after_networks.includes(LAB_RESERVED_IP), "the droplet's networks list the reserved IP");
  t.equal(out.unassign_ok, true);
  t.equal(out.unassign_type, 'unassign_ip');
  t.equal(out.final, null, 'unassigned');
  t.equal(out.again, 'The floating IP is not assigned to a droplet.', 'unassigning an unassigned IP is a 422');
  t.same(
    sim.history.events().map((e) => e.holders),
    [[], ['3001'], []],
    'the holder history saw both changes',
  );
  const posts = sim.requests().filter((r) => r.method === 'POST');
  t.same(posts.map((r) => `${r.path} ${r.status}`), [
    `/v2/floating_ips/${LAB_RESERVED_IP}/actions/ 201`,
    `/v2/floating_ips/${LAB_RESERVED_IP}/actions/ 422`,
    `/v2/floating_ips/${LAB_RESERVED_IP}/actions/ 201`,
    `/v2/floating_ips/${LAB_RESERVED_IP}/actions/ 422`,
  ]);
});

t.test('python3-digitalocean lists droplets by tag across pages and reads the metadata service', { skip }, async (t) => {
  const sim = await startDigitalOceanSimulator({ actionDelayMs: 0 });
  t.teardown(() => sim.close());
  // 205 more "lb" droplets: more than one page of 200 (the client's per_page)
  for (let i = 0; i < 205; i++) {
    sim.world.addDroplet({ name: `bulk${i}`, tags: i % 2 ? ['lb', 'bulk'] : ['lb'], publicIp: `198.51.100.${i % 250}`, status: i === 0 ? 'off' : 'active' });
  }
  const out = await py(
    sim,
    `
m = Manager(token=TOKEN)
lb = m.get_all_droplets(tag_name='lb')
web = m.get_all_droplets(tag_name='web')
md = Metadata()
md.end_point = URL + '/_meta/3002/metadata/v1'
md.load()
print(json.dumps({'lb': len(lb), 'ids': sorted(d.id for d in lb)[:3], 'first': [lb[0].name, lb[0].ip_address, lb[0].private_ip_address],
  'statuses': sorted(set(d.status for d in lb)), 'web': [d.name for d in web], 'limit': m.ratelimit_limit,
  'md': {'id': md.droplet_id, 'hostname': md.hostname, 'anchor': md.interfaces['public'][0]['anchor_ipv4']['ip_address'], 'reserved': md.reserved_ip}}))
`,
  );
  t.equal(out.lb, 208, 'all 3 + 205 tagged droplets, over two pages');
  t.same(out.ids, [3001, 3002, 3003]);
  t.same(out.first, ['lb1', '203.0.113.11', '10.110.0.11'], 'public and private IPv4 from networks.v4');
  t.same(out.statuses, ['active', 'off']);
  t.same(out.web, ['web1']);
  t.equal(out.limit, '250', 'ratelimit-limit header read by the client');
  t.same(out.md, { id: 3002, hostname: 'lb2', anchor: '10.20.0.12', reserved: { ipv4: { active: false } } });
  const lists = sim.requests().filter((r) => r.call === 'list-droplets');
  t.equal(lists.length, 3, 'two pages for lb, one for web');
  const anchor = await (await fetch(`${sim.url}/_meta/3003/metadata/v1/interfaces/public/0/anchor_ipv4/address`)).text();
  t.equal(anchor, '10.20.0.13', 'plain-text anchor IP leaf');
  t.equal((await fetch(`${sim.url}/metadata/v1/id`)).status, 404, 'a caller that is no droplet gets 404');
});

t.test('python3-digitalocean with a wrong token, a read-only token, and a spent rate budget', { skip }, async (t) => {
  const sim = await startDigitalOceanSimulator({ actionDelayMs: 0, ratePerMinute: 4 });
  t.teardown(() => sim.close());
  const wrong = await py(
    sim,
    `
try:
    FloatingIP.get_object(TOKEN, IP)
    print(json.dumps({'error': None}))
except digitalocean.DataReadError as e:
    print(json.dumps({'error': str(e)}))
`,
    'dop_v1_wrong',
  );
  t.same(wrong, { error: 'Unable to authenticate you.' });
  const ro = await py(
    sim,
    `
fip = FloatingIP.get_object(TOKEN, IP)
try:
    fip.assign(3001)
    print(json.dumps({'read': fip.ip, 'error': None}))
except digitalocean.DataReadError as e:
    print(json.dumps({'read': fip.ip, 'error': str(e)}))
`,
    DEFAULT_SIM_READONLY_TOKEN,
  );
  t.same(ro, { read: LAB_RESERVED_IP, error: 'You do not have access for the attempted action.' }, 'a read-only token reads but cannot assign');
  const limited = await py(
    sim,
    `
try:
    for i in range(5):
        FloatingIP.get_object(TOKEN, IP)
    print(json.dumps({'error': None}))
except digitalocean.DataReadError as e:
    print(json.dumps({'error': str(e)}))
`,
  );
  t.same(limited, { error: 'API Rate limit exceeded.' });
  const res = await fetch(`${sim.endpoint}reserved_ips/${LAB_RESERVED_IP}`, { headers: { authorization: `Bearer ${DEFAULT_SIM_TOKEN}` } });
  t.equal(res.status, 429);
  t.same(Object.keys((await res.json()) as object).sort(), ['id', 'message', 'request_id']);
  const reset = Number(res.headers.get('ratelimit-reset'));
  t.ok(reset * 1000 > Date.now() && reset * 1000 < Date.now() + 60_000, 'ratelimit-reset is a unix time in the near future');
  t.equal(res.headers.get('ratelimit-remaining'), '0');
});
