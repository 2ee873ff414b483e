/**
 * The ip-alias action inside network namespaces made by the test: the address appears on MASTER,
 * disappears on BACKUP/STOP/FAULT, re-runs are no-ops, gratuitous ARP reaches a neighbour, and
 * failures say what to fix.
 */
import t from 'tap';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { requireEnv } from '../lib/env.js';
import { createLab, type Lab, type LabHost } from '../lib/netns.js';
import ipAlias, { explainIpFailure } from '../../plugins/ip-alias/index.js';

const skip = requireEnv({ netns: true });
const skipGarp = skip || requireEnv({ netns: true, bins: ['arping'] });
const FIXTURE = fileURLToPath(new URL('./fixtures/run-action.ts', import.meta.url));
const TS_LOADER = process.execArgv.filter((a) => a.includes('typescript'));

interface StepResult {
  to: string;
  ok: boolean;
  error?: string;
}

/** Runs the plugin's hooks for `steps` inside the host's namespace; returns one result per step. */
async function runSteps(lab: Lab, host: LabHost, options: Record<string, unknown>, address: string, steps: string[]): Promise<StepResult[]> {
  const spec = { plugin: 'ip-alias', options, instance: { name: 'VI_1', address }, steps: steps.map((to) => ({ to })) };
  const { stdout } = await lab.exec(host, [process.execPath, ...TS_LOADER, FIXTURE, JSON.stringify(spec)], { timeoutMs: 30_000 });
  return stdout.trim().split('\n').map((l) => JSON.parse(l) as StepResult);
}

async function addrs(lab: Lab, host: LabHost, dev: string): Promise<string[]> {
  const { stdout } = await lab.exec(host, ['ip', '-j', 'addr', 'show', 'dev', dev]);
  return (JSON.parse(stdout) as { addr_info: { local: string; prefixlen: number }[] }[]).flatMap((l) => l.addr_info.map((a) => `${a.local}/${a.prefixlen}`));
}

t.test('parseConfig: defaults and clear errors', async (t) => {
  const env = { baseDir: '/', resolveSecret: (r: string) => r };
  t.same(ipAlias.parseConfig({}, env), { ok: true, config: { device: 'lo', garpCount: 3 } });
  t.same(ipAlias.parseConfig({ device: 'eth0', garp: true }, env), { ok: true, config: { device: 'eth0', garpCount: 3, garp: 'request' } });
  t.same(ipAlias.parseConfig({ device: 'eth0', garp: 'reply', garpCount: 1 }, env), { ok: true, config: { device: 'eth0', garpCount: 1, garp: 'reply' } });
  const onLo = ipAlias.parseConfig({ garp: true }, env);
  t.match(onLo, { ok: false, issues: [{ path: ['garp'], message: /LAN interface.*lo is not ARPable/ }] });
  t.match(ipAlias.parseConfig({ device: 'a/b' }, env), { ok: false, issues: [{ path: ['device'] }] });
  t.match(ipAlias.parseConfig({ devcie: 'lo' }, env), { ok: false, issues: [{ path: ['devcie'], message: /unknown key.*device/ }] });
});

t.test('in a namespace: MASTER adds /32 on lo, BACKUP/FAULT/STOP remove it, re-runs are no-ops', { skip }, async (t) => {
  const lab = await createLab({ hosts: 1 });
  t.teardown(() => lab.destroy());
  const h = lab.hosts[0]!;
  const vip = '198.51.100.50/32';
  const steps = ['MASTER', 'MASTER', 'BACKUP', 'BACKUP', 'MASTER', 'FAULT', 'MASTER', 'STOP', 'STOP'];
  // Run the steps one by one so the address can be checked after each.
  const expectPresent = [true, true, false, false, true, false, true, false, false];
  for (const [i, step] of steps.entries()) {
    const [r] = await runSteps(lab, h, {}, '198.51.100.50', [step]);
    t.same(r, { to: step, ok: true, durationMs: r!.durationMs }, `${step} (#${i + 1}) succeeds`);
    t.equal((await addrs(lab, h, 'lo')).includes(vip), expectPresent[i], `after ${step}: ${vip} ${expectPresent[i] ? 'present' : 'absent'}`);
  }
  t.same(await addrs(lab, h, 'lo'), ['127.0.0.1/8', '::1/128'], 'nothing else changed on lo');
});

t.test('an address configured by hand with another prefix is left alone', { skip }, async (t) => {
  const lab = await createLab({ hosts: 1 });
  t.teardown(() => lab.destroy());
  const h = lab.hosts[0]!;
  await lab.exec(h, ['ip', 'addr', 'add', '198.51.100.50/24', 'dev', 'lo']);
  const r = await runSteps(lab, h, {}, '198.51.100.50', ['MASTER', 'BACKUP']);
  t.same(r.map((x) => x.ok), [true, true]);
  t.same((await addrs(lab, h, 'lo')).filter((a) => a.startsWith('198.51.100.50')), ['198.51.100.50/24'], 'the /24 stays, the /32 came and went');
});

t.test('IPv6: /128 with nodad', { skip }, async (t) => {
  const lab = await createLab({ hosts: 1 });
  t.teardown(() => lab.destroy());
  const h = lab.hosts[0]!;
  const [m] = await runSteps(lab, h, {}, '2001:DB8:0::50', ['MASTER']);
  t.ok(m!.ok, m!.error);
  const { stdout } = await lab.exec(h, ['ip', '-6', 'addr', 'show', 'dev', 'lo']);
  t.match(stdout, /inet6 2001:db8::50\/128 scope global nodad/, 'canonical address, /128, no duplicate address detection (usable at once)');
  const r = await runSteps(lab, h, {}, '2001:db8::50', ['MASTER', 'BACKUP', 'BACKUP']);
  t.same(r.map((x) => x.ok), [true, true, true], 'idempotent with another spelling of the address');
  t.notMatch((await lab.exec(h, ['ip', '-6', 'addr', 'show', 'dev', 'lo'])).stdout, /2001:db8::50/);
});

t.test('errors: missing interface, garp on IPv6, no CAP_NET_ADMIN', { skip }, async (t) => {
  const lab = await createLab({ hosts: 1 });
  t.teardown(() => lab.destroy());
  const h = lab.hosts[0]!;
  const [r] = await runSteps(lab, h, { device: 'nosuch0' }, '198.51.100.50', ['MASTER']);
  t.equal(r!.ok, false);
  t.match(r!.error, /no such interface "nosuch0" \(check device:\)/);

  const spec = { plugin: 'ip-alias', options: { device: 'e0', garp: true }, instance: { name: 'VI_1', address: '2001:db8::50' }, steps: [] };
  const created = await execa('ip', ['netns', 'exec', h.ns, process.execPath, ...TS_LOADER, FIXTURE, JSON.stringify(spec)], { reject: false });
  t.equal(created.exitCode, 3);
  t.match(created.stdout, /garp: gratuitous ARP is IPv4 only, the instance address 2001:db8::50 is IPv6/);

  // A real `ip` without the capability (as nobody; it fails before changing anything).
  const denied = await execa('ip', ['addr', 'add', '198.51.100.99/32', 'dev', 'lo'], { reject: false, uid: 65534, gid: 65534 });
  t.not(denied.exitCode, 0);
  const msg = explainIpFailure('ip addr add 198.51.100.99/32 dev lo', { failed: true, exitCode: denied.exitCode, stdout: '', stderr: String(denied.stderr) }, 'lo');
  t.match(msg, /permission denied: changing addresses needs CAP_NET_ADMIN/);
});

t.test('garp: neighbours learn the address from gratuitous ARP (arping -U)', { skip: skipGarp }, async (t) => {
  const lab = await createLab({ hosts: 2 });
  t.teardown(() => lab.destroy());
  const [h0, h1] = [lab.hosts[0]!, lab.hosts[1]!];
  // h1 creates neighbour entries from gratuitous ARP (Linux only updates existing ones by default).
  await lab.exec(h1, ['sysctl', '-q', '-w', 'net.ipv4.conf.e0.arp_accept=1']);
  const mac = (JSON.parse((await lab.exec(h0, ['ip', '-j', 'link', 'show', 'e0'])).stdout) as { address: string }[])[0]!.address;
  const [r] = await runSteps(lab, h0, { device: 'e0', garp: true, garpCount: 1 }, '198.51.100.50', ['MASTER']);
  t.ok(r!.ok, r!.error);
  t.ok((await addrs(lab, h0, 'e0')).includes('198.51.100.50/32'));
  const { stdout } = await lab.exec(h1, ['ip', 'neigh', 'show', '198.51.100.50', 'dev', 'e0']);
  t.match(stdout, new RegExp(`198\\.51\\.100\\.50 lladdr ${mac}`), `h1 maps the address to h0's MAC ${mac}: ${stdout.trim()}`);
});
