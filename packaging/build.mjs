// @ts-check
/**
 * `npm run package`: the single executable for this machine's architecture, the Debian package
 * (when dpkg-deb and dpkg-shlibdeps are installed), and SHA256SUMS, all in dist/pkg/.
 * Other architectures need a node binary of that architecture to inject into: not built here.
 */
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { relative } from 'node:path';
import { buildDeb } from './deb.mjs';
import { ROOT, buildExecutable, writeChecksums } from './executable.mjs';

const has = (/** @type {string} */ bin) => {
  try {
    execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
const mb = (/** @type {string} */ f) => `${(statSync(f).size / 1024 / 1024).toFixed(1)} MB`;

const exe = await buildExecutable();
console.log(`${relative(ROOT, exe)}  ${mb(exe)}`);
if (has('dpkg-deb') && has('dpkg-shlibdeps')) {
  const deb = buildDeb(exe);
  console.log(`${relative(ROOT, deb)}  ${mb(deb)}`);
} else {
  console.log('no .deb: dpkg-deb and dpkg-shlibdeps (apt-get install dpkg-dev) are needed');
}
writeChecksums();
console.log('dist/pkg/SHA256SUMS');
