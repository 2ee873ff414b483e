// @ts-check
/**
 * process-running: an example third-party check plugin for ipwarden.
 *
 * A plain ES module with JSDoc types: no build step. Load it from the rc file with
 *   plugins: [./plugins/process-running/index.mjs]   (relative to the config file)
 * and use it like a built-in:
 *   checks:
 *     - plugin: process-running
 *       pidfile: /run/haproxy.pid
 *       name: haproxy          # optional: the process must also be called this
 *       weight: -50
 *
 * Passes when the pid in `pidfile` is a live process (not a zombie) and, when `name` is given,
 * its /proc/<pid>/comm is that name (the kernel keeps the first 15 characters).
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';

/** @typedef {{ pidfile: string, name?: string }} ProcessRunningConfig */
/** @typedef {import('ipwarden').CheckPlugin<ProcessRunningConfig>} CheckPlugin */

const KEYS = ['pidfile', 'name'];

/** @type {CheckPlugin} */
const plugin = {
  kind: 'check',
  name: 'process-running',
  description: 'The process whose pid is in a pidfile is running',

  parseConfig(raw, env) {
    /** @type {{ path: (string | number)[], message: string }[]} */
    const issues = [];
    for (const key of Object.keys(raw)) {
      if (!KEYS.includes(key)) issues.push({ path: [key], message: `unknown key (allowed: ${KEYS.join(', ')})` });
    }
    const { pidfile, name } = raw;
    if (pidfile === undefined) issues.push({ path: ['pidfile'], message: 'required (expected a file path)' });
    else if (typeof pidfile !== 'string' || pidfile === '') issues.push({ path: ['pidfile'], message: 'expected a file path' });
    if (name !== undefined && (typeof name !== 'string' || name === '' || name.includes('/'))) {
      issues.push({ path: ['name'], message: 'expected a process name like "haproxy"' });
    }
    if (issues.length > 0) return { ok: false, issues };
    const file = /** @type {string} */ (pidfile);
    /** @type {ProcessRunningConfig} */
    const config = { pidfile: isAbsolute(file) ? file : resolve(env.baseDir, file) };
    if (typeof name === 'string') config.name = name;
    return { ok: true, config };
  },

  async run({ config, signal }) {
    let text;
    try {
      text = (await readFile(config.pidfile, { encoding: 'utf8', signal })).trim();
    } catch (err) {
      const code = /** @type {NodeJS.ErrnoException} */ (err).code;
      const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(/** @type {Error} */ (err).message);
      return { ok: false, detail: `${config.pidfile}: ${why}` };
    }
    if (!/^\d+$/.test(text) || Number(text) < 1) {
      return { ok: false, detail: `${config.pidfile}: expected a pid, got ${JSON.stringify(text.slice(0, 20))}` };
    }
    const pid = Number(text);
    try {
      process.kill(pid, 0);
    } catch (err) {
      // EPERM: the process exists but belongs to another user.
      if (/** @type {NodeJS.ErrnoException} */ (err).code !== 'EPERM') return { ok: false, detail: `pid ${pid} (${config.pidfile}) is not running` };
    }
    let comm = '';
    let state = '';
    try {
      comm = (await readFile(`/proc/${pid}/comm`, 'utf8')).trim();
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? '';
    } catch {
      // no /proc (not Linux) or the process just ended: rely on kill(0)
    }
    if (state === 'Z') return { ok: false, detail: `pid ${pid} (${config.pidfile}) is a zombie` };
    if (config.name !== undefined && comm !== '' && comm !== config.name.slice(0, 15)) {
      return { ok: false, detail: `pid ${pid} (${config.pidfile}) is ${comm}, not ${config.name}` };
    }
    return { ok: true, detail: `pid ${pid}${comm ? ` (${comm})` : ''} is running` };
  },
};

export default plugin;
