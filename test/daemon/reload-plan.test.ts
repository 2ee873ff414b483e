/** The reload plan (pure): every kind of change, one at a time and together. */
import t from 'tap';
import { describePlan, planInstance, planItems, planReload, sameDefinition, type InstancePlan } from '../../src/daemon/reload-plan.js';
import type { DaemonSettings } from '../../src/daemon/daemon.js';
import type { InstanceSettings } from '../../src/daemon/instance-runner.js';
import { scheduleCheck, type ScheduledCheck } from '../../src/plugins/check-runner.js';
import type { ScheduledAction } from '../../src/plugins/action-runner.js';
import { defineAction, defineCheck } from '../../src/plugins/api.js';
import type { EtcdElectionSettings } from '../../src/election/config.js';

const checkPlugin = defineCheck<{ path: string; match?: RegExp }>({ kind: 'check', name: 'file', parseConfig: (raw) => ({ ok: true, config: raw as { path: string } }), run: async () => ({ ok: true, detail: '' }) });
const actionPlugin = defineAction<{ url: string }>({ kind: 'action', name: 'notify', parseConfig: (raw) => ({ ok: true, config: raw as { url: string } }), create: () => ({}) });
// a second import of the same plugin (a reload loads plugins again): not compared
const checkPluginAgain = { ...checkPlugin };

const check = (name: string, config: { path: string; match?: RegExp }, extra: Partial<ScheduledCheck> = {}): ScheduledCheck =>
  ({ ...scheduleCheck(checkPlugin, config, { name, ...extra }), instance: 'web' }) as ScheduledCheck;
const action = (name: string, url: string, extra: Partial<ScheduledAction> = {}): ScheduledAction =>
  ({ name, plugin: 'notify', timeoutMs: 1000, retries: 0, required: false, after: [], impl: actionPlugin, config: { url }, ...extra }) as ScheduledAction;

function instance(extra: Partial<InstanceSettings> = {}): InstanceSettings {
  return {
    name: 'web',
    address: '198.51.100.50',
    priority: 150,
    intervalMs: 1000,
    deadRatio: 3,
    preempt: true,
    preemptDelayMs: 0,
    peers: [{ host: '203.0.113.2', port: 7000 }, { host: '203.0.113.3', port: 7000 }],
    checks: [check('f', { path: '/run/f', match: /^ok$/i })],
    actions: [action('hook', 'http://127.0.0.1:1/a')],
    ...extra,
  };
}

function daemon(instances: InstanceSettings[], extra: Partial<DaemonSettings> = {}): DaemonSettings {
  return {
    nodeId: 'lb1',
    bind: { host: '203.0.113.1', port: 7000 },
    control: '/run/ipwarden/control.sock',
    keys: [{ id: 1, key: Buffer.alloc(32, 1) }],
    protocol: 'ipwarden',
    replayWindowMs: 30_000,
    instances,
    ...extra,
  } as DaemonSettings;
}

type InPlace = Extract<InstancePlan, { change: 'unchanged' | 'in-place' }>;
const inPlace = (p: InstancePlan): InPlace => {
  if (p.change !== 'unchanged' && p.change !== 'in-place') throw new Error(`expected in place, got ${p.change}`);
  return p;
};

t.test('regular expressions compare by source and flags (JSON.stringify turns them into {})', async (t) => {
  t.ok(sameDefinition({ m: /a/i }, { m: /a/i }), 'same source and flags');
  t.notOk(sameDefinition({ m: /a/i }, { m: /b/i }), 'other source');
  t.notOk(sameDefinition({ m: /a/i }, { m: /a/g }), 'other flags');
  t.equal(JSON.stringify({ m: /a/ }), JSON.stringify({ m: /b/ }), '(why JSON.stringify cannot be used)');
  t.ok(sameDefinition({ a: 1, b: [1, 2] }, { b: [1, 2], a: 1 }), 'key order does not matter');
  t.notOk(sameDefinition({ a: [1, 2] }, { a: [2, 1] }), 'array order does');
  t.notOk(sameDefinition({ a: 1 }, { a: 1, b: undefined }), 'a key set to undefined is a difference');
});

t.test('the same config: unchanged, even with the plugins loaded again', async (t) => {
  const a = instance();
  const b = instance({ checks: [{ ...check('f', { path: '/run/f', match: /^ok$/i }), impl: checkPluginAgain }] });
  const p = planInstance(a, b);
  t.equal(p.change, 'unchanged');
  t.same(inPlace(p).checks, [{ name: 'f', change: 'kept' }]);
  t.same(inPlace(p).actions, [{ name: 'hook', change: 'kept' }]);
  const whole = planReload(daemon([a]), daemon([b]));
  t.ok(whole.noop, 'the whole reload is a no-op');
  t.equal(describePlan(whole), 'nothing changed');
});

t.test('checks: every scheduling key and the plugin config, added, removed', async (t) => {
  const base = instance();
  const variants: [string, Partial<ScheduledCheck>][] = [
    ['timeout', { timeoutMs: 150 }],
    ['interval', { intervalMs: 500 }],
    ['rise', { rise: 5 }],
    ['fall', { fall: 1 }],
    ['weight', { weight: -20 }],
    ['reverse', { reverse: true }],
    ['initialState', { initialState: 'ok' }],
  ];
  for (const [what, extra] of variants) {
    const p = inPlace(planInstance(base, instance({ checks: [check('f', { path: '/run/f', match: /^ok$/i }, extra)] })));
    t.same(p.checks, [{ name: 'f', change: 'changed' }], `${what} changed`);
    t.equal(p.change, 'in-place');
    t.same(p.settings, [], `${what}: no instance setting changed`);
  }
  const regex = inPlace(planInstance(base, instance({ checks: [check('f', { path: '/run/f', match: /^OK$/i })] })));
  t.same(regex.checks, [{ name: 'f', change: 'changed' }], 'a regular expression in the plugin config changed');
  const both = inPlace(planInstance(base, instance({ checks: [check('g', { path: '/run/g' }), check('f', { path: '/run/f', match: /^ok$/i })] })));
  t.same(both.checks, [{ name: 'g', change: 'added' }, { name: 'f', change: 'kept' }], 'added before a kept one: matched by name');
  const gone = inPlace(planInstance(base, instance({ checks: [] })));
  t.same(gone.checks, [{ name: 'f', change: 'removed' }]);
  const renamed = inPlace(planInstance(base, instance({ checks: [check('f2', { path: '/run/f', match: /^ok$/i })] })));
  t.same(renamed.checks, [{ name: 'f2', change: 'added' }, { name: 'f', change: 'removed' }], 'a rename is a removal and an addition');
});

t.test('actions: config, scheduling keys, added, removed, reordered', async (t) => {
  const base = instance({ actions: [action('a', 'http://127.0.0.1:1/a'), action('b', 'http://127.0.0.1:1/b')] });
  const cfg = inPlace(planInstance(base, instance({ actions: [action('a', 'http://127.0.0.1:1/A'), action('b', 'http://127.0.0.1:1/b')] })));
  t.same(cfg.actions, [{ name: 'a', change: 'changed' }, { name: 'b', change: 'kept' }]);
  const actionVariants: [string, Partial<ScheduledAction>][] = [['timeout', { timeoutMs: 5 }], ['retries', { retries: 3 }], ['required', { required: true }], ['after', { after: ['a'] }]];
  for (const [what, extra] of actionVariants) {
    const p = inPlace(planInstance(base, instance({ actions: [action('a', 'http://127.0.0.1:1/a'), action('b', 'http://127.0.0.1:1/b', extra)] })));
    t.same(p.actions, [{ name: 'a', change: 'kept' }, { name: 'b', change: 'changed' }], `${what} changed`);
  }
  const reordered = planInstance(base, instance({ actions: [action('b', 'http://127.0.0.1:1/b'), action('a', 'http://127.0.0.1:1/a')] }));
  t.equal(reordered.change, 'unchanged', 'order alone changes nothing (after: orders actions)');
  const added = inPlace(planInstance(base, instance({ actions: [...base.actions, action('c', 'http://127.0.0.1:1/c')] })));
  t.same(added.actions.map((a) => a.change), ['kept', 'kept', 'added']);
  const removed = inPlace(planInstance(base, instance({ actions: [base.actions[1]!] })));
  t.same(removed.actions, [{ name: 'b', change: 'kept' }, { name: 'a', change: 'removed' }]);
});

t.test('instance settings applied in place, one at a time', async (t) => {
  const base = instance();
  const cases: [string, Partial<InstanceSettings>][] = [
    ['priority', { priority: 100 }],
    ['preempt', { preempt: false }],
    ['preemptDelay', { preemptDelayMs: 5000 }],
    ['peers', { peers: [{ host: '203.0.113.2', port: 7000 }] }],
    ['interval', { intervalMs: 200 }],
    ['deadRatio', { deadRatio: 5 }],
  ];
  for (const [key, extra] of cases) {
    const p = inPlace(planInstance(base, instance(extra)));
    t.equal(p.change, 'in-place', key);
    t.same(p.settings, [key], `only ${key}`);
  }
  const sameSet = planInstance(base, instance({ peers: [...base.peers].reverse() }));
  t.equal(sameSet.change, 'unchanged', 'the same peers in another order');
  const added = inPlace(planInstance(base, instance({ peers: [...base.peers, { host: '203.0.113.4', port: 7000 }] })));
  t.same(added.settings, ['peers'], 'a peer added');
  const disc = { plugin: 'dns', impl: {} as never, config: { name: 'lb.example', re: /x/ }, refreshMs: 1000 };
  const d1 = inPlace(planInstance(base, instance({ discovery: disc })));
  t.same(d1.settings, ['discovery'], 'discovery added');
  t.equal(planInstance(instance({ discovery: disc }), instance({ discovery: { ...disc, impl: {} as never, config: { name: 'lb.example', re: /x/ } } })).change, 'unchanged', 'the same discovery');
  t.same(inPlace(planInstance(instance({ discovery: disc }), instance({ discovery: { ...disc, refreshMs: 5 } }))).settings, ['discovery'], 'its refresh changed');
  const many = inPlace(planInstance(base, instance({ priority: 1, intervalMs: 5, checks: [] })));
  t.same(many.settings, ['priority', 'interval']);
  t.same(many.checks, [{ name: 'f', change: 'removed' }]);
});

t.test('address or election backend changed: the instance is replaced', async (t) => {
  const base = instance();
  t.same(planInstance(base, instance({ address: '198.51.100.51' })), { name: 'web', change: 'replaced', because: ['address'] });
  const etcd = { endpoints: ['http://127.0.0.1:2379'], prefix: '/ipwarden', ttlMs: 3000 } as unknown as EtcdElectionSettings;
  t.same(planInstance(base, instance({ election: etcd })), { name: 'web', change: 'replaced', because: ['election'] });
  t.same(planInstance(base, instance({ address: '198.51.100.51', election: etcd })), { name: 'web', change: 'replaced', because: ['address', 'election'] });
  t.equal(planInstance(instance({ election: etcd }), instance({ election: { ...etcd } })).change, 'unchanged', 'the same etcd settings');
});

t.test('instances added and removed; node-level keys', async (t) => {
  const web = instance();
  const db = instance({ name: 'db', address: '198.51.100.60' });
  const p = planReload(daemon([web]), daemon([db, web]));
  t.same(p.instances.map((i) => [i.name, i.change]), [['db', 'added'], ['web', 'unchanged']]);
  t.notOk(p.noop);
  const r = planReload(daemon([web, db]), daemon([web]));
  t.same(r.instances.map((i) => [i.name, i.change]), [['web', 'unchanged'], ['db', 'removed']]);
  t.equal(describePlan(r), 'db removed');

  const rotated = planReload(daemon([web]), daemon([web], { keys: [{ id: 1, key: Buffer.alloc(32, 1) }, { id: 2, key: Buffer.alloc(32, 2) }] }));
  t.ok(rotated.keys, 'a key added (rotation)');
  t.notOk(rotated.noop);
  t.notOk(planReload(daemon([web]), daemon([web], { keys: [{ id: 1, key: Buffer.alloc(32, 1) }] })).keys, 'equal keys (other Buffer objects)');
  t.ok(planReload(daemon([web]), daemon([web], { keys: [{ id: 1, key: Buffer.alloc(32, 9) }] })).keys, 'the same id, other bytes');
  t.same(planReload(daemon([web]), daemon([web], { replayWindowMs: 5 })).keys, true, 'clock skew travels with the keys');

  const node = planReload(
    daemon([web]),
    daemon([web], { nodeId: 'x', bind: { host: '203.0.113.9', port: 7000 }, control: '/tmp/c', protocol: 'exoip' as never, metrics: { host: '127.0.0.1', port: 9 }, stateFile: '/tmp/s' }),
  );
  t.same(node.needRestart, ['node.id', 'node.bind', 'node.control', 'protocol', 'metrics', 'stateFile']);
  t.ok(node.noop, 'nothing a reload applies');
});

t.test('planItems is generic over named things', async (t) => {
  const d = (x: { name: string; v: number }) => x.v;
  t.same(planItems([{ name: 'a', v: 1 }], [{ name: 'a', v: 1 }], d), [{ name: 'a', change: 'kept' }]);
  t.same(planItems([{ name: 'a', v: 1 }], [{ name: 'a', v: 2 }], d), [{ name: 'a', change: 'changed' }]);
  t.same(planItems([], [{ name: 'a', v: 2 }], d), [{ name: 'a', change: 'added' }]);
  t.same(planItems([{ name: 'a', v: 1 }], [], d), [{ name: 'a', change: 'removed' }]);
  t.equal(describePlan({ instances: [{ name: 'web', change: 'in-place', settings: ['priority'], checks: [{ name: 'f', change: 'changed' }], actions: [{ name: 'eip', change: 'added' }] }], keys: true, needRestart: [], noop: false }), 'web: check f changed, action eip added, priority; heartbeat keys');
});
