/** The daemon's persistent state (stateFile): what must survive a restart, i.e. maintenance mode. */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '../log.js';

export interface PersistentState {
  /** Instances in maintenance. */
  maintenance: string[];
}

export function readPersistentState(path: string, log: Logger): PersistentState {
  try {
    const data = JSON.parse(readFileSync(path, 'utf8')) as Partial<PersistentState>;
    const maintenance = Array.isArray(data.maintenance) ? data.maintenance.filter((x): x is string => typeof x === 'string') : [];
    if (maintenance.length) log.warn({ event: 'maintenance', instances: maintenance }, `starting in maintenance (from ${path}): ${maintenance.join(', ')}`);
    return { maintenance };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') log.warn({ err: (err as Error).message, file: path }, 'state file unreadable: starting without persisted state');
    return { maintenance: [] };
  }
}

/** Atomic write (temp file + rename). */
export function writePersistentState(path: string, state: PersistentState, log: Logger): void {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(state)}\n`, { mode: 0o640 });
    renameSync(tmp, path);
  } catch (err) {
    log.error({ err: (err as Error).message, file: path }, 'cannot write the state file: maintenance mode will not survive a restart');
  }
}
