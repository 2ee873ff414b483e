/**
 * ipwarden's heartbeat wire format (version 1): a signed, versioned binary encoding of `Packet`.
 *
 * All integers are big-endian (network order). Offsets after the flags byte depend on the optional parts.
 *
 * | offset | size  | field         | notes                                                                  |
 * |-------:|------:|---------------|------------------------------------------------------------------------|
 * |      0 |     4 | magic         | ASCII "IPWD" (49 50 57 44)                                             |
 * |      4 |     1 | version       | 1                                                                      |
 * |      5 |     1 | kind          | 1 advert, 2 probe, 3 probe-reply                                       |
 * |      6 |     1 | keyId         | id of the key the tag was made with (0..255)                           |
 * |      7 |     4 | instanceKey   | uint32, see instanceKey()                                              |
 * |     11 |     1 | state         | 1 INIT, 2 BACKUP, 3 MASTER, 4 FAULT, 5 STOP                            |
 * |     12 |     1 | priority      | 0..255 (0 in an advert = goodbye)                                      |
 * |     13 |     4 | incarnation   | uint32                                                                 |
 * |     17 |     4 | sequence      | uint32                                                                 |
 * |     21 |     8 | timestamp     | uint64 ms since the epoch, at most Number.MAX_SAFE_INTEGER             |
 * |     29 |     4 | intervalMs    | uint32                                                                 |
 * |     33 |     4 | nonce         | uint32                                                                 |
 * |     37 |     1 | flags         | bit 0: master vouch follows; bit 1: etcd report follows; bit 2: left   |
 * |        |       |               | MASTER lately (no payload); bits 3..7: 0                               |
 * |     38 |    (4)| heardAgoMs    | uint32, only when flags bit 0 is set (saturates at 2^32-1)             |
 * |        |    (1)| masterIdLen   | 1..64, only with the vouch                                             |
 * |        |    (n)| masterId      | UTF-8, only with the vouch                                             |
 * |        |    (1)| etcdFlags     | only when flags bit 1 is set: bit 0 etcdOk; bits 1..7 must be 0        |
 * |        |    (8)| etcdToken     | uint64, the leader key's revision the sender last read (0: none)       |
 * |        |    (1)| etcdLeaderLen | 0..64 (0: the sender knows no leader)                                  |
 * |        |    (n)| etcdLeader    | UTF-8 node id named by the leader key                                  |
 * |      v |     1 | nodeIdLen     | 1..64                                                                  |
 * |    v+1 |     m | nodeId        | UTF-8 (strict: no invalid sequences, no surrogates; a BOM is kept)     |
 * |      t |    32 | tag           | HMAC-SHA256(key[keyId], bytes 0..t-1)                                  |
 *
 * Sizes: 72 bytes minimum (no vouch, 1-byte node id), MAX_PACKET_BYTES = 278 maximum (204 without the etcd
 * report). Nothing may follow the tag.
 *
 * The etcd report (flags bit 1) is sent only by instances elected through etcd with `election.heartbeat: true`
 * (the crash fast path and onEtcdLoss hold-if-peers-agree); every other packet is byte for byte what earlier
 * versions send, so heartbeat clusters mix versions freely. A version without the report rejects such a packet
 * as 'malformed' (or 'oversized'): it never ran heartbeats on an etcd-elected instance, so it never had to read one.
 *
 * The left-MASTER flag (bit 2) is set only on adverts of a node that yielded MASTER to a better master within
 * deadRatio x its fan-out period: a MASTER that did not see it as MASTER re-checks the address (engine header).
 * A version without the flag rejects those few adverts as 'malformed', as if they were lost (a rolling upgrade
 * only; every other packet is unchanged).
 *
 * Decoding order (first failure wins): size > MAX -> 'oversized'; magic -> 'bad-magic'; version -> 'bad-version';
 * structure (length fields, flags) -> 'truncated' / 'malformed'; key id -> 'unknown-key-id'; tag -> 'bad-tag';
 * only then the contents are interpreted (enums, UTF-8, timestamp range) -> 'malformed'. Nothing but lengths is
 * looked at before the tag is verified.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { InstanceState } from '../plugins/api.js';
import type { EtcdReport, MasterVouch, Packet, PacketKind, RejectReason } from './types.js';

/** A heartbeat key: HMAC-SHA256 secret and the id that names it on the wire. */
export interface HeartbeatKey {
  /** 0..255; carried in every packet so receivers pick the right key (rotation). */
  id: number;
  /** Secret bytes, at least MIN_KEY_BYTES. */
  key: Buffer;
}

export type DecodeResult =
  | { ok: true; packet: Packet; keyId: number }
  | { ok: false; reason: RejectReason };

export const MAGIC = Buffer.from('IPWD', 'ascii');
export const PROTOCOL_VERSION = 1;
export const TAG_BYTES = 32;
export const MAX_NODE_ID_BYTES = 64;
/** Shortest secret accepted for signing (128 bits). */
export const MIN_KEY_BYTES = 16;

const OFF = {
  magic: 0,
  version: 4,
  kind: 5,
  keyId: 6,
  instanceKey: 7,
  state: 11,
  priority: 12,
  incarnation: 13,
  sequence: 17,
  timestamp: 21,
  intervalMs: 29,
  nonce: 33,
  flags: 37,
} as const;
const HEADER_BYTES = 38;
const FLAG_VOUCH = 0x01;
const FLAG_ETCD = 0x02;
const FLAG_LEFT_MASTER = 0x04;
const VOUCH_FIXED_BYTES = 5;
/** etcdFlags, etcdToken, etcdLeaderLen. */
const ETCD_FIXED_BYTES = 10;
const ETCD_OK = 0x01;
const UINT64_MAX = (1n << 64n) - 1n;

/** Smallest valid packet: header, 1-byte node id, tag. */
export const MIN_PACKET_BYTES = HEADER_BYTES + 1 + 1 + TAG_BYTES;
/** Largest valid packet; anything longer is rejected as 'oversized' before it is looked at. */
export const MAX_PACKET_BYTES =
  HEADER_BYTES + VOUCH_FIXED_BYTES + MAX_NODE_ID_BYTES + ETCD_FIXED_BYTES + MAX_NODE_ID_BYTES + 1 + MAX_NODE_ID_BYTES + TAG_BYTES;

const UINT32_MAX = 0xffff_ffff;

const KIND_CODES = new Map<PacketKind, number>([['advert', 1], ['probe', 2], ['probe-reply', 3]]);
const STATE_CODES = new Map<InstanceState, number>([['INIT', 1], ['BACKUP', 2], ['MASTER', 3], ['FAULT', 4], ['STOP', 5]]);
const KINDS = invert(KIND_CODES);
const STATES = invert(STATE_CODES);

function invert<T>(codes: Map<T, number>): Map<number, T> {
  return new Map([...codes].map(([name, code]) => [code, name]));
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Strict UTF-8 decoding; undefined on any invalid sequence. */
function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

function tagOf(key: Buffer, body: Uint8Array): Buffer {
  return createHmac('sha256', key).update(body).digest();
}

/** Throws when `keys` cannot serve as a keyring: empty, bad or duplicate ids, short secrets. */
export function validateKeys(keys: readonly HeartbeatKey[], what = 'keys'): void {
  if (keys.length === 0) throw new Error(`${what}: at least one key is needed`);
  const seen = new Set<number>();
  keys.forEach((k, i) => {
    if (!Number.isInteger(k.id) || k.id < 0 || k.id > 255) {
      throw new Error(`${what}[${i}].id: expected an integer 0..255, got ${String(k.id)}`);
    }
    if (seen.has(k.id)) throw new Error(`${what}[${i}].id: key id ${k.id} is listed twice`);
    seen.add(k.id);
    if (!Buffer.isBuffer(k.key) || k.key.length < MIN_KEY_BYTES) {
      throw new Error(`${what}[${i}].key: expected at least ${MIN_KEY_BYTES} bytes of secret`);
    }
  });
}

function uint(value: number, max: number, field: string): number {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`packet.${field}: expected an integer 0..${max}, got ${String(value)}`);
  }
  return value;
}

function idBytes(id: string, field: string): Buffer {
  if (typeof id !== 'string') throw new RangeError(`packet.${field}: expected a string`);
  const bytes = Buffer.from(id, 'utf8');
  if (bytes.toString('utf8') !== id) throw new RangeError(`packet.${field}: not valid Unicode (lone surrogate)`);
  if (bytes.length < 1 || bytes.length > MAX_NODE_ID_BYTES) {
    throw new RangeError(`packet.${field}: expected 1..${MAX_NODE_ID_BYTES} UTF-8 bytes, got ${bytes.length}`);
  }
  return bytes;
}

/**
 * Encodes and signs `p` with `key` (normally the first key of the keyring).
 * `master.heardAgoMs` saturates at 2^32-1; every other field out of range throws a RangeError naming it.
 */
export function encodePacket(p: Packet, key: HeartbeatKey): Buffer {
  if (!checkedKeys.has(key)) {
    validateKeys([key], 'key');
    checkedKeys.add(key);
  }
  const kind = KIND_CODES.get(p.kind);
  if (kind === undefined) throw new RangeError(`packet.kind: unknown kind ${JSON.stringify(p.kind)}`);
  const state = STATE_CODES.get(p.state);
  if (state === undefined) throw new RangeError(`packet.state: unknown state ${JSON.stringify(p.state)}`);
  const nodeId = idBytes(p.nodeId, 'nodeId');
  const masterId = p.master ? idBytes(p.master.id, 'master.id') : undefined;
  let heardAgoMs = 0;
  if (p.master) {
    const ago = p.master.heardAgoMs;
    if (!Number.isInteger(ago) || ago < 0) {
      throw new RangeError(`packet.master.heardAgoMs: expected a non-negative integer, got ${String(ago)}`);
    }
    heardAgoMs = Math.min(ago, UINT32_MAX);
  }
  const etcd = p.etcd;
  const etcdLeader = etcd?.leader !== undefined ? idBytes(etcd.leader, 'etcd.leader') : Buffer.alloc(0);
  if (etcd && (typeof etcd.token !== 'bigint' || etcd.token < 0n || etcd.token > UINT64_MAX)) {
    throw new RangeError(`packet.etcd.token: expected an integer 0..2^64-1, got ${String(etcd.token)}`);
  }

  const bodyBytes =
    HEADER_BYTES + (masterId ? VOUCH_FIXED_BYTES + masterId.length : 0) + (etcd ? ETCD_FIXED_BYTES + etcdLeader.length : 0) + 1 + nodeId.length;
  const buf = Buffer.alloc(bodyBytes + TAG_BYTES);
  MAGIC.copy(buf, OFF.magic);
  buf[OFF.version] = PROTOCOL_VERSION;
  buf[OFF.kind] = kind;
  buf[OFF.keyId] = key.id;
  buf.writeUInt32BE(uint(p.instanceKey, UINT32_MAX, 'instanceKey'), OFF.instanceKey);
  buf[OFF.state] = state;
  buf[OFF.priority] = uint(p.priority, 255, 'priority');
  buf.writeUInt32BE(uint(p.incarnation, UINT32_MAX, 'incarnation'), OFF.incarnation);
  buf.writeUInt32BE(uint(p.sequence, UINT32_MAX, 'sequence'), OFF.sequence);
  buf.writeBigUInt64BE(BigInt(uint(p.timestamp, Number.MAX_SAFE_INTEGER, 'timestamp')), OFF.timestamp);
  buf.writeUInt32BE(uint(p.intervalMs, UINT32_MAX, 'intervalMs'), OFF.intervalMs);
  buf.writeUInt32BE(uint(p.nonce, UINT32_MAX, 'nonce'), OFF.nonce);
  buf[OFF.flags] = (masterId ? FLAG_VOUCH : 0) | (etcd ? FLAG_ETCD : 0) | (p.leftMaster ? FLAG_LEFT_MASTER : 0);
  let off = HEADER_BYTES;
  if (masterId) {
    buf.writeUInt32BE(heardAgoMs, off);
    buf[off + 4] = masterId.length;
    masterId.copy(buf, off + VOUCH_FIXED_BYTES);
    off += VOUCH_FIXED_BYTES + masterId.length;
  }
  if (etcd) {
    buf[off] = etcd.ok ? ETCD_OK : 0;
    buf.writeBigUInt64BE(etcd.token, off + 1);
    buf[off + 9] = etcdLeader.length;
    etcdLeader.copy(buf, off + ETCD_FIXED_BYTES);
    off += ETCD_FIXED_BYTES + etcdLeader.length;
  }
  buf[off] = nodeId.length;
  nodeId.copy(buf, off + 1);
  off += 1 + nodeId.length;
  tagOf(key.key, buf.subarray(0, off)).copy(buf, off);
  return buf;
}

/** Signing keys already validated (a key object is never mutated after its keyring is built). */
const checkedKeys = new WeakSet<HeartbeatKey>();

type Layout =
  | {
      ok: true;
      vouch?: { heardAgoMs: number; idStart: number; idEnd: number };
      etcd?: { ok: boolean; token: bigint; idStart: number; idEnd: number };
      nodeStart: number;
      bodyEnd: number;
    }
  | { ok: false; reason: RejectReason };

/** Locates the variable parts from the length fields only. Never reads past `buf.length`. */
function layout(buf: Buffer): Layout {
  if (buf.length < HEADER_BYTES) return { ok: false, reason: 'truncated' };
  const flags = buf[OFF.flags]!;
  if ((flags & ~(FLAG_VOUCH | FLAG_ETCD | FLAG_LEFT_MASTER)) !== 0) return { ok: false, reason: 'malformed' };
  let off = HEADER_BYTES;
  let vouch: { heardAgoMs: number; idStart: number; idEnd: number } | undefined;
  if (flags & FLAG_VOUCH) {
    if (buf.length < off + VOUCH_FIXED_BYTES) return { ok: false, reason: 'truncated' };
    const heardAgoMs = buf.readUInt32BE(off);
    const len = buf[off + 4]!;
    if (len < 1 || len > MAX_NODE_ID_BYTES) return { ok: false, reason: 'malformed' };
    const idStart = off + VOUCH_FIXED_BYTES;
    off = idStart + len;
    vouch = { heardAgoMs, idStart, idEnd: off };
  }
  let etcd: { ok: boolean; token: bigint; idStart: number; idEnd: number } | undefined;
  if (flags & FLAG_ETCD) {
    if (buf.length < off + ETCD_FIXED_BYTES) return { ok: false, reason: 'truncated' };
    const etcdFlags = buf[off]!;
    if ((etcdFlags & ~ETCD_OK) !== 0) return { ok: false, reason: 'malformed' };
    const len = buf[off + 9]!;
    if (len > MAX_NODE_ID_BYTES) return { ok: false, reason: 'malformed' };
    const idStart = off + ETCD_FIXED_BYTES;
    etcd = { ok: (etcdFlags & ETCD_OK) !== 0, token: buf.readBigUInt64BE(off + 1), idStart, idEnd: idStart + len };
    off = idStart + len;
  }
  if (buf.length < off + 1) return { ok: false, reason: 'truncated' };
  const nodeLen = buf[off]!;
  if (nodeLen < 1 || nodeLen > MAX_NODE_ID_BYTES) return { ok: false, reason: 'malformed' };
  const nodeStart = off + 1;
  const bodyEnd = nodeStart + nodeLen;
  if (buf.length < bodyEnd + TAG_BYTES) return { ok: false, reason: 'truncated' };
  if (buf.length > bodyEnd + TAG_BYTES) return { ok: false, reason: 'malformed' };
  return { ok: true, ...(vouch ? { vouch } : {}), ...(etcd ? { etcd } : {}), nodeStart, bodyEnd };
}

/**
 * Verifies and decodes one datagram. The tag is checked (constant time) with the key whose id the packet
 * names, out of every key in `keys`: sign with the first key, verify with all of them, and keys rotate
 * without a flag day. Never throws, whatever the bytes; a rejection names its reason.
 * Replay and freshness are NOT checked here: pass accepted packets to a ReplayGuard.
 */
export function decodePacket(buf: Buffer, keys: readonly HeartbeatKey[]): DecodeResult {
  if (buf.length > MAX_PACKET_BYTES) return { ok: false, reason: 'oversized' };
  if (buf.length < MAGIC.length) return { ok: false, reason: 'truncated' };
  if (!buf.subarray(0, MAGIC.length).equals(MAGIC)) return { ok: false, reason: 'bad-magic' };
  if (buf.length <= OFF.version) return { ok: false, reason: 'truncated' };
  if (buf[OFF.version] !== PROTOCOL_VERSION) return { ok: false, reason: 'bad-version' };
  const where = layout(buf);
  if (!where.ok) return where;

  const keyId = buf[OFF.keyId]!;
  const key = keys.find((k) => k.id === keyId);
  if (!key) return { ok: false, reason: 'unknown-key-id' };
  const expected = tagOf(key.key, buf.subarray(0, where.bodyEnd));
  if (!timingSafeEqual(expected, buf.subarray(where.bodyEnd, where.bodyEnd + TAG_BYTES))) {
    return { ok: false, reason: 'bad-tag' };
  }

  const kind = KINDS.get(buf[OFF.kind]!);
  const state = STATES.get(buf[OFF.state]!);
  const timestamp = buf.readBigUInt64BE(OFF.timestamp);
  const nodeId = decodeUtf8(buf.subarray(where.nodeStart, where.bodyEnd));
  let master: MasterVouch | undefined;
  if (where.vouch) {
    const id = decodeUtf8(buf.subarray(where.vouch.idStart, where.vouch.idEnd));
    if (id === undefined) return { ok: false, reason: 'malformed' };
    master = { id, heardAgoMs: where.vouch.heardAgoMs };
  }
  let etcd: EtcdReport | undefined;
  if (where.etcd) {
    const e = where.etcd;
    etcd = { ok: e.ok, token: e.token };
    if (e.idEnd > e.idStart) {
      const leader = decodeUtf8(buf.subarray(e.idStart, e.idEnd));
      if (leader === undefined) return { ok: false, reason: 'malformed' };
      etcd.leader = leader;
    }
  }
  if (!kind || !state || nodeId === undefined || timestamp > BigInt(Number.MAX_SAFE_INTEGER)) {
    return { ok: false, reason: 'malformed' };
  }
  const packet: Packet = {
    kind,
    instanceKey: buf.readUInt32BE(OFF.instanceKey),
    nodeId,
    priority: buf[OFF.priority]!,
    state,
    incarnation: buf.readUInt32BE(OFF.incarnation),
    sequence: buf.readUInt32BE(OFF.sequence),
    timestamp: Number(timestamp),
    intervalMs: buf.readUInt32BE(OFF.intervalMs),
    nonce: buf.readUInt32BE(OFF.nonce),
  };
  if ((buf[OFF.flags]! & FLAG_LEFT_MASTER) !== 0) packet.leftMaster = true;
  if (master) packet.master = master;
  if (etcd) packet.etcd = etcd;
  return { ok: true, packet, keyId };
}
