/**
 * The simulator is faithful enough for Hetzner's official clients that Debian ships:
 * hcloud-cli (HCLOUD_ENDPOINT/HCLOUD_TOKEN at the simulator) and python3-hcloud
 * (Client(token, api_endpoint=...)). They decode our JSON, follow our pagination, poll our actions
 * (hcloud-cli: GET /actions?id=N; python: GET /actions/{id}) and parse our error bodies.
 */
import t from 'tap';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { requireEnv, STRICT } from '../lib/env.js';
import { FIP_ID, LB2, READONLY_TOKEN, TOKEN, VIP, admin, hetznerSim } from './lib/sim.js';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';

/** Skip reason when /usr/bin/python3 or its hcloud module is missing (a failure under IPWARDEN_TEST_STRICT=1). */
function pythonHcloud(): string | false {
  const noPython = requireEnv({ bins: [PYTHON] });
  if (noPython) return noPython;
  try {
    execFileSync(PYTHON, ['-c', 'import hcloud'], { stdio: 'ignore', timeout: 20_000 });
    return false;
  } catch {
    if (STRICT) throw new Error('IPWARDEN_TEST_STRICT=1 but python3-hcloud is missing (apt-get install python3-hcloud)');
    return 'skipped: needs python3-hcloud (Debian package; .ci/run installs it)';
  }
}

async function hcloud(endpoint: string, token: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run('hcloud', args, {
      timeout: 30_000,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', HCLOUD_ENDPOINT: endpoint, HCLOUD_TOKEN: token, HCLOUD_CONFIG: '/nonexistent/ipwarden-test-hcloud.toml' },
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

t.test('hcloud-cli: floating-ip list/describe/assign/unassign, server list -l, a wrong and a read-only token', { skip: requireEnv({ bins: ['hcloud'] }) }, async (t) => {
  const sim = await hetznerSim(t, { actionDelayMs: 300 });
  const list = await hcloud(sim.endpoint, TOKEN, ['floating-ip', 'list', '-o', 'columns=id,ip,name,server']);
  t.equal(list.code, 0, list.stderr);
  t.match(list.stdout, /5150\s+198\.51\.100\.50\s+vip\s+-/);

  const describe = await hcloud(sim.endpoint, TOKEN, ['floating-ip', 'describe', 'vip', '-o', 'json']);
  t.equal(describe.code, 0, describe.stderr);
  t.match(JSON.parse(describe.stdout), { id: FIP_ID, ip: VIP, server: null, home_location: { name: 'fsn1' }, labels: { role: 'lb' } });

  const servers = await hcloud(sim.endpoint, TOKEN, ['server', 'list', '-l', 'role=lb', '-o', 'noheader', '-o', 'columns=name,ipv4,status']);
  t.equal(servers.code, 0, servers.stderr);
  t.same(servers.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/)), [
    ['lb1', '198.51.100.11', 'running'],
    ['lb2', '198.51.100.12', 'running'],
    ['lb3', '198.51.100.13', 'running'],
  ]);
  const notin = await hcloud(sim.endpoint, TOKEN, ['server', 'list', '-l', 'role notin (lb)', '-o', 'noheader', '-o', 'columns=name']);
  t.equal(notin.stdout.trim(), 'web1', 'set-based selectors too');

  const since = Date.now();
  const assign = await hcloud(sim.endpoint, TOKEN, ['floating-ip', 'assign', 'vip', 'lb2']);
  t.equal(assign.code, 0, assign.stderr);
  t.match(assign.stdout, `Floating IP ${FIP_ID} assigned to server ${LB2}`);
  t.ok(Date.now() - since >= 300, 'the CLI waited for the running action');
  t.ok(sim.requests(since).some((r) => r.call === 'list-actions' && r.status === 200), 'it polled GET /actions?id=N');
  t.equal(sim.world.floatingIps.get(FIP_ID)!.server, Number(LB2), 'the simulator moved it');
  const after = await hcloud(sim.endpoint, TOKEN, ['floating-ip', 'describe', String(FIP_ID), '-o', 'json']);
  t.equal(JSON.parse(after.stdout).server, Number(LB2));

  const unassign = await hcloud(sim.endpoint, TOKEN, ['floating-ip', 'unassign', String(FIP_ID)]);
  t.equal(unassign.code, 0, unassign.stderr);
  t.equal(sim.world.floatingIps.get(FIP_ID)!.server, null);
  t.same(sim.history.events(0, VIP).map((e) => e.holders), [[], [LB2], []], 'history recorded both actions');

  const wrong = await hcloud(sim.endpoint, 'not-a-valid-token', ['floating-ip', 'list']);
  t.not(wrong.code, 0);
  t.match(wrong.stderr, /unable to authenticate \(unauthorized\)/);

  const readonly = await hcloud(sim.endpoint, READONLY_TOKEN, ['floating-ip', 'assign', 'vip', 'lb1']);
  t.not(readonly.code, 0, 'a read-only token cannot assign');
  t.match(readonly.stderr, /token_readonly/);
  t.equal(sim.world.floatingIps.get(FIP_ID)!.server, null);

  // a locked floating IP: hcloud-cli reports Hetzner's "locked" error
  await admin(sim, 'PATCH', 'config', { changeDelayMs: 2000 });
  const first = hcloud(sim.endpoint, TOKEN, ['floating-ip', 'assign', 'vip', 'lb1']);
  const t0 = Date.now();
  while (!sim.changes.lockedBy(`floating_ip:${FIP_ID}`) && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 20));
  const locked = await hcloud(sim.endpoint, TOKEN, ['floating-ip', 'assign', 'vip', 'lb3']);
  t.not(locked.code, 0);
  t.match(locked.stderr, /locked/);
  t.equal((await first).code, 0);
});

t.test('python3-hcloud: Client(token, api_endpoint=...), assign().wait_until_finished(), error bodies', { skip: pythonHcloud() }, async (t) => {
  const sim = await hetznerSim(t, { actionDelayMs: 400 });
  const script = `
import json, sys, time
from hcloud import Client, APIException
c = Client(token=sys.argv[1], api_endpoint=sys.argv[2], poll_interval=0.1)
out = {}
fip = c.floating_ips.get_by_id(${FIP_ID})
out["ip"] = fip.ip
out["before"] = fip.server.id if fip.server else None
server = c.servers.get_by_name("lb3")
t0 = time.time()
action = c.floating_ips.assign(fip, server)
out["first_status"] = action.status
action.wait_until_finished()
out["waited"] = time.time() - t0
out["final_status"] = c.actions.get_by_id(action.id).status
out["after"] = c.floating_ips.get_by_id(${FIP_ID}).server.id
out["lbs"] = [s.name for s in c.servers.get_all(label_selector="role=lb")]
out["all_ips"] = [f.ip for f in c.floating_ips.get_all()]
try:
    Client(token="wrong-token", api_endpoint=sys.argv[2]).floating_ips.get_all()
except APIException as e:
    out["wrong"] = [e.code, e.message]
try:
    Client(token=sys.argv[3], api_endpoint=sys.argv[2]).floating_ips.unassign(fip)
except APIException as e:
    out["readonly"] = [e.code, e.message]
try:
    c.floating_ips.get_by_id(999)
except APIException as e:
    out["missing"] = [e.code]
print(json.dumps(out))
`;
  const r = await run(PYTHON, ['-c', script, TOKEN, sim.endpoint, READONLY_TOKEN], { timeout: 60_000 });
  const out = JSON.parse(r.stdout) as Record<string, unknown>;
  t.match(out, {
    ip: VIP,
    before: null,
    first_status: 'running',
    final_status: 'success',
    after: 1003,
    lbs: ['lb1', 'lb2', 'lb3'],
    all_ips: [VIP],
    wrong: ['unauthorized', 'unable to authenticate'],
    readonly: ['token_readonly', /read-only/],
    missing: ['not_found'],
  });
  t.ok((out.waited as number) >= 0.35, `wait_until_finished waited for the action (${out.waited} s)`);
  t.equal(sim.world.floatingIps.get(FIP_ID)!.server, 1003);
});
