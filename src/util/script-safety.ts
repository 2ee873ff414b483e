/**
 * keepalived's script security rule, for `ipwarden doctor`: a script run by a root daemon must be
 * executable, and neither it nor any directory above it may be writable by a non-root user.
 */
import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { DoctorFinding } from '../plugins/api.js';

/** Findings about the program `file` (argv[0] of a script; bare names are looked up on PATH). */
export async function scriptFindings(file: string): Promise<DoctorFinding[]> {
  let path = file;
  if (!file.includes('/')) {
    try {
      path = (await promisify(execFile)('sh', ['-c', 'command -v "$1"', 'sh', file], { encoding: 'utf8', timeout: 10_000 })).stdout.trim();
    } catch {
      return [{ ok: false, item: `script ${file}`, detail: 'not found on PATH', fix: 'give the full path of the script' }];
    }
    if (!path.startsWith('/')) return [{ ok: true, item: `script ${file}`, detail: 'a shell builtin' }];
  }
  const full = isAbsolute(path) ? path : resolve(path);
  let st;
  try {
    st = await stat(full);
  } catch (err) {
    return [{ ok: false, item: `script ${full}`, detail: (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : String((err as Error).message), fix: 'create it or fix the path' }];
  }
  const out: DoctorFinding[] = [];
  if (!st.isFile() || (st.mode & 0o111) === 0) out.push({ ok: false, item: `script ${full}`, detail: 'not an executable file', fix: `chmod +x ${full}` });
  for (let p = full; ; p = dirname(p)) {
    const s = p === full ? st : await stat(p);
    if (s.mode & 0o002 && !(s.mode & 0o1000 && p !== full)) {
      out.push({ ok: false, item: `script ${full}`, detail: `${p} is writable by every user: anyone could run code as root`, fix: `chmod o-w ${p}` });
    } else if (s.mode & 0o020 && s.gid !== 0) {
      out.push({ ok: false, item: `script ${full}`, detail: `${p} is writable by group ${s.gid}`, fix: `chmod g-w ${p} (or chgrp root)` });
    } else if (s.uid !== 0 && process.getuid?.() === 0) {
      out.push({ ok: false, item: `script ${full}`, detail: `${p} is owned by uid ${s.uid}, not root`, fix: `chown root ${p}` });
    }
    if (p === dirname(p)) break;
  }
  if (!out.length) out.push({ ok: true, item: `script ${full}`, detail: 'executable, writable by root only' });
  return out;
}
