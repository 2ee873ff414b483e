/**
 * contrib/hetzner stays consistent: cloud-init embeds the same rc config, HAProxy config and systemd
 * drop-in as the files next to it, every file names the same Floating IP, the drop-in loads the
 * credentials the rc files use, the firewall opens the heartbeat port, and HAProxy accepts its config.
 * (The rc files themselves pass `config check` in test/ops/examples.test.ts.)
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseYaml } from '../../src/config/yaml.js';
import { ROOT, requireEnv } from '../lib/env.js';

const DIR = join(ROOT, 'contrib', 'hetzner');
const read = (f: string) => readFileSync(join(DIR, f), 'utf8');
type Rc = { node: { bind: string }; instances: Record<string, { address: string; actions: Array<Record<string, unknown>>; discovery: Record<string, unknown> }> };
const rc = parseYaml(read('ipwarden.yaml')) as Rc;
const FIP = rc.instances.web!.address;
const cloudInit = parseYaml(read('cloud-init.yaml')) as { write_files: Array<{ path: string; content: string }>; runcmd: string[] };
const written = (path: string) => cloudInit.write_files.find((f) => f.path === path)?.content;

t.test('cloud-init writes the files of this directory unchanged', async (t) => {
  t.equal(written('/etc/ipwarden/config.yaml'), read('ipwarden.yaml'));
  t.equal(written('/etc/haproxy/haproxy.cfg'), read('haproxy.cfg'));
  t.equal(written('/etc/systemd/system/ipwarden.service.d/hetzner.conf'), read('systemd/hetzner.conf'));
  t.ok(cloudInit.runcmd.some((c) => c.includes('systemctl enable --now haproxy ipwarden')));
});

t.test('one Floating IP everywhere; the actions and discovery as documented', async (t) => {
  t.match(read('netplan/60-floating-ip.yaml'), `- ${FIP}/32`);
  t.match(read('interfaces.d/60-floating-ip.cfg'), `address ${FIP}`);
  t.match(read('README.md'), `--address ${FIP}`);
  const web = rc.instances.web!;
  t.same(web.actions.map((a) => a.plugin), ['ip-alias', 'hetzner-floating-ip']);
  t.match(web.discovery, { plugin: 'hetzner-label', selector: 'role=lb', network: 'private' });
  const creds = [...read('systemd/hetzner.conf').matchAll(/^LoadCredential=([^:]+):/gm)].map((m) => m[1]);
  t.same(creds.sort(), ['hcloud-token', 'heartbeat.key'], 'the drop-in loads exactly the credentials the rc file names');
  for (const f of ['ipwarden.yaml', 'alias-ip.yaml']) {
    const refs = [...read(f).matchAll(/credential:([\w.-]+)/g)].map((m) => m[1]);
    t.ok(refs.every((r) => creds.includes(r)), `${f}: every credential is loaded by the drop-in`);
  }
  const port = rc.node.bind.split(':').pop();
  t.match(read('firewall.sh'), `--protocol udp --port ${port}`, 'the firewall opens the heartbeat port');
  t.match(read('firewall.sh'), '--label-selector role=lb', 'for the servers the discovery finds');
});

t.test('HAProxy accepts the config', { skip: requireEnv({ bins: ['haproxy'] }) }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ipw-hz-contrib-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = join(dir, 'haproxy.cfg');
  // the stats socket directory and the log socket are the package's; check syntax only
  writeFileSync(cfg, read('haproxy.cfg').replace('/run/haproxy/admin.sock', join(dir, 'admin.sock')));
  // haproxy lives in /usr/sbin, which a non-root user's PATH may lack (requireEnv looks there too)
  const r = spawnSync('haproxy', ['-c', '-f', cfg], { encoding: 'utf8', env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin` } });
  t.equal(r.status, 0, `${r.stdout}${r.stderr}`);
});
