// @ts-check
/**
 * process-running: an example third-party check plugin for ipwarden.
 *
 * A plain ES module, no build step, using only the public entry points ("ipwarden", "ipwarden/kit");
 * its config type is inferred from the schema (`// @ts-check` type-checks it). Load it from the rc file with
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
import { readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { defineCheck } from 'ipwarden';
import { schemaConfig } from 'ipwarden/kit';

// Any Standard Schema validator works (zod, valibot, arktype): schemaConfig turns it into
// parseConfig, and its messages name the key. This one is zod.
const schema = z
  .object({
    pidfile: z.string({ error: 'expected a file path' }).min(1, 'expected a file path'),
    name: z.string().regex(/^[^/]+$/, 'expected a process name like "haproxy"').optional(),
  })
  .strict();

// What depends on where the config file is: a relative pidfile is relative to its directory.
const parseConfig = schemaConfig(schema, (c, env) => ({ ...c, pidfile: isAbsolute(c.pidfile) ? c.pidfile : resolve(env.baseDir, c.pidfile) }));

export default defineCheck({
  kind: 'check',
  name: 'process-running',
  description: 'The process whose pid is in a pidfile is running',
  parseConfig,

  /** `ipwarden doctor`: the pidfile's directory exists (a typo there fails the check forever). */
  async doctor({ config }) {
    const dir = dirname(config.pidfile);
    const ok = await stat(dir).then((s) => s.isDirectory(), () => false);
    return [{ ok, item: `pidfile ${config.pidfile}`, detail: ok ? 'its directory exists' : `no directory ${dir}`, ...(ok ? {} : { fix: 'fix pidfile: or start the service once' }) }];
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
});
