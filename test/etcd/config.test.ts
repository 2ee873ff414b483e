/**
 * The `election:` setting: schema errors (one per key), merging the top-level setting with an
 * instance's, secrets and TLS material read at resolve time, the cluster cross-check, printing.
 */
import t, { type Test } from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { CLI_ENTRY } from '../../src/lab/local-cluster.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkConfigData, parseConfigData } from '../../src/config/schema.js';
import { resolveConfig, type LoadedConfig } from '../../src/config/resolve.js';
import { ConfigError } from '../../src/config/issues.js';
import { checkCluster } from '../../src/config/cluster-check.js';
import { printableConfig } from '../../src/config/print.js';
import type { PluginRegistry } from '../../src/plugins/loader.js';
import { requireEnv } from '../lib/env.js';

const registry: PluginRegistry = { checks: new Map(), actions: new Map() };
const KEY = 'k'.repeat(32);

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'ipw-election-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function loaded(raw: Record<string, unknown>, baseDir = '/etc/ipwarden'): LoadedConfig {
  const file = join(baseDir, 'config.yaml');
  return { file, baseDir, raw, config: parseConfigData(raw, file) };
}

const base = (extra: Record<string, unknown> = {}, instances: Record<string, unknown> = { web: { address: '198.51.100.50' } }) => ({
  secret: 'env:K',
  node: { id: 'lb1' },
  instances,
  ...extra,
});

function problems(raw: Record<string, unknown>, env: NodeJS.ProcessEnv = { K: KEY }, baseDir?: string): string[] {
  try {
    resolveConfig(loaded(raw, baseDir), { registry, env, hostname: 'lb1' });
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
}

t.test('schema: one clear problem per bad key', async (t) => {
  const r = checkConfigData(
    base({
      election: { backend: 'raft', endpoints: ['198.51.100.5:2379', 'https://198.51.100.6'], prefix: 'ipwarden/', ttl: '1.5s', tls: { ca: 7 }, auth: { user: 'x' }, extra: 1 },
    }),
  );
  t.notOk(r.ok);
  const text = r.ok ? '' : r.problems.join('\n');
  t.match(text, /election\.backend: .*heartbeat.*etcd/);
  t.match(text, /election\.endpoints\[0\]: expected an etcd client URL like "https:\/\/198\.51\.100\.5:2379"/);
  t.match(text, /election\.endpoints\[1\]: expected an etcd client URL/, 'a port is required');
  t.match(text, /election\.prefix: expected a key prefix starting with "\/"/);
  t.match(text, /election\.ttl: expected a duration in whole seconds/);
  t.match(text, /election\.tls\.ca: expected a PEM CA certificate as a secret reference/);
  t.match(text, /election\.auth\.password: /);
  t.match(text, /election\.extra: unknown key/);
  t.ok(checkConfigData(base({ election: { ttl: '10m' } })).ok === false, 'ttl above 5m');
});

t.test('heartbeat stays the default; etcd needs endpoints', async (t) => {
  const r = resolveConfig(loaded(base()), { registry, env: { K: KEY } });
  t.equal(r.instances[0]!.election, undefined, 'no election: key -> heartbeat');
  t.same(problems(base({ election: { backend: 'etcd' } })), [
    'election.endpoints: required with backend etcd (etcd client URLs, e.g. ["https://198.51.100.5:2379"])',
  ]);
  t.same(problems(base({}, { web: { address: '198.51.100.50', election: { backend: 'etcd' } } })), [
    'instances.web.election.endpoints: required with backend etcd (etcd client URLs, e.g. ["https://198.51.100.5:2379"])',
  ]);
  t.match(problems(base({ election: { backend: 'etcd', endpoints: ['http://127.0.0.1:2379', 'https://127.0.0.1:2380'] } })), [/election\.endpoints: expected all http:\/\/ or all https:\/\//]);
});

t.test('an instance overrides the top-level keys one by one', async (t) => {
  const raw = base(
    { election: { backend: 'etcd', endpoints: ['http://127.0.0.1:2379'], prefix: '/lb', ttl: '5s' } },
    {
      web: { address: '198.51.100.50' },
      api: { address: '198.51.100.51', election: { ttl: '2s' } },
      old: { address: '198.51.100.52', election: { backend: 'heartbeat' }, peers: ['198.51.100.11'] },
    },
  );
  const r = resolveConfig(loaded(raw), { registry, env: { K: KEY } });
  const by = new Map(r.instances.map((i) => [i.name, i.election]));
  const defaultsOf = { heartbeat: false, onEtcdLoss: 'release' };
  t.same(by.get('web'), { backend: 'etcd', endpoints: ['http://127.0.0.1:2379'], prefix: '/lb', ttlMs: 5000, ...defaultsOf });
  t.same(by.get('api'), { backend: 'etcd', endpoints: ['http://127.0.0.1:2379'], prefix: '/lb', ttlMs: 2000, ...defaultsOf });
  t.equal(by.get('old'), undefined, 'backend heartbeat on one instance');
  t.notOk(r.warnings.some((w) => /instances\.web\.peers/.test(w)), 'etcd instances need no heartbeat peers');
  const defaults = resolveConfig(loaded(base({ election: { backend: 'etcd', endpoints: ['http://127.0.0.1:2379/'] } })), { registry, env: { K: KEY } });
  t.same(
    defaults.instances[0]!.election,
    { backend: 'etcd', endpoints: ['http://127.0.0.1:2379'], prefix: '/ipwarden', ttlMs: 3000, heartbeat: false, onEtcdLoss: 'release' },
    'defaults: /ipwarden, 3s, no heartbeats, onEtcdLoss release',
  );
});

t.test('heartbeat and onEtcdLoss: validated, errors name the key', async (t) => {
  const r = checkConfigData(base({ election: { backend: 'etcd', endpoints: ['http://127.0.0.1:2379'], heartbeat: 'yes', onEtcdLoss: 'keep' } }));
  const text = r.ok ? '' : r.problems.join('\n');
  t.match(text, /election\.heartbeat: expected true or false/);
  t.match(text, /election\.onEtcdLoss: expected one of release, hold-if-peers-agree/);
  const etcd = { backend: 'etcd', endpoints: ['http://127.0.0.1:2379'] };
  t.same(problems(base({ election: { ...etcd, onEtcdLoss: 'hold-if-peers-agree' } })), [
    'election.onEtcdLoss: hold-if-peers-agree needs election.heartbeat: true (the peers answer over the heartbeat channel)',
  ]);
  t.same(problems(base({ election: etcd }, { web: { address: '198.51.100.50', election: { onEtcdLoss: 'hold-if-peers-agree', heartbeat: false } } })), [
    'instances.web.election.onEtcdLoss: hold-if-peers-agree needs instances.web.election.heartbeat: true (the peers answer over the heartbeat channel)',
  ], 'names the keys where they are written');
  const ok = resolveConfig(loaded(base({ election: { ...etcd, heartbeat: true, onEtcdLoss: 'hold-if-peers-agree' } }, { web: { address: '198.51.100.50', peers: ['198.51.100.11'], interval: '500ms' } })), { registry, env: { K: KEY } });
  t.match(ok.instances[0], { interval: 500, peers: [{ host: '198.51.100.11' }], election: { heartbeat: true, onEtcdLoss: 'hold-if-peers-agree' } });
  const lonely = resolveConfig(loaded(base({ election: { ...etcd, heartbeat: true, onEtcdLoss: 'hold-if-peers-agree' } })), { registry, env: { K: KEY } });
  t.ok(lonely.warnings.some((w) => /^instances\.web\.peers: election\.heartbeat is on but there are no peers.*hold-if-peers-agree never holds/.test(w)), 'no peers: warned');
  const exoip = checkConfigData({ protocol: 'exoip', node: { id: 'lb1' }, election: { ...etcd, heartbeat: true, onEtcdLoss: 'hold-if-peers-agree' }, instances: { web: { address: '198.51.100.50', peers: ['198.51.100.11'] } } });
  t.match(exoip.ok ? [] : exoip.problems, [/^election\.onEtcdLoss: hold-if-peers-agree needs protocol ipwarden/], 'exoip heartbeats cannot carry the report');
  const exoipFast = checkConfigData({ protocol: 'exoip', node: { id: 'lb1' }, election: { ...etcd, heartbeat: true }, instances: { web: { address: '198.51.100.50', peers: ['198.51.100.11'] } } });
  t.ok(exoipFast.ok, 'the crash fast path alone works with exoip heartbeats');
});

t.test('TLS material and password are read and checked at resolve time; problems named once', { skip: requireEnv({ bins: ['openssl'] }) }, async (t) => {
  const dir = tempDir(t);
  const ossl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  ossl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'a.key', '-out', 'a.pem', '-days', '1', '-subj', '/CN=a']);
  ossl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'b.key', '-out', 'b.pem', '-days', '1', '-subj', '/CN=b']);
  writeFileSync(join(dir, 'junk'), 'not pem\n');
  const etcd = (tls: Record<string, string>, auth?: Record<string, string>) =>
    base(
      { election: { backend: 'etcd', endpoints: ['https://127.0.0.1:2379'], tls, ...(auth ? { auth } : {}) } },
      { web: { address: '198.51.100.50' }, api: { address: '198.51.100.51' } },
    );
  const ok = resolveConfig(loaded(etcd({ ca: 'file:a.pem', cert: 'file:a.pem', key: 'file:a.key' }, { user: 'ipw', password: 'env:PW' }), dir), {
    registry,
    env: { K: KEY, PW: 'hunter2hunter2' },
  });
  const e = ok.instances[0]!.election!;
  t.match(e.tls?.ca, /BEGIN CERTIFICATE/, 'relative file: paths from the config dir');
  t.match(e.tls?.key, /PRIVATE KEY/);
  t.same(e.auth, { user: 'ipw', password: 'hunter2hunter2' });

  t.same(problems(etcd({ ca: 'file:junk' }), { K: KEY }, dir), ['election.tls.ca: not a PEM certificate'], 'reported once for both instances');
  t.same(problems(etcd({ ca: '/etc/ca.pem' }), { K: KEY }, dir), ['election.tls.ca: not a PEM certificate (a literal value is taken as PEM text: use file:PATH to read a file)']);
  t.same(problems(etcd({ cert: 'file:a.pem', key: 'file:b.key' }), { K: KEY }, dir), ['election.tls.key: does not match the certificate in election.tls.cert']);
  t.same(problems(etcd({ cert: 'file:a.pem' }), { K: KEY }, dir), ['election.tls.key: required with election.tls.cert (a client certificate and its key go together)']);
  t.same(problems(etcd({ key: 'file:junk', cert: 'file:a.pem' }), { K: KEY }, dir), ['election.tls.key: not a PEM private key']);
  t.match(problems(etcd({ ca: 'file:missing.pem' }), { K: KEY }, dir), [/election\.tls\.ca: cannot read secret file .*missing\.pem: no such file/]);
  t.same(problems(etcd({}, { user: 'ipw', password: 'env:NOPE' }), { K: KEY }, dir), ['election.auth.password: environment variable NOPE is not set']);
  const plain = base({ election: { backend: 'etcd', endpoints: ['http://127.0.0.1:2379'], tls: { ca: 'file:a.pem' } } });
  t.match(problems(plain, { K: KEY }, dir), [/election\.tls: TLS needs https:\/\/ endpoints/]);
  const literal = resolveConfig(loaded(base({ election: { backend: 'etcd', endpoints: ['http://127.0.0.1:2379'], auth: { user: 'u', password: 'literal-pw' } } })), { registry, env: { K: KEY } });
  t.ok(literal.warnings.some((w) => /election\.auth\.password: a literal secret/.test(w)));
  t.ok(literal.warnings.some((w) => /password travels in clear over http/.test(w)));
});

t.test('config print shows election keys with secrets redacted', async (t) => {
  const l = loaded(
    base({ election: { backend: 'etcd', endpoints: ['https://127.0.0.1:2379'], ttl: '4s', heartbeat: true, onEtcdLoss: 'hold-if-peers-agree', auth: { user: 'u', password: 'literal-pw' }, tls: { key: 'file:/k.pem' } } }),
  );
  const p = printableConfig(l) as { election: Record<string, unknown> };
  t.same(p.election, { backend: 'etcd', endpoints: ['https://127.0.0.1:2379'], ttl: '4s', heartbeat: true, onEtcdLoss: 'hold-if-peers-agree', auth: { user: 'u', password: '[redacted]' }, tls: { key: 'file:/k.pem' } });
  const plain = printableConfig(loaded(base({ election: { backend: 'etcd', endpoints: ['https://127.0.0.1:2379'] } }))) as { election: Record<string, unknown> };
  t.same(plain.election, { backend: 'etcd', endpoints: ['https://127.0.0.1:2379'], heartbeat: false, onEtcdLoss: 'release' }, 'the etcd-loss policy in effect is shown when not written');
});

t.test('config check across nodes: same backend and prefix everywhere', async (t) => {
  const node = (id: string, election: Record<string, unknown> | undefined) =>
    resolveConfig(
      loaded({ secret: 'env:K', node: { id, bind: `198.51.100.${id === 'a' ? 11 : 12}:12345` }, instances: { web: { address: '198.51.100.50', ...(election ? { election } : {}) } } }),
      { registry, env: { K: KEY } },
    );
  const etcd = { backend: 'etcd', endpoints: ['http://127.0.0.1:2379'] };
  const same = checkCluster([{ file: 'a.yaml', config: node('a', etcd) }, { file: 'b.yaml', config: node('b', { ...etcd, endpoints: ['http://127.0.0.2:2379'] }) }]);
  t.same(same.problems, []);
  t.notOk(same.warnings.some((w) => /peers/.test(w)), 'no peer warnings for etcd instances');
  const mixed = checkCluster([{ file: 'a.yaml', config: node('a', etcd) }, { file: 'b.yaml', config: node('b', undefined) }]);
  t.match(mixed.problems, [/instance web: election backend differs: .*two MASTERs/]);
  const prefixes = checkCluster([{ file: 'a.yaml', config: node('a', etcd) }, { file: 'b.yaml', config: node('b', { ...etcd, prefix: '/other' }) }]);
  t.match(prefixes.problems, [/instance web: election prefix differs: .*separate leader keys/]);
  const hold = { ...etcd, heartbeat: true, onEtcdLoss: 'hold-if-peers-agree' };
  const policies = checkCluster([{ file: 'a.yaml', config: node('a', hold) }, { file: 'b.yaml', config: node('b', etcd) }]);
  t.same(policies.problems, []);
  t.ok(policies.warnings.some((w) => /instance web: election heartbeat differs: .*hold-if-peers-agree never holds/.test(w)), 'heartbeat on one node only: warned');
  t.ok(policies.warnings.some((w) => /instance web: election onEtcdLoss differs: .*use the same everywhere/.test(w)), 'onEtcdLoss differs: warned');
  const both = checkCluster([{ file: 'a.yaml', config: node('a', hold) }, { file: 'b.yaml', config: node('b', hold) }]);
  t.ok(both.warnings.some((w) => /a\.yaml does not list b's node\.bind .* in peers/.test(w)), 'with heartbeats the peers are checked as for the heartbeat election');
});

t.test('ttl below 3s: the real failover bound is ttl + 0.5 s (etcd expiry scan), config check says so', async (t) => {
  const warnings = (election: Record<string, unknown>, instances?: Record<string, unknown>) =>
    resolveConfig(loaded(base({ election: { backend: 'etcd', endpoints: ['http://127.0.0.1:2379'], ...election } }, instances)), { registry, env: { K: KEY } }).warnings.filter((w) =>
      /ttl/.test(w),
    );
  const one = warnings({ ttl: '1s' });
  t.equal(one.length, 1, 'one warning');
  t.match(one[0], /^election\.ttl: 1\.0s is below 3\.0s: a dead MASTER is replaced within 1\.0s \+ 500 ms \(etcd checks lease expiry every 500 ms\)/);
  t.match(one[0], /not 1\.0s \+ ttl\/4/);
  t.match(one[0], /ceil\(1\.5 × its --election-timeout\).*a 1\.0s lease needs --election-timeout 666 or less/);
  const two = warnings({ ttl: '2s' });
  t.equal(two.length, 1);
  t.match(two[0], /election\.ttl: 2\.0s is below 3\.0s/);
  t.notMatch(two[0], /666/, 'etcd with default timers grants a 2 s lease');
  t.same(warnings({ ttl: '3s' }), [], 'ttl 3s: ttl + ttl/4 holds (measured max 3368 ms of 3750)');
  t.same(warnings({}), [], 'the default (3s) does not warn');
  const per = warnings({ ttl: '5s' }, { web: { address: '198.51.100.50' }, api: { address: '198.51.100.51', election: { ttl: '1s' } } });
  t.equal(per.length, 1);
  t.match(per[0], /^instances\.api\.election\.ttl: 1\.0s is below/, 'names the key where the short ttl is written');

  // the command operators run
  const dir = tempDir(t);
  const file = join(dir, 'ipwarden.yaml');
  writeFileSync(file, `secret: env:K\nnode: { id: lb1 }\nelection: { backend: etcd, endpoints: ["http://127.0.0.1:2379"], ttl: 1s }\ninstances:\n  web: { address: 198.51.100.50 }\n`);
  const res = spawnSync(process.execPath, [CLI_ENTRY, 'config', 'check', '--config', file], { encoding: 'utf8', env: { ...process.env, K: KEY } });
  t.equal(res.status, 0, `config check exits 0 with a warning (${res.stderr.trim()})`);
  t.match(res.stderr, /warning: .*election\.ttl: 1\.0s is below 3\.0s: a dead MASTER is replaced within 1\.0s \+ 500 ms/);
});
