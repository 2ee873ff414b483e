/**
 * `ipwarden check`: ad hoc checks (no config; keepalived vrrp_script use) and the configured checks.
 */
import t from 'tap';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { requireEnv } from '../lib/env.js';
import { checkCommand } from '../../src/cli/commands/check.js';
import { freePort, removeDir, startHaproxy, startNginx, tempDir, type Proc } from '../lib/checks/lab.js';
import { runCommand } from '../lib/checks/run-command.js';

const check = (args: string[], env: NodeJS.ProcessEnv = {}) => runCommand(checkCommand, args, env);

t.test('ad hoc haproxy check against real HAProxy', { skip: requireEnv({ bins: ['haproxy', 'nginx'] }) }, async (t) => {
  const dir = tempDir('check-cli');
  const procs: Proc[] = [];
  t.teardown(async () => {
    for (const p of procs) await p.stop('SIGKILL');
    removeDir(dir);
  });
  const web = await startNginx(dir, 'web1');
  procs.push(web.proc);
  const sock = join(dir, 'haproxy.sock');
  const hap = await startHaproxy(
    dir,
    `global
  stats socket ${sock} level user
defaults
  mode http
  timeout connect 1s
  timeout client 5s
  timeout server 5s
backend web
  server web1 127.0.0.1:${web.port} check inter 100ms fall 1 rise 1
`,
    async () => (await check(['haproxy', '--socket', sock, '--backend', 'web', '--quiet'])).code === 0,
  );
  procs.push(hap);

  const ok = await check(['haproxy', '--socket', sock, '--backend', 'web']);
  t.equal(ok.code, 0, ok.stderr);
  const lines = ok.stdout.trimEnd().split('\n');
  t.match(lines[0], /^NAME\s+PLUGIN\s+RESULT\s+LATENCY\s+DETAIL$/);
  t.match(lines[1], /^haproxy\s+haproxy\s+ok\s+\d+ms\s+backend web: 1\/1 servers up$/);

  const two = await check(['haproxy', '--socket', sock, '--backend', 'web', '--min-up', '2']);
  t.equal(two.code, 1);
  t.match(two.stdout, /FAIL .*backend web: 1\/1 servers up, need 2/);

  const json = await check(['haproxy', '--socket', sock, '--backend', 'web', '--json']);
  t.equal(json.code, 0);
  const [row] = JSON.parse(json.stdout) as Record<string, unknown>[];
  t.match(row, { name: 'haproxy', plugin: 'haproxy', ok: true, detail: 'backend web: 1/1 servers up', metrics: { serversUp: 1, servers: 1 }, weight: 0, reverse: false });
  t.type(row!.latencyMs, 'number');

  const quiet = await check(['haproxy', '--socket', sock, '--backend', 'nope', '-q']);
  t.same(quiet, { code: 1, stdout: '', stderr: '' });
});

t.test('ad hoc http, tcp, exec and file checks', async (t) => {
  const srv = createServer((req, res) => {
    res.writeHead(req.url === '/health' ? 200 : 503);
    res.end(`auth=${String(req.headers.authorization)}`);
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  t.teardown(() => srv.close());
  const base = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;

  const http = await check(['http', '--url', `${base}/health`]);
  t.equal(http.code, 0, http.stderr);
  t.match(http.stdout, `GET ${base}/health -> 200`);
  t.equal((await check(['http', '--url', `${base}/down`])).code, 1);
  t.equal((await check(['http', '--url', `${base}/down`, '--expect', '500-599'])).code, 0);
  t.equal((await check(['http', '--url', `${base}/health`, '--expect', '201', '--expect', '204'])).code, 1);
  const header = await check(['http', '--url', `${base}/health`, '--header', 'Authorization: env:IPW_TEST_AUTH', '--body-match', 'auth=Bearer x1'], { IPW_TEST_AUTH: 'Bearer x1' });
  t.equal(header.code, 0, header.stdout + header.stderr);

  const closed = await freePort();
  const tcp = await check(['tcp', '--host', '127.0.0.1', '--port', String(closed)]);
  t.equal(tcp.code, 1);
  t.match(tcp.stdout, `127.0.0.1:${closed}: connection refused`);
  const listener = createNetServer((s) => s.end('220 ready\r\n'));
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  t.teardown(() => listener.close());
  const open = await check(['tcp', '--host', '127.0.0.1', '--port', String((listener.address() as AddressInfo).port), '--expect', '^220 ']);
  t.equal(open.code, 0, open.stdout);

  const exec = await check(['exec', '--command', `sh -c 'echo broken; exit 3'`]);
  t.equal(exec.code, 1);
  t.match(exec.stdout, /exec\s+exec\s+FAIL\s+\d+ms\s+sh exit 3: broken/);
  const slow = await check(['exec', '--command', 'sleep 5', '--timeout', '200ms']);
  t.equal(slow.code, 1);
  t.match(slow.stdout, 'timed out after 200ms');
  t.equal((await check(['exec', '--command', 'true'])).code, 0);

  const dir = tempDir('check-cli-file');
  t.teardown(() => removeDir(dir));
  t.equal((await check(['file', '--path', join(dir, 'maintenance')])).code, 0);
  t.equal((await check(['file', '--path', join(dir, 'maintenance'), '--init', '1'])).code, 1);
});

t.test('usage errors name the flag', async (t) => {
  const usage = async (args: string[], message: string | RegExp) => {
    const r = await check(args);
    t.equal(r.code, 2, args.join(' '));
    t.match(r.stderr, message);
  };
  await usage(['--url', 'http://x/'], /^--url needs a check plugin first: ipwarden check PLUGIN --FLAG VALUE/);
  await usage(['--jsn'], /^unknown flag --jsn \(did you mean --json\?\)/);
  await usage(['web/tcp', '--jsn'], /^unknown flag --jsn \(did you mean --json\?\)/);
  await usage(['--plugin', './x.mjs'], /^--plugin needs a check plugin first: ipwarden check PLUGIN --FLAG VALUE/);
  await usage(['tcp', '--url', 'http://x/', '--host', 'h'], 'unknown flag --url for the tcp check (its flags: --host, --port, --send, --expect)');
  await usage(['haproxy', '--bakend', 'web'], 'unknown flag --bakend for the haproxy check (did you mean --backend?)');
  await usage(['htp', '--url', 'http://x/'], /^no check plugin "htp" \(did you mean "http"\?\); check plugins: exec, file, haproxy, http, tcp/);
  await usage(['tcp', '--host', 'h', '--host', 'i', '--port', '1'], '--host given 2 times; it takes one value');
  await usage(['tcp', '--host', '127.0.0.1'], '--port is required for the tcp check');
  await usage(['tcp', '--host', '127.0.0.1', '--port', 'eighty'], '--port: expected an integer, got "eighty"');
  await usage(['tcp', '--host', '127.0.0.1', '--port', '99999'], /^--port: /);
  await usage(['http', '--url', 'ftp://x/'], '--url: expected an http:// or https:// URL');
  await usage(['http', '--url', 'http://x/', '--expect', '600'], /^--expect/);
  await usage(['http', '--url', 'http://x/', '--header', 'no-colon'], '--header: expected "Name: value", got "no-colon"');
  await usage(['exec', '--command', 'echo "open'], '--command: unterminated " quote');
  await usage(['exec', '--command', 'true', '--timeout', 'soon'], '--timeout: expected a duration');
  await usage(['haproxy', '--backend', 'web', 'extra'], 'an ad hoc check takes no more arguments, got "extra"');
  await usage(['haproxy', '--socket', '/x'], '--backend is required for the haproxy check');
});

t.test('configured checks', async (t) => {
  const dir = tempDir('check-cli-config');
  t.teardown(() => removeDir(dir));
  const listener = createNetServer((s) => s.end());
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  t.teardown(() => listener.close());
  const port = (listener.address() as AddressInfo).port;
  const closed = await freePort();
  const file = join(dir, 'ipwarden.yaml');
  writeFileSync(
    file,
    `node:
  id: lb1
  bind: 127.0.0.1:${await freePort()}
  control: ${join(dir, 'ctl.sock')}
secret: env:IPW_TEST_CHECK_SECRET
instances:
  web:
    address: 198.51.100.10
    peers: [127.0.0.2]
    checks:
      - plugin: tcp
        host: 127.0.0.1
        port: ${port}
      - plugin: file
        name: maintenance
        path: maintenance
        weight: -50
  db:
    address: 198.51.100.11
    checks:
      - plugin: tcp
        host: 127.0.0.1
        port: ${closed}
      - plugin: exec
        name: not-primary
        command: "false"
        reverse: true
`,
  );
  const env = { IPW_TEST_CHECK_SECRET: 'a-test-secret-of-32-bytes-length' };
  const all = await check(['--config', file], env);
  t.equal(all.code, 1, all.stderr);
  const lines = all.stdout.trimEnd().split('\n');
  t.match(lines[0], /^INSTANCE\s+NAME\s+PLUGIN\s+RESULT\s+LATENCY\s+DETAIL$/);
  t.match(lines.slice(1), [
    /^web\s+tcp\s+tcp\s+ok\s+.*connected$/,
    new RegExp(`^web\\s+maintenance\\s+file\\s+ok\\s+.*${dir}/maintenance \\(missing, init\\): 0$`),
    new RegExp(`^db\\s+tcp\\s+tcp\\s+FAIL\\s+.*127.0.0.1:${closed}: connection refused$`),
    /^db\s+not-primary\s+exec\s+ok\s+.*false exit 1 \(reverse: counts as passing\)$/,
  ]);

  const web = await check(['--config', file, 'web/tcp', 'maintenance'], env);
  t.equal(web.code, 0, web.stdout);
  t.equal(web.stdout.trimEnd().split('\n').length, 3, 'two checks picked');
  const byName = await check(['--config', file, 'tcp', '--json'], env);
  t.equal(byName.code, 1);
  t.same((JSON.parse(byName.stdout) as { instance: string }[]).map((r) => r.instance), ['web', 'db'], 'a bare name picks it in every instance');

  const unknown = await check(['--config', file, 'nope'], env);
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, 'no check named "nope" (configured: web/tcp, web/maintenance, db/tcp, db/not-primary)');

  writeFileSync(join(dir, 'bad.yaml'), 'secret: env:IPW_TEST_CHECK_SECRET\ninstances:\n  web:\n    address: 198.51.100.10\n    checks:\n      - plugin: tcp\n        host: 127.0.0.1\n        prot: 80\n');
  const bad = await check(['--config', join(dir, 'bad.yaml')], env);
  t.equal(bad.code, 3);
  t.match(bad.stderr, /instances\.web\.checks\[0\]\.prot: unknown key \(did you mean "port"\?\)/);

  const noConfig = await runCommand(checkCommand, ['http'], { IPWARDEN_CONFIG: join(dir, 'missing.yaml') });
  t.equal(noConfig.code, 2);
  t.match(noConfig.stderr, 'for an ad hoc http check give its flags (--url, --method, --expect, --body-match, --header, --ca, --insecure, --follow-redirects)');
});

/** A third-party check plugin as an author writes it: plain JS, its flags declared. */
const THRESHOLD_PLUGIN = `import { readFileSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';
export default {
  kind: 'check',
  name: 'threshold',
  description: 'The number in a file is at most a limit',
  flags: [
    { name: 'file', key: 'file', arg: 'FILE', description: 'file holding the number' },
    { name: 'max', key: 'limits.max', type: 'integer', arg: 'N', description: 'largest passing value (default 10)' },
    { name: 'label', key: 'labels', type: 'list', arg: 'TEXT', description: 'label (repeatable)', parse: (v) => v.join('+') },
    { name: 'verbose', key: 'verbose', type: 'boolean', description: 'say more' },
  ],
  parseConfig(raw) {
    if (typeof raw.file !== 'string') return { ok: false, issues: [{ path: ['file'], message: 'required' }] };
    const max = raw.limits?.max ?? 10;
    if (typeof max !== 'number' || max < 0) return { ok: false, issues: [{ path: ['limits', 'max'], message: 'expected a number >= 0' }] };
    return { ok: true, config: { file: raw.file, max, labels: raw.labels ?? '', verbose: raw.verbose === true } };
  },
  async run({ config }) {
    const n = Number(readFileSync(config.file, 'utf8'));
    return { ok: n <= config.max, detail: n + ' <= ' + config.max + '? ' + config.labels + (config.verbose ? ' (verbose)' : '') + (isMainThread ? '' : ' [worker]') };
  },
};
`;

t.test('a third-party plugin: loaded with --plugin or the config, run with its declared flags, listed by --help', async (t) => {
  const dir = tempDir('check-cli-plugin');
  t.teardown(() => removeDir(dir));
  const mod = join(dir, 'threshold.mjs');
  writeFileSync(mod, THRESHOLD_PLUGIN);
  const value = join(dir, 'value');
  writeFileSync(value, '7\n');

  const ok = await check(['threshold', '--plugin', mod, '--file', value, '--label', 'a', '--label', 'b', '--verbose']);
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout, /threshold\s+threshold\s+ok\s+\S+\s+7 <= 10\? a\+b \(verbose\) \[worker\]$/m, 'it ran in a worker thread');
  const low = await check(['threshold', '--plugin', mod, '--file', value, '--max', '5', '--json']);
  t.equal(low.code, 1, low.stderr);
  t.match(JSON.parse(low.stdout), [{ plugin: 'threshold', ok: false, detail: '7 <= 5?  [worker]' }]);

  const usage = async (args: string[], message: string | RegExp) => {
    const r = await check(args);
    t.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.match(r.stderr, message);
  };
  await usage(['threshold', '--plugin', mod, '--file', value, '--maxx', '3'], 'unknown flag --maxx for the threshold check (did you mean --max?)');
  await usage(['threshold', '--plugin', mod, '--max', '3'], '--file is required for the threshold check');
  await usage(['threshold', '--plugin', mod, '--file', value, '--max=-1'], '--max: expected a number >= 0');
  await usage(['threshold', '--plugin', mod, '--file', value, '--max', '-1'], '--max: write a value that starts with "-" as --max=VALUE');
  await usage(['threshold', '--plugin', mod, '--file'], '--file needs a value');
  await usage(['threshold', '--file', value], /^no check plugin "threshold"; check plugins: exec, file, haproxy, http, tcp \(a third-party one: --plugin MODULE\)/);
  const missing = await check(['threshold', '--plugin', join(dir, 'nope.mjs'), '--file', value]);
  t.equal(missing.code, 3);
  t.match(missing.stderr, /nope\.mjs/);

  const help = await check(['threshold', '--plugin', mod, '--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /^Usage: ipwarden check threshold --FLAG VALUE/);
  t.match(help.stdout, 'The number in a file is at most a limit');
  t.match(help.stdout, /^ {2}--max N +largest passing value \(default 10\)$/m);
  t.match(help.stdout, /^ {2}--verbose +say more$/m);
  const all = await check(['--help', '--plugin', mod]);
  t.equal(all.code, 0);
  t.match(all.stdout, /^ {4}--backend NAME +backend to judge$/m, 'the built-ins are listed');
  t.match(all.stdout, /^ {2}threshold: The number in a file is at most a limit\n {4}--file FILE/m, 'and the --plugin one');
  const builtin = await check(['tcp', '-h']);
  t.match(builtin.stdout, /^ {2}--port PORT +port to connect to$/m);

  // the config's plugins: (relative to the config file) are loaded for an ad hoc run too
  const rc = join(dir, 'ipwarden.yaml');
  writeFileSync(rc, `plugins: [./threshold.mjs]\nsecret: env:IPW_TEST_CHECK_SECRET\ninstances:\n  web:\n    address: 198.51.100.10\n    peers: [127.0.0.2]\n`);
  const viaConfig = await runCommand(checkCommand, ['threshold', '--config', rc, '--file', value], { IPW_TEST_CHECK_SECRET: 'a-test-secret-of-32-bytes-length' });
  t.equal(viaConfig.code, 0, viaConfig.stderr);
});
