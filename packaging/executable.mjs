// @ts-check
/**
 * The single executable: dist/pkg/ipwarden-<version>-linux-<arch>, a copy of this node with the
 * whole of ipwarden (daemon, CLI, built-in plugins, dependencies) injected as a Node.js
 * single-executable-application blob.
 *
 * Why this way (Node 20): a single executable runs one CommonJS script whose require() sees only
 * Node's built-in modules, so everything must be one file:
 * - esbuild bundles the TypeScript sources from src/cli/executable-main.ts (no tsc step, one
 *   dependency, no config file; literal dynamic imports stay lazy, so a daemon still evaluates
 *   only the plugins and packages its config needs);
 * - `node --experimental-sea-config` writes the blob (with V8's code cache: faster start-up);
 * - postject (the injector Node's documentation names) puts it into a copy of node, whose
 *   symbol tables are stripped first as Debian's dh_strip does (98 MB -> 86 MB; the dynamic
 *   symbols native addons link against stay).
 *
 * The bundle cannot see the files the sources read at run time next to themselves, so a few
 * modules are rewritten on the way in (each rewrite must match, or the build fails):
 * - src/cli/version.ts: the version is written in (no package.json beside /usr/bin/ipwarden);
 * - src/config/yaml.ts, src/election/etcd-client.ts: their createRequire() lookups become plain
 *   require()s, which esbuild bundles (still evaluated lazily: etcd3 only for an etcd instance);
 * - etcd3's connection pool reads its gRPC definitions (proto/*.proto) from disk: they are
 *   parsed here and written in as JSON (proto-loader's fromJSON), checked to give the same
 *   service definitions as the files.
 * import.meta.url is the executable's own file: URL.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const PKG_DIR = join(ROOT, 'dist', 'pkg');
const WORK_DIR = join(PKG_DIR, 'build');
const ENTRY = join(ROOT, 'src', 'cli', 'executable-main.ts');
/** The sentinel Node's single-executable support looks for (node/src/node_sea.cc). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

const require = createRequire(import.meta.url);

/** @returns {{ name: string, version: string }} */
export function packageJson() {
  return JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
}

/** Node's name for this machine's architecture, as in release file names (x64, arm64). */
export const ARCH = process.arch;

export function executablePath(version = packageJson().version, arch = ARCH) {
  return join(PKG_DIR, `ipwarden-${version}-linux-${arch}`);
}

/** Files whose content decides the executable (the cache key of tests that use it). */
export function inputFiles() {
  const out = [join(ROOT, 'package.json'), join(ROOT, 'package-lock.json'), fileURLToPath(import.meta.url)];
  const walk = (/** @type {string} */ dir) => {
    for (const name of readdirSync(dir).sort()) {
      const full = join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else if (/\.(ts|js|mjs|cjs|json)$/.test(name) && !/\.test\.ts$/.test(name)) out.push(full);
    }
  };
  walk(join(ROOT, 'src'));
  walk(join(ROOT, 'plugins'));
  return out;
}

/** A hash of the inputs and of the node that builds (its binary becomes the executable). */
export function inputHash() {
  const h = createHash('sha256');
  h.update(`${process.version} ${process.arch} ${process.execPath}\n`);
  for (const f of inputFiles()) h.update(`${relative(ROOT, f)}\n`).update(readFileSync(f));
  return h.digest('hex');
}

/** etcd3's gRPC definitions, parsed the way its connection pool parses them, as JSON. */
function etcdProtoJson() {
  const etcdDir = dirname(require.resolve('etcd3/package.json'));
  const protoLoaderRequire = createRequire(require.resolve('@grpc/proto-loader'));
  /** @type {any} */
  const protobuf = protoLoaderRequire('protobufjs');
  /** @type {any} */
  const protoLoader = require('@grpc/proto-loader');
  const file = join(etcdDir, 'proto', 'rpc.proto');
  // the options etcd3's lib/connection-pool.js passes to loadSync
  const options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };
  const root = new protobuf.Root();
  root.resolvePath = (/** @type {string} */ _origin, /** @type {string} */ target) => join(etcdDir, 'proto', target);
  root.loadSync('rpc.proto', { keepCase: true });
  root.resolveAll();
  const json = root.toJSON();
  const shape = (/** @type {unknown} */ def) => JSON.stringify(def, (_k, v) => (typeof v === 'function' ? `fn:${v.name}` : v));
  if (shape(protoLoader.fromJSON(json, options)) !== shape(protoLoader.loadSync(file, options))) {
    throw new Error(`${file}: the JSON form does not give the same gRPC definitions as the .proto files`);
  }
  return JSON.stringify(json);
}

/**
 * Source rewrites for the bundle: file (relative to ROOT, or a package file) -> [search, replace][].
 * @param {string} version
 * @returns {Map<string, [string, string][] | string>} a list of rewrites, or the whole new content
 */
function rewrites(version) {
  const etcdPool = join(dirname(require.resolve('etcd3/package.json')), 'lib', 'connection-pool.js');
  return new Map([
    [join(ROOT, 'src/cli/version.ts'), `/** The package version, written in by npm run package. */\nexport const VERSION = ${JSON.stringify(version)};\n`],
    [
      join(ROOT, 'src/config/yaml.ts'),
      [["const jsYaml = createRequire(requireHere.resolve('cosmiconfig'))('js-yaml') as JsYaml;", "const jsYaml = require('js-yaml') as JsYaml;"]],
    ],
    [join(ROOT, 'src/election/etcd-client.ts'), [["requireLazily('etcd3')", "require('etcd3')"]]],
    [
      etcdPool,
      [["(0, proto_loader_1.loadSync)(`${__dirname}/../proto/rpc.proto`, {", `(0, proto_loader_1.fromJSON)(${etcdProtoJson()}, {`]],
    ],
  ]);
}

/** @param {string} version @returns {import('esbuild').Plugin} */
function rewritePlugin(version) {
  const table = rewrites(version);
  const applied = new Set();
  return {
    name: 'ipwarden-rewrites',
    setup(build) {
      const filter = new RegExp(`^(${[...table.keys()].map((k) => k.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|')})$`);
      build.onLoad({ filter }, (args) => {
        const rule = table.get(args.path);
        if (rule === undefined) return undefined;
        applied.add(args.path);
        let text = readFileSync(args.path, 'utf8');
        if (typeof rule === 'string') text = rule;
        else {
          for (const [from, to] of rule) {
            if (text.split(from).length !== 2) throw new Error(`${relative(ROOT, args.path)}: expected exactly one "${from}" to rewrite for the bundle`);
            text = text.replace(from, () => to);
          }
        }
        return { contents: text, loader: args.path.endsWith('.ts') ? 'ts' : 'js' };
      });
      build.onEnd((result) => {
        if (result.errors.length > 0) return;
        const missed = [...table.keys()].filter((k) => !applied.has(k));
        if (missed.length) throw new Error(`bundle: rewritten modules not in the bundle any more: ${missed.map((m) => relative(ROOT, m)).join(', ')}`);
      });
    },
  };
}

/** The entry's table of built-in plugins must name every folder under plugins/. */
function checkBundledPlugins() {
  const entry = readFileSync(ENTRY, 'utf8');
  const missing = readdirSync(join(ROOT, 'plugins'))
    .filter((name) => existsSync(join(ROOT, 'plugins', name, 'index.ts')))
    .filter((name) => !entry.includes(`import('../../plugins/${name}/index.js')`));
  if (missing.length) throw new Error(`${relative(ROOT, ENTRY)}: BUNDLED_PLUGINS lacks ${missing.join(', ')}`);
}

/**
 * Bundles the sources into one CommonJS script.
 * @returns {Promise<{ file: string, packages: Map<string, string> }>} the script, and the npm packages inside it (name -> version)
 */
export async function bundle(version = packageJson().version) {
  checkBundledPlugins();
  const esbuild = await import('esbuild');
  mkdirSync(WORK_DIR, { recursive: true });
  const file = join(WORK_DIR, 'ipwarden.cjs');
  const result = await esbuild.build({
    entryPoints: [ENTRY],
    outfile: file,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    // whitespace and syntax only: names stay, so stack traces and error names read as in dist/
    minifyWhitespace: true,
    minifySyntax: true,
    keepNames: true,
    legalComments: 'none',
    metafile: true,
    logLevel: 'warning',
    define: { 'import.meta.url': '__ipwardenFileUrl' },
    banner: { js: '"use strict";var __ipwardenFileUrl=require("node:url").pathToFileURL(__filename).href;' },
    // cosmiconfig's loader for .ts rc files; ipwarden's own loaders replace it (config/load.ts)
    external: ['typescript'],
    plugins: [rewritePlugin(version)],
  });
  /** @type {Map<string, string>} */
  const packages = new Map();
  for (const input of Object.keys(result.metafile.inputs)) {
    const m = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (!m || packages.has(/** @type {string} */ (m[1]))) continue;
    const dir = input.slice(0, (m.index ?? 0) + m[0].length);
    const pj = JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8'));
    packages.set(pj.name, pj.version);
  }
  writeFileSync(join(WORK_DIR, 'packages.json'), `${JSON.stringify(Object.fromEntries([...packages].sort()), null, 2)}\n`);
  return { file, packages };
}

/** Injects the bundle into a stripped copy of this node; returns the executable's path. */
export async function buildExecutable() {
  const { version } = packageJson();
  const { file } = await bundle(version);
  const blob = join(WORK_DIR, 'sea.blob');
  const config = join(WORK_DIR, 'sea-config.json');
  writeFileSync(config, JSON.stringify({ main: file, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true }, null, 2));
  execFileSync(process.execPath, ['--experimental-sea-config', config], { stdio: ['ignore', 'ignore', 'inherit'] });

  const out = executablePath(version);
  const tmp = `${out}.tmp`;
  copyFileSync(process.execPath, tmp);
  chmodSync(tmp, 0o755);
  execFileSync('strip', ['--strip-unneeded', '--remove-section=.comment', tmp]);
  const postject = join(dirname(require.resolve('postject/package.json')), 'dist', 'cli.js');
  // postject warns about node's many ELF notes ("Can't find string offset"): harmless, not shown
  execFileSync(process.execPath, [postject, tmp, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE], { stdio: ['ignore', 'ignore', 'pipe'] });
  renameSync(tmp, out);
  writeFileSync(join(WORK_DIR, 'input-hash'), `${inputHash()}\n`);
  return out;
}

/** SHA256SUMS beside the artifacts (sha256sum -c format). */
export function writeChecksums() {
  const names = readdirSync(PKG_DIR)
    .filter((n) => /^ipwarden[-_]/.test(n) && !n.endsWith('.tmp'))
    .sort();
  const lines = names.map((n) => `${createHash('sha256').update(readFileSync(join(PKG_DIR, n))).digest('hex')}  ${n}\n`);
  writeFileSync(join(PKG_DIR, 'SHA256SUMS'), lines.join(''));
  return names;
}

/** The executable, built unless dist/pkg has one built from the current inputs (tests share it). */
export async function cachedExecutable() {
  const out = executablePath();
  const stamp = join(WORK_DIR, 'input-hash');
  if (existsSync(out) && existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === inputHash()) return out;
  rmSync(stamp, { force: true });
  return buildExecutable();
}
