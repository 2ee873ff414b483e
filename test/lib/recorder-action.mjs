/**
 * A test action plugin (plain ESM, loaded through `plugins:`): appends every transition it runs
 * to `file` as one JSON line {node, from, to, token, at}, token being the fencing token (or null).
 * Lets process tests see which node ran MASTER actions, when, and under which term.
 */
import { appendFileSync } from 'node:fs';

/** @type {import('../../src/plugins/api.js').ActionPlugin<{ file: string }>} */
export default {
  kind: 'action',
  name: 'recorder',
  description: 'test only: records transitions with their fencing token',
  parseConfig(raw) {
    if (typeof raw.file !== 'string') return { ok: false, issues: [{ path: ['file'], message: 'expected a file path' }] };
    return { ok: true, config: { file: raw.file } };
  },
  create(ctx) {
    const record = async (e) => {
      const line = { node: ctx.node.id, from: e.from, to: e.to, token: e.fencingToken === undefined ? null : String(e.fencingToken), at: Date.now() };
      appendFileSync(ctx.config.file, `${JSON.stringify(line)}\n`);
    };
    return { onMaster: record, onBackup: record, onFault: record, onStop: record };
  },
};
