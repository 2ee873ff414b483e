/**
 * The bench's readings of `ip -ts -o monitor`: link lines (host loss counts from the kernel's
 * link-down event) and address lines, as iproute2 6.1 prints them.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { LinkMonitor, parseLinkLine, parseMonitorLine } from '../../bench/lib/ip-monitor.js';
import { requireEnv } from '../lib/env.js';

const now = Date.parse('2026-12-05T06:40:50.300');

t.test('link lines: name, administratively up or not, iproute2 stamp', async (t) => {
  const down = '[2026-12-05T06:40:50.299116] 1116: tv0@tv1: <BROADCAST,MULTICAST> mtu 1500 qdisc noqueue state DOWN group default \\    link/ether aa:ee:46:52:98:ae brd ff:ff:ff:ff:ff:ff';
  t.same(parseLinkLine(down, now), { name: 'tv0', up: false, t: Date.parse('2026-12-05T06:40:50.299') });
  // the peer loses its carrier but stays administratively up: not a cut of that link
  const peer = '[2026-12-05T06:40:50.299767] 1115: tv1@tv0: <NO-CARRIER,BROADCAST,MULTICAST,UP,M-DOWN> mtu 1500 qdisc noqueue state LOWERLAYERDOWN group default';
  t.match(parseLinkLine(peer, now), { name: 'tv1', up: true });
  const bridgePort = '[2026-12-05T06:40:51.000001] 12: ipw25894av0@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue master ipw25894abr state UP';
  t.match(parseLinkLine(bridgePort, now), { name: 'ipw25894av0', up: true });
  const deleted = '[2026-12-05T06:40:51.320120] Deleted 1116: tv0@NONE: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN group default';
  t.match(parseLinkLine(deleted, now), { name: 'tv0', up: false });
  t.equal(parseLinkLine('garbage', now), undefined);
  // a stamp far from the arrival (another clock, a parse problem): the arrival time is used
  t.match(parseLinkLine(down, now + 60_000), { t: now + 60_000 });
});

t.test('address lines: the watched address only, added or deleted', async (t) => {
  const add = '[2026-12-05T06:40:50.742627] 2: e0    inet 198.51.100.50/32 scope global e0';
  t.same(parseMonitorLine(add, '198.51.100.50', now), { added: true, t: Date.parse('2026-12-05T06:40:50.742') });
  t.match(parseMonitorLine(`Deleted ${add.slice(29)}`, '198.51.100.50', now), { added: false, t: now });
  t.equal(parseMonitorLine(add, '198.51.100.5', now), undefined, 'another address (a prefix of it) is not this one');
});

t.test('LinkMonitor: the kernel\'s link-down event of a veth, and nothing for a link that stays up', { skip: requireEnv({ root: true, bins: ['ip'] }) }, async (t) => {
  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'ignore' });
  const link = `ipwlm${process.pid % 100_000}`;
  ip('link', 'add', link, 'type', 'veth', 'peer', 'name', `${link}p`); // no address, no traffic: only its state changes
  t.teardown(() => ip('link', 'del', link));
  ip('link', 'set', link, 'up');
  const monitor = new LinkMonitor();
  await monitor.start();
  t.teardown(() => monitor.stop());
  const since = Date.now();
  const waiting = monitor.downAfter(link, since - 1000, 5_000); // waits: the link is up
  ip('link', 'set', link, 'down');
  const down = await waiting;
  t.ok(down !== undefined && down >= since - 50 && down <= Date.now(), `reported down at ${down === undefined ? 'never' : down - since} ms (iproute2's stamp)`);
  t.equal(await monitor.downAfter(link, since - 1000, 5_000), down, 'asked again: the same event, at once');
  const before = Date.now();
  t.equal(await monitor.downAfter('lo', before, 300), undefined, 'a link that stays up: nothing, after the wait');
  t.ok(Date.now() - before >= 295, 'which lasted its timeout');
});
