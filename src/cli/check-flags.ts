/**
 * The flags of `ipwarden check <plugin> --flag VALUE`, read from the plugin's own declaration
 * (CheckPlugin.flags, src/plugins/api.ts): built-in and third-party plugins alike. Pure: argv in,
 * raw plugin config (or a UsageError naming the flag) out; help text from the declarations.
 */
import { parseArgs } from 'node:util';
import type { CheckFlag, CheckPlugin, ConfigIssue } from '../plugins/api.js';
import { didYouMean } from '../config/issues.js';
import { flagLabel } from './help.js';
import { UsageError, type FlagSpec } from './command.js';

/** The check command's own flags (a plugin may not declare these names). */
export type OwnFlags = Readonly<Record<string, FlagSpec>>;

type ParseOptions = Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>;

const FLAG_NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;

/** Why a plugin's flag declarations are unusable (bad or duplicate name, clash with `own`), or undefined. */
export function whyNotFlags(plugin: CheckPlugin<unknown>, own: OwnFlags): string | undefined {
  const flags = plugin.flags ?? [];
  if (!Array.isArray(flags)) return 'flags is not a list';
  const seen = new Set<string>();
  for (const [i, f] of flags.entries()) {
    const at = `flags[${i}]`;
    if (!f || typeof f !== 'object') return `${at} is not an object`;
    if (typeof f.name !== 'string' || !FLAG_NAME.test(f.name)) return `${at}.name ${JSON.stringify(f.name)} is not a flag name like "min-up"`;
    if (typeof f.key !== 'string' || f.key === '') return `${at} (--${f.name}) has no config key`;
    if (f.type !== undefined && !['string', 'integer', 'boolean', 'list'].includes(f.type)) return `${at} (--${f.name}): unknown type ${JSON.stringify(f.type)}`;
    if (f.name in own || f.name === 'help') return `--${f.name} is a flag of ipwarden check itself`;
    if (seen.has(f.name)) return `--${f.name} is declared twice`;
    seen.add(f.name);
  }
  return undefined;
}

function parseOptions(own: OwnFlags, flags: readonly CheckFlag[] = []): ParseOptions {
  const options: ParseOptions = { help: { type: 'boolean', short: 'h' } };
  for (const [name, f] of Object.entries(own)) options[name] = { type: f.type, ...(f.short ? { short: f.short } : {}), ...(f.multiple ? { multiple: true } : {}) };
  for (const f of flags) options[f.name] = f.type === 'boolean' ? { type: 'boolean' } : { type: 'string', multiple: true };
  return options;
}

export interface ScannedArgs {
  /** Values of the command's own flags (and --help). */
  values: Record<string, string | boolean | string[] | undefined>;
  /** Words that are not flags (a plugin name first, or configured check names). */
  positionals: string[];
  /** Flags that are not the command's own: a plugin's (ad hoc run) or typos, in order. */
  foreign: string[];
}

/** A first, lenient pass: the command's own flags, and which other flags are present. */
export function scanArgs(args: readonly string[], own: OwnFlags): ScannedArgs {
  const options = parseOptions(own);
  const r = parseArgs({ args: [...args], options, strict: false, allowPositionals: true, tokens: true });
  const foreignTokens = r.tokens.filter((t) => t.kind === 'option' && !(t.name in options));
  const foreign = [...new Set(foreignTokens.map((t) => (t.kind === 'option' ? t.rawName : '')))];
  const values: ScannedArgs['values'] = {};
  for (const [k, v] of Object.entries(r.values)) if (k in options) values[k] = v as string | boolean | string[];
  // an unknown "--flag value" leaves its value among the positionals: a plugin name comes before its flags
  const firstForeign = foreignTokens[0]?.index ?? Infinity;
  const positionals = r.tokens.filter((t) => t.kind === 'positional' && t.index < firstForeign).map((t) => (t.kind === 'positional' ? t.value : ''));
  return { values, positionals, foreign };
}

/** "unknown flag --bakend (did you mean --backend?)", with the flags that would apply. */
export function unknownFlag(raw: string, known: readonly string[], where: string): UsageError {
  const name = raw.replace(/^-+/, '');
  const hint = didYouMean(name, known);
  const tail = hint ? ` (did you mean --${hint}?)` : known.length ? ` (its flags: ${known.map((k) => `--${k}`).join(', ')})` : ` (it declares no flags)`;
  return new UsageError(`unknown flag ${raw}${where}${tail}`);
}

export interface AdHocArgs {
  values: Record<string, string | boolean | string[] | undefined>;
  /** The raw plugin config the plugin's flags set (keys dotted by the declarations). */
  raw: Record<string, unknown>;
}

/** The strict pass for `ipwarden check <plugin> ...`: own flags plus the plugin's declared ones. */
export function parseAdHocArgs(args: readonly string[], own: OwnFlags, plugin: CheckPlugin<unknown>): AdHocArgs {
  const flags = plugin.flags ?? [];
  let r;
  try {
    r = parseArgs({ args: [...args], options: parseOptions(own, flags), strict: true, allowPositionals: true });
  } catch (err) {
    const e = err as { code?: string; message: string };
    const raw = /'([^']+)'/.exec(e.message)?.[1] ?? '';
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw unknownFlag(raw, flags.map((f) => f.name), ` for the ${plugin.name} check`);
    if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const flag = raw.split(' ')[0]!;
      throw new UsageError(/ambiguous/.test(e.message) ? `${flag}: write a value that starts with "-" as ${flag}=VALUE` : `${flag} needs a value`);
    }
    throw new UsageError(e.message);
  }
  if (r.positionals.length > 1) throw new UsageError(`an ad hoc check takes no more arguments, got "${r.positionals[1]}"`);
  const values = r.values as AdHocArgs['values'];
  const raw: Record<string, unknown> = {};
  for (const f of flags) {
    const v = values[f.name];
    if (v === undefined) continue;
    setPath(raw, f.key, flagValue(f, v));
  }
  return { values, raw };
}

function flagValue(f: CheckFlag, value: string | boolean | string[]): unknown {
  if (f.type === 'boolean') return value === true;
  const all = (Array.isArray(value) ? value : [value]).map(String);
  const convert = (fn: () => unknown) => {
    try {
      return fn();
    } catch (err) {
      throw new UsageError(`--${f.name}: ${(err as Error).message}`);
    }
  };
  if (f.type === 'list') return f.parse ? convert(() => f.parse!(all)) : all;
  if (all.length > 1) throw new UsageError(`--${f.name} given ${all.length} times; it takes one value`);
  const text = all[0]!;
  if (f.type === 'integer') {
    if (!/^-?\d+$/.test(text.trim())) throw new UsageError(`--${f.name}: expected an integer, got ${JSON.stringify(text)}`);
    const n = Number(text);
    return f.parse ? convert(() => f.parse!(n)) : n;
  }
  return f.parse ? convert(() => f.parse!(text)) : text;
}

function setPath(obj: Record<string, unknown>, dotted: string, value: unknown): void {
  const keys = dotted.split('.');
  let cur = obj;
  for (const k of keys.slice(0, -1)) cur = (cur[k] ??= {}) as Record<string, unknown>;
  cur[keys[keys.length - 1]!] = value;
}

/** Plugin config issues, named by the flag that sets the key ("--min-up: ..."). */
export function issuesAsFlags(plugin: CheckPlugin<unknown>, issues: readonly ConfigIssue[]): string[] {
  return issues.map((i) => {
    const path = i.path.join('.');
    const flag = (plugin.flags ?? []).find((f) => path === f.key || path.startsWith(`${f.key}.`))?.name;
    if (!flag) return `${path || plugin.name}: ${i.message}`;
    if (/^required/.test(i.message)) return `--${flag} is required for the ${plugin.name} check`;
    return `--${flag}: ${i.message}`;
  });
}

/** "--url, --method, ..." */
export function flagList(plugin: CheckPlugin<unknown>): string {
  return (plugin.flags ?? []).map((f) => `--${f.name}`).join(', ');
}

/** Help lines of a plugin's flags, aligned ("  --min-up N   usable servers needed (default 1)"). */
export function pluginFlagLines(plugin: CheckPlugin<unknown>, indent = '  '): string[] {
  const flags = plugin.flags ?? [];
  if (flags.length === 0) return [`${indent}(no flags: this plugin runs only from a config)`];
  const labels = flags.map((f) => flagLabel(f.name, asFlagSpec(f)));
  const w = Math.max(...labels.map((l) => l.length), 10);
  return flags.map((f, i) => `${indent}${labels[i]!.padEnd(w)}  ${f.description}`);
}

/** A declared flag as the command table describes flags (help, man page). */
export function asFlagSpec(f: CheckFlag): FlagSpec {
  return f.type === 'boolean'
    ? { type: 'boolean', description: f.description }
    : { type: 'string', arg: f.arg ?? 'VALUE', description: f.description, ...(f.type === 'list' ? { multiple: true } : {}) };
}
