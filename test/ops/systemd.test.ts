/**
 * contrib/systemd/ipwarden.service: `systemd-analyze verify` finds nothing to say about it (its
 * man: references resolve to the package's pages), its hardening is what the daemon needs and
 * no more, its directories are the daemon's defaults, and Type=notify works: the daemon, started
 * as the unit starts it (NOTIFY_SOCKET set), sends READY=1 once its control socket answers.
 */
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { CLI, ROOT, requireEnv } from '../lib/env.js';
import { DEFAULTS } from '../../src/config/schema.js';
import { EXIT } from '../../src/cli/command.js';
import { SYSTEM_CONFIG_DIR, SYSTEM_SEARCH_PLACES } from '../../src/config/load.js';
import { controlRequest } from '../../src/daemon/control.js';
import { freeUdpPort } from '../../src/lab/local-cluster.js';
import { parseDuration } from '../../src/util/duration.js';

const UNIT = join(ROOT, 'contrib', 'systemd', 'ipwarden.service');

/** A unit file as section -> key -> values (a key may repeat). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const out = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.replace(/\\\n/g, ' ').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      current = new Map();
      out.set(section[1]!, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (!current || eq < 0) throw new Error(`not a unit file line: ${line}`);
    const key = line.slice(0, eq).trim();
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return out;
}

const unit = parseUnit(readFileSync(UNIT, 'utf8'));
const service = unit.get('Service') ?? new Map<string, string[]>();
const one = (key: string) => service.get(key)?.at(-1);

t.test('systemd-analyze verify: no complaints about the unit', { skip: requireEnv({ bins: ['systemd-analyze', 'man'] }) }, async (t) => {
  // Documentation=man:... is checked with man(1): give it the package's pages
  const dir = mkdtempSync(join(tmpdir(), 'ipwarden-unit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { man: string[] };
  for (const page of pkg.man) {
    const sec = /\.(\d)$/.exec(page)![1]!;
    mkdirSync(join(dir, 'man', `man${sec}`), { recursive: true });
    copyFileSync(join(ROOT, page), join(dir, 'man', `man${sec}`, basename(page)));
  }
  const r = spawnSync('systemd-analyze', ['verify', UNIT], {
    encoding: 'utf8',
    env: { PATH: `${process.env.PATH}:/usr/sbin:/sbin`, MANPATH: join(dir, 'man'), SYSTEMD_LOG_LEVEL: 'info' },
    timeout: 60_000,
  });
  const about = r.stderr.split('\n').filter((l) => /ipwarden/i.test(l));
  t.same(about, [], 'nothing logged about ipwarden.service');
  t.equal(r.status, 0, `systemd-analyze verify exits 0\n${r.stderr}`);
  for (const ref of unit.get('Unit')?.get('Documentation')?.join(' ').split(/\s+/) ?? []) {
    t.match(ref, /^man:(ipwarden|ipwarden\.rc|ipwarden-plugins)\(\d\)$/, `Documentation ${ref} is one of the package's pages`);
  }

  // a broken copy is reported, so the check above can fail
  const broken = join(dir, 'ipwarden.service');
  writeFileSync(broken, readFileSync(UNIT, 'utf8').replace('Restart=on-failure', 'Restart=sometimes'));
  const b = spawnSync('systemd-analyze', ['verify', broken], { encoding: 'utf8', env: { PATH: process.env.PATH, MANPATH: join(dir, 'man') } });
  t.match(b.stderr, /ipwarden\.service:\d+: .*restart/i, 'an invalid value is reported');
});

t.test('hardening and restart policy', async (t) => {
  t.equal(one('Type'), 'notify');
  t.equal(one('NotifyAccess'), 'all', 'systemd-notify is a child of the daemon: NotifyAccess=all');
  t.match(one('ExecStart') ?? '', /\bipwarden run\b/);
  t.match(one('ExecReload') ?? '', /^\/usr\/bin\/env ipwarden reload --config \/etc\/ipwarden\/config\.yaml$/, 'ExecReload asks the daemon over the control socket (systemctl reload reports a refused file)');
  t.equal(one('Restart'), 'on-failure');
  const noRestart = (one('RestartPreventExitStatus') ?? '').split(/\s+/).map(Number);
  for (const code of [EXIT.USAGE, EXIT.CONFIG]) t.ok(noRestart.includes(code), `no restart loop on exit ${code}`);
  t.notOk(noRestart.includes(EXIT.FAILURE), 'a runtime failure (exit 1) is restarted');
  t.equal(one('NoNewPrivileges'), 'yes');
  t.equal(one('ProtectSystem'), 'strict');
  t.equal(one('ProtectHome'), 'yes');
  t.equal(one('PrivateTmp'), 'yes');

  const caps = (service.get('CapabilityBoundingSet') ?? []).join(' ').split(/\s+/).filter(Boolean);
  const allowed = ['CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_SETUID', 'CAP_SETGID', 'CAP_KILL'];
  t.ok(caps.length > 0, 'CapabilityBoundingSet is set');
  t.notOk(caps.some((c) => c.startsWith('~')), 'an allow list, not a deny list');
  t.same(caps.filter((c) => !allowed.includes(c)), [], `only ${allowed.join(' ')} (ip-alias: NET_ADMIN, arping: NET_RAW, exec/notify user: SETUID/SETGID, killing their process groups: KILL)`);
  for (const c of ['CAP_NET_ADMIN', 'CAP_NET_RAW']) t.ok(caps.includes(c), `${c} for ip-alias`);
  const ambient = (service.get('AmbientCapabilities') ?? []).join(' ').split(/\s+/).filter(Boolean);
  t.same(ambient.filter((c) => !caps.includes(c)), [], 'AmbientCapabilities within the bounding set');

  const families = (service.get('RestrictAddressFamilies') ?? []).join(' ').split(/\s+/);
  for (const f of ['AF_UNIX', 'AF_INET', 'AF_INET6', 'AF_NETLINK', 'AF_PACKET']) t.ok(families.includes(f), `${f} allowed (control socket, heartbeats and API, ip, arping)`);
});

t.test("the unit's directories and timeouts fit the daemon's defaults", async (t) => {
  // ProtectSystem=strict: only these are writable, so the defaults must live in them
  t.equal(`/run/${one('RuntimeDirectory')}`, dirname(DEFAULTS.control), 'RuntimeDirectory holds the control socket');
  t.equal(`/var/lib/${one('StateDirectory')}`, dirname(DEFAULTS.stateFile), 'StateDirectory holds the state file');
  const config = / --config (\S+)/.exec(one('ExecStart') ?? '')?.[1];
  t.equal(config ? dirname(config) : undefined, SYSTEM_CONFIG_DIR);
  t.ok(config && (SYSTEM_SEARCH_PLACES as readonly string[]).includes(basename(config)), `${config} is where ipwarden looks by default`);
  t.match(one('ExecStartPre') ?? '', new RegExp(`ipwarden config check --config ${config}$`), 'the same file is checked before start');
  const stop = parseDuration(one('TimeoutStopSec') ?? '') ?? 0;
  t.ok(stop > parseDuration(DEFAULTS.actionTimeout)!, `TimeoutStopSec (${one('TimeoutStopSec')}) leaves STOP actions their ${DEFAULTS.actionTimeout}`);
});

t.test('Type=notify: READY=1 once the daemon answers', { skip: requireEnv({ bins: ['systemd-notify', 'perl'] }) }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ipwarden-notify-'));
  const notifySocket = join(dir, 'notify.sock');
  const control = join(dir, 'ipwarden.sock');
  const port = await freeUdpPort(['127.0.0.61']);
  const config = join(dir, 'config.json');
  writeFileSync(
    config,
    JSON.stringify({
      node: { id: 'lb1', bind: `127.0.0.61:${port}`, control },
      secret: 'env:IPWARDEN_TEST_KEY',
      stateFile: join(dir, 'state.json'),
      instances: { web: { address: '198.51.100.50', peers: [`127.0.0.62:${port}`], interval: '100ms' } },
    }),
  );

  // the notify socket: a unix datagram socket (what systemd listens on), one line per message
  const receiver = spawn(
    'perl',
    [
      '-MIO::Socket::UNIX',
      '-MSocket',
      '-e',
      '$|=1; my $s = IO::Socket::UNIX->new(Type => SOCK_DGRAM, Local => $ARGV[0]) or die "bind: $!\\n"; print "listening\\n"; while (defined $s->recv(my $b, 4096)) { $b =~ s/\\n/ /g; print "$b\\n"; }',
      notifySocket,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: receiver.stdout! })[Symbol.asyncIterator]();
  let daemon: ReturnType<typeof spawn> | undefined;
  t.teardown(() => {
    daemon?.kill('SIGKILL');
    receiver.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const next = async (ms: number): Promise<string | undefined> => {
    const timeout = new Promise<undefined>((r) => setTimeout(() => r(undefined), ms).unref());
    const line = await Promise.race([lines.next().then((r) => (r.done ? undefined : r.value)), timeout]);
    return line;
  };
  t.equal(await next(5000), 'listening');

  daemon = spawn(process.execPath, [CLI, 'run', '--config', config], {
    env: { PATH: process.env.PATH, NOTIFY_SOCKET: notifySocket, IPWARDEN_TEST_KEY: 'k'.repeat(32) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<number | null>((r) => daemon!.once('exit', (code) => r(code)));
  const ready = await next(15_000);
  // systemd may reload (ExecReload: SIGHUP) or stop (SIGTERM) the unit as soon as it is ready
  daemon.kill('SIGHUP');
  t.ok(ready, 'a notification arrived');
  t.match(ready ?? '', /(^| )READY=1( |$)/, 'READY=1');
  t.match(ready ?? '', new RegExp(`(^| )MAINPID=${daemon.pid}( |$)`), 'MAINPID is the daemon (node), not systemd-notify');
  const answered = await controlRequest(control, { cmd: 'ping' }, 2000).then(
    () => true,
    () => false,
  );
  t.ok(answered, 'the control socket answers once READY=1 is sent');
  t.equal(daemon.exitCode ?? daemon.signalCode, null, 'SIGHUP right after READY=1 reloads, the daemon keeps running');
  daemon.kill('SIGTERM');
  t.equal(await exited, 0, 'SIGTERM after READY=1: exit 0');
});
