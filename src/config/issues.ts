/**
 * Turns zod issues into the one error format used for every config problem:
 *   instances.web.interval: expected a duration like "1s", got "fast"
 * Unknown keys get a did-you-mean from the keys that are allowed there.
 */
import type { z } from 'zod';
import type { ConfigIssue } from '../plugins/api.js';

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out || '(root)';
}

/** Edit distance, for did-you-mean. */
export function distance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0]!;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j]!;
      dp[j] = Math.min(dp[j]! + 1, dp[j - 1]! + 1, prev + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length]!;
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

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
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

/** Keys allowed by the object schema at `path` (for did-you-mean). */
function keysAt(schema: z.ZodType | undefined, path: readonly PropertyKey[]): string[] {
  let s: any = schema;
  for (const p of path) {
    s = unwrap(s);
    if (!s) return [];
    if (s.def?.type === 'object') s = s.def.shape[p as string];
    else if (s.def?.type === 'record') s = s.def.valueType;
    else if (s.def?.type === 'array') s = s.def.element;
    else return [];
  }
  s = unwrap(s);
  return s?.def?.type === 'object' ? Object.keys(s.def.shape) : [];
}

function unwrap(s: any): any {
  while (s && ['optional', 'default', 'nullable', 'prefault', 'pipe', 'readonly'].includes(s.def?.type)) {
    s = s.def.type === 'pipe' ? s.def.in : s.def.innerType;
  }
  return s;
}

export function zodIssues(error: z.ZodError, input: unknown, schema?: z.ZodType): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      const allowed = keysAt(schema, issue.path);
      for (const key of issue.keys) {
        const hint = didYouMean(key, allowed);
        out.push({
          path: [...issue.path, key] as (string | number)[],
          message: `unknown key${hint ? ` (did you mean "${hint}"?)` : allowed.length ? ` (allowed: ${allowed.join(', ')})` : ''}`,
        });
      }
      continue;
    }
    const got = valueAt(input, issue.path);
    let message = issue.message;
    if (issue.code === 'invalid_type') {
      message = got === undefined ? `required (expected ${issue.expected})` : `expected ${issue.expected}, got ${describe(got)}`;
    } else if (issue.code === 'invalid_value' && 'values' in issue) {
      message = `expected one of ${(issue.values as unknown[]).map((v) => JSON.stringify(v)).join(', ')}, got ${describe(got)}`;
    } else if (!/, got /.test(message) && got !== undefined && (typeof got !== 'object' || got === null)) {
      message = `${message}, got ${describe(got)}`;
    }
    out.push({ path: issue.path as (string | number)[], message });
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
