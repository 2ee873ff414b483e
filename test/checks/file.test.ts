/** The file check (keepalived track_file as pass/fail). */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import file from '../../plugins/file/index.js';
import { removeDir, tempDir } from '../lib/checks/lab.js';
import { parseIssues, runCheck } from '../lib/checks/run-check.js';

t.test('file check', async (t) => {
  const dir = tempDir('file');
  t.teardown(() => removeDir(dir));
  const path = join(dir, 'maintenance');
  t.same(await runCheck(file, { path }), { ok: true, detail: `${path} (missing, init): 0`, metrics: { value: 0 } });
  t.same(await runCheck(file, { path, init: 1 }), { ok: false, detail: `${path} (missing, init): 1`, metrics: { value: 1 } });
  writeFileSync(path, '0\n');
  t.same(await runCheck(file, { path, init: 1 }), { ok: true, detail: `${path}: 0`, metrics: { value: 0 } });
  writeFileSync(path, ' 2 ');
  t.same(await runCheck(file, { path }), { ok: false, detail: `${path}: 2`, metrics: { value: 2 } });
  writeFileSync(path, 'on');
  t.same(await runCheck(file, { path }), { ok: false, detail: `${path}: expected an integer, got "on"` });
  writeFileSync(path, '-1');
  t.same(await runCheck(file, { path: 'maintenance' }, { baseDir: dir }), { ok: false, detail: `${path}: -1`, metrics: { value: -1 } }, 'relative to the config dir');
  t.match(parseIssues(file, {}), [/^path: required/]);
  t.match(parseIssues(file, { path, init: 'x' }), [/^init: /]);
});
