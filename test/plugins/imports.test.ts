/**
 * The built-in plugins are written like a third-party plugin: each file under plugins/ imports only
 * - node built-ins and npm packages (zod, ...),
 * - its own folder (and a sibling plugin's folder, e.g. http reuses tcp's socket-error texts),
 * - the modules behind the public entry points: src/index.ts ("ipwarden"), src/kit.ts
 *   ("ipwarden/kit"), src/testing.ts ("ipwarden/testing"),
 * - and a cloud plugin (`<cloud>-*`) its cloud's provider package src/<cloud>/ (client, connection,
 *   provider): what a third-party cloud plugin would ship in its own folder.
 * Nothing else of src/ (no engine, daemon, config loader, internal utilities).
 */
import t from 'tap';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname, sep } from 'node:path';
import { ROOT } from '../lib/env.js';

const PLUGINS = join(ROOT, 'plugins');
const ENTRY_MODULES = ['src/index.ts', 'src/kit.ts', 'src/testing.ts'];
const CLOUDS = ['aws', 'digitalocean', 'exoscale', 'hetzner'];

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Every module specifier of a file: static imports/exports (type-only too) and dynamic import(). */
export function specifiersOf(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(/^\s*(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/gm)) out.push(m[1]!);
  for (const m of source.matchAll(/^\s*import\s*['"]([^'"]+)['"]/gm)) out.push(m[1]!);
  for (const m of source.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1]!);
  return out;
}

/** Why `spec`, imported by `file` of plugin `plugin`, breaks the rule; undefined when it does not. */
export function whyNotAllowed(file: string, plugin: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return spec === 'ipwarden' || spec.startsWith('ipwarden/') ? (['ipwarden', 'ipwarden/kit', 'ipwarden/testing'].includes(spec) ? undefined : `${spec} is not a public entry point`) : undefined;
  const target = relative(ROOT, resolve(dirname(file), spec)).split(sep).join('/').replace(/\.js$/, '.ts');
  if (target.startsWith('plugins/')) return undefined;
  if (ENTRY_MODULES.includes(target)) return undefined;
  const cloud = CLOUDS.find((c) => target.startsWith(`src/${c}/`));
  if (cloud && plugin.startsWith(`${cloud}-`)) return undefined;
  return `${target} is internal (allowed: ${ENTRY_MODULES.join(', ')}${CLOUDS.some((c) => plugin.startsWith(`${c}-`)) ? `, src/${plugin.split('-')[0]}/` : ''})`;
}

t.test('every built-in plugin imports only the public entry points, its own folder and its cloud package', async (t) => {
  const files = tsFiles(PLUGINS);
  t.ok(files.length >= 17, `${files.length} plugin files scanned`);
  const problems: string[] = [];
  let count = 0;
  for (const file of files) {
    const plugin = relative(PLUGINS, file).split(sep)[0]!;
    for (const spec of specifiersOf(readFileSync(file, 'utf8'))) {
      count++;
      const why = whyNotAllowed(file, plugin, spec);
      if (why) problems.push(`${relative(ROOT, file)}: ${spec}: ${why}`);
    }
  }
  t.ok(count > 50, `${count} imports checked`);
  t.same(problems, [], 'no plugin reaches into ipwarden internals');
});

t.test('the rule itself: what it accepts and rejects', async (t) => {
  const f = join(PLUGINS, 'exoscale-eip', 'index.ts');
  t.equal(whyNotAllowed(f, 'exoscale-eip', '../../src/kit.js'), undefined);
  t.equal(whyNotAllowed(f, 'exoscale-eip', '../../src/exoscale/client.js'), undefined, 'its cloud package');
  t.equal(whyNotAllowed(f, 'exoscale-eip', './controller.js'), undefined, 'its own folder');
  t.equal(whyNotAllowed(f, 'exoscale-eip', 'zod'), undefined, 'an npm package');
  t.match(whyNotAllowed(f, 'exoscale-eip', '../../src/hetzner/client.js'), /src\/hetzner\/client\.ts is internal/, "another cloud's package");
  t.match(whyNotAllowed(f, 'exoscale-eip', '../../src/engine/instance.js'), /internal/);
  t.match(whyNotAllowed(join(PLUGINS, 'tcp', 'index.ts'), 'tcp', '../../src/util/duration.js'), /src\/util\/duration\.ts is internal/);
  t.match(whyNotAllowed(f, 'exoscale-eip', 'ipwarden/src/log.js'), /not a public entry point/);
  t.same(specifiersOf("import type { A } from '../../src/log.js';\nexport { b } from './b.js';\nconst m = await import('../x.js');\nimport 'side';"), ['../../src/log.js', './b.js', 'side', '../x.js']);
});
