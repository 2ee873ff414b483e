/**
 * `ipwarden exoip`: exoip's flags and IF_* variables mapped to an equivalent config (pure), and
 * the drop-in as a process: -n prints the config, -A / -D attach and detach, -W runs a daemon that
 * speaks exoip's protocol to an exoip peer and moves the Elastic IP through the simulator.
 */
import t from 'tap';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  EXOIP_KEY_ENV,
  EXOIP_SECRET_ENV,
  ExoipUsageError,
  exoipConfig,
  ipwardenPriority,
  parseExoipArgs,
  v2Endpoint,
  type ExoipSettings,
} from '../../src/cli/exoip-compat.js';
import { parseConfigData } from '../../src/config/schema.js';
import { resolveConfig } from '../../src/config/resolve.js';
import { loadPlugins } from '../../src/plugins/loader.js';
import { decodeExoip, encodeExoip } from '../../src/protocol/exoip.js';
import { freeUdpPort, sleep } from '../../src/lab/local-cluster.js';
import { EIP, KEY, LB1, LB2, SECRET, until, withSim } from '../exoscale/lib/sim.js';
import { cleanEnv, runCli, startCli } from './lib/cli.js';

const ID = '9d2c6f1e-3a4b-4c5d-8e6f-7a8b9c0d1e2f';
const IF = { IF_ADDRESS: '198.51.100.50', IF_EXOSCALE_API_KEY: 'EXOkey', IF_EXOSCALE_API_SECRET: 'sekrit' };

function settings(argv: string[], env: NodeJS.ProcessEnv = IF): ExoipSettings {
  const r = parseExoipArgs(argv, env);
  if ('version' in r) throw new Error('version');
  return r;
}

t.test('flags and IF_* variables, with exoip\'s defaults and precedence', async (t) => {
  t.match(settings(['-W'], { ...IF, IF_EXOSCALE_PEER_GROUP: 'load-balancer' }), {
    mode: 'W',
    address: '198.51.100.50',
    apiKey: 'EXOkey',
    apiSecret: 'sekrit',
    peerGroup: 'load-balancer',
    priority: 10,
    bindTo: ':12345',
    intervalSeconds: 1,
    deadRatio: 3,
    peers: [],
  });
  const env = { ...IF, IF_HOST_PRIORITY: '20', IF_EXOSCALE_PEERS: '198.51.100.11,198.51.100.12', IF_DEAD_RATIO: '4', IF_ADVERTISEMENT_INTERVAL: '2', IF_BIND_TO: '198.51.100.10:4000', IF_EXOSCALE_INSTANCE_ID: ID };
  t.match(settings(['-W'], env), { priority: 20, peers: ['198.51.100.11', '198.51.100.12'], deadRatio: 4, intervalSeconds: 2, bindTo: '198.51.100.10:4000', instanceId: ID });
  t.match(settings(['-W', '-P', '5', '-t=3', '--r', '5', '-p', '198.51.100.21', '-p=198.51.100.22,198.51.100.23', '-xi', '198.51.100.60'], env), {
    priority: 5,
    intervalSeconds: 3,
    deadRatio: 5,
    peers: ['198.51.100.21', '198.51.100.22', '198.51.100.23'],
    address: '198.51.100.60',
  }, 'flags win; the first -p replaces IF_EXOSCALE_PEERS, later ones append');
  t.match(settings(['-W=true', '-v', '-n', '-O', '-xk', 'K2', '-xs', 'S2', '-G', 'lb', '-i', ID.toUpperCase(), '-zone', 'de-fra-1', '-xe', 'http://127.0.0.1:1/v2']), {
    apiKey: 'K2',
    apiSecret: 'S2',
    peerGroup: 'lb',
    instanceId: ID,
    verbose: true,
    checkOnly: true,
    stdout: true,
    zone: 'de-fra-1',
    endpoint: 'http://127.0.0.1:1/v2',
  });
  t.same(parseExoipArgs(['-version'], {}), { version: true });
  t.equal(settings(['-A', '-P', '999']).mode, 'A', '-P is range-checked in -W mode only, as exoip');
});

t.test('usage errors worded like exoip', async (t) => {
  const err = (argv: string[], env: NodeJS.ProcessEnv, message: RegExp | string) => {
    let got: unknown;
    try {
      parseExoipArgs(argv, env);
    } catch (e) {
      got = e;
    }
    t.type(got, ExoipUsageError, argv.join(' ') || '(no flags)');
    if (typeof message === 'string') t.equal((got as Error)?.message, message);
    else t.match((got as Error)?.message, message);
  };
  err([], IF, 'need exactly one of -A, -D, or -W');
  err(['-A', '-W'], IF, 'need exactly one of -A, -D, or -W');
  err(['-W', '-z'], IF, 'flag provided but not defined: -z');
  err(['-W', '-xi'], IF, 'flag needs an argument: -xi');
  err(['-W', '-xi', '2001:db8::50'], IF, 'IPv6 addresses are unsupported');
  err(['-W'], { IF_EXOSCALE_API_KEY: 'k', IF_EXOSCALE_API_SECRET: 's' }, /missing Elastic IP/);
  err(['-W'], { IF_ADDRESS: '198.51.100.50', IF_EXOSCALE_API_SECRET: 's' }, /missing API key/);
  err(['-W', '-P', '256'], IF, /-P: priority must be within 0\.\.255/);
  err(['-W', '-P', 'ten'], IF, 'invalid value "ten" for flag -P (host priority): parse error');
  err(['-W', '-i', 'lb1'], IF, /-i: "lb1" is not a valid instance ID/);
  err(['-W', '-r', '1'], IF, /-r: dead ratio must be 2\.\.20/);
  err(['-W', '-l', 'eth0'], IF, /-l: expected \[IP\]:PORT/);
  err(['-W', '-p', 'lb2.example.com'], IF, /-p: "lb2.example.com" is not an IP address/);
  err(['-W', 'extra'], IF, /unexpected argument "extra"/);
  err(['-W=maybe'], IF, /invalid boolean value "maybe" for -W/);
});

t.test('the equivalent config: priority inversion, protocol exoip, discovery, the action; valid for the schema and plugins', async (t) => {
  t.equal(ipwardenPriority(10), 245);
  t.equal(ipwardenPriority(1), 254);
  t.equal(ipwardenPriority(0), 254, 'exoip 0 clamps to the best ipwarden priority');
  t.equal(ipwardenPriority(255), 1);
  t.equal(v2Endpoint('https://api.exoscale.ch/compute'), undefined, 'exoip\'s v1 endpoint is not used');
  t.equal(v2Endpoint('http://127.0.0.1:8580/v2/'), 'http://127.0.0.1:8580/v2');

  const s = settings(['-W', '-P', '10', '-G', 'load-balancer', '-p', '198.51.100.12'], { ...IF, IF_BIND_TO: ':12345' });
  const raw = exoipConfig(s, { instanceId: ID, zone: 'ch-gva-2' });
  t.match(raw, {
    node: { id: ID, bind: '0.0.0.0:12345', control: '/run/ipwarden/exoip-198.51.100.50.sock' },
    protocol: 'exoip',
    instances: {
      eip: {
        address: '198.51.100.50',
        priority: 245,
        interval: '1s',
        deadRatio: 3,
        peers: ['198.51.100.12'],
        discovery: { plugin: 'exoscale-security-group', securityGroup: 'load-balancer', refresh: '5m', zone: 'ch-gva-2', apiKey: `env:${EXOIP_KEY_ENV}` },
        actions: [{ plugin: 'exoscale-eip', instanceId: ID, strategy: 'move', release: true, apiSecret: `env:${EXOIP_SECRET_ENV}` }],
      },
    },
  });
  t.notMatch(JSON.stringify(raw), /sekrit|EXOkey/, 'no credential in the config: env references');
  const config = parseConfigData(raw);
  const registry = await loadPlugins([], process.cwd());
  const resolved = resolveConfig(
    { file: '(exoip)', baseDir: process.cwd(), raw, config },
    { registry, env: { [EXOIP_KEY_ENV]: 'EXOkey', [EXOIP_SECRET_ENV]: 'sekrit' } },
  );
  t.equal(resolved.protocol, 'exoip');
  t.equal(resolved.instances[0]!.priority, 245);
  t.equal(resolved.instances[0]!.discovery?.plugin, 'exoscale-security-group');
  t.equal(resolved.instances[0]!.actions[0]!.plugin, 'exoscale-eip');
});

t.test('ipwarden exoip -n / -A / -D as processes', async (t) => {
  const sim = await withSim(t, { operationDelayMs: 30 });
  const env = cleanEnv({
    IF_ADDRESS: EIP,
    IF_EXOSCALE_API_KEY: KEY,
    IF_EXOSCALE_API_SECRET: SECRET,
    IF_EXOSCALE_API_ENDPOINT: sim.endpoint,
    EXOSCALE_METADATA_URL: `${sim.url}/_meta/lb1/latest/meta-data/instance-id`,
  });
  const n = await runCli(['exoip', '-W', '-n', '-P', '20', '-p', '198.51.100.12'], env);
  t.equal(n.code, 0, n.stderr);
  t.match(n.stdout, /protocol: exoip/);
  t.match(n.stdout, /priority: 235/);
  t.match(n.stdout, new RegExp(`id: "?${LB1}`), 'node.id = the instance id from the metadata server');
  t.match(n.stdout, /zone: ch-gva-2/, 'zone from the metadata server');
  t.notMatch(n.stdout, new RegExp(SECRET), 'secret not printed');

  const a = await runCli(['exoip', '-A'], env);
  t.equal(a.code, 0, a.stderr);
  t.equal(a.stdout, `attached ${EIP} to ${LB1}\n`);
  t.same(sim.state.holdersOf(EIP), [LB1]);
  const again = await runCli(['exoip', '-A'], env);
  t.match(again.stdout, 'already attached');
  const d = await runCli(['exoip', '-D', '-i', LB1], env);
  t.equal(d.code, 0, d.stderr);
  t.same(sim.state.holdersOf(EIP), []);

  const v1 = await runCli(['exoip', '-A', '-xe', 'https://api.exoscale.ch/compute'], { ...env, EXOSCALE_API_ENDPOINT: sim.endpoint });
  t.equal(v1.code, 0, v1.stderr);
  t.match(v1.stderr, /-xe https:\/\/api\.exoscale\.ch\/compute is not an API v2 endpoint/);

  const badKey = await runCli(['exoip', '-A'], { ...env, IF_EXOSCALE_API_SECRET: 'wrong' });
  t.equal(badKey.code, 1);
  t.equal(badKey.stderr, 'ipwarden exoip: exoscale: list elastic-ips: 403 forbidden: Invalid request signature\n');
  const usage = await runCli(['exoip', '-W', '-A'], env);
  t.equal(usage.code, 2);
  t.match(usage.stderr, /need exactly one of -A, -D, or -W/);
  const version = await runCli(['exoip', '-version'], cleanEnv({}));
  t.match(version.stdout, /^ipwarden .* \(exoip compatible\)\n$/);
});

t.test('ipwarden exoip -W: speaks exoip to an exoip peer, takes the EIP over when the peer stops, releases it on SIGTERM', async (t) => {
  const sim = await withSim(t, { operationDelayMs: 30 });
  sim.state.setHolders(EIP, [LB2]); // the exoip node holds it
  const dir = mkdtempSync(join(tmpdir(), 'ipw-exoip-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freeUdpPort(['127.0.0.91', '127.0.0.92']);
  const peer = dgram.createSocket('udp4');
  await new Promise<void>((r) => peer.bind(port, '127.0.0.92', () => r()));
  t.teardown(() => peer.close());
  const heard: Buffer[] = [];
  peer.on('message', (m) => heard.push(m));
  const advert = encodeExoip({ priority: 5, address: EIP, nicId: '1128bd56-b4d9-4ac6-a7b9-c715b187ce11' });
  let sending = true;
  const sender = (async () => {
    while (sending) {
      peer.send(advert, port, '127.0.0.91');
      await sleep(250);
    }
  })();
  t.teardown(async () => {
    sending = false;
    await sender;
  });

  const daemon = startCli(
    t,
    ['exoip', '-W', '-t', '1', '-r', '2', '-control', join(dir, 'c.sock'), '-state-file', join(dir, 'state.json')],
    cleanEnv({
      IF_ADDRESS: EIP,
      IF_EXOSCALE_API_KEY: KEY,
      IF_EXOSCALE_API_SECRET: SECRET,
      IF_EXOSCALE_API_ENDPOINT: sim.endpoint,
      IF_BIND_TO: `127.0.0.91:${port}`,
      IF_EXOSCALE_PEERS: '127.0.0.92',
      IF_HOST_PRIORITY: '10',
      EXOSCALE_METADATA_URL: `${sim.url}/_meta/lb1/latest/meta-data/instance-id`,
    }),
  );
  await until(() => heard.length >= 3, 15_000);
  await sleep(2_500);
  const ours = heard.map((b) => decodeExoip(b));
  t.ok(ours.every((r) => r.ok && r.advert.priority === 10 && r.advert.address === EIP), 'exoip heartbeats, exoip priority 10 (ipwarden 245)');
  t.same(sim.state.holdersOf(EIP), [LB2], 'BACKUP while the exoip peer with priority 5 is alive: nothing attached');
  t.match(daemon.output(), /exoip priority 10 -> ipwarden priority 245/);

  sending = false;
  await sender;
  await until(() => sim.state.holdersOf(EIP).join() === LB1, 15_000);
  t.pass('MASTER once the exoip peer went silent: attached here, the dead peer fenced');
  daemon.child.kill('SIGTERM');
  t.equal(await daemon.exited, 0, 'SIGTERM: exit 0');
  t.same(sim.state.holdersOf(EIP), [], 'released on the way out (exoip -W semantics)');
  t.match(daemon.output(), /"to":"MASTER"/);
});
