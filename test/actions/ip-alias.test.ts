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
import ipAlias, { alreadyAbsent, alreadyPresent, explainIpFailure, IP_TIMEOUT_MS, STANDBY_RESPAWN_MS, COMMAND_ENV } from '../../plugins/ip-alias/index.js';
import { KILL_GRACE_MS, runCommand, startStandby } from '../../src/util/process-group.js';
import { formatDuration } from '../../src/util/duration.js';

const skip = requireEnv({ netns: true });
const skipGarp = skip || requireEnv({ netns: true, bins: ['arping'] });
const FIXTURE = fileURLToPath(new URL('./fixtures/run-action.ts', import.meta.url));
const STANDBY_HOLDER = fileURLToPath(new URL('./fixtures/standby-holder.ts', import.meta.url));
const TS_LOADER = process.execArgv.filter((a) => a.includes('typescript'));

interface StepResult {
  to: string;
  ok: boolean;
  error?: string;
  durationMs?: number;
}

/** Runs the plugin's hooks for `steps` inside the host's namespace; returns one result per step. */
async function runSteps(lab: Lab, host: LabHost, options: Record<string, unknown>, address: string, steps: string[], path?: string, extra: { waitStandby?: boolean } = {}): Promise<StepResult[]> {
  const spec = { plugin: 'ip-alias', options, instance: { name: 'VI_1', address }, steps: steps.map((to) => ({ to })), ...extra };
  const env = path ? ['env', `PATH=${path}`] : [];
  const { stdout } = await lab.exec(host, [...env, process.execPath, ...TS_LOADER, FIXTURE, JSON.stringify(spec)], { timeoutMs: 30_000 });
  return stdout.trim().split('\n').map((l) => JSON.parse(l) as StepResult);
}

/**
 * A directory with an `ip` that logs its arguments (one line per process start, "start: ARGS") and
 * runs the real ip; a batch-mode ip (`-batch -`) also logs each command line it is given ("line:
 * ..."): put it first on PATH to see the processes the plugin starts and what it asks of each.
 */
function countingIp(t: Test): { path: string; runs: () => string[] } {
  const realIp = execFileSync('sh', ['-c', 'command -v ip'], { encoding: 'utf8', env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` } }).trim();
  const dir = mkdtempSync(join(tmpdir(), 'ipw-ip-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const log = join(dir, 'runs.log');
  writeFileSync(log, '');
  const script = [
    '#!/bin/sh',
    `echo "start: $*" >> '${log}'`,
    'case " $* " in',
    `  *" -batch - "*) while IFS= read -r line; do echo "line: $line" >> '${log}'; printf '%s\\n' "$line"; done | '${realIp}' "$@" ;;`,
    `  *) exec '${realIp}' "$@" ;;`,
    'esac',
  ];
  writeFileSync(join(dir, 'ip'), `${script.join('\n')}\n`);
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

t.test('one ip command per transition, given to an ip started ahead: add when present and del when absent succeed without a second run', { skip }, async (t) => {
  const lab = await createLab({ hosts: 1 });
  t.teardown(() => lab.destroy());
  const h = lab.hosts[0]!;
  const ip = countingIp(t);
  const steps = ['MASTER', 'MASTER', 'BACKUP', 'BACKUP', 'FAULT', 'STOP', 'MASTER'];
  // transitions a second or more apart (the fixture waits for the standby between steps)
  const r = await runSteps(lab, h, {}, '198.51.100.50', steps, ip.path, { waitStandby: true });
  t.same(r.map((x) => [x.to, x.ok, x.error]), steps.map((to) => [to, true, undefined]), 'every step succeeds');
  const start = 'start: -4 -batch -';
  const add = 'line: addr add 198.51.100.50/32 dev lo';
  const del = 'line: addr del 198.51.100.50/32 dev lo';
  // each command goes to an ip that was started before the transition (at create, right after a removal, or a
  // second after an add), never to a process started on the failover path; ending with an add, close cancels
  // the respawn pending after it
  t.same(ip.runs(), [start, add, start, add, start, del, start, del, start, del, start, del, start, add], 'one standby ip per transition, each given exactly one command, also when the address is already there / already gone');
  t.ok((await addrs(lab, h, 'lo')).includes('198.51.100.50/32'), 'present after the last MASTER');

  const ip6 = countingIp(t);
  const r6 = await runSteps(lab, h, {}, '2001:db8::50', ['MASTER', 'MASTER', 'BACKUP', 'BACKUP'], ip6.path, { waitStandby: true });
  t.same(r6.map((x) => x.ok), [true, true, true, true], r6.map((x) => x.error).join('; '));
  const start6 = 'start: -6 -batch -';
  const add6 = 'line: addr add 2001:db8::50/128 dev lo nodad';
  const del6 = 'line: addr del 2001:db8::50/128 dev lo';
  // ends with a removal: the standby started right after it is closed unused
  t.same(ip6.runs(), [start6, add6, start6, add6, start6, del6, start6, del6, start6], 'IPv6: one command per transition');
});

t.test(`after an add the next standby starts ${formatDuration(STANDBY_RESPAWN_MS)} later, not during the takeover; after a removal at once`, { skip }, async (t) => {
  const lab = await createLab({ hosts: 1 });
  t.teardown(() => lab.destroy());
  const h = lab.hosts[0]!;
  const ip = countingIp(t);
  const r = await runSteps(lab, h, {}, '198.51.100.50', ['MASTER', 'BACKUP', 'MASTER'], ip.path);
  t.same(r.map((x) => [x.to, x.ok, x.error]), [['MASTER', true, undefined], ['BACKUP', true, undefined], ['MASTER', true, undefined]]);
  // the standby started at create took the add; the removal came before the respawn (direct), and the
  // standby started right after it took the next add; close cancels the respawn pending after that
  t.same(
    ip.runs(),
    ['start: -4 -batch -', 'line: addr add 198.51.100.50/32 dev lo', 'start: -4 addr del 198.51.100.50/32 dev lo', 'start: -4 -batch -', 'line: addr add 198.51.100.50/32 dev lo'],
    'no ip started right after an add',
  );
  t.ok((await addrs(lab, h, 'lo')).includes('198.51.100.50/32'), 'present after the last MASTER');
});

t.test('no standby ready: ip runs directly, with the same results', { skip }, async (t) => {
  const lab = await createLab({ hosts: 1 });
  t.teardown(() => lab.destroy());
  const h = lab.hosts[0]!;
  const ip = countingIp(t);
  // the standby of a closed alias is gone: commands start ip themselves (exit status 2 for the kernel's refusals)
  const spec = { plugin: 'ip-alias', options: {}, instance: { name: 'VI_1', address: '198.51.100.50' }, steps: ['MASTER', 'MASTER', 'BACKUP', 'BACKUP'].map((to) => ({ to })), closeFirst: true };
  const { stdout } = await lab.exec(h, ['env', `PATH=${ip.path}`, process.execPath, ...TS_LOADER, FIXTURE, JSON.stringify(spec)], { timeoutMs: 30_000 });
  const r = stdout.trim().split('\n').map((l) => JSON.parse(l) as StepResult);
  t.same(r.map((x) => [x.to, x.ok, x.error]), [['MASTER', true, undefined], ['MASTER', true, undefined], ['BACKUP', true, undefined], ['BACKUP', true, undefined]]);
  const add = 'start: -4 addr add 198.51.100.50/32 dev lo';
  const del = 'start: -4 addr del 198.51.100.50/32 dev lo';
  t.same(ip.runs(), ['start: -4 -batch -', add, add, del, del], 'the standby started at create, closed unused; then one ip per transition');
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
  // batch mode (the standby): exit 1 for every failed line, the kernel's text tells
  const batchRun = async (line: string) => {
    const r = await execa('ip', ['netns', 'exec', h.ns, 'ip', '-batch', '-'], { reject: false, env: { LC_ALL: 'C' }, input: `${line}\n` });
    return { failed: r.exitCode !== 0, exitCode: r.exitCode!, stdout: '', stderr: String(r.stderr).trim(), all: '' };
  };
  t.equal((await batchRun('addr add 198.51.100.50/32 dev lo')).exitCode, 0);
  const twice = await batchRun('addr add 198.51.100.50/32 dev lo');
  t.ok(alreadyPresent(twice, true) && !alreadyAbsent(twice, true), `batch add twice: exit ${twice.exitCode} "${twice.stderr}" means present`);
  t.notOk(alreadyPresent(twice), 'not in the exit-status-2 reading of a direct run');
  t.equal((await batchRun('addr del 198.51.100.50/32 dev lo')).exitCode, 0);
  const gone = await batchRun('addr del 198.51.100.50/32 dev lo');
  t.ok(alreadyAbsent(gone, true) && !alreadyPresent(gone, true), `batch del twice: exit ${gone.exitCode} "${gone.stderr}" means absent`);
  const noDevice = await batchRun('addr add 198.51.100.50/32 dev nosuch0');
  t.notOk(alreadyPresent(noDevice, true) || alreadyAbsent(noDevice, true), `batch, missing device: an error (${noDevice.stderr})`);
  t.equal(explainIpFailure('ip addr add 198.51.100.50/32 dev nosuch0', noDevice, 'nosuch0'), 'ip addr add 198.51.100.50/32 dev nosuch0: no such interface "nosuch0" (check device:)');
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
  // the first through the standby, the second (within the respawn delay) by a direct ip
  t.same(ip.runs().filter((l) => l !== 'start: -4 -batch -'), ['line: addr add 198.51.100.50/32 dev nosuch0', 'start: -4 addr del 198.51.100.50/32 dev nosuch0'], 'one ip command each, no retry inside the plugin');

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

/** True while a process with this pid exists (a zombie counts as gone). */
function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

async function gone(pid: number, withinMs: number): Promise<boolean> {
  const until = performance.now() + withinMs;
  while (alive(pid)) {
    if (performance.now() > until) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

t.test('standby command: started ahead, given its input later; dispose, abort, and it never outlives its parent', async (t) => {
  const s = startStandby(['sh', '-c', 'read -r line; echo "got $line"; echo "to stderr" >&2; exit 3']);
  t.ok(s.ready && s.pid !== undefined, 'running and waiting');
  t.ok(alive(s.pid!), 'its process exists before any input');
  const r = await s.run('hello\n', { timeoutMs: 5000 });
  t.match(r, { failed: true, exitCode: 3, stdout: 'got hello\n', stderr: 'to stderr' }, 'the outcome, like runCommand');
  t.notOk(s.ready, 'used');
  t.throws(() => s.run('again\n'), /already used/, 'one input per standby');

  const idle = startStandby(['cat']);
  idle.dispose();
  t.ok(await gone(idle.pid!, PROMPT_MS), 'dispose: end-of-file, and it exits');
  t.notOk(idle.ready);

  const stuck = startStandby(['sh', '-c', 'read -r line; sleep 60']);
  const ac = new AbortController();
  const pending = stuck.run('x\n', { signal: ac.signal, timeoutMs: 60_000 });
  setTimeout(() => ac.abort(new Error('superseded by BACKUP')), 50);
  t.match(await pending, { failed: true, aborted: true, killedFor: 'superseded by BACKUP' }, 'an abort kills its process group');
  const late = startStandby(['sh', '-c', 'read -r line; sleep 60']);
  t.match(await late.run('x\n', { timeoutMs: 100 }), { failed: true, timedOut: true }, 'the timeout counts from the input');

  const missing = startStandby(['ipw-no-such-command']);
  await new Promise((r) => setTimeout(r, 50));
  t.notOk(missing.ready, 'a command that cannot start is never ready (callers run it directly)');

  // a one-shot process that leaves a standby behind exits at once, and the standby follows it
  const t0 = performance.now();
  const { stdout } = await execa(process.execPath, [...TS_LOADER, STANDBY_HOLDER], { timeout: 30_000 });
  const pid = Number(stdout.trim());
  t.ok(Number.isInteger(pid) && pid > 0, `standby pid ${stdout.trim()}`);
  t.ok(await gone(pid, PROMPT_MS), `the parent exited (${Math.round(performance.now() - t0)} ms after its start) and its standby read end-of-file and exited`);
  // a daemon killed with SIGKILL: the kernel closes the pipe, the standby exits
  const holder = execa(process.execPath, [...TS_LOADER, STANDBY_HOLDER, 'wait'], { reject: false });
  const line = await new Promise<string>((resolve) => holder.stdout!.once('data', (d: Buffer) => resolve(String(d))));
  const pid2 = Number(line.trim());
  t.ok(alive(pid2), 'the standby waits while its parent lives');
  holder.kill('SIGKILL');
  await holder;
  t.ok(await gone(pid2, PROMPT_MS), 'parent SIGKILLed: its standby exits by itself');
});
