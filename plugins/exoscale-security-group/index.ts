/**
 * `exoscale-security-group` discovery: an instance's peers are the running instances that are
 * members of a security group (exoip's `-G`), by their public IP.
 *
 *   discovery:
 *     plugin: exoscale-security-group
 *     securityGroup: load-balancer   # name or id (required)
 *     refresh: 60s                   # ipwarden's key: how often the list is re-read
 *     zone, apiKey, apiSecret, endpoint   # as for exoscale-eip (same defaults)
 *     port: 12345                    # heartbeat port of the peers (default: node.bind's port)
 *     instanceId: <uuid>             # this node, left out of the list (default: node.id when a UUID)
 *
 * This node is left out by instance id (node.id or instanceId) and by address (node.bind's host or
 * any address of a local interface). Security groups are account-wide but the listing covers the
 * configured zone only, as exoip did. A failed refresh keeps the last good list (the daemon's
 * discovery runner); static `peers:` are kept alongside.
 */
import { networkInterfaces } from 'node:os';
import { z } from 'zod';
import { defineDiscovery, type ConfigIssue, type DiscoveredPeer } from '../../src/index.js';
import { zodConfig } from '../../src/kit.js';
import { ExoscaleClient } from '../../src/exoscale/client.js';
import { connectionShape, daemonClientOptions, resolveConnection, type ConnectionSettings } from '../../src/exoscale/connection.js';
import type { InstanceSummary } from '../../src/exoscale/types.js';
import { UUID_RE, isUuid } from '../../src/exoscale/types.js';

export const securityGroupSchema = z.strictObject({
  ...connectionShape,
  securityGroup: z.string({ error: 'expected a security group name or id' }).min(1, { error: 'expected a security group name or id' }),
  port: z.int({ error: 'expected a port 1..65535' }).min(1, { error: 'expected a port 1..65535' }).max(65535, { error: 'expected a port 1..65535' }).optional(),
  instanceId: z.string({ error: 'expected an instance UUID' }).regex(UUID_RE, { error: 'expected an instance UUID' }).optional(),
});

export interface SecurityGroupDiscoveryConfig {
  connection: ConnectionSettings;
  securityGroup: string;
  port?: number;
  instanceId?: string;
}

/** Addresses of this host's interfaces (to recognise itself in the member list). */
export function localAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) out.add(a.address);
  return out;
}

/** Pure: members -> peers, without this node, sorted by address. */
export function membersToPeers(
  members: readonly InstanceSummary[],
  self: { instanceId?: string; addresses: ReadonlySet<string> },
  port?: number,
): DiscoveredPeer[] {
  const peers: DiscoveredPeer[] = [];
  for (const m of members) {
    const ip = m['public-ip'];
    if (!ip) continue;
    if (self.instanceId && m.id.toLowerCase() === self.instanceId) continue;
    if (self.addresses.has(ip)) continue;
    peers.push({ host: ip, ...(port !== undefined ? { port } : {}), id: m.name ? `${m.name} (${m.id})` : m.id });
  }
  return peers.sort((a, b) => a.host.localeCompare(b.host, 'en', { numeric: true }));
}

const parseShape = zodConfig(securityGroupSchema);

export default defineDiscovery<SecurityGroupDiscoveryConfig>({
  kind: 'discovery',
  name: 'exoscale-security-group',
  description: 'peers = running members of an Exoscale security group (their public IPs)',
  parseConfig(raw, env) {
    const shape = parseShape(raw);
    if (!shape.ok) return shape;
    const c = shape.config;
    const conn = resolveConnection(c, (ref, at) => env.resolveSecret(ref, at));
    if (!conn.ok) return { ok: false, issues: conn.issues as ConfigIssue[] };
    return {
      ok: true,
      config: {
        connection: conn.connection,
        securityGroup: c.securityGroup,
        ...(c.port !== undefined ? { port: c.port } : {}),
        ...(c.instanceId ? { instanceId: c.instanceId.toLowerCase() } : {}),
      },
    };
  },
  create(ctx) {
    const { config, log } = ctx;
    const client = new ExoscaleClient(daemonClientOptions(config.connection, log, () => undefined));
    const instanceId = config.instanceId ?? (isUuid(ctx.node.id) ? ctx.node.id.toLowerCase() : undefined);
    return {
      async discover(signal) {
        const members = await client.securityGroupMembers(config.securityGroup, { signal });
        const addresses = localAddresses();
        addresses.add(ctx.node.bind.host);
        return membersToPeers(members, { ...(instanceId ? { instanceId } : {}), addresses }, config.port);
      },
      async close() {
        client.close();
      },
    };
  },
});
