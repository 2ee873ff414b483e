import t from 'tap';
import { randomBytes } from 'node:crypto';
import {
  decodeExoip,
  encodeExoip,
  fromExoipPriority,
  toExoipPriority,
  EXOIP_PACKET_BYTES,
} from '../../src/protocol/exoip.js';

// The example from exoip's README/code: priority 10, EIP 198.51.100.50, NIC 1128bd56-….
const EXAMPLE = Buffer.from('02 01 0a 0a c6 33 64 32 11 28 bd 56 b4 d9 4a c6 a7 b9 c7 15 b1 87 ce 11'.replaceAll(' ', ''), 'hex');
const ADVERT = { priority: 10, address: '198.51.100.50', nicId: '1128bd56-b4d9-4ac6-a7b9-c715b187ce11' };

t.test('encodes the reference example byte for byte', async (t) => {
  t.same(encodeExoip(ADVERT), EXAMPLE);
  t.same(encodeExoip({ ...ADVERT, nicId: ADVERT.nicId.toUpperCase() }), EXAMPLE, 'UUID case does not matter');
  t.equal(EXAMPLE.length, EXOIP_PACKET_BYTES);
});

t.test('decodes the reference example', async (t) => {
  t.same(decodeExoip(EXAMPLE), { ok: true, advert: ADVERT });
  t.same(decodeExoip(EXAMPLE, { expectAddress: '198.51.100.50' }), { ok: true, advert: ADVERT });
});

t.test('round trip at the priority and address extremes', async (t) => {
  for (const a of [
    { priority: 0, address: '0.0.0.0', nicId: '00000000-0000-0000-0000-000000000000' },
    { priority: 255, address: '255.255.255.255', nicId: 'ffffffff-ffff-ffff-ffff-ffffffffffff' },
    { priority: 1, address: '203.0.113.9', nicId: '0a0b0c0d-0e0f-1011-1213-141516171819' },
  ]) {
    t.same(decodeExoip(encodeExoip(a)), { ok: true, advert: a });
  }
});

t.test("exoip's checks, in exoip's order", async (t) => {
  const r = (buf: Buffer, expectAddress?: string) => {
    const d = decodeExoip(buf, expectAddress === undefined ? {} : { expectAddress });
    return d.ok ? 'ok' : `${d.reason}: ${d.detail}`;
  };
  for (let len = 0; len < 24; len++) t.equal(r(EXAMPLE.subarray(0, len)), 'truncated: bad network payload', `${len} bytes`);
  t.equal(r(Buffer.concat([EXAMPLE, Buffer.alloc(16)])), 'oversized: bad network payload', '40-byte (PR #35 style) datagram');
  t.equal(r(Buffer.from('info')), 'truncated: bad network payload', 'the "info" command is not honoured');
  const v0202 = Buffer.from(EXAMPLE);
  v0202[1] = 0x02;
  t.equal(r(v0202), 'bad-version: bad protocol version, got 0202, want 0201');
  const prio = Buffer.from(EXAMPLE);
  prio[3] = 9;
  t.equal(r(prio), 'malformed: bad payload (priority should repeat)');
  t.equal(r(EXAMPLE, '198.51.100.51'), 'unknown-instance: peer sent message for wrong EIP 198.51.100.50');
});

t.test('random bytes never throw', async (t) => {
  let threw = 0;
  let accepted = 0;
  for (let i = 0; i < 10_000; i++) {
    const buf = randomBytes(i % 3 === 0 ? 24 : Math.floor(Math.random() * 64));
    if (i % 3 === 0) buf.set([2, 1], 0);
    try {
      if (decodeExoip(buf).ok) accepted++;
    } catch {
      threw++;
    }
  }
  t.equal(threw, 0);
  t.ok(accepted > 0, `only the repeated-priority check stands between version-correct random bytes and acceptance (${accepted})`);
});

t.test('encode rejects bad input naming the field', async (t) => {
  t.throws(() => encodeExoip({ ...ADVERT, priority: 256 }), /exoip priority/);
  t.throws(() => encodeExoip({ ...ADVERT, priority: -1 }), /exoip priority/);
  t.throws(() => encodeExoip({ ...ADVERT, address: '2001:db8::1' }), /exoip address: expected an IPv4 address/);
  t.throws(() => encodeExoip({ ...ADVERT, address: '198.51.100.050' }), /exoip address/);
  t.throws(() => encodeExoip({ ...ADVERT, nicId: '1128bd56b4d94ac6a7b9c715b187ce11' }), /exoip nicId/);
  t.throws(() => encodeExoip({ ...ADVERT, nicId: '1128bd56-b4d9-4ac6-a7b9-c715b187ce1g' }), /exoip nicId/);
});

t.test('priority mapping: ipwarden highest wins, exoip lowest wins', async (t) => {
  t.equal(toExoipPriority(1), 254);
  t.equal(toExoipPriority(254), 1);
  t.equal(toExoipPriority(100), 155);
  t.equal(toExoipPriority(255), 0, "ipwarden's best is exoip's best");
  t.equal(toExoipPriority(0), 255, 'goodbye becomes exoip worst');
  t.equal(fromExoipPriority(10), 245, "exoip's default 10");
  t.equal(fromExoipPriority(0), 255);
  t.equal(fromExoipPriority(255), 1, 'exoip 255 is alive, not a goodbye');
  for (let e = 0; e <= 254; e++) if (toExoipPriority(fromExoipPriority(e)) !== e) t.fail(`exoip ${e} does not round trip`);
  for (let p = 1; p <= 255; p++) if (fromExoipPriority(toExoipPriority(p)) !== p) t.fail(`ipwarden ${p} does not round trip`);
  for (let p = 1; p < 255; p++) {
    if (!(toExoipPriority(p + 1) < toExoipPriority(p))) t.fail(`order not preserved at ${p}`);
  }
  t.throws(() => toExoipPriority(256), /ipwarden priority: expected an integer 0\.\.255/);
  t.throws(() => fromExoipPriority(-1), /exoip priority/);
  t.throws(() => fromExoipPriority(1.5), /exoip priority/);
});
