/**
 * The rc-file schema: exact error texts, did-you-mean at every depth, defaults, rules across keys.
 */
import t from 'tap';
import { checkConfigData, parseConfigData, type IpwardenConfig } from '../../src/config/schema.js';
import { durationText } from '../../src/util/duration.js';
import { ConfigError, formatPath } from '../../src/config/issues.js';
import { parseDuration } from '../../src/util/duration.js';
import { canonicalAddress, formatEndpoint, parseEndpoint } from '../../src/config/endpoint.js';

/** A minimal valid config, with `patch` applied to instances.web. */
function cfg(web: Record<string, unknown> = {}, top: Record<string, unknown> = {}): Record<string, unknown> {
  return { secret: 'env:IPW_TEST_SECRET', instances: { web: { address: '198.51.100.50', ...web } }, ...top };
}

function problems(raw: unknown): string[] {
  const r = checkConfigData(raw);
  if (r.ok) throw new Error('expected the config to be invalid');
  return r.problems;
}

t.test('the error texts of the spec, exactly', async (t) => {
  t.same(problems(cfg({ interval: 'fast' })), ['instances.web.interval: expected a duration like "1s", got "fast"']);
  t.same(problems(cfg({ priority: 300 })), ['instances.web.priority: expected an integer 1..254, got 300']);
  t.same(problems(cfg({ address: 'foo' })), ['instances.web.address: expected an IPv4 or IPv6 address, got "foo"']);
});

t.test('every problem is reported, not just the first', async (t) => {
  const p = problems(cfg({ interval: 'fast', priority: 300, address: 'foo', deadRatio: 1.5 }, { log: { level: 'verbose' } }));
  t.same(p.sort(), [
    'instances.web.address: expected an IPv4 or IPv6 address, got "foo"',
    'instances.web.deadRatio: expected an integer 2..20, got 1.5',
    'instances.web.interval: expected a duration like "1s", got "fast"',
    'instances.web.priority: expected an integer 1..254, got 300',
    'log.level: expected one of "trace", "debug", "info", "warn", "error", "silent", got "verbose"',
  ]);
});

t.test('parseConfigData throws one ConfigError naming the file and listing all problems', async (t) => {
  const err = t.throws(() => parseConfigData(cfg({ interval: 'fast', priority: 0 }), '/etc/ipwarden/config.yaml')) as ConfigError;
  t.ok(err instanceof ConfigError);
  t.equal(err.file, '/etc/ipwarden/config.yaml');
  t.equal(err.problems.length, 2);
  t.match(err.message, /^\/etc\/ipwarden\/config\.yaml: invalid config\n {2}instances\.web\./);
});

t.test('unknown keys get a did-you-mean at every depth', async (t) => {
  t.same(problems(cfg({ intervall: '1s' })), ['instances.web.intervall: unknown key (did you mean "interval"?)']);
  t.same(problems(cfg({}, { instancess: {} })), ['instancess: unknown key (did you mean "instances"?)']);
  t.same(problems(cfg({}, { node: { bnid: '0.0.0.0' } })), ['node.bnid: unknown key (did you mean "bind"?)']);
  t.same(problems(cfg({}, { log: { formt: 'json' } })), ['log.formt: unknown key (did you mean "format"?)']);
  t.same(problems(cfg({}, { metrics: { listen: '127.0.0.1:9842', lisen: 'x' } })), ['metrics.lisen: unknown key (did you mean "listen"?)']);
  t.same(problems({ ...cfg(), secret: [{ id: 1, kye: 'env:A' }] }), [
    'secret[0].key: required (expected a secret reference)',
    'secret[0].kye: unknown key (did you mean "key"?)',
  ]);
  t.same(
    problems({ keepalived: { instances: { VI_1: { address: '198.51.100.7', actoins: [] } } } }),
    ['keepalived.instances.VI_1.actoins: unknown key (did you mean "actions"?)'],
  );
  t.same(problems(cfg({ zzzzzz: 1 }, {})), [
    'instances.web.zzzzzz: unknown key (allowed: address, priority, interval, deadRatio, preempt, preemptDelay, peers, checks, actions, discovery, election)',
  ]);
});

t.test('check and action entries: scheduling keys validated, plugin keys passed through', async (t) => {
  t.same(problems(cfg({ checks: [{ plugin: 'haproxy', interval: 'soon', rise: 0 }] })), [
    'instances.web.checks[0].interval: expected a duration like "1s", got "soon"',
    'instances.web.checks[0].rise: expected an integer 1..100, got 0',
  ]);
  t.same(problems(cfg({ actions: [{ name: 'x' }] })), ['instances.web.actions[0].plugin: required (expected a plugin name)']);
  t.same(problems(cfg({ checks: [{ plugin: 'tcp', initialState: 'up' }] })), [
    'instances.web.checks[0].initialState: expected one of "ok", "fail", got "up"',
  ]);
  const r = checkConfigData(cfg({ checks: [{ plugin: 'tcp', port: 80, host: '127.0.0.1' }], actions: [{ plugin: 'notify', url: 'x', timeout: '5s' }] }));
  t.ok(r.ok);
  const web = (r as { config: IpwardenConfig }).config.instances.web!;
  t.same(web.checks, [
    { plugin: 'tcp', name: 'tcp', interval: 1000, timeout: 1000, rise: 2, fall: 3, weight: 0, reverse: false, initialState: 'fail', options: { port: 80, host: '127.0.0.1' } },
  ]);
  t.same(web.actions, [{ plugin: 'notify', name: 'notify', timeout: 5000, retries: 2, required: false, after: [], options: { url: 'x' } }]);
});

t.test('duplicate check and action names per instance', async (t) => {
  t.same(problems(cfg({ checks: [{ plugin: 'tcp' }, { plugin: 'tcp' }] })), [
    'instances.web.checks[1].plugin: expected a unique check name, got "tcp" (also checks[0]; set name: to tell them apart)',
  ]);
  t.same(problems(cfg({ actions: [{ plugin: 'a', name: 'x' }, { plugin: 'b', name: 'x' }] })), [
    'instances.web.actions[1].name: expected a unique action name, got "x" (also actions[0]; set name: to tell them apart)',
  ]);
  t.ok(checkConfigData(cfg({ checks: [{ plugin: 'tcp', name: 'a' }, { plugin: 'tcp', name: 'b' }] })).ok);
});

t.test('after: names other actions of the same instance, no cycles; errors name the field', async (t) => {
  const ok = parseConfigData(cfg({ actions: [{ plugin: 'ip-alias' }, { plugin: 'exoscale-eip' }, { plugin: 'notify', after: ['ip-alias', 'exoscale-eip'] }] }));
  t.same(ok.instances.web!.actions.map((a) => [a.name, a.after]), [['ip-alias', []], ['exoscale-eip', []], ['notify', ['ip-alias', 'exoscale-eip']]]);
  t.notOk('after' in ok.instances.web!.actions[2]!.options, 'after is a scheduling key, not passed to the plugin');

  t.same(problems(cfg({ actions: [{ plugin: 'ip-alias' }, { plugin: 'exoscale-eip' }, { plugin: 'notify', after: ['ip-alais'] }] })), [
    'instances.web.actions[2].after[0]: expected the name of another action of this instance, got "ip-alais" (did you mean "ip-alias"?)',
  ]);
  t.same(problems(cfg({ actions: [{ plugin: 'ip-alias' }, { plugin: 'notify', after: ['zzzzzzzz'] }] })), [
    'instances.web.actions[1].after[0]: expected the name of another action of this instance, got "zzzzzzzz" (actions of this instance: ip-alias)',
  ]);
  t.same(problems(cfg({ actions: [{ plugin: 'notify', after: ['exoscale-eip'] }] })), [
    'instances.web.actions[0].after[0]: expected the name of another action of this instance, got "exoscale-eip" (this instance has no other action)',
  ]);
  t.same(problems(cfg({ actions: [{ plugin: 'ip-alias' }, { plugin: 'notify', name: 'hook', after: ['hook'] }] })), [
    'instances.web.actions[1].after[0]: an action cannot wait for itself, got "hook"',
  ]);
  t.same(problems(cfg({ actions: [{ plugin: 'ip-alias' }, { plugin: 'notify', after: ['ip-alias', 'ip-alias'] }] })), [
    'instances.web.actions[1].after[1]: expected each name once, got "ip-alias" twice',
  ]);
  t.same(problems(cfg({ actions: [{ plugin: 'notify', after: 'ip-alias' }, { plugin: 'ip-alias' }] })), [
    'instances.web.actions[0].after: expected a list of action names, e.g. [ip-alias], got "ip-alias"',
  ]);
  t.same(
    problems(cfg({ actions: [{ plugin: 'a', after: ['c'] }, { plugin: 'b', after: ['a'] }, { plugin: 'c', after: ['b'] }, { plugin: 'd', after: ['a'] }] })),
    ['instances.web.actions[0].after: expected no cycle, got a -> c -> b -> a (these actions would wait for each other forever)'],
    'a cycle is reported once, at its first action, with the loop spelled out',
  );
  t.same(
    problems(cfg({ actions: [{ plugin: 'x' }, { plugin: 'a', after: ['b'] }, { plugin: 'b', after: ['a', 'x'] }] })),
    ['instances.web.actions[1].after: expected no cycle, got a -> b -> a (these actions would wait for each other forever)'],
  );
  // keepalived scripts mode: the same rules, and the other problems of the file are still all reported
  const p = problems({
    keepalived: { instances: { VI_1: { address: '198.51.100.50', actions: [{ plugin: 'ip-alias', after: ['notify'] }, { plugin: 'notify', after: ['ip-alias'] }] } } },
    instances: { web: { address: '198.51.100.51', priority: 0, actions: [{ plugin: 'notify', after: ['eip'] }] } },
    secret: 'env:S',
  });
  t.same(p.sort(), [
    'instances.web.actions[0].after[0]: expected the name of another action of this instance, got "eip" (this instance has no other action)',
    'instances.web.priority: expected an integer 1..254, got 0',
    'keepalived.instances.VI_1.actions[0].after: expected no cycle, got ip-alias -> notify -> ip-alias (these actions would wait for each other forever)',
  ]);
});

t.test('defaults are applied and durations are in ms', async (t) => {
  const c = parseConfigData(cfg());
  t.same(c, {
    node: { bind: '0.0.0.0:12345', control: '/run/ipwarden/ipwarden.sock' },
    secret: 'env:IPW_TEST_SECRET',
    log: { level: 'info', format: 'json' },
    plugins: [],
    protocol: 'ipwarden',
    clockSkew: 60_000,
    stateFile: '/var/lib/ipwarden/state.json',
    instances: {
      web: { address: '198.51.100.50', priority: 100, interval: 1000, deadRatio: 3, preempt: true, preemptDelay: 0, peers: [], checks: [], actions: [] },
    },
  });
  const d = parseConfigData(cfg({ interval: '250ms', preemptDelay: '1.5s' }, { clockSkew: '2m' }));
  t.equal(d.instances.web!.interval, 250);
  t.equal(d.instances.web!.preemptDelay, 1500);
  t.equal(d.clockSkew, 120_000);
});

t.test('ranges', async (t) => {
  t.same(problems(cfg({ interval: '10ms' })), ['instances.web.interval: expected a duration from 20ms to 1m, got "10ms"']);
  t.same(problems(cfg({ interval: '61s' })), ['instances.web.interval: expected a duration from 20ms to 1m, got "61s"']);
  t.ok(checkConfigData(cfg({ interval: '20ms' })).ok);
  t.ok(checkConfigData(cfg({ interval: '60s' })).ok);
  t.same(problems(cfg({ priority: 0 })), ['instances.web.priority: expected an integer 1..254, got 0']);
  t.same(problems(cfg({ priority: 99.5 })), ['instances.web.priority: expected an integer 1..254, got 99.5']);
  t.same(problems(cfg({ priority: '100' })), ['instances.web.priority: expected an integer 1..254, got "100"']);
  t.same(problems(cfg({ deadRatio: 21 })), ['instances.web.deadRatio: expected an integer 2..20, got 21']);
  t.same(problems(cfg({ interval: 1 })), ['instances.web.interval: expected a duration like "1s", got 1']);
  t.same(problems(cfg({ preempt: 'yes' })), ['instances.web.preempt: expected true or false, got "yes"']);
});

t.test('instance names, required keys, wrong types', async (t) => {
  t.same(problems({ secret: 'x', instances: { 'web 1': { address: '198.51.100.1' } } }), [
    'instances["web 1"]: expected an instance name matching /^[A-Za-z0-9_.-]{1,32}$/, got "web 1"',
  ]);
  t.same(problems(cfg({ address: undefined })), ['instances.web.address: required (expected an IPv4 or IPv6 address)']);
  t.same(problems({ secret: 'x', instances: [] }), ['instances: expected an object, got a list']);
  t.same(problems('hello'), ['(root): expected an object, got "hello"']);
  t.same(problems({ secret: 'x' }), ['instances: expected at least one instance (or a keepalived: section for scripts mode), got none']);
  t.same(problems({ secret: 'x', instances: {} }), ['instances: expected at least one instance (or a keepalived: section for scripts mode), got none']);
});

t.test('a keepalived-only config needs no instances and no secret', async (t) => {
  const c = parseConfigData({ keepalived: { instances: { VI_1: { address: '198.51.100.7', actions: [{ plugin: 'notify' }] } } } });
  t.same(c.instances, {});
  t.equal(c.keepalived!.instances.VI_1!.actions[0]!.timeout, 30_000);
});

t.test('secret: required with protocol ipwarden, forms, rotation list', async (t) => {
  t.same(problems({ instances: { web: { address: '198.51.100.1' } } }), [
    'secret: required with protocol ipwarden: the heartbeat key (env:NAME, file:PATH, credential:NAME), or set protocol: exoip',
  ]);
  t.ok(checkConfigData({ protocol: 'exoip', instances: { web: { address: '198.51.100.1' } } }).ok);
  t.same(parseConfigData(cfg({}, { secret: [{ id: 1, key: 'file:/k1' }, { id: 2, key: 'env:NEW' }] })).secret, [
    { id: 1, key: 'file:/k1' },
    { id: 2, key: 'env:NEW' },
  ]);
  t.same(problems(cfg({}, { secret: [{ id: 1, key: 'env:A' }, { id: 1, key: 'env:B' }] })), [
    'secret[1].id: expected a unique key id, got 1 (also secret[0])',
  ]);
  t.same(problems(cfg({}, { secret: [{ id: 256, key: 'env:A' }] })), ['secret[0].id: expected an integer 1..255, got 256']);
  t.same(problems(cfg({}, { secret: [] })), ['secret: expected at least one key']);
  t.same(problems(cfg({}, { secret: '' })), ['secret: expected a non-empty secret reference, got ""']);
});

t.test('secret values are never echoed in errors', async (t) => {
  const p1 = problems(cfg({}, { secret: 12345678 }));
  t.same(p1, ['secret: expected a secret reference (env:NAME, file:PATH, credential:NAME) or a list of { id, key }, got a number (value hidden)']);
  const p2 = problems(cfg({}, { secret: [{ id: 1, key: 987654321 }] }));
  t.same(p2, ['secret[0].key: expected a secret reference, got a number (value hidden)']);
  for (const p of [...p1, ...p2]) t.notMatch(p, /12345678|987654321/);
});

t.test('addresses: unique across instances, IPv4-only for exoip', async (t) => {
  t.same(
    problems({ secret: 'x', instances: { a: { address: '2001:db8::1' }, b: { address: '2001:DB8:0::1' } } }),
    ['instances.b.address: expected an address unique across instances, got "2001:DB8:0::1" (also instance "a")'],
  );
  t.same(problems({ protocol: 'exoip', instances: { a: { address: '2001:db8::1' } } }), [
    'instances.a.address: protocol exoip supports IPv4 addresses only, got "2001:db8::1"',
  ]);
});

t.test('bind and peers', async (t) => {
  t.ok(checkConfigData(cfg({ peers: ['198.51.100.11', '198.51.100.12:12345', '198.51.100.13:999'] })).ok);
  t.ok(checkConfigData(cfg({ peers: ['2001:db8::11', '[2001:db8::12]:4000', '198.51.100.11'] }, { node: { bind: '[::]:12345' } })).ok);
  t.ok(checkConfigData(cfg({}, { node: { bind: '127.0.0.11' } })).ok);
  t.same(problems(cfg({}, { node: { bind: 'localhost:12345' } })), [
    'node.bind: expected an address like "0.0.0.0:12345", "[::]:12345" or "127.0.0.1", got "localhost:12345"',
  ]);
  t.same(problems(cfg({ peers: ['198.51.100.11:0'] })), [
    'instances.web.peers[0]: expected an IP address with an optional port, like "198.51.100.11" or "[2001:db8::1]:12345", got "198.51.100.11:0"',
  ]);
  t.same(problems(cfg({ peers: ['2001:db8::11'] })), [
    'instances.web.peers[0]: an IPv6 peer needs an IPv6 node.bind (e.g. "[::]:12345"), got "2001:db8::11"',
  ]);
  t.same(problems(cfg({ peers: ['198.51.100.11'] }, { node: { bind: '[2001:db8::1]:12345' } })), [
    'instances.web.peers[0]: an IPv4 peer needs node.bind on an IPv4 address or "[::]", got "198.51.100.11"',
  ]);
  t.same(problems(cfg({ peers: ['198.51.100.11', '198.51.100.11:12345'] })), [
    'instances.web.peers[1]: duplicate peer (same as peers[0]), got "198.51.100.11:12345"',
  ]);
  t.same(problems(cfg({}, { metrics: { listen: '127.0.0.1' } })), ['metrics.listen: expected an address with a port, like "127.0.0.1:9842", got "127.0.0.1"']);
  t.same(problems(cfg({}, { stateFile: 'state.json' })), ['stateFile: expected an absolute path, got "state.json"']);
});

t.test('node.id', async (t) => {
  t.equal(parseConfigData(cfg({}, { node: { id: 'lb1' } })).node.id, 'lb1');
  t.same(problems(cfg({}, { node: { id: 'lb 1' } })), ['node.id: expected a node id without spaces or control characters, got "lb 1"']);
  t.same(problems(cfg({}, { node: { id: 'x'.repeat(65) } })), [`node.id: expected a node id of 1..64 bytes, got "${'x'.repeat(65)}"`]);
});

t.test('helpers: endpoints, paths, duration text', async (t) => {
  t.same(parseEndpoint('0.0.0.0:12345'), { host: '0.0.0.0', port: 12345 });
  t.same(parseEndpoint('[::]:1', 5), { host: '::', port: 1 });
  t.same(parseEndpoint('[::1]', 5), { host: '::1', port: 5 });
  t.same(parseEndpoint('::1', 5), { host: '::1', port: 5 });
  t.equal(parseEndpoint('127.0.0.1'), undefined, 'port required without a default');
  t.equal(parseEndpoint('127.0.0.1:65536', 1), undefined);
  t.equal(parseEndpoint('[127.0.0.1]:80', 1), undefined);
  t.equal(parseEndpoint('example.com:80', 1), undefined);
  t.equal(formatEndpoint({ host: '2001:db8::1', port: 80 }), '[2001:db8::1]:80');
  t.equal(canonicalAddress('2001:DB8:0:0::1'), '2001:db8::1');
  t.equal(formatPath(['keepalived', 'instances', 'VI 1', 'actions', 0, 'plugin']), 'keepalived.instances["VI 1"].actions[0].plugin');
  t.equal(formatPath([]), '(root)');
  for (const ms of [0, 1, 20, 250, 999, 1000, 1500, 1234, 59_000, 60_000, 90_000, 3_600_000, 5_400_000]) {
    t.equal(parseDuration(durationText(ms)), ms, `${ms} round-trips as ${durationText(ms)}`);
  }
  t.equal(durationText(1000), '1s');
  t.equal(durationText(60_000), '1m');
});
