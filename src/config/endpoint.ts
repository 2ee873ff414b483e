/**
 * Address[:port] strings of the rc file (`node.bind`, `peers`, `metrics.listen`):
 *   "198.51.100.11"  "198.51.100.11:12345"  "2001:db8::1"  "[2001:db8::1]:12345"  "[::]:12345"
 * Hosts are IP literals: heartbeats are matched to peers by address, so names are not accepted.
 */
import { isIP } from 'node:net';

/** A UDP/TCP endpoint: an IP literal (IPv6 without brackets) and a port 1..65535. */
export interface Endpoint {
  host: string;
  port: number;
}

/** The heartbeat port when none is given (exoip's). */
export const DEFAULT_HEARTBEAT_PORT = 12345;

/**
 * Parses "host", "host:port", "v6", "[v6]" or "[v6]:port". Without a port, `defaultPort` is used;
 * when that is undefined a port is required. Returns undefined for anything else.
 */
export function parseEndpoint(text: string, defaultPort?: number): Endpoint | undefined {
  let host: string;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::([^:]*))?$/.exec(text);
  if (bracketed) {
    host = bracketed[1]!;
    portText = bracketed[2];
    if (isIP(host) !== 6) return undefined;
  } else if ((text.match(/:/g) ?? []).length >= 2) {
    host = text;
    if (isIP(host) !== 6) return undefined;
  } else {
    const colon = text.indexOf(':');
    host = colon === -1 ? text : text.slice(0, colon);
    portText = colon === -1 ? undefined : text.slice(colon + 1);
    if (isIP(host) !== 4) return undefined;
  }
  if (portText === undefined) return defaultPort === undefined ? undefined : { host, port: defaultPort };
  if (!/^\d{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  return port >= 1 && port <= 65535 ? { host, port } : undefined;
}

/** "198.51.100.11:12345" or "[2001:db8::1]:12345". */
export function formatEndpoint(e: Endpoint): string {
  return isIP(e.host) === 6 ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`;
}

/**
 * The one address normaliser: one spelling per address (IPv6 in RFC 5952 compressed lower-case form,
 * which the WHATWG URL host serializer implements), to compare addresses. Not an IP: returned as is.
 */
export function canonicalAddress(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  try {
    return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  } catch {
    return ip.toLowerCase();
  }
}

/** True for the any-address of either family ("0.0.0.0", "::"). */
export function isWildcard(ip: string): boolean {
  return ip === '0.0.0.0' || canonicalAddress(ip) === '::';
}
