/** The man pages are rendered from the code they describe; they must not drift, and must lint clean. */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { ROOT, requireEnv } from '../lib/env.js';
import { renderManPages, configKeys, builtinCheckPlugins } from '../../src/docs/man.js';
import { COMMANDS } from '../../src/cli/commands.js';

const pages = await renderManPages(join(ROOT, 'man'));

t.test('committed man pages equal the rendered ones (run `npm run man`)', async (t) => {
  t.ok(Object.keys(pages).length >= 2);
  for (const [name, text] of Object.entries(pages)) t.equal(readFileSync(join(ROOT, 'man', name), 'utf8'), text, name);
});

t.test('every command and flag is in ipwarden(8), every config key in ipwarden.rc(5)', async (t) => {
  const p8 = pages['ipwarden.8']!;
  for (const c of COMMANDS) {
    t.match(p8, `.B ipwarden ${c.name}`, c.name);
    for (const f of Object.keys(c.flags)) t.match(p8, `--${f}`.replace(/-/g, "\\-"), `${c.name} --${f}`);
  }
  // the flags the built-in check plugins declare (ipwarden check PLUGIN --FLAG)
  const checks = await builtinCheckPlugins();
  t.ok(checks.length >= 5, `${checks.length} built-in check plugins`);
  for (const p of checks) {
    for (const f of p.flags ?? []) t.match(p8, `${p.name}: ${f.description}`.replace(/-/g, '\\-').slice(0, 40), `check ${p.name} --${f.name}`);
  }
  const p5 = pages['ipwarden.rc.5']!;
  for (const k of configKeys()) t.match(p5, `.B ${k.path.replace(/-/g, '\\-')}\n`, k.path);
  // and the other way round: every key the page documents exists in the schema
  const documented = [...p5.matchAll(/^\.TP\n\.B ([a-z$][\w.<>[\]\\-]*)\n/gim)].map((m) => m[1]!.replace(/\\-/g, '-'));
  const known = new Set(configKeys().map((k) => k.path));
  for (const d of documented) t.ok(known.has(d), `documented key ${d} exists in the schema`);
});

const skip = requireEnv({ bins: ['groff'] });
t.test('groff -ww -man -z: no warnings', { skip }, async (t) => {
  for (const name of Object.keys(pages)) {
    const r = spawnSync('groff', ['-ww', '-man', '-z', join(ROOT, 'man', name)], { encoding: 'utf8' });
    t.equal(r.status, 0, name);
    t.equal(r.stderr, '', `${name}: no warnings`);
  }
});
