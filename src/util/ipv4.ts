/**
 * IPv4 dotted quads as numbers: the one helper behind every CIDR test in the simulators and the
 * test lab (subnet checks, DigitalOcean's numeric resource_id).
 */

/** "198.51.100.7" as the unsigned 32-bit integer 3325256711. */
export function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

/** Whether IPv4 `ip` is inside `cidr` ("10.0.0.0/16"); false for a cidr without a whole prefix length. */
export function inIpv4Cidr(ip: string, cidr: string): boolean {
  const [base, bitsText] = cidr.split('/');
  const bits = Number(bitsText);
  if (!base || bitsText === undefined || !Number.isInteger(bits) || bits < 0 || bits > 32) return false;
  const size = 2 ** (32 - bits);
  return Math.floor(ipv4ToInt(ip) / size) === Math.floor(ipv4ToInt(base) / size);
}
