/**
 * The daemon's module graph: modules cannot be unloaded, so every package `ipwarden run` imports
 * stays in its RSS for good (issue 7: < 60 MB per node). A real daemon, started through the built
 * CLI the way LocalCluster starts it, preloaded with test/lib/module-log.mjs, must not load execa,
 * prom-client, etcd3 or the built-in plugins its config does not name while nothing needs them;
 * with an exec check and a notify script it still loads no package of them (the one subprocess
 * runner, src/util/process-group.ts, is node:child_process), and with `metrics:` prom-client,
 * which also shows the log sees what a daemon loads.
 */
import t, { type Test } from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from '../lib/env.js';
import { LocalCluster, sleep } from '../../src/lab/local-cluster.js';
import { freePort } from '../lib/checks/lab.js';
import { startAwsSimulator } from '../../src/aws/simulator/server.js';
import { instanceIdOf, interfaceIdOf, SIM_ACCESS_KEY_ID, SIM_SECRET_ACCESS_KEY } from '../../src/aws/simulator/world.js';

const HOOK = pathToFileURL(join(ROOT, 'test', 'lib', 'module-log.mjs')).href;
/** Packages the steady state must do without (RSS measured in bench/notes.md). */
const HEAVY = ['execa', 'prom-client', 'etcd3', '@grpc/grpc-js'];

/** Package names (scoped ones as @scope/name) of the module paths in a module-log file. */
function packagesIn(log: string): Set<string> {
  const out = new Set<string>();
  for (const line of readFileSync(log, 'utf8').split('\n')) {
    const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(line);
    if (m) out.add(m[1]!);
  }
  return out;
}


/**
 * Starts one daemon (its peer stays down, so it becomes MASTER) with an exec check and a notify
 * action, waits until both have run, and returns the packages it loaded.
 */
async function daemonPackages(
  t: Test,
  extras: Record<string, unknown> = {},
  whileRunning?: () => Promise<void>,
  scripts = true,
  instanceExtras: Record<string, unknown> = {},
): Promise<{ pkgs: Set<string>; plugins: Set<string>; awsModules: number; rssKb: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'ipwarden-modgraph-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const log = join(dir, 'modules.log');
  const checked = join(dir, 'checked');
  const notified = join(dir, 'notified');
  const c = new LocalCluster({
    nodes: 2,
    intervalMs: 100,
    firstHost: 91,
    instanceExtras: () =>
      scripts
        ? {
            checks: [{ plugin: 'exec', name: 'probe', command: `sh -c 'echo ok >> ${checked}'`, interval: '100ms' }],
            actions: [{ plugin: 'notify', notifyMaster: `sh -c 'echo master > ${notified}'` }],
          }
        : instanceExtras,
    nodeExtras: () => extras,
    spawner: (_i, argv, fd) =>
      spawn(argv[0]!, ['--import', HOOK, ...argv.slice(1)], { stdio: ['ignore', fd, fd], env: { ...process.env, IPWARDEN_MODULE_LOG: log } }),
  });
  t.teardown(() => c.destroy());
  await c.prepare();
  const node = c.nodes[0]!;
  await c.start(node);
  if (scripts) {
    await c.waitFor('MASTER, notify script run, exec check run 3 times', 10_000, async () =>
      existsSync(notified) && existsSync(checked) && readFileSync(checked, 'utf8').split('\n').length > 3 ? true : undefined,
    );
  } else {
    await c.waitFor('MASTER', 10_000, async () => ((await c.masters()).length === 1 ? true : undefined));
  }
  t.same(await c.masters(), ['lab1'], 'the daemon is MASTER');
  await sleep(300);
  await whileRunning?.();
  const status = readFileSync(`/proc/${node.process!.pid}/status`, 'utf8');
  const rssKb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
  const pkgs = packagesIn(log);
  const awsModules = readFileSync(log, 'utf8').split('\n').filter((l) => /\/src\/aws\//.test(l)).length;
  const plugins = new Set([...readFileSync(log, 'utf8').matchAll(/\/plugins\/([a-z0-9-]+)\/index\.[jt]s/g)].map((m) => m[1]!));
  await c.kill(node, 'SIGTERM');
  t.comment(`packages loaded: ${[...pkgs].sort().join(' ')}; built-in plugins: ${[...plugins].sort().join(' ')}`);
  return { pkgs, plugins, awsModules, rssKb };
}

t.test('the log sees a package an ES module imports', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ipwarden-modgraph-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const log = join(dir, 'modules.log');
  const r = spawnSync(process.execPath, ['--import', HOOK, '--input-type=module', '-e', "await import('execa'); await import('prom-client');"], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, IPWARDEN_MODULE_LOG: log },
    timeout: 30_000,
  });
  t.equal(r.status, 0, r.stderr);
  const pkgs = packagesIn(log);
  t.ok(pkgs.has('execa'), 'execa (ESM) seen');
  t.ok(pkgs.has('prom-client'), 'prom-client (CommonJS) seen');
  t.ok(pkgs.has('bintrees'), "prom-client's own require()s seen");
});

t.test('no scripts, no metrics: no execa, prom-client or etcd3, no unused built-in plugin', async (t) => {
  const { pkgs, plugins, awsModules, rssKb } = await daemonPackages(t, {}, undefined, false);
  t.ok(pkgs.has('pino') && pkgs.has('zod'), 'the log saw the daemon load pino and zod');
  for (const p of HEAVY) t.notOk(pkgs.has(p), `${p} not loaded`);
  t.same([...plugins], [], 'no built-in plugin loaded (the config names none)');
  t.equal(awsModules, 0, 'no AWS module loaded');
  t.comment(`RSS without a cloud action: ${(rssKb / 1024).toFixed(1)} MB`);
});

t.test('an aws-eip action: the AWS modules and that one plugin load, nothing heavy; RSS with and without', async (t) => {
  const sim = await startAwsSimulator();
  t.teardown(() => sim.close());
  process.env.IPW_MODGRAPH_AWS_KEY = SIM_ACCESS_KEY_ID;
  process.env.IPW_MODGRAPH_AWS_SECRET = SIM_SECRET_ACCESS_KEY;
  t.teardown(() => {
    delete process.env.IPW_MODGRAPH_AWS_KEY;
    delete process.env.IPW_MODGRAPH_AWS_SECRET;
  });
  const action = {
    plugin: 'aws-eip',
    region: sim.region,
    endpoint: sim.url,
    instanceId: instanceIdOf(1),
    accessKeyId: 'env:IPW_MODGRAPH_AWS_KEY',
    secretAccessKey: 'env:IPW_MODGRAPH_AWS_SECRET',
    startupGrace: '0s',
  };
  const held = async (): Promise<void> => {
    const deadline = Date.now() + 10_000;
    while (sim.world().addresses[0]!.association?.networkInterfaceId !== interfaceIdOf(1) && Date.now() < deadline) await sleep(50);
    t.same(sim.world().addresses[0]!.association?.networkInterfaceId, interfaceIdOf(1), 'the MASTER took the Elastic IP');
  };
  const withAws = await daemonPackages(t, {}, held, false, { address: '203.0.113.10', actions: [action] });
  t.same([...withAws.plugins], ['aws-eip'], 'only aws-eip among the built-in plugins');
  t.ok(withAws.awsModules > 0, 'the AWS modules are loaded');
  for (const p of HEAVY) t.notOk(withAws.pkgs.has(p), `${p} not loaded`);
  t.equal(sim.world().addresses[0]!.association, undefined, 'released on STOP (SIGTERM)');
  const without = await daemonPackages(t, {}, undefined, false);
  t.equal(without.awsModules, 0);
  const mb = (kb: number): string => (kb / 1024).toFixed(1);
  t.comment(`RSS: ${mb(without.rssKb)} MB without an AWS action, ${mb(withAws.rssKb)} MB with aws-eip (+${mb(withAws.rssKb - without.rssKb)} MB)`);
  t.ok(withAws.rssKb - without.rssKb < 15 * 1024, 'the AWS action costs less than 15 MB of RSS');
});

t.test('an exec check and a notify script: nothing heavy (the runner is node:child_process) and just those two plugins', async (t) => {
  const { pkgs, plugins } = await daemonPackages(t);
  for (const p of HEAVY) t.notOk(pkgs.has(p), `${p} not loaded`);
  t.same([...plugins].sort(), ['exec', 'notify'], 'only the plugins the config names');
});

t.test('with metrics configured, prom-client is loaded (and still no execa)', async (t) => {
  const port = await freePort('127.0.0.91');
  const { pkgs } = await daemonPackages(
    t,
    { metrics: { listen: `127.0.0.91:${port}` } },
    async () => {
      const text = await (await fetch(`http://127.0.0.91:${port}/metrics`)).text();
      t.match(text, /^ipwarden_instance_state\{instance="lab",state="MASTER"\} 1$/m, 'metrics served');
    },
    false,
  );
  t.ok(pkgs.has('prom-client'), 'prom-client loaded for metrics:');
  t.notOk(pkgs.has('execa'), 'execa not loaded');
});
