/** Builds a plugin `parseConfig` from a zod schema (what the built-in plugins use). */
import { z } from 'zod';
import type { ParseResult } from './api.js';
import { zodIssues } from '../config/issues.js';

export function zodConfig<S extends z.ZodType>(schema: S): (raw: Record<string, unknown>) => ParseResult<z.output<S>> {
  return (raw) => {
    const r = schema.safeParse(raw);
    return r.success ? { ok: true, config: r.data } : { ok: false, issues: zodIssues(r.error, raw, schema) };
  };
}
