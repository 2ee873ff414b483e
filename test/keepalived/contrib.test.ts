/**
 * contrib/keepalived/: keepalived accepts keepalived.conf (keepalived --config-test, in a namespace
 * with the interface it names), its vrrp_script command works as keepalived runs it (split the
 * keepalived way, against a real HAProxy in front of a real nginx: exit 0 while the backend has a
 * server up, 1 when not, no output), keepalived.conf and ipwarden.yaml agree (instance name, FIFO
 * path, address), and the FIFO consumer unit verifies. (That ipwarden.yaml passes `config check`
 * is test/ops/examples.test.ts.)
 */
import t from 'tap';
import { existsSync, readFileSync, mkdtempSync, rmSync, writeFileSync, mkdirSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { execa } from 'execa';
import { CLI, ROOT, requireEnv } from '../lib/env.js';
import { createLab } from '../lib/netns.js';
import { freePort, startHaproxy, startNginx, waitFor } from '../lib/checks/lab.js';
import { splitCommand } from '../../src/util/argv.js';
import { parseYaml } from '../../src/config/yaml.js';

const DIR = join(ROOT, 'contrib', 'keepalived');
const CONF = readFileSync(join(DIR, 'keepalived.conf'), 'utf8');

/** The quoted string after a keyword in keepalived.conf (first occurrence, not in a comment). */
function quoted(keyword: string): string {
  const m = new RegExp(`^\\s*${keyword}\\s+"((?:[^"\\\\]|\\\\.)*)"`, 'm').exec(CONF);
  if (!m) throw new Error(`no ${keyword} "..." in keepalived.conf`);
  return m[1]!.replace(/\\(.)/g, '$1');
}

t.test('keepalived --config-test accepts keepalived.conf', { skip: requireEnv({ netns: true, bins: ['keepalived'] }) }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ipw-kacontrib-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const lab = await createLab({ hosts: 1 });
  t.teardown(() => lab.destroy());
  // The scripts must exist (root-owned, enable_script_security); the lab's interface is e0.
  const conf = join(dir, 'keepalived.conf');
  writeFileSync(conf, CONF.replace(/\/usr\/bin\/ipwarden/g, '/usr/bin/true').replace(/interface eth0/, 'interface e0'));
  const r = await execa('ip', ['netns', 'exec', lab.hosts[0]!.ns, 'keepalived', '--config-test', '-f', conf], { reject: false });
  t.equal(r.exitCode, 0, `keepalived --config-test: ${r.stderr}`);
  // and it does complain about a broken copy
  writeFileSync(conf, CONF.replace('vrrp_instance VI_1 {', 'vrrp_instance VI_1 {\n  priority banana'));
  const bad = await execa('ip', ['netns', 'exec', lab.hosts[0]!.ns, 'keepalived', '--config-test', '-f', conf], { reject: false });
  t.not(bad.exitCode, 0, 'a broken copy is refused');
});

t.test('keepalived.conf and ipwarden.yaml agree', async (t) => {
  const rc = parseYaml(readFileSync(join(DIR, 'ipwarden.yaml'), 'utf8')) as { keepalived: { instances: Record<string, { address: string }> } };
  const instances = [...CONF.matchAll(/^vrrp_instance (\S+) \{/gm)].map((m) => m[1]);
  t.same(Object.keys(rc.keepalived.instances), instances, 'the same instance names');
  const vip = /virtual_ipaddress \{\s*(\S+)\/32 dev lo/.exec(CONF)?.[1];
  t.equal(rc.keepalived.instances.VI_1!.address, vip, 'the Elastic IP is keepalived\'s VIP on lo');
  const fifo = /^\s*notify_fifo (\S+)/m.exec(CONF)?.[1];
  const unit = readFileSync(join(DIR, 'ipwarden-keepalived-fifo.service'), 'utf8');
  t.match(unit, `ipwarden keepalived-fifo ${fifo} --config /etc/ipwarden/config.yaml`, 'the consumer reads keepalived\'s FIFO');
  t.match(unit, `RuntimeDirectory=${basename(join(fifo!, '..'))}`, 'in the directory its unit creates');
});

t.test('systemd-analyze verify: the FIFO consumer unit', { skip: requireEnv({ bins: ['systemd-analyze', 'man'] }) }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ipw-kaunit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { man: string[] };
  for (const page of pkg.man) {
    const sec = /\.(\d)$/.exec(page)![1]!;
    mkdirSync(join(dir, 'man', `man${sec}`), { recursive: true });
    copyFileSync(join(ROOT, page), join(dir, 'man', `man${sec}`, basename(page)));
  }
  const r = spawnSync('systemd-analyze', ['verify', join(DIR, 'ipwarden-keepalived-fifo.service')], {
    encoding: 'utf8',
    env: { PATH: `${process.env.PATH}:/usr/sbin:/sbin`, MANPATH: join(dir, 'man'), SYSTEMD_LOG_LEVEL: 'info' },
    timeout: 60_000,
  });
  t.same(r.stderr.split('\n').filter((l) => /ipwarden/i.test(l)), [], 'nothing logged about the unit');
  t.equal(r.status, 0, r.stderr);
});

t.test('the vrrp_script command, run the way keepalived runs it, judges a real HAProxy', { skip: requireEnv({ bins: ['haproxy', 'nginx'] }) }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ipw-kahap-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const argv = splitCommand(quoted('script'));
  t.equal(argv[0], '/usr/bin/ipwarden');
  t.same(argv.slice(1, 2), ['check']);
  const web = await startNginx(dir, 'web1');
  t.teardown(() => web.proc.stop());
  const sock = join(dir, 'admin.sock');
  const port = await freePort();
  const hap = await startHaproxy(
    dir,
    `global
  stats socket ${sock} level admin
defaults
  mode http
  timeout connect 1s
  timeout client 5s
  timeout server 5s
frontend fe
  bind 127.0.0.1:${port}
  default_backend web
backend web
  server web1 127.0.0.1:${web.port} check inter 100ms fall 1 rise 1
`,
    async () => existsSync(sock),
  );
  t.teardown(() => hap.stop());
  // keepalived's argv, with the installed path and the socket of this HAProxy
  const args = argv.slice(1).map((a) => (a === '/run/haproxy/admin.sock' ? sock : a));
  const run = () => execa(process.execPath, [CLI, ...args], { reject: false });
  await waitFor('the backend up', async () => (await run()).exitCode === 0, 10_000, 200);
  const up = await run();
  t.equal(up.exitCode, 0);
  t.equal(up.stdout + up.stderr, '', '--quiet: nothing printed');
  await web.proc.stop();
  await waitFor('the backend down', async () => (await run()).exitCode === 1, 10_000, 200);
  const down = await run();
  t.equal(down.exitCode, 1, 'exit 1: keepalived counts a failure');
});
