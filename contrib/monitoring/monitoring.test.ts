/**
 * contrib/monitoring: promtool accepts the alert rules and their unit tests pass (and a broken
 * rule makes them fail); the Grafana dashboard is well-formed; and every ipwarden metric the
 * rules and the dashboard query is served by a live daemon (two real daemons, one with a failing
 * check, the exoscale-eip action against the API simulator with one injected 503, and a stray
 * datagram on its heartbeat port, so that every series has a sample).
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, requireEnv } from '../../test/lib/env.js';
import { freePort } from '../../test/lib/checks/lab.js';
import { LocalCluster } from '../../src/lab/local-cluster.js';
import { startEipLab, type EipLab } from '../../src/lab/exoscale-lab.js';

const DIR = join(ROOT, 'contrib', 'monitoring');
const RULES = join(DIR, 'ipwarden.rules.yml');
const RULE_TESTS = join(DIR, 'ipwarden.rules.test.yml');
const DASHBOARD = join(DIR, 'ipwarden.dashboard.json');
const skipPromtool = requireEnv({ bins: ['promtool'] });

interface Panel {
  title: string;
  type: string;
  targets?: { expr: string; refId: string }[];
  gridPos: { x: number; y: number; w: number; h: number };
}
const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { uid: string; title: string; panels: Panel[]; annotations: { list: { expr?: string }[] } };

function promtool(args: string[], cwd = DIR) {
  const r = spawnSync('promtool', args, { cwd, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

/** ipwarden metric families a PromQL text refers to (histogram series -> their family). */
function metricNames(promql: string): string[] {
  return [...promql.matchAll(/\bipwarden_[a-z0-9_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, ''));
}

t.test('promtool check rules', { skip: skipPromtool }, async (t) => {
  const r = promtool(['check', 'rules', RULES]);
  t.equal(r.code, 0, r.out);
  t.match(r.out, /SUCCESS: 7 rules found/);
  const names = [...readFileSync(RULES, 'utf8').matchAll(/- alert: (\w+)/g)].map((m) => m[1]);
  t.same(names.sort(), ['IpwardenCheckFailing', 'IpwardenCloudApiErrors', 'IpwardenDaemonDown', 'IpwardenFlapping', 'IpwardenHeartbeatsRejected', 'IpwardenNoMaster', 'IpwardenTwoMasters']);
});

t.test('promtool test rules', { skip: skipPromtool }, async (t) => {
  const r = promtool(['test', 'rules', RULE_TESTS]);
  t.equal(r.code, 0, r.out);
  t.match(r.out, /SUCCESS/);
  const tested = new Set([...readFileSync(RULE_TESTS, 'utf8').matchAll(/alertname: (\w+)/g)].map((m) => m[1]));
  for (const a of readFileSync(RULES, 'utf8').matchAll(/- alert: (\w+)/g)) t.ok(tested.has(a[1]), `${a[1]} has a unit test`);

  // the unit tests can fail: two MASTERs only from three on is caught
  const dir = mkdtempSync(join(tmpdir(), 'ipwarden-rules-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'ipwarden.rules.yml'), readFileSync(RULES, 'utf8').replace('state="MASTER"}) > 1', 'state="MASTER"}) > 2'));
  copyFileSync(RULE_TESTS, join(dir, 'ipwarden.rules.test.yml'));
  const broken = promtool(['test', 'rules', 'ipwarden.rules.test.yml'], dir);
  t.not(broken.code, 0, 'a broken rule fails its unit test');
  t.match(broken.out, /IpwardenTwoMasters/);
});

t.test('the dashboard', async (t) => {
  t.equal(dashboard.uid, 'ipwarden');
  t.ok(dashboard.panels.length >= 10, `${dashboard.panels.length} panels`);
  for (const p of dashboard.panels) {
    t.ok(p.targets && p.targets.length > 0 && p.targets.every((q) => q.expr.length > 0), `${p.title}: has queries`);
    t.ok(p.gridPos.x + p.gridPos.w <= 24, `${p.title}: fits the 24-column grid`);
  }
  const text = JSON.stringify(dashboard);
  for (const want of ['ipwarden_instance_state', 'ipwarden_transitions_total', 'ipwarden_action_duration_seconds_bucket', 'ipwarden_api_call_duration_seconds_bucket', 'ipwarden_api_errors_total', 'ipwarden_peer_last_advert_age_seconds', 'ipwarden_check_up']) {
    t.ok(text.includes(want), `shows ${want}`);
  }
});

t.test('every metric the rules and the dashboard use is served by a live daemon', async (t) => {
  const used = new Set([
    ...metricNames(readFileSync(RULES, 'utf8')),
    ...dashboard.panels.flatMap((p) => (p.targets ?? []).flatMap((q) => metricNames(q.expr))),
    ...dashboard.annotations.list.flatMap((a) => metricNames(a.expr ?? '')),
  ]);
  t.ok(used.size >= 15, `${used.size} metric families used: ${[...used].sort().join(' ')}`);

  const port = await freePort('127.0.0.71');
  const dir = mkdtempSync(join(tmpdir(), 'ipwarden-monitoring-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let eip: EipLab | undefined;
  const closed = await freePort('127.0.0.1');
  const c = new LocalCluster({
    nodes: 2,
    intervalMs: 100,
    firstHost: 71,
    nodeExtras: (i) => (i === 0 ? { metrics: { listen: `127.0.0.71:${port}` } } : {}),
    instanceExtras: (i) => ({
      checks: [{ plugin: 'tcp', name: 'closed-port', host: '127.0.0.1', port: closed, interval: '100ms', weight: -10 }],
      ...eip!.instanceExtras(i),
    }),
  });
  t.teardown(() => c.destroy());
  eip = await startEipLab({ nodes: 2, dir, operationDelayMs: 20, action: { startupGrace: '0s' } });
  const lab = eip;
  t.teardown(() => lab.close());
  eip.sim.state.faults.add({ kind: 'error', status: 503, count: 1, calls: ['attach-instance-to-elastic-ip'] });
  await c.prepare();
  await c.start(c.nodes[0]!);
  await c.start(c.nodes[1]!);

  // a datagram that is no heartbeat, to the metrics node's heartbeat port
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.send(Buffer.from('not a heartbeat'), c.port, '127.0.0.71', () => r()));
  sock.close();

  const served = (text: string) => new Set([...text.matchAll(/^(ipwarden_[a-z0-9_]+?)(?:_bucket|_sum|_count)?(?:\{[^}]*\})? \S+$/gm)].map((m) => m[1]!));
  let text = '';
  const missing = () => [...used].filter((n) => !served(text).has(n));
  await c.waitFor(`samples of ${[...used].join(', ')}`, 20_000, async () => {
    text = await (await fetch(`http://127.0.0.71:${port}/metrics`)).text();
    return missing().length === 0 ? true : undefined;
  }, 200).catch(() => undefined);
  t.same(missing(), [], 'every metric family used has a sample');
  t.match(text, /^ipwarden_instance_state\{instance="lab",state="MASTER"\} 1$/m, 'the metrics node is MASTER');
  t.match(text, /^ipwarden_api_errors_total\{call="attach-instance-to-elastic-ip"\} 1$/m, 'the injected 503 is counted');
  t.match(text, /^ipwarden_heartbeats_rejected_total\{reason="[a-z-]+"\} [1-9]/m, 'the stray datagram is rejected');
});
