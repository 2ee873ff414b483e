/**
 * Renders the man pages from their templates (man/src/*.in) and the code they describe: the
 * command table (commands and flags of ipwarden.8), the rc file's JSON Schema (every key of
 * ipwarden.rc.5, and the check/action scheduling keys of ipwarden-plugins.7), the flags the built-in
 * check plugins declare (`ipwarden check PLUGIN --FLAG`, in ipwarden.8) and the plugin API's
 * declarations (src/plugins/api.ts, in ipwarden-plugins.7). `npm run man` writes man/; a test
 * fails when the committed pages drift.
 */
import { readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { COMMANDS } from '../cli/commands.js';
import { flagLabel } from '../cli/help.js';
import { configJsonSchema } from '../config/schema.js';
import { VERSION } from '../cli/version.js';
import { asFlagSpec } from '../cli/check-flags.js';
import { loadPlugins } from '../plugins/loader.js';
import type { CheckPlugin } from '../plugins/api.js';

/** The page date: fixed per release so builds are reproducible. */
export const MAN_DATE = '2026-11-25';

/** Escapes text for roff (backslashes, leading dots and quotes, hyphens). */
export function roff(text: string): string {
  return text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .replace(/`([^`]+)`/g, '\\fB$1\\fR')
    .split('\n')
    .map((l) => (/^[.']/.test(l) ? `\\&${l}` : l))
    .join('\n')
    .replace(/—/g, '\\(em')
    .replace(/–/g, '\\(en')
    .replace(/×/g, '\\(mu')
    .replace(/[^\x00-\x7f]/g, (ch) => `\\[u${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}]`);
}

/** The commands of ipwarden.8; `check` also lists the flags each of `checkPlugins` declares. */
export function commandsSection(checkPlugins: readonly CheckPlugin<unknown>[] = []): string {
  const out: string[] = [];
  for (const c of COMMANDS) {
    out.push('.TP', `.B ipwarden ${c.name}${c.usage ? ` ${roff(c.usage)}` : ''}`, roff(c.summary.replace(/^./, (x) => x.toUpperCase())) + '.');
    if (c.details) out.push('.IP', roff(c.details.trim().replace(/\n/g, ' ')));
    const flags = Object.entries(c.flags);
    const plugins = c.name === 'check' ? checkPlugins.filter((p) => p.flags?.length) : [];
    if (flags.length || plugins.length) {
      out.push('.RS');
      for (const [name, f] of flags) {
        const def = f.default !== undefined ? ` (default ${String(f.default)})` : '';
        out.push('.TP', `.B ${roff(flagLabel(name, f))}`, `${roff(f.description)}${roff(def)}.`);
      }
      for (const p of plugins) {
        for (const f of p.flags!) out.push('.TP', `.B ${roff(flagLabel(f.name, asFlagSpec(f)))}`, `${roff(`${p.name}: ${f.description}`)}.`);
      }
      out.push('.RE');
    }
  }
  return out.join('\n');
}

/** The built-in check plugins, by name (their declared flags go into ipwarden.8). */
export async function builtinCheckPlugins(): Promise<CheckPlugin<unknown>[]> {
  return [...(await loadPlugins([])).checks.values()].sort((a, b) => a.name.localeCompare(b.name));
}

interface SchemaNode {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  properties?: Record<string, SchemaNode>;
  additionalProperties?: SchemaNode | boolean;
  items?: SchemaNode;
  anyOf?: SchemaNode[];
  oneOf?: SchemaNode[];
  required?: string[];
  minimum?: number;
  maximum?: number;
}

/** Every documented config key path, as `ipwarden.rc.5` lists it ("instances.<name>.checks[].plugin"). */
export function configKeys(): { path: string; node: SchemaNode; required: boolean }[] {
  const out: { path: string; node: SchemaNode; required: boolean }[] = [];
  const walk = (n: SchemaNode | undefined, prefix: string) => {
    if (!n) return;
    for (const alt of [...(n.anyOf ?? []), ...(n.oneOf ?? [])]) walk(alt, prefix);
    if (n.properties) {
      for (const [k, v] of Object.entries(n.properties)) {
        if (k === '$schema') continue;
        const path = `${prefix}${k}`;
        if (!out.some((o) => o.path === path)) out.push({ path, node: v, required: n.required?.includes(k) ?? false });
        walk(v, `${path}.`);
      }
    }
    if (n.additionalProperties && typeof n.additionalProperties === 'object') walk(n.additionalProperties, `${prefix}<name>.`);
    if (n.items) walk(n.items, prefix.replace(/\.$/, '[].'));
  };
  walk(configJsonSchema() as SchemaNode, '');
  return out;
}

function typeOf(n: SchemaNode): string {
  const alts = [...(n.anyOf ?? []), ...(n.oneOf ?? [])];
  if (alts.length) return [...new Set(alts.map(typeOf))].join(' or ');
  if (n.enum) return n.enum.map((e) => String(e)).join(' | ');
  if (n.type === 'array') return 'list';
  if (n.type === 'object') return n.properties ? 'object' : 'map';
  const t = Array.isArray(n.type) ? n.type.join(' or ') : (n.type ?? 'value');
  return t;
}

export function keysSection(): string {
  const out: string[] = [];
  for (const { path, node, required } of configKeys()) {
    const meta = [typeOf(node)];
    if (required) meta.push('required');
    if (node.default !== undefined && typeof node.default !== 'object') meta.push(`default ${JSON.stringify(node.default)}`);
    if (Array.isArray(node.default) && node.default.length === 0) meta.push('default []');
    out.push('.TP', `.B ${roff(path)}`, `(${roff(meta.join(', '))}) ${roff(node.description ?? '')}`);
  }
  return out.join('\n');
}

/**
 * The scheduling keys of a check, action or discovery entry (the ones ipwarden owns), named as
 * written in an entry ("interval"), with type, default and description from the schema.
 */
export function entryKeysSection(list: 'checks' | 'actions' | 'discovery'): string {
  const prefix = list === 'discovery' ? 'instances.<name>.discovery.' : `instances.<name>.${list}[].`;
  const out: string[] = [];
  for (const { path, node, required } of configKeys()) {
    if (!path.startsWith(prefix)) continue;
    const meta = [typeOf(node)];
    if (required) meta.push('required');
    if (node.default !== undefined && typeof node.default !== 'object') meta.push(`default ${JSON.stringify(node.default)}`);
    out.push('.TP', `.B ${roff(path.slice(prefix.length))}`, `(${roff(meta.join(', '))}) ${roff(node.description ?? '')}`);
  }
  return out.join('\n');
}

/** Escapes source code for a roff .EX block (no markup: backticks stay backticks). */
export function roffCode(text: string): string {
  return text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .split('\n')
    .map((l) => (/^[.']/.test(l) ? `\\&${l}` : l))
    .join('\n')
    .replace(/[^\x00-\x7f]/g, (ch) => `\\[u${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}]`);
}

/**
 * The plugin API as plugin authors import it: the declarations of src/plugins/api.ts (its header
 * comment and imports left out), as a roff example block.
 */
export function pluginApiSection(apiFile: string): string {
  const lines = readFileSync(apiFile, 'utf8').split('\n');
  const headerEnd = lines[0]?.startsWith('/**') ? lines.findIndex((l) => l.trimEnd().endsWith('*/')) + 1 : 0;
  const body = lines
    .slice(headerEnd)
    .filter((l) => !/^import /.test(l))
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
  return ['.EX', roffCode(body), '.EE'].join('\n');
}

const MAN_DIR = fileURLToPath(new URL('../../../man/', import.meta.url));

/** Rendered pages by file name (ipwarden.8, ipwarden.rc.5, ...). */
export async function renderManPages(manDir = MAN_DIR): Promise<Record<string, string>> {
  const checkPlugins = await builtinCheckPlugins();
  const pages: Record<string, string> = {};
  for (const tpl of readdirSync(join(manDir, 'src')).filter((f) => f.endsWith('.in'))) {
    const text = readFileSync(join(manDir, 'src', tpl), 'utf8')
      .replaceAll('@DATE@', MAN_DATE)
      .replaceAll('@VERSION@', VERSION)
      .replace('@COMMANDS@', () => commandsSection(checkPlugins))
      .replace('@KEYS@', () => keysSection())
      .replace('@CHECK_KEYS@', () => entryKeysSection('checks'))
      .replace('@ACTION_KEYS@', () => entryKeysSection('actions'))
      .replace('@DISCOVERY_KEYS@', () => entryKeysSection('discovery'))
      .replace('@PLUGIN_API@', () => pluginApiSection(join(manDir, '..', 'src', 'plugins', 'api.ts')));
    pages[tpl.replace(/\.in$/, '')] = text;
  }
  return pages;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const [name, text] of Object.entries(await renderManPages())) writeFileSync(join(MAN_DIR, name), text);
}
