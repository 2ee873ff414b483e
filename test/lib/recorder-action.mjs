/**
 * A test action plugin (plain ESM, loaded through `plugins:`): appends every transition it runs
 * to `file` as one JSON line {node, from, to, token, at}, token being the fencing token (or null).
 * Lets process tests see which node ran MASTER actions, when, and under which term.
 * `failCreate: "message"` makes create() throw that message (a plugin that cannot start).
 */
import { appendFileSync } from 'node:fs';

/** @type {import('../../src/plugins/api.js').ActionPlugin<{ file: string; failCreate?: string }>} */
export default {
  kind: 'action',
  name: 'recorder',
  description: 'test only: records transitions with their fencing token',
  parseConfig(raw) {
    if (typeof raw.file !== 'string') return { ok: false, issues: [{ path: ['file'], message: 'expected a file path' }] };
    if (raw.failCreate !== undefined && typeof raw.failCreate !== 'string') return { ok: false, issues: [{ path: ['failCreate'], message: 'expected a message' }] };
    return { ok: true, config: { file: raw.file, ...(raw.failCreate !== undefined ? { failCreate: raw.failCreate } : {}) } };
  },
  create(ctx) {
    if (ctx.config.failCreate !== undefined) throw new Error(ctx.config.failCreate);
    const record = async (e) => {
      const line = { node: ctx.node.id, from: e.from, to: e.to, token: e.fencingToken === undefined ? null : String(e.fencingToken), at: Date.now() };
      appendFileSync(ctx.config.file, `${JSON.stringify(line)}\n`);
    };
    return { onMaster: record, onBackup: record, onFault: record, onStop: record };
  },
};
