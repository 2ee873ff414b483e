/**
 * `digitalocean-tag` discovery: an instance's peers are the active droplets carrying a tag
 * (GET /v2/droplets?tag_name=..., every page), by private or public IPv4.
 *
 *   discovery:
 *     plugin: digitalocean-tag
 *     tag: lb                        # required
 *     network: private               # private (default: the VPC address, where heartbeats should go) | public
 *     refresh: 60s                   # ipwarden's key: how often the list is re-read
 *     token, endpoint                # as for digitalocean-reserved-ip (same defaults)
 *     port: 12345                    # heartbeat port of the peers (default: node.bind's port)
 *     dropletId: 123                 # this droplet, left out of the list (default: node.id when numeric)
 *
 * This node is left out by droplet id and by address (node.bind's host or any local address). Droplets
 * that are not active (off, new, archived) or have no address on the chosen network are skipped. A
 * failed refresh keeps the last good list (the daemon's discovery runner).
 */
import { networkInterfaces } from 'node:os';
import { z } from 'zod';
import { defineDiscovery, type ConfigIssue, type DiscoveredPeer } from '../../src/index.js';
import { zodConfig, FAILOVER_FIRST_TIMEOUT_MS } from '../../src/kit.js';
import { connectionShape, resolveConnection, type ConnectionSettings } from '../../src/digitalocean/connection.js';
import { DigitalOceanClient, type Droplet } from '../../src/digitalocean/client.js';

const DROPLET_ID = 'expected a droplet id (a positive integer)';

export const digitaloceanTagSchema = z.strictObject({
  ...connectionShape,
  tag: z.string({ error: 'expected a droplet tag' }).regex(/^[A-Za-z0-9:\-_.]{1,255}$/, { error: 'expected a droplet tag (letters, digits, ":", "-", "_", ".")' }),
  network: z.enum(['private', 'public']).default('private'),
  port: z.int({ error: 'expected a port 1..65535' }).min(1, { error: 'expected a port 1..65535' }).max(65535, { error: 'expected a port 1..65535' }).optional(),
  dropletId: z
    .union([z.int({ error: DROPLET_ID }).positive({ error: DROPLET_ID }), z.string({ error: DROPLET_ID }).regex(/^[1-9]\d*$/, { error: DROPLET_ID })], { error: DROPLET_ID })
    .transform(String)
    .optional(),
});

export interface TagDiscoveryConfig {
  connection: ConnectionSettings;
  tag: string;
  network: 'private' | 'public';
  port?: number;
  dropletId?: string;
}

/** Pure: droplets -> peers, active only, without this node, sorted by address. */
export function dropletsToPeers(
  droplets: readonly Droplet[],
  network: 'private' | 'public',
  self: { dropletId?: string; addresses: ReadonlySet<string> },
  port?: number,
): DiscoveredPeer[] {
  const peers: DiscoveredPeer[] = [];
  for (const d of droplets) {
    if (d.status !== 'active') continue;
    const ip = network === 'private' ? d.privateIpv4 : d.publicIpv4;
    if (!ip) continue;
    if (self.dropletId !== undefined && d.id === self.dropletId) continue;
    if (self.addresses.has(ip)) continue;
    peers.push({ host: ip, ...(port !== undefined ? { port } : {}), id: `${d.name} (${d.id})` });
  }
  return peers.sort((a, b) => a.host.localeCompare(b.host, 'en', { numeric: true }));
}

function localAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) out.add(a.address);
  return out;
}

const parseShape = zodConfig(digitaloceanTagSchema);

export default defineDiscovery<TagDiscoveryConfig>({
  kind: 'discovery',
  name: 'digitalocean-tag',
  description: 'peers = active droplets with a tag (their private or public IPv4)',
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
        tag: c.tag,
        network: c.network,
        ...(c.port !== undefined ? { port: c.port } : {}),
        ...(c.dropletId ? { dropletId: c.dropletId } : {}),
      },
    };
  },
  create(ctx) {
    const { config } = ctx;
    const client = new DigitalOceanClient({ connection: config.connection, timeoutMs: 5_000, firstTimeoutMs: FAILOVER_FIRST_TIMEOUT_MS, retry: { retries: 3, minDelayMs: 200, maxDelayMs: 2_000, deadlineMs: 15_000 } });
    const dropletId = config.dropletId ?? (/^[1-9]\d*$/.test(ctx.node.id) ? ctx.node.id : undefined);
    return {
      async discover(signal) {
        const droplets = await client.dropletsByTag(config.tag, signal);
        const addresses = localAddresses();
        addresses.add(ctx.node.bind.host);
        return dropletsToPeers(droplets, config.network, { ...(dropletId ? { dropletId } : {}), addresses }, config.port);
      },
      async close() {
        client.close();
      },
    };
  },
});
