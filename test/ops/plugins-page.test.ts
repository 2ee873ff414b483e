/**
 * ipwarden-plugins(7) against the code: every built-in plugin has its section with exactly the
 * keys its config schema accepts, and the example plugin of the page works as printed.
 * (Drift against the templates and groff warnings: test/docs/man.test.ts, for every page.)
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { CLI, ROOT } from '../lib/env.js';
import { loadPlugins } from '../../src/plugins/loader.js';
import type { CheckPlugin } from '../../src/plugins/api.js';
import { deroff, documentedKeys, exampleBlocks, section, subsections } from './lib/man-text.js';

const page = readFileSync(join(ROOT, 'man', 'ipwarden-plugins.7'), 'utf8');
const PLUGINS_DIR = join(ROOT, 'plugins');

interface JsonNode {
  properties?: Record<string, JsonNode>;
}

/** Leaf key paths of a JSON Schema object ("tls.ca"); maps (records) count as one key. */
function keyPaths(node: JsonNode, prefix = ''): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(node.properties ?? {})) {
    if (v.properties) out.push(...keyPaths(v, `${prefix}${k}.`));
    else out.push(`${prefix}${k}`);
  }
  return out;
}

/** The keys a built-in plugin accepts, from the zod schema(s) its module exports as `*Schema`. */
async function schemaKeys(dir: string): Promise<string[] | undefined> {
  const mod = (await import(pathToFileURL(join(PLUGINS_DIR, dir, 'index.ts')).href)) as Record<string, unknown>;
  const schemas = Object.entries(mod).filter(([name, v]) => name.endsWith('Schema') && v instanceof z.ZodType);
  if (schemas.length === 0) return undefined;
  const keys = new Set<string>();
  for (const [, s] of schemas) {
    for (const k of keyPaths(z.toJSONSchema(s as z.ZodType, { io: 'input', unrepresentable: 'any' }) as JsonNode)) keys.add(k);
  }
  return [...keys].sort();
}

t.test('every built-in plugin is documented with exactly the keys it accepts', async (t) => {
  const builtins = section(page, 'BUILT\\-IN PLUGINS');
  t.ok(builtins, 'the page has a BUILT-IN PLUGINS section');
  const documented = subsections(builtins ?? '');
  const reg = await loadPlugins([], ROOT);
  const plugins = [...reg.checks.values(), ...reg.actions.values(), ...(reg.discovery?.values() ?? [])];
  const dirs = readdirSync(PLUGINS_DIR).filter((d) => !d.startsWith('.')).sort();
  t.ok(plugins.length >= 7, `${plugins.length} built-in plugins loaded`);
  for (const plugin of plugins) {
    const heading = `${plugin.name} (${plugin.kind})`;
    const text = documented.get(heading);
    t.ok(text, `section "${heading}"`);
    if (!text) continue;
    const dir = dirs.find((d) => d === plugin.name) ?? dirs.find((d) => plugin.name.startsWith(d) || d.startsWith(plugin.name));
    const keys = dir ? await schemaKeys(dir) : undefined;
    t.ok(keys, `plugins/${dir ?? plugin.name}/index.ts exports its config schema as <name>Schema`);
    if (keys) t.same(documentedKeys(text).sort(), keys, `${plugin.name}: documented keys = schema keys`);
  }
  for (const heading of documented.keys()) {
    t.ok(plugins.some((p) => heading === `${p.name} (${p.kind})`), `documented plugin "${heading}" exists`);
  }
});

t.test('the PLUGIN API section lists every exported declaration of src/plugins/api.ts', async (t) => {
  const api = readFileSync(join(ROOT, 'src', 'plugins', 'api.ts'), 'utf8');
  const names = [...api.matchAll(/^export (?:interface|type|function) (\w+)/gm)].map((m) => m[1]!);
  t.ok(names.includes('CheckPlugin') && names.includes('ActionPlugin'));
  const text = deroff(section(page, 'PLUGIN API') ?? '');
  for (const n of names) t.match(text, new RegExp(`export (interface|type|function) ${n}\\b`), n);
});

t.test('the example plugin of the page works as printed', async (t) => {
  const blocks = exampleBlocks(section(page, 'EXAMPLE') ?? '');
  t.equal(blocks.length, 2, 'the module and the rc file');
  const [module, rc] = blocks as [string, string];
  const dir = mkdtempSync(join(tmpdir(), 'ipwarden-plugin-example-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'plugins'));
  // "next to an installed ipwarden": its imports (ipwarden, ipwarden/kit, zod) resolve from its folder
  mkdirSync(join(dir, 'plugins', 'node_modules'));
  symlinkSync(ROOT, join(dir, 'plugins', 'node_modules', 'ipwarden'), 'dir');
  symlinkSync(join(ROOT, 'node_modules', 'zod'), join(dir, 'plugins', 'node_modules', 'zod'), 'dir');
  const file = join(dir, 'plugins', 'process-running.mjs');
  writeFileSync(file, module);
  writeFileSync(join(dir, 'config.yaml'), rc);
  writeFileSync(join(dir, 'heartbeat.key'), 'an example key of more than 16 bytes\n', { mode: 0o600 });

  const r = spawnSync(process.execPath, [CLI, 'config', 'check', '--config', join(dir, 'config.yaml')], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    timeout: 30_000,
  });
  t.equal(r.status, 0, `config check accepts the example\n${r.stderr}`);
  t.equal(r.stderr, '', 'without warnings');

  const plugin = ((await import(pathToFileURL(file).href)) as { default: CheckPlugin<{ pidfile: string }> }).default;
  const env = { baseDir: dir, resolveSecret: (ref: string) => ref };
  const typo = plugin.parseConfig({ pidfle: 'x' }, env);
  t.equal(typo.ok, false, 'rejects unknown keys');
  t.match(JSON.stringify(typo), /pidfle/, 'naming the key');
  const run = async (pidfile: string) => {
    const parsed = plugin.parseConfig({ pidfile }, env);
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    return plugin.run({ config: parsed.config, signal: AbortSignal.timeout(2000), log: undefined as never });
  };
  writeFileSync(join(dir, 'self.pid'), `${process.pid}\n`);
  t.same(await run('self.pid'), { ok: true, detail: `process ${process.pid} is running` }, 'relative pidfile, running process');
  const gone = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
  writeFileSync(join(dir, 'gone.pid'), gone.stdout);
  const res = await run(join(dir, 'gone.pid'));
  t.equal(res.ok, false, 'an exited process fails');
  t.match(res.detail, /is not running/);
  const missing = await run('missing.pid');
  t.same(missing, { ok: false, detail: `${join(dir, 'missing.pid')}: ENOENT` });
});
