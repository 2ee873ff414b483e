/**
 * createLab on a /27 of 198.51.100.0/24 (what `npm run chaos -- --subnet` uses to run campaigns side by
 * side): the bridge takes the subnet's first address, hosts its address + 10 + i, all with the /27
 * prefix; a host reaches a server on the bridge address; misaligned subnets and too many hosts are refused.
 */
import net from 'node:net';
import t from 'tap';
import { requireEnv } from '../lib/env.js';
import { createLab, overlappingBridges } from '../lib/netns.js';

const skip = requireEnv({ netns: true, bins: ['ip', 'bash'] });

t.test('a lab on 198.51.100.224/27 with a bridge address', { skip }, async (t) => {
  const lab = await createLab({ hosts: 2, subnet: '198.51.100.224/27', bridgeAddress: true });
  t.teardown(() => lab.destroy());
  t.equal(lab.bridgeAddress, '198.51.100.225');
  t.same(lab.hosts.map((h) => h.address), ['198.51.100.234', '198.51.100.235']);
  const { stdout } = await lab.exec(0, ['ip', '-o', '-4', 'addr', 'show', 'dev', 'e0']);
  t.match(stdout, /inet 198\.51\.100\.234\/27 /, 'the host address carries the /27 prefix');
  // a TCP listener on the bridge address in the root namespace, reached from a host
  const server = net.createServer((s) => s.end('hello\n'));
  await new Promise<void>((r) => server.listen(0, lab.bridgeAddress!, r));
  t.teardown(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  const { stdout: got } = await lab.exec(1, ['bash', '-c', `exec 3<>/dev/tcp/${lab.bridgeAddress}/${port}; head -1 <&3`], { timeoutMs: 5000 });
  t.equal(got.trim(), 'hello', 'a host reaches a server on the bridge address');
  // a second bridged lab over the same range would take the first one's replies: refused while it lives
  await t.rejects(createLab({ hosts: 1, subnet: '198.51.100.192/26', bridgeAddress: true }), /createLab: 198\.51\.100\.192\/26 overlaps the live lab bridge ipw\w+br \(198\.51\.100\.225\/27\)/);
  // a lab without a bridge address adds no root route: it may share the range
  const quiet = await createLab({ hosts: 1, subnet: '198.51.100.224/27' });
  await quiet.destroy();
});

t.test('overlapping bridges, read from ip -o -4 addr show', async (t) => {
  const addrs = [
    '1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever',
    '7: ipw123abr    inet 198.51.100.193/26 brd 198.51.100.255 scope global ipw123abr\\       valid_lft forever preferred_lft forever',
    '9: ipw456bbr    inet 198.51.100.1/27 brd 198.51.100.31 scope global ipw456bbr\\       valid_lft forever preferred_lft forever',
    '11: eth0    inet 198.51.100.200/24 scope global eth0',
  ].join('\n');
  t.same(overlappingBridges('198.51.100.192/27', addrs), ['ipw123abr (198.51.100.193/26)'], 'inside the other range');
  t.same(overlappingBridges('198.51.100.0/24', addrs), ['ipw123abr (198.51.100.193/26)', 'ipw456bbr (198.51.100.1/27)'], 'around both');
  t.same(overlappingBridges('198.51.100.128/26', addrs), [], 'next to both: no clash (and eth0 is no lab bridge)');
  t.same(overlappingBridges('203.0.113.0/24', addrs), []);
});

t.test('createLab refuses misaligned subnets, subnets outside the documentation ranges and too many hosts', { skip }, async (t) => {
  await t.rejects(createLab({ hosts: 1, subnet: '198.51.100.16/27' }), /createLab subnet: expected one of .* or an aligned \/25\.\.\/27/);
  await t.rejects(createLab({ hosts: 1, subnet: '198.51.100.0/28' }), /createLab subnet/);
  await t.rejects(createLab({ hosts: 1, subnet: '10.0.0.0/27' }), /createLab subnet/);
  await t.rejects(createLab({ hosts: 22, subnet: '198.51.100.32/27' }), /createLab hosts: 198\.51\.100\.32\/27 has room for 21 hosts/);
  await t.rejects(createLab({ hosts: 1, subnet: '203.0.113.64/27', bridgeAddress: true }), /bridgeAddress is only allowed inside 198\.51\.100\.0\/24/);
});
