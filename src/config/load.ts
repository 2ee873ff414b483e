/**
 * Finds, reads and validates the rc file (cosmiconfig 9, module name "ipwarden").
 *
 * Where the config comes from, first match wins:
 *   1. `--config FILE` (option `file`), relative to `cwd`;
 *   2. $IPWARDEN_CONFIG;
 *   3. the current directory only (searchStrategy "none": a daemon must not pick up a file
 *      from some parent directory), in this order: package.json ("ipwarden" key), .ipwardenrc
 *      (YAML or JSON), .ipwardenrc.json, .ipwardenrc.yaml, .ipwardenrc.yml, .ipwardenrc.js,
 *      .ipwardenrc.cjs, .ipwardenrc.mjs, ipwarden.config.js, ipwarden.config.cjs, ipwarden.config.mjs;
 *   4. the system directory /etc/ipwarden (option `systemDir`): config.yaml, config.yml, config.json.
 * JS configs default-export the config object; they are re-imported when the file changes.
 * cosmiconfig's `$import` key (merge other files) works too. (cosmiconfig also honours a
 * "meta config" in the process's working directory: package.json `cosmiconfig` key or
 * .config/config.*, which can add search places; ipwarden does not document or rely on it.)
 *
 * Every failure is a ConfigError: one line naming the file for unreadable files and syntax
 * errors (ConfigFileError), one line per problem for invalid content.
 */
import { constants } from 'node:fs';
import { access, realpath, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cosmiconfig, type CosmiconfigResult, type Loader } from 'cosmiconfig';
import { ConfigError } from './issues.js';
import { parseConfigData, type IpwardenConfig } from './schema.js';
import { parseYaml, YamlSyntaxError } from './yaml.js';
import { importFile } from '../util/executable.js';

export const MODULE_NAME = 'ipwarden';
/** Searched in the current directory, in this order. */
export const SEARCH_PLACES = [
  'package.json',
  '.ipwardenrc',
  '.ipwardenrc.json',
  '.ipwardenrc.yaml',
  '.ipwardenrc.yml',
  '.ipwardenrc.js',
  '.ipwardenrc.cjs',
  '.ipwardenrc.mjs',
  'ipwarden.config.js',
  'ipwarden.config.cjs',
  'ipwarden.config.mjs',
] as const;
export const SYSTEM_CONFIG_DIR = '/etc/ipwarden';
/** Searched in the system directory, in this order. */
export const SYSTEM_SEARCH_PLACES = ['config.yaml', 'config.yml', 'config.json'] as const;
/** Environment variable naming the config file (after --config, before the search). */
export const CONFIG_ENV = 'IPWARDEN_CONFIG';

const EXTENSIONS = ['', '.json', '.yaml', '.yml', '.js', '.cjs', '.mjs'];

export interface LoadConfigOptions {
  /** `--config FILE`: wins over everything else. Relative to `cwd`. */
  file?: string;
  /** Where the search starts (default process.cwd()). */
  cwd?: string;
  /** The system config directory (default /etc/ipwarden); tests point it elsewhere. */
  systemDir?: string;
  /** For $IPWARDEN_CONFIG (default process.env). */
  env?: NodeJS.ProcessEnv;
}

/** A config file read and validated; secrets are still references (see resolveConfig). */
export interface LoadedConfig {
  /** Absolute path of the file the config came from. */
  file: string;
  /** Its directory: relative paths in the config (file: secrets, plugins) start here. */
  baseDir: string;
  /** The data as read from the file, before validation. */
  raw: unknown;
  /** Validated, defaults applied, durations in ms. */
  config: IpwardenConfig;
}

/** The config file could not be found, read or parsed; the message is one line. */
export class ConfigFileError extends ConfigError {
  override name = 'ConfigFileError';
  constructor(file: string | undefined, reason: string) {
    super(file, [reason]);
    this.message = file ? `${file}: ${reason}` : reason;
  }
}

// ------------------------------------------------------------------ loaders (one-line errors)

function errnoReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'is a directory';
  if (code === 'ENOTDIR') return 'a parent is not a directory';
  return (err as Error).message?.split('\n')[0] ?? String(err);
}

function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: before[before.length - 1]!.length + 1 };
}

/** V8's JSON.parse message, one line, without the source excerpt (it may hold a secret). */
function jsonReason(err: unknown, content: string): string {
  let message = String((err as Error).message ?? err).split('\n')[0]!;
  let where = '';
  const pos = / in JSON at position (\d+)/.exec(message);
  const lc = /\(line (\d+) column (\d+)\)/.exec(message);
  if (pos) {
    const { line, column } = lineColumn(content, Number(pos[1]));
    where = ` at line ${line}, column ${column}`;
  } else if (lc) {
    where = ` at line ${lc[1]}, column ${lc[2]}`;
  }
  message = message
    .replace(/ in JSON at position \d+.*$/, '')
    .replace(/ \(line \d+ column \d+\).*$/, '')
    .replace(/, ".*" is not valid JSON$/, '');
  return `JSON syntax error${where}: ${message}`;
}

const isPackageJson = (filepath: string): boolean => basename(filepath) === 'package.json';

function emptyUnlessPackage(filepath: string, value: unknown): unknown {
  if ((value === null || value === undefined) && !isPackageJson(filepath)) {
    throw new ConfigFileError(filepath, 'config file is empty');
  }
  return value;
}

const loadJsonFile: Loader = (filepath, content) => {
  let value: unknown;
  try {
    value = JSON.parse(content);
  } catch (err) {
    throw new ConfigFileError(filepath, jsonReason(err, content));
  }
  return emptyUnlessPackage(filepath, value);
};

const loadYamlFile: Loader = (filepath, content) => {
  let value: unknown;
  try {
    value = parseYaml(content);
  } catch (err) {
    if (!(err instanceof YamlSyntaxError)) throw err;
    const where = err.line === undefined ? '' : ` at line ${err.line}, column ${err.column}`;
    throw new ConfigFileError(filepath, `YAML syntax error${where}: ${err.reason}`);
  }
  return emptyUnlessPackage(filepath, value);
};

const requireHere = createRequire(import.meta.url);

/** Imports a JS config; a changed file is imported afresh (for reloads). */
const loadJsFile: Loader = async (filepath) => {
  let url: string;
  try {
    const real = await realpath(filepath);
    const st = await stat(real);
    delete requireHere.cache[real];
    url = `${pathToFileURL(real).href}?mtime=${st.mtimeMs}&size=${st.size}`;
  } catch (err) {
    throw new ConfigFileError(filepath, `cannot read config file: ${errnoReason(err)}`);
  }
  let mod: { default?: unknown };
  try {
    mod = (await importFile(url)) as { default?: unknown };
  } catch (err) {
    throw new ConfigFileError(filepath, `cannot load config module: ${String((err as Error).message ?? err).split('\n')[0]}`);
  }
  const value = mod.default;
  if (value === null || typeof value !== 'object') {
    throw new ConfigFileError(filepath, 'a JS config must default-export the config object (export default {...} or module.exports = {...})');
  }
  return value;
};

const LOADERS = {
  '.json': loadJsonFile,
  '.yaml': loadYamlFile,
  '.yml': loadYamlFile,
  noExt: loadYamlFile,
  '.js': loadJsFile,
  '.cjs': loadJsFile,
  '.mjs': loadJsFile,
};

function explorer(searchPlaces: readonly string[]) {
  return cosmiconfig(MODULE_NAME, {
    searchPlaces: [...searchPlaces],
    loaders: LOADERS,
    searchStrategy: 'none',
    cache: false,
    ignoreEmptySearchPlaces: false,
  });
}

// ------------------------------------------------------------------ finding the file

async function unreadable(path: string): Promise<boolean> {
  try {
    await access(path, constants.R_OK);
    return false;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'EACCES' || code === 'EPERM';
  }
}

/**
 * cosmiconfig silently skips files it may not read; a candidate that exists but is unreadable
 * and comes before the one found (or when none is found) is an error, not a fallthrough.
 */
async function failOnUnreadable(candidates: readonly string[], found: string | undefined): Promise<void> {
  for (const path of candidates) {
    if (path === found) return;
    if (await unreadable(path)) throw new ConfigFileError(path, 'cannot read config file: permission denied');
  }
}

function checkResult(result: CosmiconfigResult, file: string): { file: string; raw: unknown } {
  if (result === null) {
    throw new ConfigFileError(file, isPackageJson(file) ? `has no "${MODULE_NAME}" key` : 'config file is empty');
  }
  if (result.isEmpty) throw new ConfigFileError(result.filepath, 'config file is empty');
  return { file: result.filepath, raw: result.config };
}

async function loadFile(path: string): Promise<{ file: string; raw: unknown }> {
  const ext = extname(path);
  if (!EXTENSIONS.includes(ext)) {
    throw new ConfigFileError(path, `unsupported config file extension "${ext}" (use .yaml, .yml, .json, .js, .cjs, .mjs, or none for YAML)`);
  }
  let result: CosmiconfigResult;
  try {
    result = await explorer(SEARCH_PLACES).load(path);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigFileError(path, `cannot read config file: ${errnoReason(err)}`);
  }
  return checkResult(result, path);
}

async function search(cwd: string, systemDir: string): Promise<{ file: string; raw: unknown }> {
  const localCandidates = SEARCH_PLACES.map((p) => join(cwd, p));
  const systemCandidates = SYSTEM_SEARCH_PLACES.map((p) => join(systemDir, p));
  const local = await explorer(SEARCH_PLACES).search(cwd);
  await failOnUnreadable(localCandidates, local?.filepath);
  if (local) return checkResult(local, local.filepath);
  const system = await explorer(SYSTEM_SEARCH_PLACES).search(systemDir);
  await failOnUnreadable(systemCandidates, system?.filepath);
  if (system) return checkResult(system, system.filepath);
  throw new ConfigFileError(
    undefined,
    `no ipwarden config found: looked in ${cwd} for package.json ("${MODULE_NAME}" key), ${SEARCH_PLACES.slice(1).join(', ')}; ` +
      `then in ${systemDir} for ${SYSTEM_SEARCH_PLACES.join(', ')}; use --config FILE`,
  );
}

/** Finds, reads and validates the config. Throws ConfigError (ConfigFileError for file problems). */
export async function loadConfig(opts: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const cwd = resolve(opts.cwd ?? process.cwd());
  const env = opts.env ?? process.env;
  const explicit = opts.file ?? (env[CONFIG_ENV] || undefined);
  const found = explicit !== undefined ? await loadFile(resolve(cwd, explicit)) : await search(cwd, resolve(opts.systemDir ?? SYSTEM_CONFIG_DIR));
  const file = resolve(found.file);
  return { file, baseDir: dirname(file), raw: found.raw, config: parseConfigData(found.raw, file) };
}
