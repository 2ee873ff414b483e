/**
 * `file` check: keepalived's track_file, as a pass/fail check. The file holds an integer; 0 passes,
 * anything else fails (e.g. `echo 1 > /run/ipwarden/maintenance` to hand the IP over).
 *
 *   path  the file (relative paths: to the config file's directory)
 *   init  the value used while the file does not exist (default 0: a missing file passes)
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { defineCheck } from '../../src/index.js';
import { zodConfig } from '../../src/kit.js';

export const fileSchema = z
  .object({
    path: z.string().min(1),
    init: z.number().int().default(0),
  })
  .strict();

export type FileConfig = z.output<typeof fileSchema>;

const parseRaw = zodConfig(fileSchema);

export default defineCheck<FileConfig>({
  kind: 'check',
  name: 'file',
  description: 'A file holds 0 (keepalived track_file; missing file = init value)',
  flags: [
    { name: 'path', key: 'path', arg: 'FILE', description: 'file holding a number (0 passes)' },
    { name: 'init', key: 'init', type: 'integer', arg: 'N', description: 'value while the file is missing (default 0)' },
  ],
  parseConfig(raw, env) {
    const r = parseRaw(raw);
    if (!r.ok) return r;
    const path = isAbsolute(r.config.path) ? r.config.path : resolve(env?.baseDir ?? process.cwd(), r.config.path);
    return { ok: true, config: { ...r.config, path } };
  },
  async run({ config, signal }) {
    let value: number;
    let source: string;
    try {
      const text = (await readFile(config.path, { encoding: 'utf8', signal })).trim();
      if (!/^[-+]?\d+$/.test(text)) {
        return { ok: false, detail: `${config.path}: expected an integer, got ${JSON.stringify(text.slice(0, 40))}` };
      }
      value = Number(text);
      source = config.path;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') return { ok: false, detail: `${config.path}: ${code === 'EACCES' ? 'permission denied' : (err as Error).message}` };
      value = config.init;
      source = `${config.path} (missing, init)`;
    }
    return { ok: value === 0, detail: `${source}: ${value}`, metrics: { value } };
  },
});
