import t from 'tap';
import { createHash } from 'node:crypto';
import { instanceKey, normalizeAddress } from '../../src/protocol/instance-key.js';

t.test('normalizeAddress', async (t) => {
  t.equal(normalizeAddress('198.51.100.50'), '198.51.100.50');
  t.equal(normalizeAddress('2001:DB8:0:0:0:0:0:1'), '2001:db8::1');
  t.equal(normalizeAddress('2001:db8:0000::0001'), '2001:db8::1');
  t.equal(normalizeAddress('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1', 'first longest zero run');
  t.equal(normalizeAddress('0:0:0:0:0:0:0:0'), '::');
  for (const bad of ['', ' 198.51.100.50', '198.51.100.050', '198.51.100.256', '198.51.100.50/32', 'fe80::1%eth0', 'example.com', '1.2.3']) {
    t.throws(() => normalizeAddress(bad), /not an IPv4 or IPv6 address/, JSON.stringify(bad));
  }
});

t.test('instanceKey is SHA-256 of the normalized text, first 4 bytes', async (t) => {
  const expected = createHash('sha256').update('198.51.100.50').digest().readUInt32BE(0);
  t.equal(instanceKey('198.51.100.50'), expected);
  t.equal(instanceKey('2001:DB8::0:1'), instanceKey('2001:db8::1'), 'IPv6 spellings share one key');
  t.equal(instanceKey('2001:db8::1'), createHash('sha256').update('2001:db8::1').digest().readUInt32BE(0));
  t.not(instanceKey('198.51.100.50'), instanceKey('198.51.100.51'));
  const k = instanceKey('203.0.113.7');
  t.ok(Number.isInteger(k) && k >= 0 && k <= 0xffffffff, 'uint32');
  t.throws(() => instanceKey('nope'), /not an IPv4 or IPv6 address: "nope"/);
});
