/**
 * The Debian package, built from the cached executable and installed on this machine: lintian
 * has nothing to say beyond its justified overrides, `dpkg -i` installs the executable, unit, man
 * pages and example config, the unit verifies and its ExecStartPre config check refuses to start
 * without a config, `dpkg -r` leaves only the conffile, `dpkg --purge` leaves nothing.
 * Installs and purges the package `ipwarden` on this machine (root).
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, requireEnv } from '../lib/env.js';
import { cachedExecutable, packageJson } from '../../packaging/executable.mjs';
import { buildDeb } from '../../packaging/deb.mjs';

// executable build (cached), .deb, lintian (a minute or more on a busy machine), dpkg
t.setTimeout(15 * 60_000);

const skip = requireEnv({ root: true, bins: ['strip', 'dpkg-deb', 'dpkg-shlibdeps', 'lintian', 'systemd-analyze', 'man'] });
const { version } = packageJson();
const UNIT = '/usr/lib/systemd/system/ipwarden.service';
const CONFFILE = '/etc/ipwarden/config.yaml.example';
/** systemd's default PATH for services. */
const SYSTEMD_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function sh(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeout?: number } = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: opts.timeout ?? 120_000, env: { PATH: SYSTEMD_PATH, LANG: 'C.UTF-8', ...opts.env } });
  return { code: r.status, out: r.stdout ?? '', err: r.stderr ?? '' };
}

/** dpkg, waiting (bounded) while another dpkg/apt holds the lock. */
function dpkg(args: string[]) {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const r = sh('dpkg', args);
    if (r.code === 0 || !/lock/i.test(r.err) || Date.now() > deadline) return r;
    spawnSync('sleep', ['1']);
  }
}

/** dpkg's status of the package: "install ok installed", "deinstall ok config-files", or undefined when unknown. */
function status(): string | undefined {
  const r = sh('dpkg-query', ['-W', '-f=${Status}', 'ipwarden']);
  return r.code === 0 && r.out && !/not-installed/.test(r.out) ? r.out : undefined;
}

t.test('ipwarden .deb', { skip }, async (t) => {
  if (status()) dpkg(['--purge', 'ipwarden']); // a leftover of an interrupted run
  t.teardown(() => {
    if (status()) dpkg(['--purge', 'ipwarden']);
  });
  const deb = buildDeb(await cachedExecutable());
  t.match(deb, new RegExp(`dist/pkg/ipwarden_${version.replace(/\./g, '\\.')}_amd64\\.deb$`));

  t.test('lintian: no error, warning or pedantic tag, no stale override', async (t) => {
    const r = sh('lintian', ['--pedantic', '--display-info', '--fail-on', 'error,warning,pedantic', deb], { timeout: 600_000 });
    const tags = r.out.split('\n').filter((l) => /^[EWP]: /.test(l));
    t.same(tags, [], 'no E:, W: or P: tag');
    t.same(r.out.split('\n').filter((l) => /(unused|mismatched)-override/.test(l)), [], 'every override is still needed');
    t.equal(r.code, 0, `lintian exits 0\n${r.err}`);
  });

  t.test('control fields', async (t) => {
    const f = sh('dpkg-deb', ['--field', deb]).out;
    t.match(f, /^Package: ipwarden$/m);
    t.match(f, new RegExp(`^Version: ${version.replace(/\./g, '\\.')}$`, 'm'));
    t.match(f, /^Depends: .*libc6 \(>= [\d.]+\)/m, 'Depends computed from the shared libraries');
    t.same(sh('dpkg-deb', ['--info', deb, 'conffiles']).out.trim().split('\n'), [CONFFILE], 'the example config is the one conffile');
  });

  t.test('dpkg -i', async (t) => {
    const r = dpkg(['-i', deb]);
    t.equal(r.code, 0, `dpkg -i\n${r.err}`);
    t.equal(status(), 'install ok installed');
    t.same(sh('/usr/bin/ipwarden', ['--version']), { code: 0, out: `ipwarden ${version}\n`, err: '' }, '/usr/bin/ipwarden --version');
    t.same(sh('ipwarden', ['--version']).out, `ipwarden ${version}\n`, 'found on PATH');
    for (const [sec, page] of [['8', 'ipwarden'], ['5', 'ipwarden.rc'], ['7', 'ipwarden-plugins']] as const) {
      const w = sh('man', ['-w', sec, page], { env: { MANPATH: '' } });
      t.equal(w.out.trim(), `/usr/share/man/man${sec}/${page}.${sec}.gz`, `man -w ${sec} ${page}`);
    }
    t.equal(sh('man', ['-w', 'ipwarden']).out.trim(), '/usr/share/man/man8/ipwarden.8.gz', 'man -w ipwarden');
    t.equal(readFileSync(UNIT, 'utf8'), readFileSync(join(ROOT, 'contrib/systemd/ipwarden.service'), 'utf8'), 'the unit is contrib/systemd/ipwarden.service as built');
    t.equal(readFileSync(CONFFILE, 'utf8'), readFileSync(join(ROOT, 'contrib/examples/two-node.yaml'), 'utf8'), 'the example config');
    t.equal(statSync('/usr/bin/ipwarden').mode & 0o7777, 0o755);
    t.ok(existsSync('/usr/share/doc/ipwarden/copyright'), 'copyright');
  });

  t.test('systemd-analyze verify the installed unit', async (t) => {
    const r = sh('systemd-analyze', ['verify', UNIT], { env: { SYSTEMD_LOG_LEVEL: 'info' } });
    t.same(r.err.split('\n').filter((l) => /ipwarden/i.test(l)), [], 'nothing logged about ipwarden.service');
    t.equal(r.code, 0, r.err);
  });

  t.test("ExecStartPre: ipwarden config check before start", async (t) => {
    const pre = /^ExecStartPre=(.+)$/m.exec(readFileSync(UNIT, 'utf8'))?.[1];
    t.match(pre, /\bipwarden config check\b/, `ExecStartPre=${pre}`);
    if (!pre) return;
    const argv = pre.split(/\s+/);
    const config = /--config\s+(\S+)/.exec(pre)?.[1] ?? '/etc/ipwarden/config.yaml';
    if (existsSync(config)) return t.comment(`${config} exists on this machine: not touched, the start check not tried`);
    const missing = sh(argv[0]!, argv.slice(1));
    t.not(missing.code, 0, 'no config: the unit would not start');
    t.match(missing.err, config, `the error names ${config}`);
    // the packaged example, completed as its comments say, passes
    copyFileSync(CONFFILE, config);
    writeFileSync('/etc/ipwarden/heartbeat.key', `${'ef'.repeat(32)}\n`, { mode: 0o600 });
    try {
      t.same(sh(argv[0]!, argv.slice(1)), { code: 0, out: `${config}: ok\n`, err: '' }, 'the example as config.yaml passes');
    } finally {
      rmSync(config, { force: true });
      rmSync('/etc/ipwarden/heartbeat.key', { force: true });
    }
  });

  t.test('dpkg -r leaves only the conffile; dpkg --purge leaves nothing', async (t) => {
    const files = sh('dpkg', ['-L', 'ipwarden'])
      .out.split('\n')
      .filter((p) => p && existsSync(p) && !statSync(p).isDirectory());
    t.ok(files.includes('/usr/bin/ipwarden') && files.includes(UNIT) && files.includes(CONFFILE), `${files.length} files installed`);
    const r = dpkg(['-r', 'ipwarden']);
    t.equal(r.code, 0, `dpkg -r\n${r.err}`);
    t.equal(status(), 'deinstall ok config-files');
    t.same(files.filter((f) => existsSync(f)), [CONFFILE], 'only the conffile is left');

    const p = dpkg(['--purge', 'ipwarden']);
    t.equal(p.code, 0, `dpkg --purge\n${p.err}`);
    t.equal(status(), undefined, 'dpkg knows no ipwarden any more');
    t.same(files.filter((f) => existsSync(f)), [], 'no file of the package is left');
    for (const dir of ['/etc/ipwarden', '/var/lib/ipwarden']) t.notOk(existsSync(dir), `${dir} is gone`);
    const dsh = '/var/lib/systemd/deb-systemd-helper-enabled';
    const records = existsSync(dsh) ? readdirSync(dsh, { recursive: true }).map(String).filter((f) => f.includes('ipwarden')) : [];
    t.same(records, [], "no deb-systemd-helper record of the unit");
  });
});
