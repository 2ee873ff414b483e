import t from 'tap';
import { createHmac, randomBytes } from 'node:crypto';
import {
  decodePacket,
  encodePacket,
  validateKeys,
  MAX_PACKET_BYTES,
  MIN_PACKET_BYTES,
  TAG_BYTES,
  type HeartbeatKey,
} from '../../src/protocol/advert.js';
import type { Packet } from '../../src/protocol/types.js';

const key1: HeartbeatKey = { id: 1, key: Buffer.from('first shared secret, 32 bytes ok', 'utf8') };
const key2: HeartbeatKey = { id: 2, key: Buffer.from('second shared secret for rotation', 'utf8') };

function packet(over: Partial<Packet> = {}): Packet {
  return {
    kind: 'advert',
    instanceKey: 0xdeadbeef,
    nodeId: 'lb1',
    priority: 150,
    state: 'MASTER',
    incarnation: 1_790_000_000,
    sequence: 42,
    timestamp: 1_790_000_123_456,
    intervalMs: 1000,
    nonce: 0,
    ...over,
  };
}

/** Re-signs a hand-edited packet, to reach the checks that run after the tag. */
function resign(buf: Buffer, key: HeartbeatKey): Buffer {
  const body = buf.subarray(0, buf.length - TAG_BYTES);
  return Buffer.concat([body, createHmac('sha256', key.key).update(body).digest()]);
}

function reason(buf: Buffer, keys: HeartbeatKey[] = [key1]): string {
  const r = decodePacket(buf, keys);
  return r.ok ? 'ok' : r.reason;
}

t.test('round trip keeps every field', async (t) => {
  const cases: Packet[] = [
    packet(),
    packet({ kind: 'probe', nonce: 0xffffffff, state: 'BACKUP', priority: 0 }),
    packet({ kind: 'probe-reply', state: 'FAULT', priority: 255, nonce: 7 }),
    packet({ state: 'INIT', master: { id: 'lb2', heardAgoMs: 1234 } }),
    packet({ state: 'STOP', master: { id: 'ü'.repeat(32), heardAgoMs: 0 } }),
    packet({ nodeId: 'nœud-東京-🚀', master: { id: 'x', heardAgoMs: 0xffffffff } }),
    packet({ nodeId: 'n'.repeat(64), master: { id: 'm'.repeat(64), heardAgoMs: 5 } }),
    packet({ nodeId: '\uFEFFbom-first', instanceKey: 0, incarnation: 0, sequence: 0, timestamp: 0, intervalMs: 0 }),
    packet({
      instanceKey: 0xffffffff,
      incarnation: 0xffffffff,
      sequence: 0xffffffff,
      timestamp: Number.MAX_SAFE_INTEGER,
      intervalMs: 0xffffffff,
    }),
  ];
  for (const p of cases) {
    const buf = encodePacket(p, key1);
    t.ok(buf.length >= MIN_PACKET_BYTES && buf.length <= MAX_PACKET_BYTES, `size ${buf.length} within bounds`);
    const r = decodePacket(buf, [key1]);
    t.same(r, { ok: true, packet: p, keyId: 1 }, `${p.kind}/${p.nodeId}`);
    if (r.ok) t.equal('master' in r.packet, p.master !== undefined, 'vouch present only when sent');
  }
  t.equal(encodePacket(packet({ nodeId: 'a' }), key1).length, MIN_PACKET_BYTES, 'smallest packet');
  t.equal(
    encodePacket(packet({ nodeId: 'n'.repeat(64), master: { id: 'm'.repeat(64), heardAgoMs: 1 }, etcd: { ok: true, leader: 'l'.repeat(64), token: 1n } }), key1).length,
    MAX_PACKET_BYTES,
    'largest packet',
  );
});

t.test('etcd report (flags bit 1): round trip, only when sent, and the bytes of packets without it unchanged', async (t) => {
  const cases: Packet[] = [
    packet({ state: 'BACKUP', etcd: { ok: false, leader: 'lb2', token: 12345n } }),
    packet({ state: 'MASTER', etcd: { ok: true, leader: 'lb1', token: 2n ** 64n - 1n } }),
    packet({ state: 'BACKUP', etcd: { ok: true, token: 0n } }),
    packet({ state: 'BACKUP', master: { id: 'lb2', heardAgoMs: 7 }, etcd: { ok: false, leader: '東京', token: 9n } }),
  ];
  for (const p of cases) {
    const buf = encodePacket(p, key1);
    t.same(decodePacket(buf, [key1]), { ok: true, packet: p, keyId: 1 }, JSON.stringify(p.etcd, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)));
  }
  const plain = decodePacket(encodePacket(packet(), key1), [key1]);
  t.ok(plain.ok && !('etcd' in plain.packet), 'no report decoded from a packet without one');
  // the layout of a packet with the report: flags 0x02, then etcdFlags, token, leader length, leader
  const buf = encodePacket(packet({ etcd: { ok: true, leader: 'lb1', token: 0x0102030405060708n } }), key1);
  t.equal(buf[37], 0x02, 'etcd flag');
  t.equal(buf[38], 0x01, 'etcdOk');
  t.equal(buf.readBigUInt64BE(39), 0x0102030405060708n, 'token');
  t.equal(buf[47], 3, 'leader length');
  t.equal(buf.subarray(48, 51).toString(), 'lb1');
  t.equal(buf[51], 3, 'node id length');
  // a packet without the report is what version 1 always sent: flags 0, node id at 38 (see the layout test)
  t.equal(encodePacket(packet(), key1)[37], 0, 'no report: flags byte as before');

  const edit = (at: number, value: number): Buffer => {
    const copy = Buffer.from(buf);
    copy[at] = value;
    return resign(copy, key1);
  };
  t.equal(reason(edit(38, 0x03)), 'malformed', 'reserved etcdFlags bit');
  t.equal(reason(edit(47, 65)), 'malformed', 'leader length 65');
  t.equal(reason(edit(48, 0xff)), 'malformed', 'invalid UTF-8 in the leader');
  t.equal(reason(edit(47, 60)), 'truncated', 'leader length beyond the datagram');
  t.throws(() => encodePacket(packet({ etcd: { ok: true, token: -1n } }), key1), /packet\.etcd\.token/);
  t.throws(() => encodePacket(packet({ etcd: { ok: true, token: 2n ** 64n } }), key1), /packet\.etcd\.token/);
  t.throws(() => encodePacket(packet({ etcd: { ok: true, leader: '', token: 1n } }), key1), /packet\.etcd\.leader/);
});

t.test('left-MASTER flag (bit 2): round trip, no payload, only when set', async (t) => {
  const cases: Packet[] = [
    packet({ state: 'BACKUP', leftMaster: true }),
    packet({ state: 'BACKUP', leftMaster: true, master: { id: 'lb1', heardAgoMs: 3 } }),
    packet({ state: 'BACKUP', leftMaster: true, etcd: { ok: true, leader: 'lb1', token: 5n } }),
  ];
  for (const p of cases) t.same(decodePacket(encodePacket(p, key1), [key1]), { ok: true, packet: p, keyId: 1 }, `round trip ${Object.keys(p).join(',')}`);
  const plain = encodePacket(packet({ state: 'BACKUP' }), key1);
  const flagged = encodePacket(packet({ state: 'BACKUP', leftMaster: true }), key1);
  t.equal(flagged[37], 0x04, 'flags byte');
  t.equal(flagged.length, plain.length, 'no payload');
  t.same(flagged.subarray(0, 37), plain.subarray(0, 37), 'the header before the flags is unchanged');
  t.same(flagged.subarray(38, flagged.length - TAG_BYTES), plain.subarray(38, plain.length - TAG_BYTES), 'and so is the rest of the body');
  t.equal(plain[37], 0, 'a packet without it keeps the flags byte of every earlier version');
  const decoded = decodePacket(plain, [key1]);
  t.ok(decoded.ok && !('leftMaster' in decoded.packet), 'not decoded from a packet without it');
});

t.test('layout: magic, version, key id and fixed offsets', async (t) => {
  const buf = encodePacket(packet(), key1);
  t.equal(buf.subarray(0, 4).toString('ascii'), 'IPWD');
  t.equal(buf[4], 1, 'version');
  t.equal(buf[5], 1, 'kind advert');
  t.equal(buf[6], 1, 'key id');
  t.equal(buf.readUInt32BE(7), 0xdeadbeef, 'instance key');
  t.equal(buf[11], 3, 'state MASTER');
  t.equal(buf[12], 150, 'priority');
  t.equal(buf.readUInt32BE(17), 42, 'sequence');
  t.equal(Number(buf.readBigUInt64BE(21)), 1_790_000_123_456, 'timestamp');
  t.equal(buf[37], 0, 'no vouch flag');
  t.equal(buf[38], 3, 'node id length');
  t.equal(buf.subarray(39, 42).toString(), 'lb1');
  t.equal(buf.length, 42 + 32);
});

t.test('master heardAgoMs saturates at uint32 max', async (t) => {
  const r = decodePacket(encodePacket(packet({ master: { id: 'm', heardAgoMs: 2 ** 40 } }), key1), [key1]);
  t.ok(r.ok);
  if (r.ok) t.equal(r.packet.master?.heardAgoMs, 0xffffffff);
});

t.test('encode rejects bad fields with a message naming them', async (t) => {
  const bad: [Partial<Packet>, RegExp][] = [
    [{ priority: 256 }, /packet\.priority/],
    [{ priority: -1 }, /packet\.priority/],
    [{ sequence: 1.5 }, /packet\.sequence/],
    [{ incarnation: 2 ** 32 }, /packet\.incarnation/],
    [{ timestamp: -1 }, /packet\.timestamp/],
    [{ timestamp: Number.MAX_SAFE_INTEGER + 1 }, /packet\.timestamp/],
    [{ intervalMs: NaN }, /packet\.intervalMs/],
    [{ nonce: 2 ** 32 }, /packet\.nonce/],
    [{ instanceKey: -5 }, /packet\.instanceKey/],
    [{ nodeId: '' }, /packet\.nodeId: expected 1\.\.64/],
    [{ nodeId: 'é'.repeat(33) }, /packet\.nodeId: expected 1\.\.64 UTF-8 bytes, got 66/],
    [{ nodeId: 'a\uD800b' }, /packet\.nodeId: not valid Unicode/],
    [{ master: { id: '', heardAgoMs: 0 } }, /packet\.master\.id/],
    [{ master: { id: 'm', heardAgoMs: -1 } }, /packet\.master\.heardAgoMs/],
    [{ kind: 'hello' as Packet['kind'] }, /packet\.kind/],
    [{ kind: 'constructor' as Packet['kind'] }, /packet\.kind/],
    [{ state: 'LEADER' as Packet['state'] }, /packet\.state/],
  ];
  for (const [over, re] of bad) t.throws(() => encodePacket(packet(over), key1), re, JSON.stringify(over));
  t.throws(() => encodePacket(packet(), { id: 256, key: key1.key }), /key\[0\]\.id/);
  t.throws(() => encodePacket(packet(), { id: 1, key: Buffer.alloc(8) }), /key\[0\]\.key: expected at least 16 bytes/);
});

t.test('validateKeys', async (t) => {
  t.doesNotThrow(() => validateKeys([key1, key2]));
  t.throws(() => validateKeys([]), /at least one key/);
  t.throws(() => validateKeys([key1, { id: 1, key: key2.key }], 'heartbeat.keys'), /heartbeat\.keys\[1\]\.id: key id 1 is listed twice/);
  t.throws(() => validateKeys([{ id: 1.5, key: key1.key }]), /keys\[0\]\.id/);
});

t.test('key rotation: first key signs, every listed key verifies', async (t) => {
  const signedWith2 = encodePacket(packet(), key2);
  t.same(decodePacket(signedWith2, [key1, key2]), { ok: true, packet: packet(), keyId: 2 }, 'receiver knows [1,2]');
  t.same(decodePacket(signedWith2, [key2, key1]), { ok: true, packet: packet(), keyId: 2 }, 'order does not matter');
  t.equal(reason(encodePacket(packet(), key1), [key1, key2]), 'ok', 'old key still verifies');
  t.equal(reason(signedWith2, [key1]), 'unknown-key-id', 'receiver that only knows key 1');
});

t.test('every rejection reason', async (t) => {
  const good = encodePacket(packet({ master: { id: 'lb2', heardAgoMs: 10 } }), key1);

  t.equal(reason(good, [{ id: 1, key: Buffer.from('a different secret of some length') }]), 'bad-tag', 'wrong secret');
  const forged = Buffer.from(good);
  forged[12] = 255; // raise the priority without the key
  t.equal(reason(forged), 'bad-tag', 'forged priority');
  const flippedTag = Buffer.from(good);
  flippedTag[flippedTag.length - 1]! ^= 1;
  t.equal(reason(flippedTag), 'bad-tag', 'one tag bit flipped');
  const swappedKeyId = Buffer.from(good);
  swappedKeyId[6] = 2;
  t.equal(reason(swappedKeyId, [key1, { id: 2, key: key1.key }]), 'bad-tag', 'key id is covered by the tag');
  const unknownId = Buffer.from(good);
  unknownId[6] = 9;
  t.equal(reason(unknownId), 'unknown-key-id');
  t.equal(reason(good, []), 'unknown-key-id', 'no keys at all');

  const badMagic = Buffer.from(good);
  badMagic[0] = 0x58;
  t.equal(reason(badMagic), 'bad-magic');
  t.equal(reason(Buffer.from('info')), 'bad-magic', 'exoip "info" command');
  const badVersion = Buffer.from(good);
  badVersion[4] = 2;
  t.equal(reason(badVersion), 'bad-version');

  t.equal(reason(Buffer.alloc(MAX_PACKET_BYTES + 1)), 'oversized');
  t.equal(reason(Buffer.concat([good, Buffer.alloc(2000)])), 'oversized', 'valid packet with a large tail');
  t.equal(reason(Buffer.concat([good, Buffer.from([0])])), 'malformed', 'one trailing byte');

  for (let len = 0; len < good.length; len++) {
    t.equal(reason(good.subarray(0, len)), 'truncated', `truncated to ${len} bytes`);
  }
  const plain = encodePacket(packet({ nodeId: 'n'.repeat(64) }), key1);
  let allTruncated = true;
  for (let len = 0; len < plain.length; len++) allTruncated &&= reason(plain.subarray(0, len)) === 'truncated';
  t.ok(allTruncated, 'every prefix of a vouch-less packet is truncated too');

  // Malformed contents, correctly signed (as a buggy or newer peer holding the key would send them).
  const edit = (buf: Buffer, at: number, value: number): Buffer => {
    const copy = Buffer.from(buf);
    copy[at] = value;
    return resign(copy, key1);
  };
  t.equal(reason(edit(good, 5, 0)), 'malformed', 'kind 0');
  t.equal(reason(edit(good, 5, 4)), 'malformed', 'kind 4');
  t.equal(reason(edit(good, 11, 0)), 'malformed', 'state 0');
  t.equal(reason(edit(good, 11, 6)), 'malformed', 'state 6');
  t.equal(reason(edit(good, 37, 0x08)), 'malformed', 'reserved flag bit 3');
  t.equal(reason(edit(good, 37, 0x80)), 'malformed', 'reserved flag bit 7');
  const bigTs = Buffer.from(good);
  bigTs.writeBigUInt64BE(2n ** 63n, 21);
  t.equal(reason(resign(bigTs, key1)), 'malformed', 'timestamp beyond 2^53');

  const plainLb1 = encodePacket(packet(), key1); // node id "lb1" at 39..41
  t.equal(reason(edit(plainLb1, 40, 0xff)), 'malformed', 'invalid UTF-8 byte in node id');
  t.equal(reason(edit(plainLb1, 40, 0xc3)), 'malformed', 'cut UTF-8 sequence in node id');
  const surrogate = Buffer.from(plainLb1);
  surrogate.set([0xed, 0xa0, 0x80], 39); // CESU-style encoded surrogate
  t.equal(reason(resign(surrogate, key1)), 'malformed', 'encoded surrogate in node id');
  t.equal(reason(edit(good, 43, 0xff)), 'malformed', 'invalid UTF-8 in master id'); // "lb2" at 43..45
  t.equal(reason(edit(plainLb1, 38, 0)), 'malformed', 'node id length 0');
  t.equal(reason(edit(plainLb1, 38, 65)), 'malformed', 'node id length 65');
  t.equal(reason(edit(good, 42, 0)), 'malformed', 'master id length 0');
  t.equal(reason(edit(plainLb1, 38, 4)), 'truncated', 'node id length beyond the datagram');
});

t.test('random bytes never throw', async (t) => {
  const counts: Record<string, number> = {};
  let threw = 0;
  const tally = (buf: Buffer) => {
    try {
      const r = decodePacket(buf, [key1, key2]);
      const k = r.ok ? 'ok' : r.reason;
      counts[k] = (counts[k] ?? 0) + 1;
    } catch {
      threw++;
    }
  };
  const valid = encodePacket(packet({ master: { id: 'lb2', heardAgoMs: 3 } }), key1);
  for (let i = 0; i < 10_000; i++) {
    tally(randomBytes(Math.floor(Math.random() * 260)));
    // Random bytes behind a valid prefix reach the structure and tag checks.
    const cut = 4 + Math.floor(Math.random() * (valid.length - 4));
    tally(Buffer.concat([valid.subarray(0, cut), randomBytes(Math.floor(Math.random() * 200))]));
    // Single-byte mutations of a valid packet must never be accepted.
    const mutated = Buffer.from(valid);
    const at = Math.floor(Math.random() * mutated.length);
    mutated[at] = (mutated[at]! + 1 + Math.floor(Math.random() * 255)) & 0xff;
    const r = decodePacket(mutated, [key1, key2]);
    if (r.ok) t.fail(`mutated byte ${at} was accepted`);
  }
  t.equal(threw, 0, 'no input threw');
  t.equal(counts.ok ?? 0, 0, 'no random input verified');
  t.ok((counts['bad-magic'] ?? 0) > 0 && (counts['bad-tag'] ?? 0) > 0 && (counts.truncated ?? 0) > 0, JSON.stringify(counts));
});
