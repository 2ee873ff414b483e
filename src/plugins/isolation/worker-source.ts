/**
 * The code of a check plugin's worker thread (see isolated-check.ts for the protocol), run with
 * `new Worker(WORKER_SOURCE, { eval: true })`: a string rather than a file, so it runs the same
 * from dist/, from the TypeScript sources (tests) and inside the single executable, where no
 * worker file exists on disk. No require(): eval code is an ES module when node runs with
 * --input-type=module (workers inherit execArgv); import() works in both.
 *
 * workerData: { moduleUrl, plugin }. It imports the module and says { type: 'ready' } (or
 * { type: 'load-failed', message }), then answers messages:
 *   { type: 'run', id, config, name, instance? } -> { type: 'result', id, result } | { type: 'threw', id, message }
 *   { type: 'abort', id, reason }                -> aborts that run's signal
 * and forwards the plugin's log calls as { type: 'log', level, bindings, obj?, msg? }. A module that
 * does not load, or does not default-export the check plugin named `plugin`, fails every run
 * with the reason.
 */
export const WORKER_SOURCE = String.raw`
import('node:worker_threads').then(({ parentPort, workerData }) => {
const { moduleUrl, plugin: expected } = workerData;
const runs = new Map();

const loading = import(moduleUrl).then(
  (mod) => {
    const p = mod && mod.default;
    if (!p || typeof p !== 'object' || p.kind !== 'check' || typeof p.run !== 'function') throw new Error('the module no longer default-exports a check plugin');
    if (p.name !== expected) throw new Error('the module now exports the check plugin "' + p.name + '", not "' + expected + '"');
    return p;
  },
  (err) => {
    throw new Error('cannot load the plugin module: ' + String((err && err.message) || err).split('\n')[0]);
  },
);
loading.then(
  () => parentPort.postMessage({ type: 'ready' }),
  (err) => parentPort.postMessage({ type: 'load-failed', message: err.message }),
);

function cloneable(value) {
  try {
    return structuredClone(value);
  } catch {
    return String(value);
  }
}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];
function logger(bindings) {
  const log = { level: 'trace', child: (more) => logger(Object.assign({}, bindings, more)), isLevelEnabled: () => true };
  for (const level of LEVELS) {
    log[level] = (a, ...rest) => {
      const obj = typeof a === 'string' ? undefined : a;
      const msg = typeof a === 'string' ? [a, ...rest].join(' ') : rest.length ? rest.join(' ') : undefined;
      parentPort.postMessage({ type: 'log', level, bindings, obj: obj === undefined ? undefined : cloneable(obj), msg });
    };
  }
  return log;
}

parentPort.on('message', async (m) => {
  if (m.type === 'abort') {
    const run = runs.get(m.id);
    if (run) run.abort(new Error(m.reason));
    return;
  }
  if (m.type !== 'run') return;
  const controller = new AbortController();
  runs.set(m.id, controller);
  try {
    const plugin = await loading;
    const ctx = { signal: controller.signal, config: m.config, log: logger({}), name: m.name };
    if (m.instance !== undefined) ctx.instance = m.instance;
    const result = await plugin.run(ctx);
    try {
      parentPort.postMessage({ type: 'result', id: m.id, result });
    } catch (err) {
      parentPort.postMessage({ type: 'threw', id: m.id, message: 'its result cannot leave the worker (' + err.message + ')' });
    }
  } catch (err) {
    parentPort.postMessage({ type: 'threw', id: m.id, message: err instanceof Error ? err.message : String(err) });
  } finally {
    runs.delete(m.id);
  }
});
});
`;
