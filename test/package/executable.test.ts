/**
 * The single executable (npm run package), built once per run and cached under dist/pkg (keyed
 * on a hash of the sources, the lock file and the node that builds it): every command runs
 * from it with no node_modules and no dist/ in reach, a third-party plugin and a JS rc file load
 * from disk, the lab runs (API simulator and exoscale-eip included), three daemons fail over on
 * kill -9, and the etcd backend (gRPC definitions inside the executable) elects through real etcd.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, requireEnv } from '../lib/env.js';
import { killMasterFailover, stableMaster } from '../lib/cluster-watch.js';
import { EtcdCluster } from '../lib/etcd-cluster.js';
import { LocalCluster } from '../../src/lab/local-cluster.js';
import { cachedExecutable, PKG_DIR, packageJson, writeChecksums } from '../../packaging/executable.mjs';

// building on a busy 2-core machine: bundle, blob, strip and inject take up to a few minutes
t.setTimeout(10 * 60_000);

const skip = requireEnv({ bins: ['strip'] });
const exe = skip ? '' : await cachedExecutable();
const { version } = packageJson();

/** A directory outside the checkout: nothing of node_modules/ or dist/ can be found from it. */
const work = mkdtempSync(join(tmpdir(), 'ipwarden-exe-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

function run(args: string[], opts: { env?: NodeJS.ProcessEnv; timeout?: number } = {}) {
  // no node on PATH: the executable must not need one
  const r = spawnSync(exe, args, { cwd: work, encoding: 'utf8', timeout: opts.timeout ?? 30_000, env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: work, ...opts.env } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

t.test('the file, its checksum, its version', { skip }, async (t) => {
  t.match(exe, new RegExp(`dist/pkg/ipwarden-${version.replace(/\./g, '\\.')}-linux-${process.arch}$`));
  const size = statSync(exe).size;
  t.ok(size > 50e6 && size < 150e6, `${(size / 1e6).toFixed(1)} MB (node itself and ipwarden)`);
  t.ok(statSync(exe).mode & 0o111, 'executable');
  writeChecksums();
  const sums = spawnSync('sha256sum', ['-c', '--ignore-missing', 'SHA256SUMS'], { cwd: PKG_DIR, encoding: 'utf8' });
  t.equal(sums.status, 0, sums.stderr);
  t.match(sums.stdout, new RegExp(`^ipwarden-${version.replace(/\./g, '\\.')}-linux-${process.arch}: OK$`, 'm'), 'SHA256SUMS lists the executable');
  t.same(run(['--version']), { code: 0, out: `ipwarden ${version}\n`, err: '' }, '--version from the version written in');
});

t.test('every command answers from the executable', { skip }, async (t) => {
  const help = run(['--help']);
  t.equal(help.code, 0, help.err);
  const commands = [...help.out.matchAll(/^ {2}([a-z][a-z-]*(?: [a-z][a-z-]*)?)\s{2,}/gm)].map((m) => m[1]!);
  t.ok(commands.length >= 15, `--help lists ${commands.length} commands`);
  for (const c of commands) {
    const r = run([...c.split(' '), '--help']);
    t.equal(r.code, 0, `ipwarden ${c} --help\n${r.err}`);
    t.match(r.out, /Usage: ipwarden /, `ipwarden ${c} --help prints its usage`);
  }
  const fromDist = spawnSync(process.execPath, [join(ROOT, 'dist/src/cli/main.js'), 'config', 'schema'], { encoding: 'utf8' });
  const schema = run(['config', 'schema']);
  t.equal(schema.code, 0, schema.err);
  t.equal(schema.out, fromDist.status === 0 ? fromDist.stdout : readFileSync(join(ROOT, 'schema/ipwardenrc.schema.json'), 'utf8'), 'config schema: the same JSON schema as from dist/');
});

t.test('config check, check and a third-party plugin named in the rc file', { skip }, async (t) => {
  const dir = join(work, 'plugin');
  cpSync(join(ROOT, 'contrib/plugins/process-running'), join(dir, 'plugins/process-running'), { recursive: true });
  // deployed as its guide says: its imports (ipwarden, ipwarden/kit, its validator) installed next to
  // it, as `npm install ipwarden zod` in its folder makes them; the executable imports it from disk
  const deps = join(dir, 'plugins/process-running/node_modules');
  mkdirSync(deps);
  symlinkSync(ROOT, join(deps, 'ipwarden'), 'dir');
  symlinkSync(join(ROOT, 'node_modules/zod'), join(deps, 'zod'), 'dir');
  writeFileSync(join(dir, 'heartbeat.key'), `${'cd'.repeat(32)}\n`, { mode: 0o600 });
  writeFileSync(join(dir, 'me.pid'), `${process.pid}\n`);
  const rc = join(dir, 'config.yaml');
  writeFileSync(
    rc,
    [
      'node: { id: a, bind: 127.0.0.1:12345 }',
      'secret: file:heartbeat.key',
      'plugins: [./plugins/process-running/index.mjs]',
      'instances:',
      '  vip:',
      '    address: 198.51.100.50',
      '    peers: [127.0.0.2]',
      '    checks:',
      '      - plugin: process-running',
      '        pidfile: me.pid',
      '      - plugin: file',
      `        path: ${join(dir, 'absent')}`,
      '',
    ].join('\n'),
  );
  t.same(run(['config', 'check', '--config', rc]), { code: 0, out: `${rc}: ok\n`, err: '' }, 'config check loads the plugin');
  const check = run(['check', '--config', rc]);
  t.match(check.out, /process-running\s+process-running\s+ok\s.*is running/, `the plugin's check ran:\n${check.out}`);
  t.match(check.out, /file\s+file\s+ok\s.*absent \(missing/, 'a built-in check ran beside it');

  writeFileSync(rc, readFileSync(rc, 'utf8').replace('process-running/index.mjs', 'process-running/nowhere.mjs'));
  const missing = run(['config', 'check', '--config', rc]);
  t.not(missing.code, 0);
  t.match(missing.err, /plugins: "\.\/plugins\/process-running\/nowhere\.mjs": no such file/, 'a missing plugin file is named');

  const js = join(dir, 'ipwarden.config.mjs');
  copyFileSync(join(dir, 'heartbeat.key'), join(work, 'heartbeat.key'));
  writeFileSync(js, `export default { node: { id: 'a', bind: '127.0.0.1:12345' }, secret: 'file:heartbeat.key', instances: { vip: { address: '198.51.100.50', peers: ['127.0.0.2'] } } };\n`);
  t.same(run(['config', 'check', '--config', js]), { code: 0, out: `${js}: ok\n`, err: '' }, 'a JS rc file (ES module) loads');
});

t.test('the lab, with the Exoscale API simulator and exoscale-eip', { skip }, async (t) => {
  const r = run(['lab', '--interval', '100ms', '--operation-delay', '30ms'], { timeout: 90_000 });
  t.equal(r.code, 0, r.err);
  t.match(r.out, /== EIP 198\.51\.100\.50: attached to lb2 \d+ ms after the kill, detached from lb1 after \d+ ms/, 'the crash moves the EIP');
  t.match(r.out, /summary: crash takeover \d+ ms/);
});

for (const preempt of [true, false]) {
  t.test(`kill -9 the master, 3 daemons from the executable (preempt ${preempt ? 'on' : 'off'})`, { skip }, (t) =>
    killMasterFailover(t, { preempt, intervalMs: 100, deadRatio: 3, budgetMs: 3 * 100 + 150, command: [exe] }),
  );
}

t.test('the etcd backend: gRPC definitions inside the executable', { skip: skip || requireEnv({ bins: ['etcd', 'etcdctl'] }) }, async (t) => {
  const etcd = new EtcdCluster({ members: 1 });
  t.teardown(() => etcd.destroy());
  await etcd.start();
  const c = new LocalCluster({
    nodes: 2,
    intervalMs: 1000,
    command: [exe],
    nodeExtras: () => ({ election: { backend: 'etcd', endpoints: etcd.clientUrls(), prefix: '/ipw-exe', ttl: '3s' } }),
  });
  t.teardown(() => c.destroy());
  await c.prepare();
  await c.startAll();
  const master = await stableMaster(c, { settleMs: 1000, timeoutMs: 20_000 });
  const st = await c.status(master);
  t.equal(st?.instances[0]?.election?.backend, 'etcd', 'elected through etcd');
  const keys = await etcd.etcdctl(['get', '--prefix', '--keys-only', '/ipw-exe']);
  t.match(keys, /\/ipw-exe\/lab\//, `the election key is in etcd: ${keys.trim()}`);
});
