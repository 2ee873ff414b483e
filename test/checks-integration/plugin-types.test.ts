/**
 * The published types, as a plugin author meets them: a project with ipwarden in its
 * node_modules (a symlink to this repository, as `npm link` makes it) type-checks a plugin that
 * does `import type { CheckPlugin } from "ipwarden"`, and a wrong plugin fails to. The contrib
 * example (plain .mjs with JSDoc types) type-checks through the package's own name too.
 * Needs the build (dist/src/index.d.ts); `npm test` builds first.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../lib/env.js';

const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
const BASE_OPTIONS = [
  '--noEmit',
  '--strict',
  '--target', 'es2022',
  '--module', 'nodenext',
  '--moduleResolution', 'nodenext',
  '--types', 'node',
  '--typeRoots', join(ROOT, 'node_modules/@types'),
];

function tsc(cwd: string, args: string[]) {
  // A bound for a compiler that hangs, not a verdict: a busy machine makes tsc slow.
  const r = spawnSync(process.execPath, [TSC, ...BASE_OPTIONS, ...args], { cwd, encoding: 'utf8', timeout: 150_000 });
  const killed = r.signal ? `\n(tsc killed by ${r.signal}${r.error ? `: ${r.error.message}` : ''})` : '';
  return { code: r.status, out: `${r.stdout}${r.stderr}${killed}` };
}

const GOOD = `import type { CheckPlugin, CheckResult, PluginEnvironment } from 'ipwarden';
import { defineCheck } from 'ipwarden';

interface PortConfig { port: number }

const plugin: CheckPlugin<PortConfig> = {
  kind: 'check',
  name: 'port-open',
  parseConfig(raw, env: PluginEnvironment) {
    void env.baseDir;
    if (typeof raw.port !== 'number') return { ok: false, issues: [{ path: ['port'], message: 'expected a number' }] };
    return { ok: true, config: { port: raw.port } };
  },
  async run({ config, signal, log, name, instance }): Promise<CheckResult> {
    log.debug({ check: name, instance }, 'run');
    if (signal.aborted) return { ok: false, detail: String(signal.reason) };
    return { ok: config.port > 0, detail: \`port \${config.port}\`, metrics: { port: config.port } };
  },
};
export default plugin;

// defineCheck infers the config type from parseConfig
// the guide's test: the plugin's own logger type is ipwarden's, so \`console\` fits
export const viaConsole = plugin.run({ config: { port: 1 }, signal: AbortSignal.timeout(1000), log: console });
export const doctored = plugin.doctor?.({ config: { port: 1 }, log: console, instance: { name: 'web', address: '198.51.100.10' }, node: { id: 'lb1' }, signal: AbortSignal.timeout(1000) });

export const inferred = defineCheck({
  kind: 'check',
  name: 'inferred',
  parseConfig: () => ({ ok: true, config: { url: 'http://127.0.0.1/' } }),
  async run({ config }) {
    return { ok: config.url.startsWith('http'), detail: config.url };
  },
});
`;

const BAD = `import type { CheckPlugin } from 'ipwarden';
const plugin: CheckPlugin<{ port: number }> = {
  kind: 'check',
  name: 'bad',
  parseConfig: () => ({ ok: true, config: { port: 1 } }),
  async run({ config }) {
    return { ok: 'yes', detail: config.prot };
  },
};
export default plugin;
`;

t.test('package.json publishes the types at dist/src/index.d.ts', async (t) => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; types: string; exports: Record<string, { types: string; default: string }> };
  t.equal(pkg.name, 'ipwarden');
  t.equal(pkg.types, 'dist/src/index.d.ts');
  t.same(pkg.exports['.'], { types: './dist/src/index.d.ts', default: './dist/src/index.js' });
  t.ok(existsSync(join(ROOT, 'dist/src/index.d.ts')), 'built (npm run build)');
});

t.test('a plugin project type-checks against import type { CheckPlugin } from "ipwarden"', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ipwarden-plugin-types-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(ROOT, join(dir, 'node_modules/ipwarden'), 'dir');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'ipwarden-check-port', type: 'module', private: true }));
  writeFileSync(join(dir, 'good.ts'), GOOD);
  writeFileSync(join(dir, 'bad.ts'), BAD);

  // one compiler run for the good files: the plugin project's, and the contrib examples (.mjs,
  // JSDoc types), which find "ipwarden" and "ipwarden/kit" through the package's own name
  const examples = ['process-running', 'webhook', 'peers-file', 'toycloud-ip'].map((name) => join(ROOT, 'contrib/plugins', name, 'index.mjs'));
  const good = tsc(dir, ['--allowJs', '--checkJs', '--skipLibCheck', 'good.ts', ...examples]);
  t.equal(good.code, 0, `good.ts and the contrib examples type-check${good.out ? `:\n${good.out}` : ''}`);

  const bad = tsc(dir, ['bad.ts']);
  t.not(bad.code, 0, 'a wrong plugin does not');
  t.match(bad.out, /bad\.ts\(6,\d+\): error TS2322:[^]*Types of property 'ok' are incompatible\.\s+Type 'string' is not assignable to type 'boolean'/, 'ok must be a boolean');
  t.match(bad.out, /Property 'prot' does not exist on type '\{ port: number; \}'/, 'the config type reaches run()');
});
