/**
 * Turns zod issues into the one error format used for every config problem:
 *   instances.web.interval: expected a duration like "1s", got "fast"
 * Unknown keys get a did-you-mean from the keys that are allowed there.
 *
 * Message convention: a schema's own messages start with a lower-case "expected ..."
 * and are kept as written (", got <value>" is appended); zod's default English messages
 * ("Invalid input: ...", "Too big: ...") are rewritten into the same style.
 * Values under secret-bearing keys (see isSecretKeyName) are never echoed.
 */
import type { z } from 'zod';
import type { ConfigIssue } from '../plugins/api.js';
import { isSecretKeyName } from './secret.js';

const PLAIN_KEY = /^[A-Za-z0-9_-]+$/;

/** `["instances", "web", "checks", 0, "url"]` -> `instances.web.checks[0].url`; odd keys are quoted: `keepalived.instances["VI 1"]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else if (typeof p === 'string' && PLAIN_KEY.test(p)) out += out ? `.${p}` : p;
    else out += `[${JSON.stringify(String(p))}]`;
  }
  return out || '(root)';
}

/** Edit distance (optimal string alignment: a swap of two neighbours costs 1), case-insensitive, for did-you-mean. */
export function distance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  const rows: number[][] = Array.from({ length: x.length + 1 }, (_, i) => Array.from({ length: y.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= x.length; i++) {
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = d;
    }
  }
  return rows[x.length]![y.length]!;
}

export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = distance(word, c);
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

/** English for zod's type names ("expected a list, got ..."). */
const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  bigint: 'an integer',
  boolean: 'true or false',
  object: 'an object',
  record: 'an object',
  map: 'an object',
  array: 'a list',
  tuple: 'a list',
  null: 'null',
  undefined: 'nothing',
};

function typeName(expected: string): string {
  return TYPE_NAMES[expected] ?? expected;
}

const MAX_SHOWN = 80;

/** What was got, for the message; `hidden` values (secrets) only show their kind. */
function describe(value: unknown, hidden = false): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  if (hidden && value !== '') return typeof value === 'string' ? 'a string (value hidden)' : `a ${typeof value} (value hidden)`;
  if (typeof value === 'string') {
    const shown = value.length > MAX_SHOWN ? `${value.slice(0, MAX_SHOWN)}...` : value;
    return JSON.stringify(shown);
  }
  return String(value);
}

/** The value at `path` inside `root` (to say what was got). */
function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = root;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

const WRAPPERS = new Set(['optional', 'default', 'nullable', 'prefault', 'pipe', 'readonly', 'catch', 'nonoptional', 'lazy']);

function unwrap(s: any): any {
  for (let guard = 0; s && WRAPPERS.has(s.def?.type) && guard < 64; guard++) {
    if (s.def.type === 'pipe') s = s.def.in?.def?.type === 'transform' ? s.def.out : s.def.in;
    else if (s.def.type === 'lazy') s = s.def.getter();
    else s = s.def.innerType;
  }
  return s;
}

/** The schemas that may sit at `path` (several when a union is crossed). */
function schemasAt(schema: z.ZodType | undefined, path: readonly PropertyKey[]): any[] {
  let current: any[] = schema ? [schema] : [];
  for (const p of path) {
    const next: any[] = [];
    const visit = (raw: any): void => {
      const s = unwrap(raw);
      if (!s) return;
      const type = s.def?.type;
      if (type === 'union') for (const o of s.def.options) visit(o);
      else if (type === 'object') {
        const child = s.def.shape[p as string];
        if (child) next.push(child);
        else if (s.def.catchall && unwrap(s.def.catchall)?.def?.type !== 'never') next.push(s.def.catchall);
      } else if (type === 'record') next.push(s.def.valueType);
      else if (type === 'array' && typeof p === 'number') next.push(s.def.element);
    };
    for (const s of current) visit(s);
    current = next;
  }
  return current;
}

/** Keys allowed by the object schema at `path` (for did-you-mean). */
function keysAt(schema: z.ZodType | undefined, path: readonly PropertyKey[]): string[] {
  const keys = new Set<string>();
  const visit = (raw: any): void => {
    const s = unwrap(raw);
    if (s?.def?.type === 'union') for (const o of s.def.options) visit(o);
    else if (s?.def?.type === 'object') for (const k of Object.keys(s.def.shape)) keys.add(k);
  };
  for (const s of schemasAt(schema, path)) visit(s);
  return [...keys];
}

/**
 * A value is hidden when its own key is secret-bearing, when it is a string anywhere under
 * a secret-bearing key (`secret[0].key`), or when its schema is marked `writeOnly`.
 */
function isHidden(schema: z.ZodType | undefined, path: readonly PropertyKey[], got: unknown): boolean {
  const names = path.filter((p): p is string => typeof p === 'string');
  if (names.length && isSecretKeyName(names[names.length - 1]!)) return true;
  if (typeof got === 'string' && names.some(isSecretKeyName)) return true;
  return schemasAt(schema, path).some((s: any) => (s?.meta?.() as { writeOnly?: boolean } | undefined)?.writeOnly === true);
}

const ZOD_DEFAULT_MESSAGE = /^(Invalid |Too (big|small): |Unrecognized key)/;

function sizeUnit(origin: unknown): string {
  if (origin === 'string') return ' characters';
  if (origin === 'array' || origin === 'set') return ' items';
  return '';
}

/** Rewrites one of zod's default messages into the project's style (without the ", got"). */
function defaultMessage(issue: z.core.$ZodIssue, got: unknown): string {
  switch (issue.code) {
    case 'invalid_type':
      return got === undefined ? `required (expected ${typeName(issue.expected)})` : `expected ${typeName(issue.expected)}`;
    case 'invalid_value':
      return issue.values.length === 1
        ? `expected ${JSON.stringify(issue.values[0])}`
        : `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_big':
      return `expected ${issue.exact ? 'exactly' : issue.inclusive ? 'at most' : 'less than'} ${String(issue.maximum)}${sizeUnit(issue.origin)}`;
    case 'too_small':
      if (issue.origin === 'string' && Number(issue.minimum) === 1 && !issue.exact) return 'expected a non-empty string';
      return `expected ${issue.exact ? 'exactly' : issue.inclusive ? 'at least' : 'more than'} ${String(issue.minimum)}${sizeUnit(issue.origin)}`;
    case 'invalid_format':
      if (issue.format === 'regex' && 'pattern' in issue) return `expected a string matching ${String(issue.pattern)}`;
      return `expected ${issue.message.replace(/^Invalid (string: )?/, '')}`;
    case 'not_multiple_of':
      return `expected a multiple of ${String(issue.divisor)}`;
    case 'invalid_union': {
      const expected = issue.errors
        .map((branch) => (branch.length === 1 && branch[0]!.code === 'invalid_type' && branch[0]!.path.length === 0 ? typeName(branch[0]!.expected) : undefined))
        .filter((t): t is string => t !== undefined);
      return expected.length === issue.errors.length && expected.length > 0 ? `expected ${expected.join(' or ')}` : 'does not match any allowed form';
    }
    default:
      return issue.message.replace(/^Invalid input$/, 'invalid value');
  }
}

/** Failed on the value's type itself (the branch did not apply to this kind of value). */
function isTypeMismatch(branch: readonly z.core.$ZodIssue[]): boolean {
  return branch.length === 1 && branch[0]!.code === 'invalid_type' && branch[0]!.path.length === 0;
}

/**
 * A union whose every branch but one failed on the value's type reports that branch's
 * own issues (e.g. `secret[1].id` instead of "does not match any allowed form").
 */
function expandUnions(issues: readonly z.core.$ZodIssue[]): z.core.$ZodIssue[] {
  const out: z.core.$ZodIssue[] = [];
  for (const issue of issues) {
    if (issue.code === 'invalid_union') {
      const applicable = issue.errors.filter((branch) => !isTypeMismatch(branch));
      if (applicable.length === 1) {
        out.push(...expandUnions(applicable[0]!.map((i) => ({ ...i, path: [...issue.path, ...i.path] }) as z.core.$ZodIssue)));
        continue;
      }
    }
    out.push(issue);
  }
  return out;
}

export function zodIssues(error: z.ZodError, input: unknown, schema?: z.ZodType): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of expandUnions(error.issues)) {
    const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
    if (issue.code === 'unrecognized_keys') {
      const allowed = keysAt(schema, issue.path);
      for (const key of issue.keys) {
        const hint = didYouMean(key, allowed);
        out.push({
          path: [...path, key],
          message: `unknown key${hint ? ` (did you mean "${hint}"?)` : allowed.length ? ` (allowed: ${allowed.join(', ')})` : ''}`,
        });
      }
      continue;
    }
    if (issue.code === 'invalid_key') {
      const key = path[path.length - 1];
      const inner = issue.issues.find((i) => !ZOD_DEFAULT_MESSAGE.test(i.message))?.message ?? 'invalid name';
      out.push({ path, message: `${inner}, got ${JSON.stringify(String(key))}` });
      continue;
    }
    const got = valueAt(input, issue.path);
    const hidden = isHidden(schema, issue.path, got);
    const custom = !ZOD_DEFAULT_MESSAGE.test(issue.message);
    let message: string;
    if (custom) {
      message = issue.message;
      if (got === undefined && issue.code === 'invalid_type') message = `required (${message})`;
    } else {
      message = defaultMessage(issue, got);
    }
    const sizeOfContainer = (issue.code === 'too_big' || issue.code === 'too_small') && got !== null && typeof got === 'object';
    if (got !== undefined && !sizeOfContainer && !/, got /.test(message) && !message.startsWith('required')) {
      message = `${message}, got ${describe(got, hidden)}`;
    }
    out.push({ path, message });
  }
  return out;
}

export function formatIssues(issues: readonly ConfigIssue[], prefix: readonly (string | number)[] = []): string[] {
  return issues.map((i) => `${formatPath([...prefix, ...i.path])}: ${i.message}`);
}

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(
    readonly file: string | undefined,
    readonly problems: string[],
  ) {
    super(`${file ? `${file}: ` : ''}invalid config\n  ${problems.join('\n  ')}`);
  }
}
