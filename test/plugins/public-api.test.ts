/**
 * The package's public surface, read from the built declarations (what a plugin author's compiler
 * sees): dist/src/index.d.ts ("ipwarden"), kit.d.ts ("ipwarden/kit") and testing.d.ts
 * ("ipwarden/testing"), and every declaration file they reference, directly or not. None of the
 * engine, the daemon, the election backends or the CLI may be reachable: renaming an internal must
 * not break a plugin. Needs the build (`npm test` builds first).
 */
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { ROOT } from '../lib/env.js';

const DIST = join(ROOT, 'dist');
const ENTRIES = { ipwarden: 'dist/src/index.d.ts', 'ipwarden/kit': 'dist/src/kit.d.ts', 'ipwarden/testing': 'dist/src/testing.d.ts' };
/** Internal areas a public declaration must not reach. */
const FORBIDDEN = ['src/engine/', 'src/daemon/', 'src/election/', 'src/cli/', 'src/lab/', 'src/log.'];

/** Relative module references of a .d.ts: import/export ... from, import("..."), /// <reference path>. */
function references(text: string): string[] {
  const out = [...text.matchAll(/\bfrom\s+['"](\.[^'"]+)['"]/g), ...text.matchAll(/\bimport\(\s*['"](\.[^'"]+)['"]\s*\)/g), ...text.matchAll(/<reference path=['"]([^'"]+)['"]/g)].map((m) => m[1]!);
  return out;
}

/** Every declaration file reachable from `entry` (paths relative to dist/). */
function graph(entry: string): Set<string> {
  const seen = new Set<string>();
  const todo = [join(ROOT, entry)];
  while (todo.length) {
    const file = todo.pop()!;
    const rel = relative(DIST, file);
    if (seen.has(rel)) continue;
    seen.add(rel);
    for (const spec of references(readFileSync(file, 'utf8'))) {
      const target = resolve(dirname(file), spec).replace(/\.js$/, '.d.ts');
      if (!existsSync(target)) throw new Error(`${rel}: ${spec}: no declaration file ${relative(ROOT, target)}`);
      todo.push(target);
    }
  }
  return seen;
}

t.test('the public declarations reach nothing of the engine, daemon, election or CLI', async (t) => {
  for (const [name, entry] of Object.entries(ENTRIES)) {
    t.ok(existsSync(join(ROOT, entry)), `${entry} built`);
    const files = [...graph(entry)].sort();
    const bad = files.filter((f) => FORBIDDEN.some((p) => f.startsWith(p)));
    t.same(bad, [], `"${name}" reaches only public modules (${files.length} declaration files: ${files.join(' ')})`);
  }
});

t.test('"ipwarden" exports the plugin API only, with a logger type of its own', async (t) => {
  const index = readFileSync(join(ROOT, ENTRIES.ipwarden), 'utf8');
  for (const internal of ['InstanceEngine', 'outranks', 'effectiveHealth', 'DaemonStatus', 'EngineConfig', 'zodConfig']) {
    t.notMatch(index, new RegExp(`\\b${internal}\\b`), `no ${internal}`);
  }
  for (const name of ['defineCheck', 'defineAction', 'defineDiscovery', 'CheckPlugin', 'ActionPlugin', 'DiscoveryPlugin', 'DoctorContext', 'Logger']) {
    t.match(index, new RegExp(`\\b${name}\\b`), `exports ${name}`);
  }
  const api = readFileSync(join(DIST, 'src/plugins/api.d.ts'), 'utf8');
  t.notMatch(api, /(from\s+|import\(\s*)['"]pino['"]/, "the Logger type is ipwarden's, not pino's");
  t.match(api, /export interface Logger \{/, 'declared in the API');
  const mod = (await import(join(DIST, 'src/index.js'))) as Record<string, unknown>;
  t.same(Object.keys(mod).sort(), ['defineAction', 'defineCheck', 'defineDiscovery'], 'the runtime exports: the define* helpers');
});

t.test('the graph walk sees what an internal reference would drag in', async (t) => {
  const files = graph('dist/src/plugins/action-runner.d.ts');
  t.ok([...files].some((f) => f.startsWith('src/log.')), 'the action runner (internal) reaches src/log: the walk follows references');
});
