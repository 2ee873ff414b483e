/** src/util/ipv4: the dotted-quad arithmetic the simulators' CIDR checks and the test lab share. */
import t from 'tap';
import { inIpv4Cidr, ipv4ToInt } from '../../src/util/ipv4.js';

t.test('ipv4ToInt: unsigned, big-endian', async (t) => {
  t.equal(ipv4ToInt('0.0.0.0'), 0);
  t.equal(ipv4ToInt('198.51.100.7'), 198 * 2 ** 24 + 51 * 2 ** 16 + 100 * 256 + 7);
  t.equal(ipv4ToInt('255.255.255.255'), 2 ** 32 - 1, 'no sign bit');
});

t.test('inIpv4Cidr', async (t) => {
  t.ok(inIpv4Cidr('10.0.9.1', '10.0.0.0/16'));
  t.notOk(inIpv4Cidr('10.1.0.1', '10.0.0.0/16'));
  t.ok(inIpv4Cidr('1.2.3.4', '0.0.0.0/0'), '/0 holds everything');
  t.ok(inIpv4Cidr('203.0.113.9', '203.0.113.9/32'));
  t.notOk(inIpv4Cidr('203.0.113.10', '203.0.113.9/32'));
  t.ok(inIpv4Cidr('198.51.100.200', '198.51.100.192/26'));
  t.notOk(inIpv4Cidr('198.51.100.191', '198.51.100.192/26'));
  t.ok(inIpv4Cidr('255.255.255.255', '128.0.0.0/1'), 'high addresses (no sign trouble)');
  t.notOk(inIpv4Cidr('10.0.0.1', '10.0.0.0'), 'no prefix length');
  t.notOk(inIpv4Cidr('10.0.0.1', '10.0.0.0/33'), 'prefix length out of range');
});
