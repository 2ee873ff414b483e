/**
 * The package as an operator gets it: `npm pack`, then `npm install -g` into a temporary prefix
 * (from the npm cache when it can, like an offline machine), then the installed `ipwarden` on
 * PATH, its man pages, its library entry, and what the tarball holds and depends on.
 * Needs a build (npm test builds first; alone: npm run build).
 */
import t from 'tap';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { CLI, ROOT } from '../lib/env.js';
import { walkFiles } from './lib/examples.js';
import { minVersion, satisfies } from './lib/semver-range.js';

interface PackageJson {
  name: string;
  version: string;
  engines?: { node?: string };
  bin?: Record<string, string>;
  man?: string[];
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as PackageJson;
const NODE_BIN = dirname(process.execPath);

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): SpawnSyncReturns<string> {
  // a bound for hangs only: npm install -g of the tarball took over 120 s at load average 20 on 2 cores
  return spawnSync(cmd, args, { encoding: 'utf8', timeout: 480_000, ...opts });
}

/** npm's environment: the user's npm cache, no update check, no stray npm_config_* of the test runner. */
function npmEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k) && k !== 'NODE_OPTIONS' && k !== 'NODE_PATH') env[k] = v;
  return { ...env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' };
}

/** Bare module specifiers imported by the JavaScript files under `dir`, as package names. */
function importedPackages(dir: string): Set<string> {
  const out = new Set<string>();
  for (const file of walkFiles(dir).filter((f) => f.endsWith('.js'))) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|^import\s+['"]([^'"]+)['"]|[rR]equire[A-Za-z]*\(\s*['"]([^'"]+)['"]\s*\)/gm)) {
      // static and dynamic imports, and createRequire()-style lazy requires (etcd3 loads only when used)
      const spec = m[1] ?? m[2] ?? m[3] ?? m[4]!;
      if (spec.startsWith('.') || spec.startsWith('/') || spec.startsWith('node:')) continue;
      // the package itself ("ipwarden", "ipwarden/kit": the SDK's doc comments show such imports) is no dependency
      if (spec === pkg.name || spec.startsWith(`${pkg.name}/`)) continue;
      out.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
    }
  }
  return out;
}

const work = mkdtempSync(join(tmpdir(), 'ipwarden-pack-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));
const prefix = join(work, 'prefix');
const installed = join(prefix, 'lib', 'node_modules', pkg.name);

t.test('npm pack', async (t) => {
  t.ok(existsSync(CLI), `built (${relative(ROOT, CLI)}); run npm run build first`);
  const r = run('npm', ['pack', '--json', '--pack-destination', work], { cwd: ROOT, env: npmEnv() });
  t.equal(r.status, 0, `npm pack\n${r.stderr}`);
  const [info] = JSON.parse(r.stdout) as { filename: string; files: { path: string }[] }[];
  const files = info!.files.map((f) => f.path).sort();
  t.ok(existsSync(join(work, info!.filename)), info!.filename);

  t.same(files.filter((f) => /(^|\/)(test|tests|__tests__)\//.test(f) || /\.test\.[cm]?[jt]s$/.test(f)), [], 'no tests');
  t.same(files.filter((f) => /\.[cm]?ts$/.test(f) && !/\.d\.[cm]?ts$/.test(f)), [], 'no TypeScript sources (declarations only)');
  t.same(files.filter((f) => f.includes('node_modules/')), [], 'no node_modules');
  t.same(files.filter((f) => f.endsWith('.map')), [], 'no source maps (their sources are not shipped)');
  t.same(files.filter((f) => /(^|\/)\.(env|npmrc|git|tap)/.test(f) || /\.(tgz|key|pem)$/.test(f)), [], 'no dot files, keys or tarballs');

  const expected = [
    'package.json',
    'README.md',
    pkg.bin!.ipwarden!,
    'dist/src/index.js',
    'dist/src/index.d.ts',
    'schema/ipwardenrc.schema.json',
    'contrib/systemd/ipwarden.service',
    ...(pkg.man ?? []).map((m) => m.replace(/^\.\//, '')),
    ...readdirSync(join(ROOT, 'plugins')).map((p) => `dist/plugins/${p}/index.js`),
  ];
  for (const f of expected) t.ok(files.includes(f), `ships ${f}`);
  for (const m of ['man/ipwarden.8', 'man/ipwarden.rc.5', 'man/ipwarden-plugins.7']) t.ok(pkg.man?.includes(`./${m}`), `package.json man lists ${m}`);
});

t.test('npm install -g from the tarball into a prefix', async (t) => {
  const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
  if (!tarball) return t.fail('no tarball (npm pack failed)');
  const args = ['install', '-g', '--prefix', prefix, join(work, tarball), '--no-audit', '--no-fund', '--loglevel=error'];
  let r = run('npm', [...args, '--offline'], { cwd: work, env: npmEnv() });
  if (r.status !== 0 && /ENOTCACHED/.test(r.stderr)) {
    t.comment('not every dependency is in the npm cache: installing with --prefer-offline');
    r = run('npm', [...args, '--prefer-offline'], { cwd: work, env: npmEnv() });
  }
  t.equal(r.status, 0, `npm install\n${r.stderr}`);

  // ipwarden on PATH: the prefix's bin and node, nothing else from this checkout
  const env = { PATH: `${join(prefix, 'bin')}:${NODE_BIN}:/usr/bin:/bin`, HOME: work };
  const v = run('ipwarden', ['--version'], { cwd: work, env });
  t.equal(v.status, 0, `ipwarden --version\n${v.stderr}`);
  t.equal(v.stdout, `ipwarden ${pkg.version}\n`);
  t.ok(statSync(join(prefix, 'bin', 'ipwarden')).mode & 0o111, 'the bin is executable');

  // a sample config, with the plugins it names loaded from the installed package
  const conf = join(work, 'etc');
  mkdirSync(conf, { recursive: true });
  copyFileSync(join(installed, 'contrib', 'examples', 'two-node.yaml'), join(conf, 'config.yaml'));
  writeFileSync(join(conf, 'heartbeat.key'), `${'ab'.repeat(32)}\n`, { mode: 0o600 });
  const c = run('ipwarden', ['config', 'check', '--config', join(conf, 'config.yaml')], { cwd: work, env });
  t.equal(c.status, 0, `ipwarden config check\n${c.stderr}`);
  t.equal(c.stdout, `${join(conf, 'config.yaml')}: ok\n`);
  const bad = run('ipwarden', ['config', 'check', '--config', join(installed, 'contrib', 'systemd', 'ipwarden.service')], { cwd: work, env });
  t.equal(bad.status, 1, 'and it still rejects what is not a config');

  // the library entry and its types
  writeFileSync(join(prefix, 'lib', 'probe.mjs'), "import * as m from 'ipwarden';\nconsole.log(Object.keys(m).sort().join(' '));\n");
  const lib = run(process.execPath, [join(prefix, 'lib', 'probe.mjs')], { cwd: work, env });
  t.equal(lib.status, 0, `import 'ipwarden'\n${lib.stderr}`);
  for (const name of ['defineCheck', 'defineAction']) t.match(lib.stdout, new RegExp(`\\b${name}\\b`), `exports ${name}`);
  t.ok(existsSync(join(installed, 'dist', 'src', 'index.d.ts')), 'type declarations');
});

t.test('man pages installed by npm', async (t) => {
  for (const m of pkg.man ?? []) {
    const name = basename(m);
    const section = /\.(\d)$/.exec(name)![1]!;
    const dest = join(prefix, 'share', 'man', `man${section}`, name);
    t.ok(existsSync(dest), dest);
    if (existsSync(dest)) t.equal(readFileSync(dest, 'utf8'), readFileSync(join(ROOT, m), 'utf8'), `${name} is the committed page`);
  }
  const man = run('sh', ['-c', 'command -v man']);
  if (man.status !== 0) return t.comment('man(1) not installed: lookup by name not tried');
  for (const [sec, page] of [['8', 'ipwarden'], ['5', 'ipwarden.rc'], ['7', 'ipwarden-plugins']] as const) {
    const w = run('man', ['-w', sec, page], { env: { PATH: process.env.PATH, MANPATH: join(prefix, 'share', 'man') } });
    const dest = join(prefix, 'share', 'man', `man${sec}`, `${page}.${sec}`);
    // man -w prints the file behind npm's symlink
    t.equal(w.status === 0 ? realpathSync(w.stdout.trim()) : w.stderr, realpathSync(dest), `man ${sec} ${page} finds it`);
  }
});

t.test('runtime dependencies are what the shipped code imports; dev tooling is not among them', async (t) => {
  const deps = Object.keys(pkg.dependencies ?? {}).sort();
  const imported = [...importedPackages(join(installed, 'dist'))].sort();
  t.ok(imported.length > 0, 'the scan finds imports');
  t.same(deps, imported, 'dependencies = packages imported by dist/');
  t.same(deps, ['cosmiconfig', 'etcd3', 'p-retry', 'pino', 'prom-client', 'zod'], 'the expected runtime set (update this list on purpose)');
  for (const d of deps) t.notMatch(d, /^(typescript|tap|@tapjs\/|@types\/|ts-node|tsx|eslint|prettier)$/, `${d} is not dev tooling`);
  for (const d of ['typescript', 'tap', '@types/node']) t.ok(pkg.devDependencies?.[d], `${d} is a devDependency`);
  for (const d of deps) t.ok(existsSync(join(installed, 'node_modules', d, 'package.json')), `${d} installed with the package`);
  t.notOk(existsSync(join(installed, 'node_modules', 'typescript')), 'no dev tooling installed');
});

t.test('engines is honest', async (t) => {
  const range = pkg.engines?.node;
  t.equal(range, '>=20.5');
  const lowest = minVersion(range!);
  t.ok(satisfies(process.version.slice(1), range!), `this node (${process.version}) satisfies ${range}`);
  const manifests = walkFilesAll(join(installed, 'node_modules')).filter((f) => basename(f) === 'package.json');
  let judged = 0;
  for (const file of manifests) {
    const m = JSON.parse(readFileSync(file, 'utf8')) as Partial<PackageJson>;
    if (!m.name || !m.version) continue; // nested package.json files that only set "type"
    judged++;
    const need = m.engines?.node;
    if (need) t.ok(satisfies(lowest, need), `${m.name}@${m.version} engines.node "${need}" admits ${lowest}`);
  }
  t.ok(judged >= (Object.keys(pkg.dependencies ?? {}).length), `${judged} installed packages judged`);
});

/** Every file under dir, node_modules included (walkFiles skips them). */
function walkFilesAll(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    const st = statSync(full);
    if (st.isDirectory()) out.push(...walkFilesAll(full));
    else out.push(full);
  }
  return out;
}
