/**
 * Third-party check plugins in real daemons: the contrib example loaded through `plugins:`
 * (relative to the config file), and plugins that throw, hang or return garbage, which must
 * neither stop the adverts nor block the daemon.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ROOT } from '../lib/env.js';
import { INTERVAL, instance, sleep, stableMaster, startCluster, transitions, waitStatus } from './lib/cluster.js';

const EXAMPLE = join(ROOT, 'contrib/plugins/process-running/index.mjs');

t.test('the contrib example plugin, loaded from plugins: relative to the config file', async (t) => {
  const app = spawn('sleep', ['60'], { stdio: 'ignore' });
  t.teardown(() => app.kill('SIGKILL'));
  const pid = app.pid!;
  let pidfile = '';
  const c = await startCluster(t, {
    // the daemons run with another working directory than the config files' one
    plugins: (dir) => [relative(dir, EXAMPLE)],
    before: (dir) => writeFileSync((pidfile = join(dir, 'app.pid')), `${pid}\n`),
    checks: (i) => (i === 0 ? [{ plugin: 'process-running', name: 'app', pidfile: './app.pid', interval: `${INTERVAL}ms`, weight: 0 }] : []),
  });
  t.ok(relative(c.dir, EXAMPLE).startsWith('../'), 'a relative path');
  const [lab1, lab2] = [c.nodes[0]!, c.nodes[1]!];
  await stableMaster(c, 'lab1');
  t.match((await instance(c, lab1))?.checks, [{ name: 'app', plugin: 'process-running', state: 'ok', lastResult: { ok: true, detail: `pid ${pid} (sleep) is running` } }]);

  app.kill('SIGKILL');
  await once(app, 'exit');
  const fault = await waitStatus(c, lab1, 'FAULT', (s) => s.state === 'FAULT');
  t.equal(fault.fault, 'check app failed (weight 0)');
  t.match(fault.checks, [{ state: 'fail', lastResult: { ok: false, detail: `pid ${pid} (${pidfile}) is not running` } }]);
  await stableMaster(c, 'lab2', 2000);
  t.equal((await instance(c, lab2))?.state, 'MASTER');
});

const PLUGINS = {
  'throws.mjs': `export default {
  kind: 'check', name: 'throws',
  parseConfig: () => ({ ok: true, config: {} }),
  async run() { throw new Error('boom from a plugin'); },
};
`,
  // ignores its abort signal and never settles
  'hangs.mjs': `export default {
  kind: 'check', name: 'hangs',
  parseConfig: () => ({ ok: true, config: {} }),
  run: () => new Promise(() => {}),
};
`,
  'garbage.mjs': `export default {
  kind: 'check', name: 'garbage',
  parseConfig: () => ({ ok: true, config: {} }),
  async run() { return { ok: 'yes' }; },
};
`,
};

t.test('throwing, hanging and garbage-returning plugins: adverts go on, the checks report why', async (t) => {
  const check = (plugin: string) => ({ plugin, interval: `${INTERVAL}ms`, weight: -1 });
  const c = await startCluster(t, {
    plugins: () => Object.keys(PLUGINS).map((f) => `./${f}`),
    before: (dir) => {
      for (const [file, text] of Object.entries(PLUGINS)) writeFileSync(join(dir, file), text);
    },
    checks: (i) => (i === 0 ? [check('throws'), check('hangs'), check('garbage')] : []),
  });
  const [lab1, lab2] = [c.nodes[0]!, c.nodes[1]!];
  await stableMaster(c, 'lab1');
  const before = [transitions(lab1).length, transitions(lab2).length];

  // for 2 s: lab2 keeps hearing lab1 every interval; lab1's control socket answers at once
  let maxSeenAgo = 0;
  let maxStatusMs = 0;
  let samples = 0;
  const problems: string[] = [];
  const end = Date.now() + 2000;
  while (Date.now() < end) {
    const t0 = Date.now();
    const s1 = await instance(c, lab1);
    maxStatusMs = Math.max(maxStatusMs, Date.now() - t0);
    if (s1?.state !== 'MASTER') problems.push(`lab1 ${s1?.state ?? 'did not answer'}`);
    const peer = (await instance(c, lab2))?.peers.find((p) => p.id === 'lab1');
    if (!peer?.alive) problems.push('lab2 does not see lab1 alive');
    maxSeenAgo = Math.max(maxSeenAgo, Math.round(peer?.lastSeenAgoMs ?? Infinity));
    samples++;
    await sleep(INTERVAL / 2);
  }
  t.same(problems, [], 'lab1 MASTER and alive for lab2 in every sample');
  t.ok(maxSeenAgo < 2.5 * INTERVAL, `lab2 heard lab1 at most ${maxSeenAgo} ms ago over ${samples} samples (interval ${INTERVAL} ms)`);
  t.ok(maxStatusMs < 500, `lab1 answered status within ${maxStatusMs} ms`);
  t.same([transitions(lab1).length, transitions(lab2).length], before, 'no transition on either node');

  const s = await instance(c, lab1);
  t.equal(s?.effectivePriority, 147, 'three failing weight -1 checks: 150 - 3');
  const byName = new Map(s!.checks.map((x) => [x.name, x]));
  t.match(byName.get('throws'), { state: 'fail', lastResult: { ok: false, detail: 'plugin throws threw: boom from a plugin' } });
  t.match(byName.get('garbage'), {
    state: 'fail',
    lastResult: { ok: false, detail: 'plugin garbage returned an invalid result ("ok" is string, not boolean); expected {ok: boolean, detail: string}' },
  });
  const hangs = byName.get('hangs')!;
  t.equal(hangs.state, 'fail');
  t.match(hangs.lastResult?.detail, /^previous run still running after \d+(\.\d)?m?s \(the plugin ignores its abort signal\)$/);
  t.ok(hangs.runs >= 10, `the hanging check is still scheduled (${hangs.runs} runs), never twice at once`);
  t.ok(byName.get('throws')!.runs >= 10, `the throwing check keeps running (${byName.get('throws')!.runs} runs)`);
});
