/**
 * contrib/exoscale stays consistent: its rc files pass `config check`, cloud-init embeds the same
 * rc config and a valid HAProxy config, every file names the same Elastic IP, and the seed's exoip
 * stanza (51-exoip.cfg), exported the way ifupdown does, runs as `ipwarden exoip -W`.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseYaml } from '../../src/config/yaml.js';
import { ROOT, requireEnv } from '../lib/env.js';
import { cleanEnv, runCli } from './lib/cli.js';

const DIR = join(ROOT, 'contrib', 'exoscale');
const read = (f: string) => readFileSync(join(DIR, f), 'utf8');
type Rc = { instances: Record<string, { address: string; discovery?: { securityGroup: string } }> };
const rc = parseYaml(read('ipwarden.yaml')) as Rc;
const EIP_ADDRESS = rc.instances.web!.address;

function credentials(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'ipw-contrib-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const name of ['heartbeat.key', 'exoscale-api-key', 'exoscale-api-secret']) writeFileSync(join(dir, name), 'x'.repeat(64));
  return dir;
}

t.test('the rc files pass config check without a warning', async (t) => {
  const creds = credentials(t);
  for (const [file, env] of [
    ['ipwarden.yaml', { CREDENTIALS_DIRECTORY: creds }],
    ['exoip-equivalent.yaml', { IPWARDEN_EXOIP_API_KEY: 'EXOkey', IPWARDEN_EXOIP_API_SECRET: 'secret' }],
  ] as const) {
    const r = await runCli(['config', 'check', '--config', join(DIR, file)], cleanEnv(env));
    t.equal(r.code, 0, `${file}: ${r.stderr}`);
    t.equal(r.stderr, '', `${file}: no warnings`);
  }
  const missing = await runCli(['config', 'check', '--config', join(DIR, 'ipwarden.yaml')], cleanEnv({}));
  t.equal(missing.code, 1, 'without the credentials it is invalid');
  t.match(missing.stderr, /credential:exoscale-api-key needs \$CREDENTIALS_DIRECTORY/);
});

t.test('cloud-init writes the same rc config, a valid HAProxy config and the same Elastic IP', async (t) => {
  const ci = parseYaml(read('cloud-init.yaml')) as { write_files: { path: string; content: string }[]; runcmd: string[] };
  t.match(read('cloud-init.yaml'), /^#cloud-config\n/);
  const file = (path: string) => ci.write_files.find((f) => f.path === path)?.content ?? '';
  t.same(parseYaml(file('/etc/ipwarden/config.yaml')), rc, 'embedded rc config = ipwarden.yaml');
  t.match(file('/etc/netplan/51-eip.yaml'), `- ${EIP_ADDRESS}/32`);
  t.match(read('interfaces.d/51-eip.cfg'), `address ${EIP_ADDRESS}\n`);
  t.match(read('interfaces.d/51-exoip.cfg'), `address ${EIP_ADDRESS} `);
  t.match(file('/etc/systemd/system/ipwarden.service.d/exoscale.conf'), 'LoadCredential=exoscale-api-secret:/etc/ipwarden/exoscale-api-secret');
  t.ok(ci.runcmd.some((c) => c.includes('systemctl enable --now ipwarden')));
  t.match(read('security-group.sh'), /--protocol udp --port 12345/);
  t.match(read('security-group.sh'), /--protocol icmp --icmp-type 3 --icmp-code 3/);

  const skip = requireEnv({ bins: ['haproxy'] });
  t.test('haproxy -c accepts both HAProxy configs', { skip }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'ipw-haproxy-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'embedded.cfg'), file('/etc/haproxy/haproxy.cfg'));
    for (const f of [join(DIR, 'haproxy.cfg'), join(dir, 'embedded.cfg')]) {
      const r = spawnSync('haproxy', ['-c', '-f', f], { encoding: 'utf8', env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin` } });
      t.equal(r.status, 0, `${f}: ${r.stderr}`);
    }
  });
});

/** What ifupdown exports for an iface stanza's options: IF_<OPTION>, upper case, "-" -> "_". */
function ifupdownEnv(stanza: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of stanza.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line || /^(auto|iface|up|down|pre-up|post-down)\b/.test(line)) continue;
    const [option, ...value] = line.split(/\s+/);
    env[`IF_${option!.toUpperCase().replace(/-/g, '_')}`] = value.join(' ');
  }
  return env;
}

t.test('the seed\'s exoip stanza, exported as ifupdown does, runs as ipwarden exoip -W', async (t) => {
  const stanza = read('interfaces.d/51-exoip.cfg');
  t.match(stanza, /up start-stop-daemon .* -- ipwarden exoip -W\n/);
  const env = ifupdownEnv(stanza);
  t.match(env, { IF_ADDRESS: EIP_ADDRESS, IF_EXOSCALE_PEER_GROUP: 'load-balancer', IF_HOST_PRIORITY: '10', IF_NETMASK: '255.255.255.255' });
  const r = await runCli(['exoip', '-W', '-n', '-i', '9d2c6f1e-3a4b-4c5d-8e6f-7a8b9c0d1e2f', '-zone', 'ch-gva-2'], cleanEnv(env));
  t.equal(r.code, 0, r.stderr);
  const printed = parseYaml(r.stdout) as Record<string, any>;
  const equivalent = parseYaml(read('exoip-equivalent.yaml')) as Record<string, any>;
  t.equal(printed.protocol, 'exoip');
  t.match(printed.instances.eip, {
    address: equivalent.instances.eip.address,
    priority: equivalent.instances.eip.priority,
    interval: equivalent.instances.eip.interval,
    deadRatio: equivalent.instances.eip.deadRatio,
    discovery: equivalent.instances.eip.discovery,
    actions: [{ plugin: 'exoscale-eip', strategy: 'move', release: true }],
  }, 'exoip-equivalent.yaml is what the stanza runs');
  t.equal(printed.node.bind, equivalent.node.bind);
});
