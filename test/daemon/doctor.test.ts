/** `ipwarden doctor` against real running daemons: what is fine says OK, what silently breaks says FAIL with a fix. */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI } from '../lib/env.js';
import { LocalCluster, sleep } from '../../src/lab/local-cluster.js';

const cli = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 });

t.test('doctor: healthy cluster, an unsafe script, a secret mismatch', async (t) => {
  let script = '';
  const c = new LocalCluster({
    nodes: 2,
    intervalMs: 100,
    firstHost: 91,
    instanceExtras: (i) => (i === 0 ? { checks: [{ plugin: 'exec', name: 'probe', command: script, interval: '200ms', initialState: 'ok' }] } : {}),
  });
  t.teardown(() => c.destroy());
  script = join(c.dir, 'probe.sh');
  writeFileSync(script, '#!/bin/sh\nexit 0\n');
  chmodSync(script, 0o755);
  await c.prepare();
  await c.startAll();
  await c.waitFor('lab1 MASTER', 10_000, async () => ((await c.masters()).join() === 'lab1' ? true : undefined));
  await sleep(400);
  const [m, b] = [c.nodes[0]!, c.nodes[1]!];

  const ok = cli(['doctor', '--config', m.configFile]);
  t.equal(ok.status, 0, ok.stdout + ok.stderr);
  t.match(ok.stdout, /^OK +config: .* valid/m);
  t.match(ok.stdout, /^OK +daemon: running/m);
  t.match(ok.stdout, /^OK +instance lab peers: 1 of 1 configured peers heard \(lab2@/m);
  t.match(ok.stdout, /^OK +check lab\/probe: /m);
  t.match(ok.stdout, new RegExp(`^OK +lab/probe: script ${script}: executable, writable by root only`, 'm'));
  t.match(ok.stdout, /everything looks right/);

  chmodSync(script, 0o777);
  const unsafe = cli(['doctor', '--config', m.configFile]);
  t.equal(unsafe.status, 1);
  t.match(unsafe.stdout, new RegExp(`FAIL +lab/probe: script ${script}: ${script} is writable by every user`));
  t.match(unsafe.stdout, new RegExp(`fix: chmod o-w ${script}`));
  chmodSync(script, 0o755);

  // lab2 restarted with another secret: lab1 rejects its heartbeats (bad-tag)
  await c.kill(b, 'SIGTERM');
  writeFileSync(join(c.dir, 'secret2'), 'another-secret-of-enough-length-0123');
  writeFileSync(b.configFile, readFileSync(b.configFile, 'utf8').replace(c.secretFile, join(c.dir, 'secret2')));
  await c.start(b);
  await sleep(500);
  const mismatch = cli(['doctor', '--config', m.configFile]);
  t.equal(mismatch.status, 1);
  t.match(mismatch.stdout, /FAIL +heartbeat secret: \d+ heartbeats failed authentication/);
  t.match(mismatch.stdout, /fix: every node needs the same secret/);

  // no daemon: the port is checked instead
  await c.stopAll();
  const down = cli(['doctor', '--config', m.configFile]);
  t.match(down.stdout, /OK +heartbeat port: .* is free \(the daemon is not running\)/);
});
