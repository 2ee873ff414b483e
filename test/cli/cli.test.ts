/** The CLI as a user meets it: the built executable, real files, one-line errors, exit codes. */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from '../lib/env.js';
import { COMMANDS } from '../../src/cli/commands.js';

const SECRET = 'test-secret-value-0123456789abcdef';

function cli(args: string[], env: Record<string, string> = {}, cwd?: string) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 20_000, ...(cwd ? { cwd } : {}) });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function dir(): string {
  return mkdtempSync(join(tmpdir(), 'ipwarden-cli-'));
}

function rc(d: string, extra: Record<string, unknown> = {}, inst: Record<string, unknown> = {}): string {
  const file = join(d, 'ipwarden.json');
  writeFileSync(
    file,
    JSON.stringify({
      node: { id: 'lb1', bind: '127.0.0.41:12399', control: join(d, 'ctl.sock') },
      secret: 'env:IPW_TEST_SECRET',
      stateFile: join(d, 'state.json'),
      instances: { web: { address: '198.51.100.50', peers: ['127.0.0.42'], ...inst } },
      ...extra,
    }),
  );
  return file;
}

t.test('--version and --help', async (t) => {
  const v = cli(['--version']);
  t.equal(v.code, 0);
  t.match(v.out, /^ipwarden \d+\.\d+\.\d+\n$/);
  const h = cli(['--help']);
  t.equal(h.code, 0);
  for (const c of COMMANDS) t.match(h.out, c.name, `overview lists ${c.name}`);
  for (const c of COMMANDS) {
    const r = cli([...c.name.split(' '), '--help']);
    t.equal(r.code, 0, `${c.name} --help`);
    t.match(r.out, `Usage: ipwarden ${c.name}`);
    for (const flag of Object.keys(c.flags)) t.match(r.out, `--${flag}`, `${c.name} --help shows --${flag}`);
  }
  t.equal(cli([]).code, 2, 'no command: usage, exit 2');
});

t.test('bad usage: one line, exit 2, no stack trace', async (t) => {
  const u = cli(['frobnicate']);
  t.equal(u.code, 2);
  t.equal(u.err, 'ipwarden: unknown command "frobnicate" (see ipwarden --help)\n');
  const f = cli(['status', '--jsn']);
  t.equal(f.code, 2);
  t.equal(f.err, 'ipwarden status: unknown flag --jsn (see ipwarden status --help)\n');
  const l = cli(['lab', '--nodes', 'many']);
  t.equal(l.code, 2);
  t.match(l.err, /--nodes: expected an integer 2\.\.9, got many/);
  const i = cli(['lab', '--interval', 'fast']);
  t.match(i.err, /--interval: expected a duration like "1s", got "fast"/);
  for (const r of [u, f, l, i]) t.notMatch(r.err, /\n\s+at /, 'no stack trace');
});

t.test('config check: 0 when valid, 1 with every problem named', async (t) => {
  const d = dir();
  const good = rc(d);
  const ok = cli(['config', 'check', '--config', good], { IPW_TEST_SECRET: SECRET });
  t.equal(ok.code, 0, ok.err);
  t.match(ok.out, /ipwarden\.json: ok/);
  const bad = rc(dir(), {}, { interval: 'fast', priorty: 3 });
  const r = cli(['config', 'check', '-c', bad], { IPW_TEST_SECRET: SECRET });
  t.equal(r.code, 1);
  t.match(r.err, 'instances.web.interval: expected a duration like "1s", got "fast"');
  t.match(r.err, 'instances.web.priorty: unknown key (did you mean "priority"?)');
  const unset = cli(['config', 'check', '-c', good], { IPW_TEST_SECRET: '' });
  t.equal(unset.code, 1);
  t.match(unset.err, 'secret: environment variable IPW_TEST_SECRET is not set');
  const missing = cli(['config', 'check', '-c', join(d, 'nope.yaml')]);
  t.equal(missing.code, 1);
  t.match(missing.err, /nope\.yaml/);
});

t.test('config search: .ipwardenrc in the current directory', async (t) => {
  const d = dir();
  writeFileSync(
    join(d, '.ipwardenrc'),
    `node: { id: lb1, bind: "127.0.0.41:12399", control: ${join(d, 'c.sock')} }\nsecret: env:IPW_TEST_SECRET\nstateFile: ${join(d, 's.json')}\ninstances:\n  web: { address: 198.51.100.50, peers: [127.0.0.42] }\n`,
  );
  const r = cli(['config', 'check'], { IPW_TEST_SECRET: SECRET, IPWARDEN_CONFIG: '' }, d);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /\.ipwardenrc: ok/);
});

t.test('config print redacts secrets; config schema prints the JSON Schema', async (t) => {
  const d = dir();
  const file = rc(d, { secret: SECRET });
  const r = cli(['config', 'print', '-c', file, '--json']);
  t.equal(r.code, 0, r.err);
  t.notMatch(r.out, SECRET, 'the literal secret never appears');
  t.equal(JSON.parse(r.out).secret, '[redacted]');
  t.equal(JSON.parse(r.out).instances.web.interval, '1s', 'defaults applied, durations as text');
  const env = cli(['config', 'print', '-c', rc(d)]);
  t.match(env.out, /secret: env:IPW_TEST_SECRET/, 'references are shown as references');
  const s = cli(['config', 'schema']);
  t.equal(s.code, 0);
  t.equal(JSON.parse(s.out).type, 'object');
});

t.test('run: clear one-line errors for an invalid config, an unreadable secret, a port in use', async (t) => {
  const d = dir();
  const bad = cli(['run', '-c', rc(d, {}, { priority: 300 })], { IPW_TEST_SECRET: SECRET });
  t.equal(bad.code, 3);
  t.match(bad.err, 'instances.web.priority: expected an integer 1..254, got 300');

  const noFile = cli(['run', '-c', rc(d, { secret: `file:${join(d, 'missing-key')}` })]);
  t.equal(noFile.code, 3);
  t.match(noFile.err, `secret: cannot read secret file ${join(d, 'missing-key')}: no such file`);

  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.41', () => r()));
  t.teardown(() => sock.close());
  const port = sock.address().port;
  const busy = cli(['run', '-c', rc(d, { node: { id: 'lb1', bind: `127.0.0.41:${port}`, control: join(d, 'c2.sock') } })], { IPW_TEST_SECRET: SECRET });
  t.equal(busy.code, 1);
  t.equal(busy.err, `ipwarden run: node.bind 127.0.0.41:${port}: UDP port already in use (another ipwarden or exoip running?)\n`);
});

t.test('status: exit 4 with a clear message when no daemon runs', async (t) => {
  const d = dir();
  const r = cli(['status', '--control', join(d, 'none.sock')]);
  t.equal(r.code, 4);
  t.match(r.err, /no such socket \(is the daemon running\?/);
});

t.test('the lazy dispatch table and the full command table name the same commands, loading the same objects', async (t) => {
  const { COMMAND_LOADERS } = await import('../../src/cli/dispatch.js');
  t.same(Object.keys(COMMAND_LOADERS).sort(), COMMANDS.map((c) => c.name).sort());
  for (const c of COMMANDS) t.equal(await COMMAND_LOADERS[c.name]!(), c, c.name);
});
