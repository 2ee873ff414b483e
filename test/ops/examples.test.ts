/**
 * No example can rot: every rc example under contrib/ passes `ipwarden config check` (the built
 * CLI: schema, secrets, plugins' own keys) without a warning. Secrets the example references get
 * dummy values; the example itself is validated unchanged, from a copy of contrib/ so that
 * `file:` secrets relative to it can be created.
 */
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { CLI, ROOT } from '../lib/env.js';
import { dummySecret, findRcExamples, readData, secretRefs } from './lib/examples.js';

const CONTRIB = join(ROOT, 'contrib');

function configCheck(file: string, env: Record<string, string>) {
  const r = spawnSync(process.execPath, [CLI, 'config', 'check', '--config', file], {
    encoding: 'utf8',
    // only what the example needs: no IPWARDEN_CONFIG, no stray credentials from the caller
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmpdir(), ...env },
    cwd: dirname(file),
    timeout: 30_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** A copy of contrib/ with dummy secrets for `example` (relative to contrib/); returns the file and env. */
function prepare(t: Test, example: string): { file: string; env: Record<string, string>; missing: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'ipwarden-examples-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(CONTRIB, join(dir, 'contrib'), { recursive: true, filter: (src) => basename(src) !== 'node_modules' });
  const file = join(dir, 'contrib', example);
  const refs = secretRefs(readData(file));
  const env: Record<string, string> = {};
  for (const name of refs.env) env[name] = dummySecret(name);
  if (refs.credentials.length) {
    const creds = join(dir, 'credentials');
    mkdirSync(creds, { mode: 0o700 });
    for (const name of refs.credentials) writeFileSync(join(creds, name), dummySecret(name), { mode: 0o600 });
    env.CREDENTIALS_DIRECTORY = creds;
  }
  const missing: string[] = [];
  for (const path of refs.files) {
    if (isAbsolute(path)) {
      if (!existsSync(path)) missing.push(path);
      continue;
    }
    const full = resolve(dirname(file), path);
    if (!existsSync(full)) {
      mkdirSync(dirname(full), { recursive: true });
      writeFileSync(full, `${dummySecret(basename(path))}\n`, { mode: 0o600 });
    }
  }
  return { file, env, missing };
}

const examples = findRcExamples(CONTRIB);

t.test('the examples are found', async (t) => {
  t.ok(existsSync(CLI), `built CLI at ${CLI} (run npm run build)`);
  t.ok(examples.includes('examples/two-node.yaml'), 'contrib/examples/two-node.yaml');
  t.ok(examples.includes('examples/fast.yaml'), 'contrib/examples/fast.yaml');
});

for (const example of examples) {
  t.test(`contrib/${example} passes ipwarden config check`, async (t) => {
    const { file, env, missing } = prepare(t, example);
    t.same(missing, [], 'absolute file: references exist (examples should use paths relative to the config file, env: or credential:)');
    const r = configCheck(file, env);
    t.equal(r.code, 0, `exit 0\n${r.err}`);
    t.equal(r.out, `${file}: ok\n`);
    t.equal(r.err, '', 'no warnings');
  });
}

t.test('the harness catches a broken example', async (t) => {
  const { file, env } = prepare(t, 'examples/two-node.yaml');
  writeFileSync(file, readFileSync(file, 'utf8').replace('minUp: 1', 'minUps: 1'));
  const r = configCheck(file, env);
  t.equal(r.code, 1);
  t.match(r.err, /instances\.web\.checks\[0\]\.minUps: unknown key \(did you mean "minUp"\?\)/);
  const { file: f2 } = prepare(t, 'examples/two-node.yaml');
  const unset = configCheck(f2, {});
  t.equal(unset.code, 0, 'two-node.yaml needs no environment: its key file is relative to it');
  rmSync(join(dirname(f2), 'heartbeat.key'));
  const noKey = configCheck(f2, {});
  t.equal(noKey.code, 1, 'without the key file the example is invalid');
  t.match(noKey.err, /secret: cannot read secret file .*heartbeat\.key: no such file/);
});
