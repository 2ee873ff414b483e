/**
 * The single executable's entry (`npm run package` bundles from here; src/cli/main.ts is the
 * entry from files). It registers the built-in plugins the bundle carries, and a file importer
 * for third-party plugins and JS rc files, then runs the same main() as main.ts.
 */
import { Module } from 'node:module';
import { dirname } from 'node:path';
import { registerSingleExecutable, type BundledModule } from '../util/executable.js';
import { main } from './cli.js';

/**
 * Every folder under plugins/, each loaded only when a config names it (`npm run package`
 * refuses to build when a folder is missing here).
 */
const BUNDLED_PLUGINS: Readonly<Record<string, BundledModule>> = {
  'aws-eip': () => import('../../plugins/aws-eip/index.js'),
  'aws-private-ip': () => import('../../plugins/aws-private-ip/index.js'),
  'aws-route': () => import('../../plugins/aws-route/index.js'),
  'aws-tag': () => import('../../plugins/aws-tag/index.js'),
  'digitalocean-reserved-ip': () => import('../../plugins/digitalocean-reserved-ip/index.js'),
  'digitalocean-tag': () => import('../../plugins/digitalocean-tag/index.js'),
  exec: () => import('../../plugins/exec/index.js'),
  'exoscale-eip': () => import('../../plugins/exoscale-eip/index.js'),
  'exoscale-security-group': () => import('../../plugins/exoscale-security-group/index.js'),
  file: () => import('../../plugins/file/index.js'),
  'hetzner-floating-ip': () => import('../../plugins/hetzner-floating-ip/index.js'),
  'hetzner-label': () => import('../../plugins/hetzner-label/index.js'),
  haproxy: () => import('../../plugins/haproxy/index.js'),
  http: () => import('../../plugins/http/index.js'),
  'ip-alias': () => import('../../plugins/ip-alias/index.js'),
  notify: () => import('../../plugins/notify/index.js'),
  tcp: () => import('../../plugins/tcp/index.js'),
};

interface CompilableModule extends Module {
  _compile(source: string, filename: string): void;
}

/**
 * `(url) => import(url)` compiled by Node's CommonJS loader as a module at the executable's path:
 * its import() gets the loader's dynamic-import callback, which the embedded script lacks, so
 * an ES module or CommonJS file on disk loads as it does under node (its own imports resolve
 * from its own location). Module#_compile is what the loader runs for every .js file;
 * vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER does the same but prints an ExperimentalWarning
 * on Node 20.
 */
function fileImporter(): (url: string) => Promise<unknown> {
  const m = new Module(process.execPath) as CompilableModule;
  m.filename = process.execPath;
  m.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(dirname(process.execPath));
  m._compile('module.exports = (url) => import(url);', process.execPath);
  return m.exports as (url: string) => Promise<unknown>;
}

registerSingleExecutable({ builtinPlugins: BUNDLED_PLUGINS, importFile: fileImporter() });

void main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env }).then((code) => {
  process.exitCode = code;
});
