/** Operator features on real daemons: Prometheus metrics across a failover, maintenance (persisted), switchover. */
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { CLI } from '../lib/env.js';
import { LocalCluster, sleep } from '../../src/lab/local-cluster.js';
import { freePort } from '../lib/checks/lab.js';

const cli = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 });

function metric(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return undefined;
}

async function cluster(t: Test, extra: Partial<ConstructorParameters<typeof LocalCluster>[0]> = {}) {
  const c = new LocalCluster({ nodes: 2, intervalMs: 100, firstHost: 81, ...extra });
  t.teardown(() => c.destroy());
  await c.prepare();
  await c.start(c.nodes[0]!);
  await c.start(c.nodes[1]!);
  await c.waitFor('lab1 MASTER', 10_000, async () => ((await c.masters()).join() === 'lab1' ? true : undefined));
  await sleep(300);
  return c;
}

t.test('metrics on a 2-node cluster before and after a failover', async (t) => {
  const port = await freePort('127.0.0.82');
  const c = await cluster(t, { nodeExtras: (i) => (i === 1 ? { metrics: { listen: `127.0.0.82:${port}` } } : {}) });
  const scrape = async () => (await fetch(`http://127.0.0.82:${port}/metrics`)).text();
  const before = await scrape();
  t.equal(metric(before, 'ipwarden_instance_state', { instance: 'lab', state: 'BACKUP' }), 1);
  t.equal(metric(before, 'ipwarden_instance_state', { instance: 'lab', state: 'MASTER' }), 0);
  t.equal(metric(before, 'ipwarden_effective_priority', { instance: 'lab' }), 100);
  t.equal(metric(before, 'ipwarden_peers_alive', { instance: 'lab' }), 1);
  t.ok(metric(before, 'ipwarden_peer_last_advert_age_seconds', { instance: 'lab', peer: 'lab1' })! < 0.3);
  t.ok(metric(before, 'ipwarden_heartbeats_received_total')! > 0);
  t.equal(metric(before, 'ipwarden_transitions_total', { instance: 'lab', from: 'INIT', to: 'BACKUP', reason: 'startup' }), 1);
  t.equal(metric(before, 'ipwarden_transitions_total', { to: 'MASTER' }), undefined, 'no takeover yet');
  t.equal((await fetch(`http://127.0.0.82:${port}/healthz`)).status, 200);

  await c.kill(c.nodes[0]!, 'SIGKILL');
  await c.waitFor('lab2 MASTER', 3000, async () => ((await c.masters()).join() === 'lab2' ? true : undefined));
  const after = await scrape();
  t.equal(metric(after, 'ipwarden_instance_state', { instance: 'lab', state: 'MASTER' }), 1);
  t.equal(metric(after, 'ipwarden_transitions_total', { instance: 'lab', from: 'BACKUP', to: 'MASTER', reason: 'master-left' }), 1, 'crash fast path counted');
  t.ok(metric(after, 'ipwarden_last_transition_timestamp_seconds', { instance: 'lab' })! > Date.now() / 1000 - 10);
  t.equal(metric(after, 'ipwarden_peers_alive', { instance: 'lab' }), 0);
});

t.test('maintenance drains the MASTER, survives a restart, and is refused without a healthy peer', async (t) => {
  const c = await cluster(t);
  const [m, b] = [c.nodes[0]!, c.nodes[1]!];
  const on = cli(['maintenance', 'on', '--control', m.control]);
  t.equal(on.status, 0, on.stderr);
  t.match(on.stdout, 'maintenance on: lab');
  await c.waitFor('lab2 MASTER', 2000, async () => ((await c.masters()).join() === 'lab2' ? true : undefined), 5);
  const st = await c.status(m);
  t.equal(st?.instances[0]?.state, 'FAULT');
  t.equal(st?.instances[0]?.fault, 'maintenance mode');
  t.equal(st?.instances[0]?.maintenance, true);

  await c.kill(m, 'SIGTERM');
  await c.start(m);
  await sleep(600);
  t.equal((await c.status(m))?.instances[0]?.state, 'FAULT', 'still drained after a restart (state file)');
  t.same(await c.masters(), ['lab2']);

  const off = cli(['maintenance', 'off', '--config', m.configFile]);
  t.equal(off.status, 0, off.stderr);
  await c.waitFor('lab1 back', 3000, async () => ((await c.masters()).join() === 'lab1' ? true : undefined));

  await c.kill(b, 'SIGKILL');
  await sleep(500);
  const refused = cli(['maintenance', 'on', '--control', m.control]);
  t.equal(refused.status, 1);
  t.match(refused.stderr, /refusing maintenance for lab: no healthy peer could take the IP over/);
  t.same(await c.masters(), ['lab1'], 'nothing changed');
  t.equal(cli(['maintenance', 'sideways', '--control', m.control]).status, 2);
});

t.test('switchover --to: planned move, measured; refused with a reason when unsafe', async (t) => {
  const c = await cluster(t);
  const [m, b] = [c.nodes[0]!, c.nodes[1]!];
  const wrongNode = cli(['switchover', '--to', 'lab2', '--control', b.control]);
  t.equal(wrongNode.status, 1);
  t.match(wrongNode.stderr, /this node is BACKUP, run it on the MASTER \(lab1\)/);
  const unknown = cli(['switchover', '--to', 'lab9', '--control', m.control]);
  t.equal(unknown.status, 1);
  t.match(unknown.stderr, /no peer "lab9" known/);
  const r = cli(['switchover', '--to', 'lab2', '--control', m.control]);
  t.equal(r.status, 0, r.stderr);
  const took = Number(/after (\d+) ms/.exec(r.stdout)?.[1]);
  t.ok(took >= 0 && took < 500, `measured ${took} ms`);
  t.same(await c.masters(), ['lab2']);
});
