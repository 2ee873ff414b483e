/**
 * exoip compatibility: exoip's (github.com/exoscale/exoip, protocol "0201", all releases 0.3.0..v0.4.3)
 * unauthenticated 24-byte UDP heartbeat, so an ipwarden node can join or replace an exoip cluster one
 * node at a time.
 *
 * | offset | size | field    | notes                                                              |
 * |-------:|-----:|----------|--------------------------------------------------------------------|
 * |      0 |    2 | version  | 02 01                                                              |
 * |      2 |    1 | priority | uint8, LOWER wins (0..255)                                         |
 * |      3 |    1 | priority | the same byte again (exoip's "error checking")                     |
 * |      4 |    4 | address  | the Elastic IP, IPv4, network order                                |
 * |      8 |   16 | nicId    | raw bytes of the sender's default-NIC UUID (RFC 4122 order)        |
 *
 * Example (priority 10, 198.51.100.50, NIC 1128bd56-b4d9-4ac6-a7b9-c715b187ce11):
 * `02 01 0a 0a c6 33 64 32 11 28 bd 56 b4 d9 4a c6 a7 b9 c7 15 b1 87 ce 11`.
 *
 * Differences from exoip's own receive path, on purpose:
 * - exoip reads into a 24-byte buffer, so longer datagrams are silently cut to 24 and accepted; here they are
 *   'oversized' (exoip never sends them; ipwarden packets arriving on an exoip port must not half-parse).
 * - exoip logs its state when a datagram contains ASCII "info"; that unauthenticated command is not supported.
 * - exoip accepts any 16 bytes as the NIC UUID (they always "parse"); so does this decoder. The check that
 *   remains is the length, implied by the 24-byte size.
 * exoip's checks kept, in its order: size, version, repeated priority, then (if asked) the address.
 */
import { isIPv4 } from 'node:net';
import type { RejectReason } from './types.js';

export const EXOIP_PACKET_BYTES = 24;
/** exoip's default listen and destination port (`-l :12345`). */
export const EXOIP_DEFAULT_PORT = 12345;
const VERSION = [0x02, 0x01] as const;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** One exoip heartbeat. `priority` is exoip's wire value (lower wins); see toExoipPriority. */
export interface ExoipAdvert {
  /** exoip priority 0..255, lower is better. */
  priority: number;
  /** The Elastic IP the sender manages (IPv4 dotted decimal). */
  address: string;
  /** The sender's default-NIC UUID, lower-case canonical text when decoded. */
  nicId: string;
}

export type ExoipDecodeResult =
  | { ok: true; advert: ExoipAdvert }
  /** `detail` is exoip's own wording of the problem, for logs. */
  | { ok: false; reason: RejectReason; detail: string };

/** Encodes an exoip heartbeat. Throws a RangeError naming the bad field. */
export function encodeExoip(advert: ExoipAdvert): Buffer {
  const { priority, address, nicId } = advert;
  if (!Number.isInteger(priority) || priority < 0 || priority > 255) {
    throw new RangeError(`exoip priority: expected an integer 0..255, got ${String(priority)}`);
  }
  if (!isIPv4(address)) throw new RangeError(`exoip address: expected an IPv4 address, got ${JSON.stringify(address)}`);
  if (!UUID_RE.test(nicId)) throw new RangeError(`exoip nicId: expected a UUID, got ${JSON.stringify(nicId)}`);
  const buf = Buffer.alloc(EXOIP_PACKET_BYTES);
  buf[0] = VERSION[0];
  buf[1] = VERSION[1];
  buf[2] = priority;
  buf[3] = priority;
  address.split('.').forEach((octet, i) => (buf[4 + i] = Number(octet)));
  Buffer.from(nicId.replaceAll('-', ''), 'hex').copy(buf, 8);
  return buf;
}

/**
 * Decodes an exoip heartbeat with exoip's checks. With `expectAddress`, a heartbeat about another Elastic IP
 * is rejected as 'unknown-instance' (exoip: "peer sent message for wrong EIP"). Never throws.
 */
export function decodeExoip(buf: Buffer, options: { expectAddress?: string } = {}): ExoipDecodeResult {
  if (buf.length < EXOIP_PACKET_BYTES) return { ok: false, reason: 'truncated', detail: 'bad network payload' };
  if (buf.length > EXOIP_PACKET_BYTES) return { ok: false, reason: 'oversized', detail: 'bad network payload' };
  if (buf[0] !== VERSION[0] || buf[1] !== VERSION[1]) {
    return { ok: false, reason: 'bad-version', detail: `bad protocol version, got ${buf.subarray(0, 2).toString('hex')}, want 0201` };
  }
  if (buf[2] !== buf[3]) return { ok: false, reason: 'malformed', detail: 'bad payload (priority should repeat)' };
  const address = [...buf.subarray(4, 8)].join('.');
  if (options.expectAddress !== undefined && options.expectAddress !== address) {
    return { ok: false, reason: 'unknown-instance', detail: `peer sent message for wrong EIP ${address}` };
  }
  const hex = buf.subarray(8, 24).toString('hex');
  const nicId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  return { ok: true, advert: { priority: buf[2]!, address, nicId } };
}

/**
 * ipwarden priority -> exoip priority: `255 - p`. ipwarden's HIGHEST priority wins, exoip's LOWEST does, so
 * the order is preserved: ipwarden 1..254 <-> exoip 254..1.
 * Edge cases: ipwarden 255 -> exoip 0 (exoip's best; exoip accepts 0 from `-P` but its SIGUSR1 never
 * lowers below 1); ipwarden 0 ("goodbye"/resigning) -> exoip 255, exoip's worst value: exoip has no
 * resign message, so an exoip peer keeps counting the node alive but prefers any other node (a node at
 * exoip 255 ties, and exoip does not tie-break, so both would be master).
 */
export function toExoipPriority(priority: number): number {
  checkByte(priority, 'ipwarden priority');
  return 255 - priority;
}

/**
 * exoip priority -> ipwarden priority: `255 - e`, except exoip 255 -> 1, not 0. An exoip node at 255 is
 * still alive and electable (exoip has no goodbye), whereas ipwarden priority 0 means "resigning"; so it
 * maps to ipwarden's lowest live priority and ties with exoip 254. Hence
 * `toExoipPriority(fromExoipPriority(e)) === e` for e in 0..254 only.
 */
export function fromExoipPriority(exoipPriority: number): number {
  checkByte(exoipPriority, 'exoip priority');
  return Math.max(1, 255 - exoipPriority);
}

function checkByte(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 255) {
    throw new RangeError(`${what}: expected an integer 0..255, got ${String(value)}`);
  }
}
