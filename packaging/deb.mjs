// @ts-check
/**
 * dist/pkg/ipwarden_<version>_<debarch>.deb, built offline with dpkg-deb from the single
 * executable (no debian/ source tree, no debhelper: nothing here needs a source package):
 *   /usr/bin/ipwarden                          the executable
 *   /usr/lib/systemd/system/ipwarden.service   contrib/systemd/ipwarden.service as it is (its
 *                                              ExecStartPre runs `ipwarden config check`)
 *   /usr/share/man/man{5,7,8}/*.gz             man/
 *   /etc/ipwarden/config.yaml.example          contrib/examples/two-node.yaml (a conffile)
 *   /usr/share/doc/ipwarden/{copyright,changelog.gz}
 *   /usr/share/lintian/overrides/ipwarden      packaging/debian/lintian-overrides
 * Depends: computed by dpkg-shlibdeps from the executable's shared libraries.
 * The maintainer scripts (packaging/debian/) are debhelper's systemd snippets for a unit that is
 * neither enabled nor started on install: there is no config.yaml until the operator writes one.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import { PKG_DIR, ROOT, packageJson } from './executable.mjs';

const DEBIAN_SRC = join(ROOT, 'packaging', 'debian');

/** Debian's name for node's architecture names. */
const DEB_ARCH = /** @type {Record<string, string>} */ ({ x64: 'amd64', arm64: 'arm64' });

export function debPath(version = packageJson().version, arch = process.arch) {
  return join(PKG_DIR, `ipwarden_${version}_${DEB_ARCH[arch] ?? arch}.deb`);
}

/** Reproducible gzip (no name, no time), as Debian policy wants for man pages and changelogs. */
function gz(/** @type {Buffer | string} */ data) {
  return gzipSync(data, { level: 9 });
}

/** @param {string} file @param {Buffer | string} data @param {number} mode */
function put(file, data, mode = 0o644) {
  mkdirSync(dirname(file), { recursive: true, mode: 0o755 });
  writeFileSync(file, data);
  chmodSync(file, mode);
}

/** Every file under dir (relative paths), sorted. */
function filesUnder(/** @type {string} */ dir, /** @type {string} */ base = dir) {
  /** @type {string[]} */
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) out.push(...filesUnder(full, base));
    else out.push(relative(base, full));
  }
  return out;
}

/** `Depends:` from the executable's NEEDED libraries (dpkg-shlibdeps wants a debian/control beside it). */
function shlibDepends(/** @type {string} */ exe, /** @type {string} */ work) {
  const dir = join(work, 'shlibdeps');
  mkdirSync(join(dir, 'debian'), { recursive: true });
  writeFileSync(join(dir, 'debian', 'control'), 'Source: ipwarden\n\nPackage: ipwarden\nArchitecture: any\n');
  const out = execFileSync('dpkg-shlibdeps', ['-O', `-e${exe}`], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const m = /^shlibs:Depends=(.+)$/m.exec(out);
  if (!m) throw new Error(`dpkg-shlibdeps printed no shlibs:Depends: ${out}`);
  return m[1];
}

/** The copyright file: ipwarden's licence, then the licences of what the executable contains. */
function copyright(/** @type {Record<string, string>} */ packages) {
  const parts = [
    `ipwarden\n\nCopyright: the ipwarden authors\nLicense: Apache-2.0\n On Debian systems the full text of the Apache License 2.0 is in\n /usr/share/common-licenses/Apache-2.0.\n`,
    `/usr/bin/ipwarden is a copy of Node.js ${process.version} with ipwarden and the npm packages\nbelow bundled inside it (a Node.js single executable application). Their licences follow.\n`,
  ];
  const nodeLicense = join(dirname(process.execPath), '..', 'share', 'doc', 'nodejs', 'LICENSE');
  parts.push(`== Node.js ${process.version}\n\n${existsSync(nodeLicense) ? readFileSync(nodeLicense, 'utf8') : 'MIT: https://github.com/nodejs/node/blob/main/LICENSE\n'}`);
  for (const [name, version] of Object.entries(packages)) {
    const dir = join(ROOT, 'node_modules', name);
    const pj = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    const file = readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.md|\.txt)?$/i.test(f));
    const notice = readdirSync(dir).find((f) => /^notice(\.md|\.txt)?$/i.test(f));
    let text = file ? readFileSync(join(dir, file), 'utf8') : `${pj.license ?? 'see the package'} (no licence file in the package)\n`;
    // Debian ships the Apache 2.0 text once, in common-licenses (and lintian wants it referred to)
    if (pj.license === 'Apache-2.0') text = `See /usr/share/common-licenses/Apache-2.0.\n${notice ? `\n${readFileSync(join(dir, notice), 'utf8')}` : ''}`;
    parts.push(`== ${name} ${version} (${pj.license ?? 'unknown'})\n\n${text}`);
  }
  return parts.join('\n').replaceAll('\r\n', '\n');
}

/**
 * Builds the .deb around an executable built for this machine.
 * @param {string} exe
 */
export function buildDeb(exe) {
  const { version } = packageJson();
  const arch = DEB_ARCH[process.arch];
  if (!arch) throw new Error(`no Debian architecture for ${process.arch}`);
  const work = join(PKG_DIR, 'build', 'deb');
  rmSync(work, { recursive: true, force: true });
  const root = join(work, 'root');
  const packages = JSON.parse(readFileSync(join(PKG_DIR, 'build', 'packages.json'), 'utf8'));

  mkdirSync(join(root, 'usr', 'bin'), { recursive: true });
  copyFileSync(exe, join(root, 'usr', 'bin', 'ipwarden'));
  chmodSync(join(root, 'usr', 'bin', 'ipwarden'), 0o755);
  put(join(root, 'usr/lib/systemd/system/ipwarden.service'), readFileSync(join(ROOT, 'contrib/systemd/ipwarden.service')));
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  for (const page of /** @type {string[]} */ (pkg.man)) {
    const name = page.split('/').pop() ?? page;
    const section = /\.(\d)$/.exec(name)?.[1];
    put(join(root, 'usr/share/man', `man${section}`, `${name}.gz`), gz(readFileSync(join(ROOT, page))));
  }
  put(join(root, 'etc/ipwarden/config.yaml.example'), readFileSync(join(ROOT, 'contrib/examples/two-node.yaml')));
  put(join(root, 'usr/share/doc/ipwarden/copyright'), copyright(packages));
  put(join(root, 'usr/share/doc/ipwarden/changelog.gz'), gz(readFileSync(join(DEBIAN_SRC, 'changelog'), 'utf8').replaceAll('@VERSION@', version)));
  put(join(root, 'usr/share/lintian/overrides/ipwarden'), readFileSync(join(DEBIAN_SRC, 'lintian-overrides')));
  chmodSync(join(root, 'etc', 'ipwarden'), 0o755);

  const files = filesUnder(root);
  const installedKb = Math.ceil(files.reduce((s, f) => s + statSync(join(root, f)).size, 0) / 1024);
  const control = readFileSync(join(DEBIAN_SRC, 'control'), 'utf8')
    .replaceAll('@VERSION@', version)
    .replaceAll('@ARCH@', arch)
    .replaceAll('@DEPENDS@', shlibDepends(join(root, 'usr', 'bin', 'ipwarden'), work))
    .replaceAll('@INSTALLED_SIZE@', String(installedKb))
    .replaceAll('@NODE@', process.version);
  const meta = join(root, 'DEBIAN');
  put(join(meta, 'control'), control);
  put(join(meta, 'conffiles'), '/etc/ipwarden/config.yaml.example\n');
  put(
    join(meta, 'md5sums'),
    files
      .filter((f) => !f.startsWith('etc/'))
      .map((f) => `${createHash('md5').update(readFileSync(join(root, f))).digest('hex')}  ${f}\n`)
      .join(''),
  );
  for (const script of ['postinst', 'prerm', 'postrm']) put(join(meta, script), readFileSync(join(DEBIAN_SRC, script)), 0o755);

  const out = debPath(version);
  // --root-owner-group: root:root inside without fakeroot. xz (lintian on Debian 12 accepts xz
  // and gzip; a zstd member it calls malformed) at level 1: 26 MB in about a minute on the busy
  // CI machine, where the default level 6 took over 4 minutes for 22 MB
  execFileSync('dpkg-deb', ['--root-owner-group', '-Zxz', '-z1', '--build', root, out], { stdio: ['ignore', 'ignore', 'inherit'] });
  return out;
}
