/**
 * The ip-alias action inside network namespaces made by the test: the address appears on MASTER,
 * disappears on BACKUP/STOP/FAULT, re-runs are no-ops, each transition runs `ip` exactly once
 * (counted by a logging wrapper in front of the real `ip`), gratuitous ARP reaches a neighbour,
 * and failures say what to fix. Also the command runner (real processes): exit status, stderr,
 * abort, timeout, a missing binary.
 */
import t, { type Test } from 'tap';
import { fileURLToPath } from 'node:url';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { execa } from 'execa';
import { requireEnv, PROMPT_MS } from '../lib/env.js';
import { createLab, type Lab, type LabHost } from '../lib/netns.js';
import ipAlias, { alreadyAbsent, alreadyPresent, explainIpFailure, IP_TIMEOUT_MS, COMMAND_ENV } from '../../plugins/ip-alias/index.js';
import { KILL_GRACE_MS, runCommand } from '../../src/util/process-group.js';
import { formatDuration } from '../../src/util/duration.js';

const skip = requireEnv({ netns: true });
const skipGarp = skip || requireEnv({ netns: true, bins: ['arping'] });
const FIXTURE = fileURLToPath(new URL('./fixtures/run-action.ts', import.meta.url));
const TS_LOADER = process.execArgv.filter((a) => a.includes('typescript'));

interface StepResult {
  to: string;
  ok: boolean;
  error?: string;
  durationMs?: number;
}

/** Runs the plugin's hooks for `steps` inside the host's namespace; returns one result per step. */
async function runSteps(lab: Lab, host: LabHost, options: Record<string, unknown>, address: string, steps: string[], path?: string): Promise<StepResult[]> {
  const spec = { plugin: 'ip-alias', options, instance: { name: 'VI_1', address }, steps: steps.map((to) => ({ to })) };
  const env = path ? ['env', `PATH=${path}`] : [];
  const { stdout } = await lab.exec(host, [...env, process.execPath, ...TS_LOADER, FIXTURE, JSON.stringify(spec)], { timeoutMs: 30_000 });
  return stdout.trim().split('\n').map((l) => JSON.parse(l) as StepResult);
}

/**
 * A directory with an `ip` that logs its arguments (one line per run) and execs the real ip:
 * put it first on PATH to count the processes the plugin starts.
 */
function countingIp(t: Test): { path: string; runs: () => string[] } {
  const realIp = execFileSync('sh', ['-c', 'command -v ip'], { encoding: 'utf8', env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` } }).trim();
  const dir = mkdtempSync(join(tmpdir(), 'ipw-ip-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const log = join(dir, 'runs.log');
  writeFileSync(log, '');
  writeFileSync(join(dir, 'ip'), `#!/bin/sh\necho "$*" >> '${log}'\nexec '${realIp}' "$@"\n`);
  chmodSync(join(dir, 'ip'), 0o755);
  return { path: `${dir}:${process.env.PATH}:/usr/sbin:/sbin`, runs: () => readFileSync(log, 'utf8').split('\n').filter(Boolean) };
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
  t.ok(m!.ok, m!.error ?? 'added');
  const { stdout } = await lab.exec(h, ['ip', '-6', 'addr', 'show', 'dev', 'lo']);
  t.match(stdout, /inet6 2001:db8::50\/128 scope global nodad/, 'canonical address, /128, no duplicate address detection (usable at once)');
  const r = await runSteps(lab, h, {}, '2001:db8::50', ['MASTER', 'BACKUP', 'BACKUP']);
  t.same(r.map((x) => x.ok), [true, true, true], 'idempotent with another spelling of the address');
  t.notMatch((await lab.exec(h, ['ip', '-6', 'addr', 'show', 'dev', 'lo'])).stdout, /2001:db8::50/);
});

t.test('one ip run per transition: add when present and del when absent succeed without a second run', { skip }, async (t) => {
  const lab = await createLab({ hosts: 1 });
  t.teardown(() => lab.destroy());
  const h = lab.hosts[0]!;
  const ip = countingIp(t);
  const steps = ['MASTER', 'MASTER', 'BACKUP', 'BACKUP', 'FAULT', 'STOP', 'MASTER'];
  const r = await runSteps(lab, h, {}, '198.51.100.50', steps, ip.path);
  t.same(r.map((x) => [x.to, x.ok, x.error]), steps.map((to) => [to, true, undefined]), 'every step succeeds');
  const add = '-4 addr add 198.51.100.50/32 dev lo';
  const del = '-4 addr del 198.51.100.50/32 dev lo';
  t.same(ip.runs(), [add, add, del, del, del, del, add], 'exactly one ip per transition, also when the address is already there / already gone');
  t.ok((await addrs(lab, h, 'lo')).includes('198.51.100.50/32'), 'present after the last MASTER');

  const ip6 = countingIp(t);
  const r6 = await runSteps(lab, h, {}, '2001:db8::50', ['MASTER', 'MASTER', 'BACKUP', 'BACKUP'], ip6.path);
  t.same(r6.map((x) => x.ok), [true, true, true, true], r6.map((x) => x.error).join('; '));
  const add6 = '-6 addr add 2001:db8::50/128 dev lo nodad';
  const del6 = '-6 addr del 2001:db8::50/128 dev lo';
  t.same(ip6.runs(), [add6, add6, del6, del6], 'IPv6: one ip per transition');
});

t.test('IPv6: the address already there with another prefix counts as present, and stays', { skip }, async (t) => {
  const lab = await createLab({ hosts: 1 });
  t.teardown(() => lab.destroy());
  const h = lab.hosts[0]!;
  await lab.exec(h, ['ip', '-6', 'addr', 'add', '2001:db8::50/64', 'dev', 'lo', 'nodad']);
  const r = await runSteps(lab, h, {}, '2001:db8::50', ['MASTER', 'BACKUP']);
  t.same(r.map((x) => x.ok), [true, true], r.map((x) => x.error).join('; '));
  t.same((await addrs(lab, h, 'lo')).filter((a) => a.startsWith('2001:db8')), ['2001:db8::50/64'], 'the /64 is neither doubled nor removed');
});

t.test('the kernel answers the plugin takes as done: real ip texts, and the texts without extended acks', { skip }, async (t) => {
  const lab = await createLab({ hosts: 1 });
  t.teardown(() => lab.destroy());
  const h = lab.hosts[0]!;
  const ipRun = async (args: string[]) => {
    const r = await execa('ip', ['netns', 'exec', h.ns, 'ip', ...args], { reject: false, env: { LC_ALL: 'C' } });
    return { failed: r.exitCode !== 0, exitCode: r.exitCode!, stdout: '', stderr: String(r.stderr).trim(), all: '' };
  };
  for (const [family, cidr, extra] of [['-4', '198.51.100.50/32', []], ['-6', '2001:db8::50/128', ['nodad']]] as const) {
    t.equal((await ipRun([family, 'addr', 'add', cidr, 'dev', 'lo', ...extra])).exitCode, 0);
    const again = await ipRun([family, 'addr', 'add', cidr, 'dev', 'lo', ...extra]);
    t.ok(alreadyPresent(again), `add twice (${family}): exit ${again.exitCode} "${again.stderr}" means present`);
    t.notOk(alreadyAbsent(again));
    t.equal((await ipRun([family, 'addr', 'del', cidr, 'dev', 'lo'])).exitCode, 0);
    const gone = await ipRun([family, 'addr', 'del', cidr, 'dev', 'lo']);
    t.ok(alreadyAbsent(gone), `del twice (${family}): exit ${gone.exitCode} "${gone.stderr}" means absent`);
    t.notOk(alreadyPresent(gone));
    const noDev = await ipRun([family, 'addr', 'add', cidr, 'dev', 'nosuch0', ...extra]);
    t.notOk(alreadyPresent(noDev) || alreadyAbsent(noDev), `a missing device is an error: ${noDev.stderr}`);
    t.equal(explainIpFailure(`ip addr add ${cidr} dev nosuch0`, noDev, 'nosuch0'), `ip addr add ${cidr} dev nosuch0: no such interface "nosuch0" (check device:)`);
  }
  // Kernels without extended ack messages: iproute2 prints strerror() (hence LC_ALL=C for ip).
  t.ok(alreadyPresent({ failed: true, exitCode: 2, stdout: '', stderr: 'RTNETLINK answers: File exists', all: '' }));
  t.ok(alreadyAbsent({ failed: true, exitCode: 2, stdout: '', stderr: 'RTNETLINK answers: Cannot assign requested address', all: '' }));
  t.notOk(alreadyPresent({ failed: true, exitCode: 1, stdout: '', stderr: 'File exists', all: '' }), 'only a netlink answer (exit 2) counts');
  t.notOk(alreadyPresent({ failed: true, exitCode: 2, stdout: '', stderr: 'RTNETLINK answers: Operation not permitted', all: '' }));
});

t.test('errors: missing interface, garp on IPv6, no CAP_NET_ADMIN', { skip }, async (t) => {
  const lab = await createLab({ hosts: 1 });
  t.teardown(() => lab.destroy());
  const h = lab.hosts[0]!;
  const ip = countingIp(t);
  const [r, b] = await runSteps(lab, h, { device: 'nosuch0' }, '198.51.100.50', ['MASTER', 'BACKUP'], ip.path);
  t.equal(r!.ok, false);
  t.equal(r!.error, 'ip addr add 198.51.100.50/32 dev nosuch0: no such interface "nosuch0" (check device:)');
  t.equal(b!.ok, false, 'removing from a missing interface is an error too, not "absent"');
  t.equal(b!.error, 'ip addr del 198.51.100.50/32 dev nosuch0: no such interface "nosuch0" (check device:)');
  t.equal(ip.runs().length, 2, 'one ip run each, no retry inside the plugin');

  const spec = { plugin: 'ip-alias', options: { device: 'e0', garp: true }, instance: { name: 'VI_1', address: '2001:db8::50' }, steps: [] };
  const created = await execa('ip', ['netns', 'exec', h.ns, process.execPath, ...TS_LOADER, FIXTURE, JSON.stringify(spec)], { reject: false });
  t.equal(created.exitCode, 3);
  t.match(created.stdout, /garp: gratuitous ARP is IPv4 only, the instance address 2001:db8::50 is IPv6/);

  // A real `ip` without the capability (as nobody; it fails before changing anything).
  const denied = await execa('ip', ['addr', 'add', '198.51.100.99/32', 'dev', 'lo'], { reject: false, uid: 65534, gid: 65534 });
  t.not(denied.exitCode, 0);
  const msg = explainIpFailure('ip addr add 198.51.100.99/32 dev lo', { failed: true, exitCode: denied.exitCode, stdout: '', stderr: String(denied.stderr), all: '' }, 'lo');
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
  t.ok(r!.ok, r!.error ?? 'added and announced');
  t.ok((await addrs(lab, h0, 'e0')).includes('198.51.100.50/32'));
  const { stdout } = await lab.exec(h1, ['ip', 'neigh', 'show', '198.51.100.50', 'dev', 'e0']);
  t.match(stdout, new RegExp(`198\\.51\\.100\\.50 lladdr ${mac}`), `h1 maps the address to h0's MAC ${mac}: ${stdout.trim()}`);
});

t.test('command runner: exit status and stderr, abort, timeout, missing binary (real processes)', async (t) => {
  const never = new AbortController().signal;
  const ok = await runCommand(['sh', '-c', 'echo out; echo "  err line  " >&2; exit 0'], { signal: never, timeoutMs: 5000 });
  t.match(ok, { failed: false, exitCode: 0, stdout: 'out\n', stderr: 'err line' });
  const bad = await runCommand(['sh', '-c', 'echo "RTNETLINK answers: File exists" >&2; exit 2'], { signal: never, timeoutMs: 5000 });
  t.match(bad, { failed: true, exitCode: 2 });
  t.ok(alreadyPresent(bad));
  const locale = await runCommand(['sh', '-c', 'echo "$LC_ALL"'], { signal: never, timeoutMs: 5000, env: COMMAND_ENV });
  t.equal(locale.stdout, 'C\n', 'C locale: the matched texts are not translated');

  const ac = new AbortController();
  const t0 = performance.now();
  setTimeout(() => ac.abort(new Error('superseded')), 50);
  const aborted = await runCommand(['sleep', '60'], { signal: ac.signal, timeoutMs: 60_000 });
  const abortMs = performance.now() - t0;
  t.match(aborted, { failed: true, aborted: true, signal: 'SIGTERM' });
  t.ok(abortMs < PROMPT_MS, `abort stops the process at once (${Math.round(abortMs)} ms), not after its 60 s`);
  t.match(await runCommand(['sleep', '5'], { signal: ac.signal, timeoutMs: 5000 }), { failed: true, aborted: true }, 'already aborted: not started');
  t.equal(explainIpFailure('ip addr add x dev lo', aborted, 'lo'), 'ip addr add x dev lo: aborted');

  const t1 = performance.now();
  const stubborn = await runCommand(['sh', '-c', "trap '' TERM; sleep 60 & wait; sleep 60"], { signal: never, timeoutMs: 100 });
  const stubbornMs = performance.now() - t1;
  t.match(stubborn, { failed: true, timedOut: true, signal: 'SIGKILL' }, 'ignores SIGTERM: killed');
  t.ok(stubbornMs >= 100 + KILL_GRACE_MS - 20 && stubbornMs < 100 + KILL_GRACE_MS + PROMPT_MS, `SIGKILL after the grace period (${Math.round(stubbornMs)} ms), not after its 60 s`);
  t.equal(explainIpFailure('ip addr add x dev lo', stubborn, 'lo'), `ip addr add x dev lo: ip did not finish within ${formatDuration(IP_TIMEOUT_MS)}`);

  const missing = await runCommand(['ipw-no-such-command'], { signal: never, timeoutMs: 5000 });
  t.match(missing, { failed: true, code: 'ENOENT' });
  t.equal(explainIpFailure('ip addr add x dev lo', missing, 'lo'), 'ip addr add x dev lo: the ip command was not found (install iproute2)');
});
