/**
 * Finding and reading the rc file: every search place, precedence, --config, $IPWARDEN_CONFIG,
 * the system directory, and one-line errors for missing, unreadable and malformed files.
 */
import t, { type Test } from 'tap';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../src/config/issues.js';
import { ConfigFileError, loadConfig, SEARCH_PLACES, SYSTEM_SEARCH_PLACES, type LoadConfigOptions } from '../../src/config/load.js';
import { runAsNobody } from './fixtures/run-as.js';

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'ipw-load-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A config whose only instance is named `tag` (to tell which file was read). */
const data = (tag: string) => ({ secret: 'env:IPW_TEST_SECRET', instances: { [tag]: { address: '198.51.100.50' } } });

/** The file text for `place` holding data(tag), in that file's format. */
function contentFor(place: string, tag: string): string {
  const json = JSON.stringify(data(tag));
  if (place === 'package.json') return JSON.stringify({ name: 'site', version: '1.0.0', ipwarden: data(tag) });
  if (place.endsWith('.json')) return json;
  if (place.endsWith('.mjs')) return `export default ${json};\n`;
  if (place.endsWith('.js') || place.endsWith('.cjs')) return `module.exports = ${json};\n`;
  return `# ${place}\nsecret: env:IPW_TEST_SECRET\ninstances:\n  ${tag}:\n    address: 198.51.100.50\n`;
}

const tagOf = (place: string) => place.replace(/[^A-Za-z0-9]/g, '_');

async function load(opts: LoadConfigOptions): Promise<{ file: string; tag: string }> {
  const loaded = await loadConfig({ env: {}, ...opts });
  return { file: loaded.file, tag: Object.keys(loaded.config.instances)[0]! };
}

async function loadError(t: Test, opts: LoadConfigOptions): Promise<ConfigError> {
  const err = await loadConfig({ env: {}, ...opts }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof ConfigError, 'a ConfigError');
  return err as ConfigError;
}

t.test('each search place in the current directory is found', async (t) => {
  for (const place of SEARCH_PLACES) {
    const dir = tempDir(t);
    const sys = join(dir, 'no-etc');
    writeFileSync(join(dir, place), contentFor(place, tagOf(place)));
    const got = await load({ cwd: dir, systemDir: sys });
    t.same(got, { file: join(dir, place), tag: tagOf(place) }, place);
  }
});

t.test('.ipwardenrc may be JSON', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, '.ipwardenrc'), JSON.stringify(data('json_rc')));
  t.equal((await load({ cwd: dir, systemDir: join(dir, 'x') })).tag, 'json_rc');
});

t.test('precedence follows the documented order; package.json without the key is skipped', async (t) => {
  const dir = tempDir(t);
  const sys = join(dir, 'etc');
  mkdirSync(sys);
  for (const place of SEARCH_PLACES) writeFileSync(join(dir, place), contentFor(place, tagOf(place)));
  for (const place of SYSTEM_SEARCH_PLACES) writeFileSync(join(sys, place), contentFor(place, `sys_${tagOf(place)}`));

  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'site', version: '1.0.0' }));
  t.equal((await load({ cwd: dir, systemDir: sys })).tag, tagOf('.ipwardenrc'), 'package.json without "ipwarden" is skipped');
  writeFileSync(join(dir, 'package.json'), contentFor('package.json', tagOf('package.json')));

  for (const place of SEARCH_PLACES) {
    t.equal((await load({ cwd: dir, systemDir: sys })).tag, tagOf(place), `${place} wins over the rest`);
    unlinkSync(join(dir, place));
  }
  for (const place of SYSTEM_SEARCH_PLACES) {
    const got = await load({ cwd: dir, systemDir: sys });
    t.same(got, { file: join(sys, place), tag: `sys_${tagOf(place)}` }, `system ${place}`);
    unlinkSync(join(sys, place));
  }
});

t.test('--config wins over $IPWARDEN_CONFIG, which wins over the search', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, '.ipwardenrc.yaml'), contentFor('.ipwardenrc.yaml', 'searched'));
  mkdirSync(join(dir, 'conf'));
  writeFileSync(join(dir, 'conf', 'explicit.yml'), contentFor('x.yml', 'explicit'));
  writeFileSync(join(dir, 'conf', 'from-env.json'), contentFor('x.json', 'from_env'));
  const env = { IPWARDEN_CONFIG: join(dir, 'conf', 'from-env.json') };
  t.same(await load({ cwd: dir, file: 'conf/explicit.yml', env }), { file: join(dir, 'conf', 'explicit.yml'), tag: 'explicit' }, 'relative to cwd');
  t.equal((await load({ cwd: dir, env })).tag, 'from_env');
  t.equal((await load({ cwd: dir })).tag, 'searched');
  const loaded = await loadConfig({ cwd: dir, file: join(dir, 'conf', 'explicit.yml'), env: {} });
  t.equal(loaded.baseDir, join(dir, 'conf'));
  t.same(loaded.raw, data('explicit'));
});

t.test('--config with package.json reads its "ipwarden" key', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'package.json'), contentFor('package.json', 'pkg'));
  t.equal((await load({ cwd: dir, file: 'package.json' })).tag, 'pkg');
  writeFileSync(join(dir, 'package.json'), '{"name": "x"}');
  const err = await loadError(t, { cwd: dir, file: 'package.json' });
  t.equal(err.message, `${join(dir, 'package.json')}: has no "ipwarden" key`);
});

t.test('nothing found: one line listing where it looked', async (t) => {
  const dir = tempDir(t);
  const err = await loadError(t, { cwd: dir, systemDir: join(dir, 'etc') });
  t.ok(err instanceof ConfigFileError);
  t.equal(
    err.message,
    `no ipwarden config found: looked in ${dir} for package.json ("ipwarden" key), .ipwardenrc, .ipwardenrc.json, .ipwardenrc.yaml, ` +
      '.ipwardenrc.yml, .ipwardenrc.js, .ipwardenrc.cjs, .ipwardenrc.mjs, ipwarden.config.js, ipwarden.config.cjs, ipwarden.config.mjs; ' +
      `then in ${join(dir, 'etc')} for config.yaml, config.yml, config.json; use --config FILE`,
  );
  t.equal(err.file, undefined);
});

t.test('file problems are one line naming the file', async (t) => {
  const dir = tempDir(t);
  const f = (name: string) => join(dir, name);
  const cases: [string, string | undefined, string][] = [
    ['missing.yaml', undefined, 'cannot read config file: no such file'],
    ['empty.yaml', '', 'config file is empty'],
    ['comments.yaml', '# nothing here\n', 'config file is empty'],
    ['config.toml', 'a = 1', 'unsupported config file extension ".toml" (use .yaml, .yml, .json, .js, .cjs, .mjs, or none for YAML)'],
    ['bad.yaml', 'secret: x\ninstances:\n  web:\n    address: 198.51.100.1\n   priority: 3\n', 'YAML syntax error at line 5, column 4: bad indentation of a mapping entry'],
    ['tab.yml', 'a:\n\tb: 1\n', 'YAML syntax error at line 2, column 1:'],
    ['dup.yaml', 'secret: a\nsecret: b\n', 'YAML syntax error at line 2, column 1: duplicated mapping key'],
    ['bad.json', '{\n  "secret": "x",\n}\n', 'JSON syntax error at line 3, column 1: Expected double-quoted property name'],
    ['bad2.json', '{"secret": hunter2}', 'JSON syntax error: Unexpected token \'h\''],
    ['bad.mjs', 'export default {', 'cannot load config module: '],
    ['nodefault.mjs', 'export const x = 1;', 'a JS config must default-export the config object (export default {...} or module.exports = {...})'],
    ['fn.cjs', 'module.exports = () => ({});', 'a JS config must default-export the config object (export default {...} or module.exports = {...})'],
  ];
  for (const [name, content, reason] of cases) {
    if (content !== undefined) writeFileSync(f(name), content);
    const err = await loadError(t, { cwd: dir, file: name });
    t.ok(err instanceof ConfigFileError, name);
    t.equal(err.message.split('\n').length, 1, `${name}: one line`);
    t.ok(err.message.startsWith(`${f(name)}: ${reason}`), `${name}: ${err.message}`);
    t.equal(err.file, f(name));
    t.notMatch(err.message, /hunter2/, 'no source excerpt in the message');
  }
  const isDir = await loadError(t, { cwd: dir, file: '.' });
  t.equal(isDir.message, `${dir}: cannot read config file: is a directory`);
});

t.test('a syntax error in a searched file is an error, not a fallthrough', async (t) => {
  const dir = tempDir(t);
  const sys = join(dir, 'etc');
  mkdirSync(sys);
  writeFileSync(join(sys, 'config.yaml'), contentFor('config.yaml', 'sys'));
  writeFileSync(join(dir, '.ipwardenrc.yaml'), 'instances: [\n');
  const err = await loadError(t, { cwd: dir, systemDir: sys });
  t.match(err.message, new RegExp(`^${join(dir, '.ipwardenrc.yaml').replace(/[.]/g, '\\.')}: YAML syntax error at line \\d+`));
  writeFileSync(join(dir, '.ipwardenrc.yaml'), '');
  t.equal((await loadError(t, { cwd: dir, systemDir: sys })).message, `${join(dir, '.ipwardenrc.yaml')}: config file is empty`);
});

t.test('invalid content: every problem, with the file', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'c.yaml'), 'secret: env:X\ninstances:\n  web:\n    address: foo\n    intervall: 1s\n    priority: 300\n');
  const err = await loadError(t, { cwd: dir, file: 'c.yaml' });
  t.notOk(err instanceof ConfigFileError);
  t.equal(err.file, join(dir, 'c.yaml'));
  t.same(err.problems, [
    'instances.web.address: expected an IPv4 or IPv6 address, got "foo"',
    'instances.web.priority: expected an integer 1..254, got 300',
    'instances.web.intervall: unknown key (did you mean "interval"?)',
  ]);
});

t.test('YAML forms: flow lists of host:port, IPv6, anchors', async (t) => {
  const dir = tempDir(t);
  writeFileSync(
    join(dir, 'c.yaml'),
    [
      'node: { id: lb1, bind: "[::]:12345" }',
      'secret: [{ id: 1, key: file:/etc/ipwarden/k1 }, { id: 2, key: env:NEW }]',
      'instances:',
      '  web: &base',
      '    address: 198.51.100.50',
      '    peers: [198.51.100.11, 198.51.100.12:12345, "[2001:db8::12]:4000"]',
      '  v6:',
      '    <<: *base',
      '    address: 2001:db8::50',
      '',
    ].join('\n'),
  );
  const { config } = await loadConfig({ cwd: dir, file: 'c.yaml', env: {} });
  t.same(config.instances.web!.peers, ['198.51.100.11', '198.51.100.12:12345', '[2001:db8::12]:4000']);
  t.equal(config.instances.v6!.address, '2001:db8::50');
  t.same(config.instances.v6!.peers, config.instances.web!.peers);
  t.same(config.secret, [{ id: 1, key: 'file:/etc/ipwarden/k1' }, { id: 2, key: 'env:NEW' }]);
});

t.test('a changed JS config is imported afresh', async (t) => {
  const dir = tempDir(t);
  for (const name of ['c.mjs', 'c.cjs']) {
    writeFileSync(join(dir, name), contentFor(name, 'first'));
    t.equal((await load({ cwd: dir, file: name })).tag, 'first');
    writeFileSync(join(dir, name), contentFor(name, 'second_version'));
    t.equal((await load({ cwd: dir, file: name })).tag, 'second_version', name);
  }
});

/** Runs a load as an unprivileged user: root reads any file, so as root the load runs in a child as nobody. */
async function loadAsUser(opts: LoadConfigOptions): Promise<{ ok: boolean; name?: string; message?: string; file?: string }> {
  if (process.getuid?.() === 0) return runAsNobody({ op: 'load', opts });
  try {
    return { ok: true, file: (await loadConfig(opts)).file };
  } catch (err) {
    return { ok: false, name: (err as Error).name, message: (err as Error).message };
  }
}

t.test('unreadable files: permission denied, also when searched', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ipw-perm-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o755);
  const sys = join(dir, 'etc');
  mkdirSync(sys, { mode: 0o755 });
  writeFileSync(join(sys, 'config.yaml'), contentFor('config.yaml', 'sys'), { mode: 0o644 });
  const fallback = await loadAsUser({ cwd: dir, systemDir: sys, env: {} });
  t.same(fallback, { ok: true, file: join(sys, 'config.yaml') }, 'a readable config loads');

  const local = join(dir, '.ipwardenrc.yaml');
  writeFileSync(local, contentFor('.ipwardenrc.yaml', 'local'));
  chmodSync(local, 0o000);
  const denied = { ok: false, name: 'ConfigFileError', message: `${local}: cannot read config file: permission denied` };
  t.same(await loadAsUser({ cwd: dir, systemDir: sys, env: {} }), denied, 'searched: an error, not a fallthrough to the system config');
  t.same(await loadAsUser({ cwd: dir, file: '.ipwardenrc.yaml', env: {} }), denied, 'explicit');
});
