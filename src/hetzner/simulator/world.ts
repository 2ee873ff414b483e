/**
 * The Hetzner simulator's world: servers, floating IPs, private networks, API tokens; the seed it
 * starts from and the JSON the real API renders for each (full objects, so the official clients'
 * decoders find every field they expect).
 *
 * Default lab seed: three load balancers lb1..lb3 (label role=lb, public IPv4 198.51.100.11..13, on
 * private network "lb-net" 10.0.0.0/16 as 10.0.1.11..13), one web server (role=web) and one floating
 * IPv4 198.51.100.50 ("vip", label role=lb) assigned to nobody. Public IPs sit in 198.51.100.0/24 so a
 * network-namespace lab can give each node its server's address (metadata answers by source address).
 */
import { isIP } from 'node:net';
import { z } from 'zod';

/** Simulator test tokens (not secret: printed at start, documented). */
export const DEFAULT_SIM_TOKEN = 'hcloud-simulator-token-read-write-0000000000000000000000000001';
export const DEFAULT_SIM_READONLY_TOKEN = 'hcloud-simulator-token-read-only-00000000000000000000000000002';

export type TokenScope = 'read' | 'read_write';

export interface SimServer {
  id: number;
  name: string;
  status: string;
  publicIpv4: string;
  labels: Record<string, string>;
  privateNet: Array<{ network: number; ip: string; aliasIps: string[] }>;
  created: string;
}

export interface SimFloatingIp {
  id: number;
  name: string;
  description: string | null;
  ip: string;
  server: number | null;
  labels: Record<string, string>;
  created: string;
}

export interface SimNetwork {
  id: number;
  name: string;
  ipRange: string;
  labels: Record<string, string>;
  created: string;
}

const labelsSchema = z.record(z.string(), z.string());
const ipv4 = z.string().refine((s) => isIP(s) === 4, { error: 'expected an IPv4 address' });

export const seedSchema = z.strictObject({
  networks: z
    .array(z.strictObject({ id: z.int().positive().optional(), name: z.string().min(1), ipRange: z.string().regex(/^\d+\.\d+\.\d+\.\d+\/\d+$/), labels: labelsSchema.optional() }))
    .optional(),
  servers: z
    .array(
      z.strictObject({
        id: z.int().positive().optional(),
        name: z.string().min(1),
        status: z.enum(['running', 'off', 'initializing', 'starting', 'stopping']).optional(),
        publicIpv4: ipv4,
        labels: labelsSchema.optional(),
        /** Network (name or id) -> private IP, optional alias IPs. */
        privateNet: z.array(z.strictObject({ network: z.union([z.string(), z.int()]), ip: ipv4, aliasIps: z.array(ipv4).optional() })).optional(),
      }),
    )
    .optional(),
  floatingIps: z
    .array(
      z.strictObject({
        id: z.int().positive().optional(),
        name: z.string().min(1).optional(),
        description: z.string().optional(),
        ip: ipv4,
        /** Server (name or id) it starts assigned to. */
        server: z.union([z.string(), z.int()]).nullable().optional(),
        labels: labelsSchema.optional(),
      }),
    )
    .optional(),
});

export type HetznerSimSeed = z.infer<typeof seedSchema>;

/** Validates a seed (the --state file, the library option); throws one line naming the field. */
export function parseHetznerSeed(input: unknown): HetznerSimSeed {
  const r = seedSchema.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new Error(`${issue.path.join('.') || 'seed'}: ${issue.message}`);
  }
  return r.data;
}

export const LAB_NETWORK_ID = 4711;
export const LAB_FLOATING_IP_ID = 5150;
export const LAB_FLOATING_IP = '198.51.100.50';

/** A fresh copy of the default lab seed. */
export function defaultHetznerSeed(): HetznerSimSeed {
  const lb = (n: number) => ({
    id: 1000 + n,
    name: `lb${n}`,
    status: 'running' as const,
    publicIpv4: `198.51.100.1${n}`,
    labels: { role: 'lb' },
    privateNet: [{ network: 'lb-net', ip: `10.0.1.1${n}` }],
  });
  return {
    networks: [{ id: LAB_NETWORK_ID, name: 'lb-net', ipRange: '10.0.0.0/16' }],
    servers: [lb(1), lb(2), lb(3), { id: 1021, name: 'web1', status: 'running', publicIpv4: '198.51.100.21', labels: { role: 'web' }, privateNet: [{ network: 'lb-net', ip: '10.0.1.21' }] }],
    floatingIps: [{ id: LAB_FLOATING_IP_ID, name: 'vip', description: 'ipwarden lab', ip: LAB_FLOATING_IP, server: null, labels: { role: 'lb' } }],
  };
}

const CREATED = '2026-01-01T00:00:00+00:00';

export class HetznerWorld {
  servers = new Map<number, SimServer>();
  floatingIps = new Map<number, SimFloatingIp>();
  networks = new Map<number, SimNetwork>();
  #nextId = 90_000;

  constructor(seed: HetznerSimSeed) {
    for (const n of seed.networks ?? []) {
      const id = n.id ?? this.#nextId++;
      this.networks.set(id, { id, name: n.name, ipRange: n.ipRange, labels: n.labels ?? {}, created: CREATED });
    }
    for (const s of seed.servers ?? []) {
      const id = s.id ?? this.#nextId++;
      const privateNet = (s.privateNet ?? []).map((p) => {
        const net = this.findNetwork(String(p.network));
        if (!net) throw new Error(`servers.${s.name}.privateNet: no network ${JSON.stringify(p.network)}`);
        return { network: net.id, ip: p.ip, aliasIps: [...(p.aliasIps ?? [])] };
      });
      this.servers.set(id, { id, name: s.name, status: s.status ?? 'running', publicIpv4: s.publicIpv4, labels: { ...s.labels }, privateNet, created: CREATED });
    }
    for (const f of seed.floatingIps ?? []) {
      const id = f.id ?? this.#nextId++;
      let server: number | null = null;
      if (f.server !== undefined && f.server !== null) {
        const s = this.findServer(String(f.server));
        if (!s) throw new Error(`floatingIps.${f.ip}.server: no server ${JSON.stringify(f.server)}`);
        server = s.id;
      }
      this.floatingIps.set(id, { id, name: f.name ?? `floating-ip-${id}`, description: f.description ?? null, ip: f.ip, server, labels: { ...f.labels }, created: CREATED });
    }
  }

  /** By id or name. */
  findServer(idOrName: string): SimServer | undefined {
    const byId = /^\d+$/.test(idOrName) ? this.servers.get(Number(idOrName)) : undefined;
    return byId ?? [...this.servers.values()].find((s) => s.name === idOrName);
  }

  /** By id, name or address. */
  findFloatingIp(key: string): SimFloatingIp | undefined {
    const byId = /^\d+$/.test(key) ? this.floatingIps.get(Number(key)) : undefined;
    return byId ?? [...this.floatingIps.values()].find((f) => f.name === key || f.ip === key);
  }

  /** By id or name. */
  findNetwork(idOrName: string): SimNetwork | undefined {
    const byId = /^\d+$/.test(idOrName) ? this.networks.get(Number(idOrName)) : undefined;
    return byId ?? [...this.networks.values()].find((n) => n.name === idOrName);
  }

  /** The server a request comes from: by public IPv4 or a private IP. */
  serverByAddress(address: string): SimServer | undefined {
    return [...this.servers.values()].find((s) => s.publicIpv4 === address || s.privateNet.some((p) => p.ip === address));
  }

  /** Servers holding `ip` as an alias IP (on any network). */
  aliasHolders(ip: string): string[] {
    return [...this.servers.values()].filter((s) => s.privateNet.some((p) => p.aliasIps.includes(ip))).map((s) => String(s.id));
  }

  // ------------------------------------------------------------------ rendering (the API's JSON)

  renderServer(s: SimServer): Record<string, unknown> {
    return {
      id: s.id,
      name: s.name,
      status: s.status,
      created: s.created,
      public_net: {
        ipv4: { id: s.id + 500_000, ip: s.publicIpv4, blocked: false, dns_ptr: `static.${s.publicIpv4.split('.').reverse().join('.')}.clients.your-server.de` },
        ipv6: null,
        floating_ips: [...this.floatingIps.values()].filter((f) => f.server === s.id).map((f) => f.id),
        firewalls: [],
      },
      private_net: s.privateNet.map((p) => ({ network: p.network, ip: p.ip, alias_ips: [...p.aliasIps], mac_address: macFor(s.id, p.network) })),
      server_type: SERVER_TYPE,
      datacenter: DATACENTER,
      image: null,
      iso: null,
      rescue_enabled: false,
      locked: false,
      backup_window: null,
      outgoing_traffic: 0,
      ingoing_traffic: 0,
      included_traffic: 21990232555520,
      protection: { delete: false, rebuild: false },
      labels: { ...s.labels },
      volumes: [],
      load_balancers: [],
      primary_disk_size: 40,
      placement_group: null,
    };
  }

  renderFloatingIp(f: SimFloatingIp): Record<string, unknown> {
    return {
      id: f.id,
      name: f.name,
      description: f.description,
      ip: f.ip,
      type: 'ipv4',
      server: f.server,
      dns_ptr: [{ ip: f.ip, dns_ptr: `static.${f.ip.split('.').reverse().join('.')}.clients.your-server.de` }],
      home_location: LOCATION,
      blocked: false,
      protection: { delete: false },
      labels: { ...f.labels },
      created: f.created,
    };
  }

  renderNetwork(n: SimNetwork): Record<string, unknown> {
    return {
      id: n.id,
      name: n.name,
      ip_range: n.ipRange,
      subnets: [{ type: 'cloud', ip_range: n.ipRange, network_zone: 'eu-central', gateway: n.ipRange.replace(/\.\d+\/\d+$/, '.1') }],
      routes: [],
      servers: [...this.servers.values()].filter((s) => s.privateNet.some((p) => p.network === n.id)).map((s) => s.id),
      load_balancers: [],
      protection: { delete: false },
      labels: { ...n.labels },
      created: n.created,
      expose_routes_to_vswitch: false,
    };
  }

  /** Everything, for the admin API and the banner. */
  snapshot(): { servers: unknown[]; floatingIps: unknown[]; networks: unknown[] } {
    return {
      servers: [...this.servers.values()].map((s) => structuredClone(s)),
      floatingIps: [...this.floatingIps.values()].map((f) => structuredClone(f)),
      networks: [...this.networks.values()].map((n) => structuredClone(n)),
    };
  }
}

function macFor(server: number, network: number): string {
  const h = ((server * 31 + network) >>> 0).toString(16).padStart(8, '0');
  return `86:00:${h.slice(0, 2)}:${h.slice(2, 4)}:${h.slice(4, 6)}:${h.slice(6, 8)}`;
}

const LOCATION = {
  id: 1,
  name: 'fsn1',
  description: 'Falkenstein DC Park 1',
  country: 'DE',
  city: 'Falkenstein',
  latitude: 50.47612,
  longitude: 12.370071,
  network_zone: 'eu-central',
};

const DATACENTER = {
  id: 4,
  name: 'fsn1-dc14',
  description: 'Falkenstein 1 virtual DC 14',
  location: LOCATION,
  server_types: { supported: [22], available: [22], available_for_migration: [22] },
};

const SERVER_TYPE = {
  id: 22,
  name: 'cx22',
  description: 'CX22',
  cores: 2,
  memory: 4.0,
  disk: 40,
  deprecated: false,
  prices: [],
  storage_type: 'local',
  cpu_type: 'shared',
  architecture: 'x86',
};
