/** `ipwarden status` against real running daemons: the table and the JSON fields. */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { CLI } from '../lib/env.js';
import { LocalCluster, sleep } from '../../src/lab/local-cluster.js';

const cli = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000 });

t.test('status --json and the table, found from the config or the control socket', async (t) => {
  const c = new LocalCluster({ nodes: 2, intervalMs: 100, firstHost: 71 });
  t.teardown(() => c.destroy());
  await c.prepare();
  await c.start(c.nodes[0]!);
  await c.start(c.nodes[1]!);
  await c.waitFor('lab1 MASTER', 10_000, async () => ((await c.masters()).join() === 'lab1' ? true : undefined));
  await sleep(300);
  const [m, b] = c.nodes as [typeof c.nodes[0], typeof c.nodes[0]];

  const j = cli(['status', '--json', '--config', b!.configFile]);
  t.equal(j.status, 0, j.stderr);
  const s = JSON.parse(j.stdout);
  t.match(s.node, { id: 'lab2', pid: Number, version: String, startedAt: String, bind: `${b!.address}:${c.port}`, protocol: 'ipwarden' });
  const i = s.instances[0];
  t.match(i, {
    instance: 'lab', address: '198.51.100.50', state: 'BACKUP', basePriority: 100, effectivePriority: 100, master: 'lab1',
    since: Number, masterDownMs: 300, intervalMs: 100, deadRatio: 3, preempt: true, checks: [], actions: [],
    lastTransition: { from: 'INIT', to: 'BACKUP', reason: 'startup', at: Number },
  });
  t.equal(i.peers.length, 1);
  t.match(i.peers[0], { id: 'lab1', address: `${m!.address}:${c.port}`, state: 'MASTER', priority: 150, alive: true });
  t.ok(i.peers[0].lastSeenAgoMs < 300, 'last seen recently');
  t.ok(s.counters.received > 0 && s.counters.sent > 0, 'heartbeat counters');
  t.notMatch(j.stdout, /secret/i, 'nothing about secrets');

  const h = cli(['status', '--control', m!.control]);
  t.equal(h.status, 0, h.stderr);
  t.match(h.stdout, /^node lab1 /);
  t.match(h.stdout, /INSTANCE\s+ADDRESS\s+STATE\s+PRIO\s+SINCE\s+MASTER\s+WHY/);
  t.match(h.stdout, /lab\s+198\.51\.100\.50\s+MASTER\s+150\s+\S+Z \([^)]+\)\s+lab1\s+no master heard/);
  t.match(h.stdout, /lab peers: lab2 BACKUP prio 100 seen \d+ms ago/);
});
