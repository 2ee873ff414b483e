/** Moved to src/util/argv.ts (shared with the notify action); re-exported for existing importers. */
export { ArgvError, splitCommand } from '../../src/kit.js';
