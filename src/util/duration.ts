/**
 * Durations in config and on the command line: "1s", "200ms", "1.5s", "2m".
 * One parser for the whole project.
 */
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
/** The grammar as a pattern without groups (JSON Schema `pattern`, zod `.regex`). */
export const DURATION_PATTERN = /^\d+(?:\.\d+)?(?:ms|s|m|h)$/;
/** The message for a value that is not a duration. */
export const DURATION_MESSAGE = 'expected a duration like "1s"';

/** Parses a duration string into milliseconds; returns undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION_RE.exec(text.trim());
  if (!m) return undefined;
  const ms = Number(m[1]) * UNIT_MS[m[2]!]!;
  return Number.isFinite(ms) ? Math.round(ms) : undefined;
}

/** Like parseDuration, but throws an error naming `what` (a flag or config path). */
export function requireDuration(text: string, what: string): number {
  const ms = parseDuration(text);
  if (ms === undefined) throw new Error(`${what}: expected a duration like "1s", got ${JSON.stringify(text)}`);
  return ms;
}

/** Milliseconds as the shortest duration string that parses back exactly: "1s", "250ms", "1.5s", "2m", "1h" (config output). */
export function durationText(ms: number): string {
  if (ms === 0) return '0s';
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms >= 1000) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** Formats milliseconds the way logs and status show them: "350ms", "3.0s", "2m05s", "1h05m", "3d02h". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  if (ms < 3_600_000) {
    const m = Math.floor(ms / 60_000);
    const s = Math.floor((ms % 60_000) / 1000);
    return `${m}m${String(s).padStart(2, '0')}s`;
  }
  if (ms < 86_400_000) return `${Math.floor(ms / 3_600_000)}h${String(Math.floor((ms % 3_600_000) / 60_000)).padStart(2, '0')}m`;
  return `${Math.floor(ms / 86_400_000)}d${String(Math.floor((ms % 86_400_000) / 3_600_000)).padStart(2, '0')}h`;
}
