/**
 * The resolve step: secrets, node id, endpoints, plugin entries against a registry, and
 * `config check` (validateConfigFile).
 */
import t, { type Test } from 'tap';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { defineAction, defineCheck, type ActionPlugin, type CheckPlugin, type PluginEnvironment } from '../../src/plugins/api.js';
import type { PluginRegistry } from '../../src/plugins/loader.js';
import { zodConfig } from '../../src/plugins/zod-config.js';
import { ConfigError } from '../../src/config/issues.js';
import { parseConfigData } from '../../src/config/schema.js';
import { resolveConfig, validateConfigFile, type LoadedConfig, type ResolvedConfig } from '../../src/config/resolve.js';
import { resolveSecret, SecretError } from '../../src/config/secret.js';
import { runAsNobody } from './fixtures/run-as.js';

const haproxy = defineCheck({
  kind: 'check',
  name: 'haproxy',
  parseConfig: zodConfig(z.strictObject({ socket: z.string(), backend: z.string() })),
  run: async () => ({ ok: true, detail: 'up' }),
});
const tcp = defineCheck({
  kind: 'check',
  name: 'tcp',
  parseConfig: zodConfig(z.strictObject({ port: z.int().min(1).max(65535), host: z.string().default('127.0.0.1') })),
  run: async () => ({ ok: true, detail: 'connected' }),
});
/** An action that resolves its apiSecret through the plugin environment, as the Exoscale one does. */
const eip = defineAction({
  kind: 'action',
  name: 'exoscale-eip',
  parseConfig(raw: Record<string, unknown>, env: PluginEnvironment) {
    const parsed = zodConfig(z.strictObject({ apiKey: z.string(), apiSecret: z.string(), zone: z.string() }))(raw);
    if (!parsed.ok) return parsed;
    return { ok: true, config: { ...parsed.config, apiSecret: env.resolveSecret(parsed.config.apiSecret, 'apiSecret') } };
  },
  create: () => ({}),
});
const notify = defineAction({ kind: 'action', name: 'notify', parseConfig: zodConfig(z.strictObject({})), create: () => ({}) });

const registry: PluginRegistry = {
  checks: new Map<string, CheckPlugin<any>>([['haproxy', haproxy], ['tcp', tcp]]),
  actions: new Map<string, ActionPlugin<any>>([['exoscale-eip', eip], ['notify', notify]]),
};

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'ipw-resolve-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function loaded(raw: Record<string, unknown>, baseDir = '/etc/ipwarden'): LoadedConfig {
  const file = join(baseDir, 'config.yaml');
  return { file, baseDir, raw, config: parseConfigData(raw, file) };
}

const web = (extra: Record<string, unknown> = {}) => ({ web: { address: '198.51.100.50', peers: ['198.51.100.11'], ...extra } });

function resolveProblems(t: Test, l: LoadedConfig, env: NodeJS.ProcessEnv = {}): string[] {
  const err = t.throws(() => resolveConfig(l, { registry, env, hostname: 'lb1' })) as ConfigError;
  t.ok(err instanceof ConfigError);
  t.equal(err.file, l.file);
  return err.problems;
}

t.test('a full config resolves to typed entries', async (t) => {
  const l = loaded({
    node: { bind: '0.0.0.0:5000' },
    secret: 'env:IPW_KEY',
    metrics: { listen: '127.0.0.1:9842' },
    instances: {
      ...web({
        peers: ['198.51.100.11', '198.51.100.12:12345'],
        checks: [{ plugin: 'haproxy', socket: '/run/haproxy.sock', backend: 'web', interval: '500ms', weight: -20 }],
        actions: [{ plugin: 'exoscale-eip', apiKey: 'EXO123', apiSecret: 'env:EXO_SECRET', zone: 'ch-gva-2', required: true }],
      }),
    },
    keepalived: { instances: { VI_1: { address: '198.51.100.60', actions: [{ plugin: 'notify', timeout: '2s' }] } } },
  });
  const r: ResolvedConfig = resolveConfig(l, { registry, env: { IPW_KEY: 'k'.repeat(32), EXO_SECRET: 's3cr3t' }, hostname: 'lb1' });
  t.same(r.node, { id: 'lb1', bind: { host: '0.0.0.0', port: 5000 }, control: '/run/ipwarden/ipwarden.sock' });
  t.same(r.secrets, [{ id: 1, key: Buffer.from('k'.repeat(32)) }]);
  t.same(r.metrics, { listen: { host: '127.0.0.1', port: 9842 } });
  t.equal(r.file, '/etc/ipwarden/config.yaml');
  const inst = r.instances[0]!;
  t.equal(r.instances.length, 1);
  t.same(
    { ...inst, checks: undefined, actions: undefined },
    {
      name: 'web', address: '198.51.100.50', family: 4, priority: 100, interval: 1000, deadRatio: 3, preempt: true, preemptDelay: 0,
      peers: [{ host: '198.51.100.11', port: 5000 }, { host: '198.51.100.12', port: 12345 }], checks: undefined, actions: undefined,
    },
    'peers get the node.bind port by default',
  );
  const check = inst.checks[0]!;
  t.equal(check.impl, haproxy);
  t.same({ ...check, impl: undefined }, {
    name: 'haproxy', plugin: 'haproxy', impl: undefined, config: { socket: '/run/haproxy.sock', backend: 'web' },
    intervalMs: 500, timeoutMs: 500, rise: 2, fall: 3, weight: -20, reverse: false, initialState: 'fail',
  });
  const action = inst.actions[0]!;
  t.equal(action.impl, eip);
  t.same({ ...action, impl: undefined }, {
    name: 'exoscale-eip', plugin: 'exoscale-eip', impl: undefined, config: { apiKey: 'EXO123', apiSecret: 's3cr3t', zone: 'ch-gva-2' },
    timeoutMs: 30_000, retries: 2, required: true, after: [],
  });
  t.equal(r.keepalived.instances[0]!.name, 'VI_1');
  t.equal(r.keepalived.instances[0]!.actions[0]!.timeoutMs, 2000);
  t.same(r.warnings, ['instances.web.actions[0].apiKey: a literal secret in the config file; prefer env:NAME, file:PATH or credential:NAME']);
});

t.test('after: reaches the action runner; a misspelt scheduling key gets its did-you-mean', async (t) => {
  const l = loaded({ secret: 'x'.repeat(16), instances: web({ actions: [{ plugin: 'notify', name: 'first' }, { plugin: 'notify', after: ['first'] }] }) });
  const r = resolveConfig(l, { registry, env: {} });
  t.same(r.instances[0]!.actions.map((a) => [a.name, a.after]), [['first', []], ['notify', ['first']]]);
  const bad = loaded({ secret: 'x'.repeat(16), instances: web({ actions: [{ plugin: 'notify', name: 'first' }, { plugin: 'notify', afer: ['first'] }] }) });
  const err = t.throws(() => resolveConfig(bad, { registry, env: {} })) as ConfigError;
  t.same(err.problems, ['instances.web.actions[1].afer: unknown key (did you mean "after"?)']);
});

t.test('node.id defaults to the hostname', async (t) => {
  const l = loaded({ secret: 'x'.repeat(16), instances: web() });
  t.equal(resolveConfig(l, { registry, env: {} }).node.id, hostname());
  t.equal(resolveConfig(l, { registry, env: {}, hostname: 'lb2' }).node.id, 'lb2');
  t.equal(resolveConfig(loaded({ secret: 'x'.repeat(16), node: { id: 'lb9' }, instances: web() }), { registry, env: {}, hostname: 'lb2' }).node.id, 'lb9');
  const err = t.throws(() => resolveConfig(l, { registry, env: {}, hostname: 'h'.repeat(65) })) as ConfigError;
  t.same(err.problems, [`node.id: the hostname "${'h'.repeat(65)}" cannot be a node id (1..64 bytes, no spaces); set node.id`]);
});

t.test('secret references', async (t) => {
  const dir = tempDir(t);
  mkdirSync(join(dir, 'keys'));
  writeFileSync(join(dir, 'keys', 'k1'), 'file-key-0123456789\n');
  writeFileSync(join(dir, 'keys', 'empty'), '\n');
  mkdirSync(join(dir, 'creds'));
  writeFileSync(join(dir, 'creds', 'ipwarden-key'), 'credential-key-0123456789');
  const env = { IPW_KEY: 'env-key-0123456789', CREDENTIALS_DIRECTORY: join(dir, 'creds') };
  const keyOf = (secret: unknown) => resolveConfig(loaded({ secret, instances: web() }, dir), { registry, env, hostname: 'lb1' }).secrets;

  t.same(keyOf('literal-key-0123456789'), [{ id: 1, key: Buffer.from('literal-key-0123456789') }], 'literal');
  t.same(keyOf('env:IPW_KEY'), [{ id: 1, key: Buffer.from('env-key-0123456789') }], 'env:');
  t.same(keyOf('file:keys/k1'), [{ id: 1, key: Buffer.from('file-key-0123456789') }], 'file: relative to the config file, newline trimmed');
  t.same(keyOf(`file:${join(dir, 'keys', 'k1')}`), [{ id: 1, key: Buffer.from('file-key-0123456789') }], 'file: absolute');
  t.same(keyOf('credential:ipwarden-key'), [{ id: 1, key: Buffer.from('credential-key-0123456789') }], 'credential:');
  t.same(keyOf('clé-über-🔑-0123456'), [{ id: 1, key: Buffer.from('clé-über-🔑-0123456', 'utf8') }], 'key bytes are UTF-8');

  const problems = (secret: unknown, e: NodeJS.ProcessEnv = env) => resolveProblems(t, loaded({ secret, instances: web() }, dir), e);
  t.same(problems('env:MISSING'), ['secret: environment variable MISSING is not set']);
  t.same(problems('file:keys/none'), [`secret: cannot read secret file ${join(dir, 'keys', 'none')}: no such file`]);
  t.same(problems('file:keys'), [`secret: cannot read secret file ${join(dir, 'keys')}: is a directory`]);
  t.same(problems('file:keys/empty'), [`secret: secret file ${join(dir, 'keys', 'empty')} is empty`]);
  t.same(problems('credential:ipwarden-key', {}), ['secret: credential:ipwarden-key needs $CREDENTIALS_DIRECTORY (systemd LoadCredential=)']);
  t.same(problems('credential:../keys/k1'), ['secret: "credential:" needs a credential name without "/" (credential:NAME)']);
  t.same(problems('env:'), ['secret: "env:" needs a variable name (env:NAME)']);
});

t.test('key rotation list: first signs, all verify; errors name the entry', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'k1'), 'old-key-0123456789abcdef');
  const l = loaded({ secret: [{ id: 1, key: 'file:k1' }, { id: 2, key: 'env:NEW' }], instances: web() }, dir);
  const r = resolveConfig(l, { registry, env: { NEW: 'new-key-0123456789abcdef' }, hostname: 'lb1' });
  t.same(r.secrets, [
    { id: 1, key: Buffer.from('old-key-0123456789abcdef') },
    { id: 2, key: Buffer.from('new-key-0123456789abcdef') },
  ]);
  t.same(r.warnings, []);
  t.same(resolveProblems(t, l, {}), ['secret[1].key: environment variable NEW is not set']);
});

t.test('a literal key is a warning, a short key an error; exoip ignores the secret', async (t) => {
  const r = resolveConfig(loaded({ secret: 'a-literal-key-of-32-bytes-or-so!', instances: web() }), { registry, env: {}, hostname: 'lb1' });
  t.same(r.warnings, ['secret: a literal key in the config file; prefer env:NAME, file:PATH or credential:NAME']);
  t.throws(() => resolveConfig(loaded({ secret: 'short', instances: web() }), { registry, env: {}, hostname: 'lb1' }), {
    message: /secret: the key is only 5 bytes; at least 16 are needed/,
  });
  const exoip = resolveConfig(loaded({ protocol: 'exoip', secret: 'env:UNSET', instances: web({ peers: [] }) }), { registry, env: {}, hostname: 'lb1' });
  t.same(exoip.secrets, []);
  t.same(exoip.warnings, [
    'secret: ignored with protocol exoip (its heartbeats are not authenticated)',
    'instances.web.peers: no peers: this node alone decides and will be MASTER',
  ]);
});

t.test('plugin entries: unknown plugins, plugin issues with the entry path, all collected', async (t) => {
  const l = loaded({
    secret: 'env:UNSET',
    instances: web({
      checks: [
        { plugin: 'haproxx' },
        { plugin: 'haproxy', name: 'h2', socket: '/run/h.sock' },
        { plugin: 'tcp', port: 99999, intervall: '1s' },
        { plugin: 'notify', name: 'n' },
        { plugin: 'zzzzzzzzz', name: 'z' },
      ],
      actions: [{ plugin: 'exoscale-eip', apiKey: 'env:EXO_KEY', apiSecret: 'env:EXO_SECRET', zone: 'ch-gva-2' }, { plugin: 'tcp', name: 't' }],
    }),
  });
  t.same(resolveProblems(t, l), [
    'secret: environment variable UNSET is not set',
    'instances.web.checks[0].plugin: unknown check plugin "haproxx" (did you mean "haproxy"?)',
    'instances.web.checks[1].backend: required (expected a string)',
    'instances.web.checks[2].port: expected at most 65535, got 99999',
    'instances.web.checks[2].intervall: unknown key (did you mean "interval"?)',
    'instances.web.checks[3].plugin: "notify" is an action plugin, not a check',
    'instances.web.checks[4].plugin: unknown check plugin "zzzzzzzzz" (available: haproxy, tcp)',
    'instances.web.actions[0].apiSecret: environment variable EXO_SECRET is not set',
    'instances.web.actions[1].plugin: "tcp" is a check plugin, not an action',
  ]);
});

t.test('a plugin whose parseConfig throws is a problem, not a crash', async (t) => {
  const broken = defineCheck({
    kind: 'check',
    name: 'broken',
    parseConfig: () => {
      throw new Error('boom\nstack');
    },
    run: async () => ({ ok: true, detail: '' }),
  });
  const reg: PluginRegistry = { checks: new Map<string, CheckPlugin<any>>([['broken', broken]]), actions: new Map() };
  const err = t.throws(() => resolveConfig(loaded({ secret: 'x'.repeat(16), instances: web({ checks: [{ plugin: 'broken' }] }) }), { registry: reg, env: {}, hostname: 'lb1' })) as ConfigError;
  t.same(err.problems, ['instances.web.checks[0]: plugin "broken" failed to check its config: boom']);
});

t.test('resolveSecret on an unreadable file: permission denied', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ipw-secret-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'key'), 'secret-value');
  chmodSync(join(dir, 'key'), 0o000);
  const expected = `secret: cannot read secret file ${join(dir, 'key')}: permission denied`;
  if (process.getuid?.() === 0) {
    t.same(await runAsNobody({ op: 'secret', ref: 'file:key', where: 'secret', baseDir: dir }), { ok: false, name: 'SecretError', message: expected });
  } else {
    t.throws(() => resolveSecret('file:key', 'secret', { baseDir: dir, env: {} }), new SecretError(expected));
  }
});

t.test('validateConfigFile: ok with warnings, file problems, content problems, plugin problems', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'good.yaml'), 'secret: env:K\ninstances:\n  web:\n    address: 198.51.100.50\n    checks: [{ plugin: tcp, port: 80 }]\n');
  const { resolved, ...good } = await validateConfigFile({ cwd: dir, file: 'good.yaml', env: { K: 'k'.repeat(32) }, registry, hostname: 'lb1' });
  t.equal(resolved?.node.id, 'lb1', 'a valid config comes back resolved');
  t.same(good, {
    ok: true,
    file: join(dir, 'good.yaml'),
    problems: [],
    warnings: ['instances.web.peers: no peers: this node alone decides and will be MASTER'],
  });
  t.same(await validateConfigFile({ cwd: dir, file: 'good.yaml', env: {}, registry }), {
    ok: false,
    file: join(dir, 'good.yaml'),
    problems: ['secret: environment variable K is not set'],
    warnings: ['instances.web.peers: no peers: this node alone decides and will be MASTER'],
  });
  t.same(await validateConfigFile({ cwd: dir, file: 'missing.yaml', env: {}, registry }), {
    ok: false,
    file: join(dir, 'missing.yaml'),
    problems: ['cannot read config file: no such file'],
    warnings: [],
  });
  writeFileSync(join(dir, 'bad.yaml'), 'secret: env:K\ninstances:\n  web:\n    address: foo\n');
  t.same(await validateConfigFile({ cwd: dir, file: 'bad.yaml', env: {}, registry }), {
    ok: false,
    file: join(dir, 'bad.yaml'),
    problems: ['instances.web.address: expected an IPv4 or IPv6 address, got "foo"'],
    warnings: [],
  });
  const none = await validateConfigFile({ cwd: dir, systemDir: join(dir, 'etc'), env: {}, registry });
  t.equal(none.ok, false);
  t.equal(none.file, undefined);
  t.match(none.problems, [/^no ipwarden config found: looked in /]);
});

t.test('validateConfigFile loads the built-in plugins and the config\'s own plugin modules', async (t) => {
  const dir = tempDir(t);
  writeFileSync(
    join(dir, 'my-check.mjs'),
    `export default {
      kind: 'check', name: 'my-check',
      parseConfig(raw) { return typeof raw.target === 'string' ? { ok: true, config: raw } : { ok: false, issues: [{ path: ['target'], message: 'required (expected a string)' }] }; },
      async run() { return { ok: true, detail: 'fine' }; },
    };\n`,
  );
  writeFileSync(
    join(dir, 'ipwarden.yaml'),
    'plugins: [./my-check.mjs]\nsecret: env:K\ninstances:\n  web:\n    address: 198.51.100.50\n    peers: [198.51.100.11]\n    checks:\n      - { plugin: my-check, target: x }\n      - { plugin: my-chek, name: second }\n      - { plugin: my-check, name: third }\n',
  );
  const report = await validateConfigFile({ cwd: dir, file: 'ipwarden.yaml', env: { K: 'k'.repeat(32) } });
  t.same(report.problems, [
    'instances.web.checks[1].plugin: unknown check plugin "my-chek" (did you mean "my-check"?)',
    'instances.web.checks[2].target: required (expected a string)',
  ]);
  writeFileSync(join(dir, 'ipwarden.yaml'), 'plugins: [./nope.mjs]\nsecret: env:K\ninstances:\n  web:\n    address: 198.51.100.50\n');
  const missing = await validateConfigFile({ cwd: dir, file: 'ipwarden.yaml', env: { K: 'k'.repeat(32) } });
  t.same(missing.problems, [`plugins: "./nope.mjs": no such file ${join(dir, 'nope.mjs')}`]);
});
