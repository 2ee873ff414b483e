/**
 * Building a plugin's `parseConfig` from a schema:
 * - `schemaConfig(schema)` takes any Standard Schema validator (https://standardschema.dev: zod 3.24+
 *   and 4, valibot 1, arktype 2 all carry `~standard`), so plugin authors pick their own library and
 *   version;
 * - `zodConfig(schema)` is the same for a zod 4 schema built with ipwarden's zod, with ipwarden's
 *   richer messages (the allowed keys and a "did you mean" for an unknown key); the built-ins use it.
 * Plus `zodDuration`, the zod key for the project's one duration grammar (src/util/duration.ts).
 */
import { z } from 'zod';
import type { ConfigIssue, ParseResult, PluginEnvironment } from './api.js';
import { zodIssues } from '../config/issues.js';
import { DURATION_MESSAGE, DURATION_PATTERN, durationText, parseDuration } from '../util/duration.js';

/** The Standard Schema v1 interface (copied, as the spec asks, so no package is needed for it). */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) => StandardResult<Output> | Promise<StandardResult<Output>>;
    readonly types?: { readonly input: Input; readonly output: Output } | undefined;
  };
}
type StandardResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | { readonly issues: ReadonlyArray<{ readonly message: string; readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined }> };

/** The validated value of a Standard Schema. */
export type StandardOutput<S> = S extends { readonly '~standard': { readonly types?: infer T } } ? (NonNullable<T> extends { readonly output: infer O } ? O : unknown) : unknown;

/** A plugin's `parseConfig`. */
export type ParseConfig<C> = (raw: Record<string, unknown>, env: PluginEnvironment) => ParseResult<C>;

function pathOf(path: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined): (string | number)[] {
  return (path ?? []).map((seg) => {
    const key = typeof seg === 'object' && seg !== null ? seg.key : seg;
    return typeof key === 'number' ? key : String(key);
  });
}

/**
 * A `parseConfig` from any Standard Schema validator. `finish` turns the validated value into the
 * plugin's config with what depends on the environment (paths relative to the config file, secrets).
 * Validation must be synchronous (a config is checked before the daemon starts): an async schema is
 * reported as an issue.
 */
export function schemaConfig<S extends StandardSchemaV1>(schema: S): ParseConfig<StandardOutput<S>>;
export function schemaConfig<S extends StandardSchemaV1, C>(schema: S, finish: (value: StandardOutput<S>, env: PluginEnvironment) => C): ParseConfig<C>;
export function schemaConfig<S extends StandardSchemaV1, C>(
  schema: S,
  finish?: (value: StandardOutput<S>, env: PluginEnvironment) => C,
): ParseConfig<C> {
  return (raw, env) => {
    const r = schema['~standard'].validate(raw);
    if (r instanceof Promise) return { ok: false, issues: [{ path: [], message: 'the plugin\'s schema validates asynchronously; ipwarden needs a synchronous schema' }] };
    if (r.issues) return { ok: false, issues: r.issues.map((i): ConfigIssue => ({ path: pathOf(i.path), message: i.message })) };
    const value = r.value as StandardOutput<S>;
    return { ok: true, config: finish ? finish(value, env) : (value as unknown as C) };
  };
}

/** A `parseConfig` from a zod 4 schema (ipwarden's zod): unknown keys are named with the allowed ones. */
export function zodConfig<S extends z.ZodType>(schema: S): (raw: Record<string, unknown>) => ParseResult<z.output<S>> {
  return (raw) => {
    const r = schema.safeParse(raw);
    return r.success ? { ok: true, config: r.data } : { ok: false, issues: zodIssues(r.error, raw, schema) };
  };
}

/** A duration key ("1s", "250ms", "2m", "1h"), in milliseconds after parsing, from `min` to `max` ms. */
export function zodDuration(min: number, max: number) {
  const range = `expected a duration from ${durationText(min)} to ${durationText(max)}`;
  return z
    .string({ error: DURATION_MESSAGE })
    .regex(DURATION_PATTERN, { error: DURATION_MESSAGE })
    .transform((text, ctx) => {
      const ms = parseDuration(text);
      if (ms === undefined) {
        ctx.issues.push({ code: 'custom', message: DURATION_MESSAGE, input: text });
        return z.NEVER;
      }
      if (ms < min || ms > max) {
        ctx.issues.push({ code: 'custom', message: range, input: text });
        return z.NEVER;
      }
      return ms;
    });
}
