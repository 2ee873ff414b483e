/**
 * The instance key: a 32-bit tag in every heartbeat saying which shared address the packet is about, so
 * one daemon can run several instances on one port and a misconfigured peer is told apart from a forger.
 */
import { createHash } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import { canonicalAddress } from '../config/endpoint.js';

/**
 * Canonical text of an IP address: IPv4 as dotted decimal (leading zeros are rejected, as `net.isIPv4` does),
 * IPv6 in RFC 5952 compressed lower-case form (`2001:DB8:0:0::1` -> `2001:db8::1`). IPv4-mapped IPv6
 * addresses stay IPv6 (`::ffff:c633:6432`); they are not folded into IPv4. Zone ids (`fe80::1%eth0`), prefixes
 * (`/32`) and surrounding blanks are rejected: a shared address is a plain address.
 * @throws Error naming the bad value.
 */
export function normalizeAddress(address: string): string {
  if (isIPv4(address) || (isIPv6(address) && !address.includes('%'))) return canonicalAddress(address);
  throw new Error(`not an IPv4 or IPv6 address: ${JSON.stringify(address)}`);
}

/**
 * uint32 instance key of a shared address: the first 4 bytes (big-endian) of SHA-256 over the UTF-8 text of
 * `normalizeAddress(address)`. Reproducible in a shell: `printf %s 198.51.100.50 | sha256sum | cut -c1-8`.
 * @throws Error when `address` is not an IP address.
 */
export function instanceKey(address: string): number {
  return createHash('sha256').update(normalizeAddress(address), 'utf8').digest().readUInt32BE(0);
}
