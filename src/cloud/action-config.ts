/**
 * The rc-file keys every cloud action shares (the shared controller's keys), once: `release`,
 * `onApiUnreachable`, `reconcile`, `startupGrace`, and `strategy` (multi-holder clouds offer
 * all-healthy; single-holder clouds only move), plus the http(s) URL key type of `endpoint`/`metadataUrl`.
 * Durations use the project's one grammar (src/util/duration.ts).
 */
import { z } from 'zod';
import { durationText } from '../config/schema.js';
import { parseDuration } from '../util/duration.js';

const DURATION_MESSAGE = 'expected a duration like "30s" (0s = off)';

/** A duration key of a plugin's config, in milliseconds after parsing; `fallback` when absent. */
export function configDuration(maxMs: number, fallback: string) {
  return z
    .string({ error: DURATION_MESSAGE })
    .refine((s) => parseDuration(s) !== undefined, { error: DURATION_MESSAGE })
    .refine((s) => (parseDuration(s) ?? Infinity) <= maxMs, { error: `expected at most ${durationText(maxMs)}` })
    .default(fallback)
    .transform((s) => parseDuration(s)!);
}

/** An http:// or https:// URL. */
export const httpUrlKey = z
  .string({ error: 'expected an http(s) URL' })
  .refine((u) => /^https?:\/\//.test(u) && URL.canParse(u), { error: 'expected an http(s) URL' });

/** The shared controller's keys, without `strategy`. */
export const controllerKeysShape = {
  release: z.boolean({ error: 'expected true or false' }).default(true),
  onApiUnreachable: z.enum(['hold', 'release']).default('hold'),
  reconcile: configDuration(86_400_000, '30s'),
  startupGrace: configDuration(3_600_000, '10s'),
};

/** `strategy` on a single-holder cloud: attaching moves the address, so only "move". */
export function singleHolderStrategy(why: string) {
  return z.enum(['move'], { error: `${why}: only strategy "move"` }).default('move');
}
