/**
 * `hetzner-label` discovery: an instance's peers are the running Hetzner Cloud servers matching a
 * label selector (GET /servers?label_selector=...&status=running), by private or public IPv4.
 *
 *   discovery:
 *     plugin: hetzner-label
 *     selector: "role=lb"        # Hetzner label selector (k=v, k!=v, k, !k, k in (a,b), k notin (a,b))
 *     network: private           # private (default: the server's first private network IP) | public
 *     refresh: 60s               # ipwarden's key: how often the list is re-read
 *     token, endpoint            # as for hetzner-floating-ip (default env:HCLOUD_TOKEN, $HCLOUD_ENDPOINT)
 *     port: 12345                # heartbeat port of the peers (default: node.bind's port)
 *     serverId: 4711             # this server, left out of the list (optional)
 *
 * This node is left out by server id (serverId), by address (node.bind's host or any address of a
 * local interface). A server without an address on the chosen network is skipped. A failed refresh
 * keeps the last good list (the daemon's discovery runner); static `peers:` are kept alongside.
 */
import { networkInterfaces } from 'node:os';
import { z } from 'zod';
import { defineDiscovery, type ConfigIssue, type DiscoveredPeer } from '../../src/index.js';
import { zodConfig } from '../../src/kit.js';
import { HetznerClient } from '../../src/hetzner/client.js';
import { daemonHetznerClientOptions, hetznerConnectionShape, serverIdSchema, resolveHetznerConnection, type HetznerConnection } from '../../src/hetzner/connection.js';
import { parseLabelSelector } from '../../src/hetzner/label-selector.js';
import type { Server } from '../../src/hetzner/types.js';

export type PeerNetwork = 'private' | 'public';

export const hetznerLabelSchema = z.strictObject({
  ...hetznerConnectionShape,
  selector: z
    .string({ error: 'expected a label selector like "role=lb"' })
    .superRefine((s, ctx) => {
      try {
        parseLabelSelector(s);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
      }
    }),
  network: z.enum(['private', 'public'], { error: 'expected private or public' }).default('private'),
  port: z.int({ error: 'expected a port 1..65535' }).min(1, { error: 'expected a port 1..65535' }).max(65535, { error: 'expected a port 1..65535' }).optional(),
  serverId: serverIdSchema.optional(),
});

export interface HetznerLabelConfig {
  connection: HetznerConnection;
  selector: string;
  network: PeerNetwork;
  port?: number;
  serverId?: string;
}

/** Addresses of this host's interfaces (to recognise itself in the list). */
export function localAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) out.add(a.address);
  return out;
}

/** Pure: servers -> peers by the chosen network, without this node, sorted by address. */
export function serversToPeers(
  servers: readonly Server[],
  network: PeerNetwork,
  self: { serverId?: string; addresses: ReadonlySet<string> },
  port?: number,
): DiscoveredPeer[] {
  const peers: DiscoveredPeer[] = [];
  for (const s of servers) {
    if (s.status !== 'running') continue;
    const ip = network === 'public' ? s.public_net?.ipv4?.ip : s.private_net?.[0]?.ip;
    if (!ip) continue;
    if (self.serverId !== undefined && String(s.id) === self.serverId) continue;
    if (self.addresses.has(ip)) continue;
    peers.push({ host: ip, ...(port !== undefined ? { port } : {}), id: `${s.name} (${s.id})` });
  }
  return peers.sort((a, b) => a.host.localeCompare(b.host, 'en', { numeric: true }));
}

const parseShape = zodConfig(hetznerLabelSchema);

export default defineDiscovery<HetznerLabelConfig>({
  kind: 'discovery',
  name: 'hetzner-label',
  description: 'peers = running Hetzner Cloud servers matching a label selector (their private or public IPv4)',
  parseConfig(raw, env) {
    const shape = parseShape(raw);
    if (!shape.ok) return shape;
    const c = shape.config;
    const conn = resolveHetznerConnection(c, (ref, at) => env.resolveSecret(ref, at));
    if (!conn.ok) return { ok: false, issues: conn.issues as ConfigIssue[] };
    return {
      ok: true,
      config: {
        connection: conn.connection,
        selector: c.selector,
        network: c.network,
        ...(c.port !== undefined ? { port: c.port } : {}),
        ...(c.serverId !== undefined ? { serverId: c.serverId } : {}),
      },
    };
  },
  create(ctx) {
    const { config, log } = ctx;
    const client = new HetznerClient(daemonHetznerClientOptions(config.connection, log));
    return {
      async discover(signal) {
        const servers = await client.listServers(config.selector, { signal });
        const addresses = localAddresses();
        addresses.add(ctx.node.bind.host);
        return serversToPeers(servers, config.network, { ...(config.serverId !== undefined ? { serverId: config.serverId } : {}), addresses }, config.port);
      },
      async close() {
        client.close();
      },
    };
  },
});
