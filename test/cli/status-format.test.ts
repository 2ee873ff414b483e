/** The human status table for each state an instance can be in. */
import t from 'tap';
import { formatStatus } from '../../src/cli/status-format.js';
import type { DaemonStatus } from '../../src/daemon/daemon.js';
import type { InstanceStatus } from '../../src/daemon/instance-runner.js';

const NOW = Date.parse('2026-11-25T12:00:00Z');

function inst(over: Partial<InstanceStatus>): InstanceStatus {
  return {
    instance: 'web', nodeId: 'lb1', address: '198.51.100.50', state: 'BACKUP', basePriority: 150, effectivePriority: 150,
    maintenance: false, since: NOW - 65_000, peers: [], masterDownMs: 3000, checks: [], actions: [], intervalMs: 1000, deadRatio: 3, preempt: true,
    ...over,
  } as InstanceStatus;
}

function status(i: InstanceStatus): DaemonStatus {
  return {
    node: { id: 'lb1', pid: 42, version: '0.1.0', startedAt: new Date(NOW - 3_600_000).toISOString(), bind: '198.51.100.11:12345', protocol: 'ipwarden' },
    instances: [i],
    counters: { sent: 10, received: 9, sendErrors: 0, rejected: { 'bad-tag': 2 } },
  };
}

const peer = { id: 'lb2', address: '198.51.100.12:12345', state: 'BACKUP' as const, priority: 100, alive: true, lastSeenAgoMs: 420, intervalMs: 1000, incarnation: 1 };

t.test('MASTER: who holds the IP, since when, why', async (t) => {
  const out = formatStatus(status(inst({ state: 'MASTER', master: 'lb1', peers: [peer], lastTransition: { from: 'BACKUP', to: 'MASTER', reason: 'peer lb0 dead after 3.0s', cause: 'master-dead', priority: 150, at: NOW - 65_000 } })), NOW);
  t.match(out, /^node lb1 {2}pid 42 {2}ipwarden 0\.1\.0 {2}up 1h00m/);
  t.match(out, /web\s+198\.51\.100\.50\s+MASTER\s+150\s+11:58:55Z \(1m05s\)\s+lb1\s+peer lb0 dead after 3\.0s/);
  t.match(out, /web peers: lb2 BACKUP prio 100 seen 420ms ago/);
  t.match(out, /heartbeats: sent 10, received 9, dropped bad-tag=2/);
});

t.test('BACKUP with no live master shows when it takes over', async (t) => {
  const out = formatStatus(status(inst({ state: 'BACKUP', takeoverAt: NOW + 1200, peers: [{ ...peer, alive: false }] })), NOW);
  t.match(out, /web\s+198\.51\.100\.50\s+BACKUP\s+150\s+\S+ \(\S+\)\s+-\s+-$/m);
  t.match(out, /lb2 DEAD prio 100/);
  t.match(out, /no live master; takes over in 1\.2s unless one is heard/);
});

t.test('FAULT names the reason and the failing check; weights show the base priority', async (t) => {
  const check = { name: 'haproxy', plugin: 'haproxy', state: 'fail' as const, lastResult: { ok: false, detail: 'backend web: 0/2 servers up', latencyMs: 3, at: NOW }, consecutive: 3, weight: 0, reverse: false, runs: 9, since: NOW };
  const out = formatStatus(status(inst({ state: 'FAULT', fault: 'check haproxy failed (weight 0)', effectivePriority: 90, checks: [check] as never })), NOW);
  t.match(out, /web\s+198\.51\.100\.50\s+FAULT\s+90 \(base 150\)\s+\S+ \(1m05s\)\s+-\s+check haproxy failed \(weight 0\)/);
  t.match(out, /web checks: haproxy FAIL \(backend web: 0\/2 servers up, 3ms\)/);
});

t.test('failing actions are flagged; STOP is shown as such', async (t) => {
  const action = { action: 'exoscale-eip', plugin: 'exoscale-eip', hook: 'onMaster', ok: false, durationMs: 2000, attempts: 3, error: 'exoscale: 503', at: NOW - 5000 };
  const out = formatStatus(status(inst({ state: 'STOP', actions: [action] })), NOW);
  t.match(out, /web\s+198\.51\.100\.50\s+STOP/);
  t.match(out, /exoscale-eip\.onMaster FAILED \(exoscale: 503\) 5\.0s ago/);
  t.match(out, /WARNING 1 action\(s\) failing/);
});

t.test('etcd with heartbeats: a MASTER holding through an etcd outage says so, with what its peers report', async (t) => {
  const election = {
    backend: 'etcd' as const, endpoints: ['http://127.0.0.1:2379'], keyPrefix: '/ipwarden/web/', role: 'master' as const, lease: '1f', ttlMs: 3000, grantedTtlMs: 3000,
    leaseRemainingMs: 0, lastRenewalAgoMs: 9000, lastRenewalLatencyMs: 2, renewIntervalMs: 750, stepDownAfterMs: 1500, fencingToken: '42', connected: false,
    onEtcdLoss: 'hold-if-peers-agree' as const, holding: 'every peer (lb2) cannot reach etcd either and sees us as MASTER, term 42',
    heartbeat: { intervalMs: 1000, deadRatio: 3, etcdOk: false, peers: [{ id: 'lb2', address: '198.51.100.12:12345', state: 'BACKUP' as const, alive: true, lastSeenAgoMs: 300, etcdOk: false, leader: 'lb1', token: '42' }] },
  };
  const out = formatStatus(status(inst({ state: 'MASTER', master: 'lb1', election })), NOW);
  t.match(out, /web election: etcd \/ipwarden\/web\/ lease 1f .*term 42, HOLDING past the step-down deadline \(onEtcdLoss hold-if-peers-agree\): every peer \(lb2\) cannot reach etcd either/);
  t.match(out, /web heartbeats: every 1\.0s, our etcd LOST; peers: lb2 BACKUP 300ms ago etcd LOST/);
  const normal = formatStatus(status(inst({ state: 'MASTER', master: 'lb1', election: { ...election, holding: undefined, stepDownInMs: 800, heartbeat: { ...election.heartbeat, etcdOk: true, peers: [] } } })), NOW);
  t.match(normal, /term 42, steps down in 800ms without renewal/);
  t.match(normal, /our etcd ok; peers: none heard/);
});
