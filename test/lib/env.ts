/**
 * What a test needs from the machine. A missing need skips the test with a clear
 * message, unless IPWARDEN_TEST_STRICT=1 (set by .ci/run), where it fails instead.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** The built CLI (npm test builds first). */
export const CLI = resolve(ROOT, 'dist/src/cli/main.js');
export const STRICT = process.env.IPWARDEN_TEST_STRICT === '1';

/**
 * Upper bound for "it happened promptly" checks (returned soon after an abort, did not wait for a
 * reader, stopped without waiting for a hung plugin): far above what an idle machine needs, far below
 * the alternative the check rules out (a 30 s or longer sleep, a wait without end), so a busy machine
 * makes such a test slower, never red. Measure precisely in the benchmarks, not here.
 */
export const PROMPT_MS = 15_000;

export interface Needs {
  root?: boolean;
  netns?: boolean;
  /** Executables that must be on PATH (e.g. 'haproxy', 'nft'). */
  bins?: string[];
}

function which(bin: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore', env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` } });
    return true;
  } catch {
    return false;
  }
}

let netnsOk: boolean | undefined;
function canNetns(): boolean {
  if (netnsOk !== undefined) return netnsOk;
  const name = `ipwchk${process.pid}`;
  try {
    execFileSync('ip', ['netns', 'add', name], { stdio: 'ignore' });
    execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
    netnsOk = true;
  } catch {
    netnsOk = false;
  }
  return netnsOk;
}

/** Returns the reason the needs are not met, or undefined when they are. */
export function missing(needs: Needs): string | undefined {
  if ((needs.root || needs.netns) && process.getuid?.() !== 0) return 'needs root';
  for (const b of needs.bins ?? []) if (!which(b)) return `needs ${b} on PATH (Debian package; .ci/run installs it)`;
  if (needs.netns && !canNetns()) return 'needs network namespaces (ip netns add failed)';
  return undefined;
}

/**
 * For tap: `const skip = requireEnv({ netns: true }); t.test('x', { skip }, ...)`.
 * In strict mode a missing need throws, so the file fails loudly.
 */
export function requireEnv(needs: Needs): string | false {
  const why = missing(needs);
  if (!why) return false;
  if (STRICT) throw new Error(`IPWARDEN_TEST_STRICT=1 but the environment is missing something: ${why}`);
  return `skipped: ${why}`;
}
