/**
 * The rc-file keys every cloud action shares (the shared controller's keys), once: `release`,
 * `onApiUnreachable`, `reconcile`, `startupGrace`, and `strategy` (multi-holder clouds offer
 * all-healthy; single-holder clouds only move), plus the http(s) URL key type of `endpoint`/`metadataUrl`.
 * Durations use the project's one grammar (src/util/duration.ts).
 */
import { z } from 'zod';
import { zodDuration } from '../plugins/zod-config.js';

/** An http:// or https:// URL. */
export const httpUrlKey = z
  .string({ error: 'expected an http(s) URL' })
  .refine((u) => /^https?:\/\//.test(u) && URL.canParse(u), { error: 'expected an http(s) URL' });

/** The shared controller's keys, without `strategy`. */
export const controllerKeysShape = {
  release: z.boolean({ error: 'expected true or false' }).default(true),
  onApiUnreachable: z.enum(['hold', 'release']).default('hold'),
  reconcile: zodDuration(0, 86_400_000).prefault('30s'),
  startupGrace: zodDuration(0, 3_600_000).prefault('10s'),
};

/** `strategy` on a single-holder cloud: attaching moves the address, so only "move". */
export function singleHolderStrategy(why: string) {
  return z.enum(['move'], { error: `${why}: only strategy "move"` }).default('move');
}
