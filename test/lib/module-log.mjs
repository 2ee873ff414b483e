/**
 * Test helper, preloaded with `node --import <this file> ...`: appends the path of every module
 * file the process loads to the file named by IPWARDEN_MODULE_LOG, one per line. ES modules are
 * seen by a resolve hook (on the loader thread), CommonJS requires by a wrapper around the CJS
 * loader, so packages loaded either way show up. Lets a test see a real daemon's module graph
 * (test/daemon/module-graph.test.ts); the log may repeat a path.
 */
import { appendFileSync } from 'node:fs';
import { createRequire, isBuiltin, register } from 'node:module';

const file = process.env.IPWARDEN_MODULE_LOG;
if (!file) throw new Error('test/lib/module-log.mjs: set IPWARDEN_MODULE_LOG to the log file');

const HOOKS = `
import { appendFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
let file;
export function initialize(data) { file = data.file; }
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  if (r.url.startsWith('file:')) appendFileSync(file, fileURLToPath(r.url) + '\\n');
  return r;
}
`;
register(`data:text/javascript,${encodeURIComponent(HOOKS)}`, { data: { file } });

const Module = createRequire(import.meta.url)('node:module');
const load = Module._load;
Module._load = function (request, parent, isMain) {
  const exports = load.apply(this, arguments);
  if (!isBuiltin(request)) {
    try {
      appendFileSync(file, `${Module._resolveFilename(request, parent, isMain)}\n`);
    } catch {
      /* resolved by a hook only: the ESM side logged it */
    }
  }
  return exports;
};
