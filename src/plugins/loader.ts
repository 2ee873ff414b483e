/**
 * Finds and loads plugins: the built-ins under plugins/<name>/ and the modules listed
 * in the rc file's `plugins:` (paths relative to the config file, or package names).
 */
import { readdirSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, resolve, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ActionPlugin, CheckPlugin, DiscoveryPlugin, Plugin } from './api.js';
import { importFile, singleExecutable, type BundledModule } from '../util/executable.js';

export class PluginError extends Error {
  override name = 'PluginError';
}

export interface PluginRegistry {
  checks: Map<string, CheckPlugin<any>>;
  actions: Map<string, ActionPlugin<any>>;
  /** Peer discovery plugins (optional so hand-built registries stay valid). */
  discovery?: Map<string, DiscoveryPlugin<any>>;
}

/** Where the built-in plugins live (dist/plugins when built, plugins/ when run from source). */
export const BUILTIN_DIR = fileURLToPath(new URL('../../plugins/', import.meta.url));

/** Checks that a module's default export is a plugin; returns why not, or undefined. */
export function whyNotPlugin(value: unknown): string | undefined {
  if (!value || typeof value !== 'object') return 'the module has no default export object';
  const p = value as Record<string, unknown>;
  if (p.kind !== 'check' && p.kind !== 'action' && p.kind !== 'discovery') return 'default export has no kind "check", "action" or "discovery"';
  if (typeof p.name !== 'string' || !/^[a-z0-9][a-z0-9._-]*$/i.test(p.name)) return 'default export has no valid name';
  if (typeof p.parseConfig !== 'function') return 'default export has no parseConfig() function';
  if (p.kind === 'check' && typeof p.run !== 'function') return 'check plugin has no run() function';
  if ((p.kind === 'action' || p.kind === 'discovery') && typeof p.create !== 'function') return `${p.kind} plugin has no create() function`;
  return undefined;
}

async function importPlugin(load: BundledModule, label: string): Promise<Plugin> {
  let mod: { default?: unknown };
  try {
    mod = await load();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ERR_MODULE_NOT_FOUND' ? 'module not found' : (e.message ?? String(err)).split('\n')[0];
    throw new PluginError(`${label}: cannot load plugin: ${why}`);
  }
  const why = whyNotPlugin(mod.default);
  if (why) throw new PluginError(`${label}: not an ipwarden plugin: ${why}`);
  return mod.default as Plugin;
}

/** The built-in plugins: inside the single executable, or the folders of BUILTIN_DIR. */
function builtinEntries(): { name: string; load: BundledModule }[] {
  const bundled = singleExecutable()?.builtinPlugins;
  if (bundled) return Object.keys(bundled).sort().map((name) => ({ name, load: bundled[name]! }));
  if (!existsSync(BUILTIN_DIR)) return [];
  const out: { name: string; load: BundledModule }[] = [];
  for (const name of readdirSync(BUILTIN_DIR).sort()) {
    for (const file of ['index.js', 'index.ts']) {
      const p = join(BUILTIN_DIR, name, file);
      if (existsSync(p)) {
        const url = pathToFileURL(p).href;
        out.push({ name, load: () => import(url) as Promise<{ default?: unknown }> });
        break;
      }
    }
  }
  return out;
}

/** Every `plugin:` name a configuration refers to (checks, actions, discovery, at any depth). */
export function pluginNamesIn(config: unknown): Set<string> {
  const names = new Set<string>();
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (typeof o.plugin === 'string') names.add(o.plugin);
      Object.values(o).forEach(walk);
    }
  };
  walk(config);
  return names;
}

/** Resolves a `plugins:` entry to an importable URL. */
export function resolvePluginSpec(spec: string, baseDir: string): string {
  if (spec.startsWith('.') || isAbsolute(spec)) {
    const full = isAbsolute(spec) ? spec : resolve(baseDir, spec);
    if (!existsSync(full)) throw new PluginError(`plugins: "${spec}": no such file ${full}`);
    return pathToFileURL(full).href;
  }
  try {
    const req = createRequire(join(baseDir, 'noop.js'));
    return pathToFileURL(req.resolve(spec)).href;
  } catch {
    throw new PluginError(`plugins: "${spec}": package not found (install it next to the config file or globally)`);
  }
}

function register(reg: PluginRegistry, plugin: Plugin, label: string): void {
  const map: Map<string, Plugin> = plugin.kind === 'check' ? reg.checks : plugin.kind === 'action' ? reg.actions : (reg.discovery ??= new Map());
  if (map.has(plugin.name)) throw new PluginError(`${label}: a ${plugin.kind} plugin named "${plugin.name}" is already loaded`);
  map.set(plugin.name, plugin);
}

/** Names of the built-in plugins (their folder names), without loading them. */
export function builtinPluginNames(): string[] {
  return builtinEntries().map((e) => e.name);
}

/**
 * Loads the built-ins plus the extra modules named in the config. `only`: load just these
 * built-ins (a daemon loads what its config uses: each unused plugin's module graph is memory
 * it would carry for its whole life); callers pass it only when every name is a known built-in,
 * so "unknown plugin" errors still see every plugin.
 */
export async function loadPlugins(specs: readonly string[] = [], baseDir = process.cwd(), only?: ReadonlySet<string>): Promise<PluginRegistry> {
  const reg: PluginRegistry = { checks: new Map(), actions: new Map(), discovery: new Map() };
  for (const { name, load } of builtinEntries()) {
    if (only && !only.has(name)) continue;
    register(reg, await importPlugin(load, `built-in plugin ${name}`), `built-in plugin ${name}`);
  }
  for (const [i, spec] of specs.entries()) {
    const label = `plugins[${i}] "${spec}"`;
    const url = resolvePluginSpec(spec, baseDir);
    const plugin = await importPlugin(() => importFile(url) as Promise<{ default?: unknown }>, label);
    register(reg, plugin, label);
    MODULE_URLS.set(plugin, url);
  }
  return reg;
}

const MODULE_URLS = new WeakMap<Plugin, string>();

/**
 * The file: URL a third-party plugin was loaded from (a `plugins:` entry, `--plugin`); undefined
 * for a built-in or a plugin object made in code. Its checks run isolated (src/plugins/isolation/).
 */
export function pluginModuleUrl(plugin: Plugin): string | undefined {
  return MODULE_URLS.get(plugin);
}
