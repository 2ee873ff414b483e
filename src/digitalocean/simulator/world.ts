/**
 * The DigitalOcean simulator's world: droplets, reserved IPs and the JSON shapes API v2 answers with.
 * Pure data and rendering; the HTTP routes are in server.ts.
 *
 * The default lab: three droplets tagged "lb" (lb1..lb3, active) and one web droplet, public IPs in
 * 203.0.113.0/24 (a network-namespace lab can give each node its droplet's address; the metadata
 * service also answers by source address), anchor IPs in 10.20.0.0/16, and one reserved IP
 * 203.0.113.100 assigned to nothing.
 */
export const DEFAULT_SIM_TOKEN = 'dop_v1_simulator0000000000000000000000000000000000000000000000000001';
export const DEFAULT_SIM_READONLY_TOKEN = 'dop_v1_simulatorreadonly0000000000000000000000000000000000000000002';
export const DEFAULT_SIM_REGION = 'nyc3';
export const LAB_RESERVED_IP = '203.0.113.100';

export interface SimDroplet {
  id: number;
  name: string;
  status: 'new' | 'active' | 'off' | 'archive';
  tags: string[];
  publicIp: string;
  privateIp?: string;
  anchorIp?: string;
  region: string;
}

export interface SimReservedIp {
  ip: string;
  region: string;
  /** Droplet id, or null when unassigned. */
  dropletId: number | null;
  projectId: string;
}

export interface DropletInput {
  id?: number;
  name: string;
  status?: SimDroplet['status'];
  tags?: string[];
  publicIp: string;
  privateIp?: string;
  anchorIp?: string;
}

export interface ReservedIpInput {
  ip: string;
  /** Droplet id or name it starts assigned to. */
  droplet?: number | string | null;
}

export interface SimSeed {
  droplets?: DropletInput[];
  reservedIps?: ReservedIpInput[];
}

/** A fresh copy of the default lab seed. */
export function defaultSeed(): SimSeed {
  return {
    droplets: [
      { id: 3001, name: 'lb1', tags: ['lb'], publicIp: '203.0.113.11', privateIp: '10.110.0.11', anchorIp: '10.20.0.11' },
      { id: 3002, name: 'lb2', tags: ['lb'], publicIp: '203.0.113.12', privateIp: '10.110.0.12', anchorIp: '10.20.0.12' },
      { id: 3003, name: 'lb3', tags: ['lb'], publicIp: '203.0.113.13', privateIp: '10.110.0.13', anchorIp: '10.20.0.13' },
      { id: 3004, name: 'web1', tags: ['web'], publicIp: '203.0.113.21', privateIp: '10.110.0.21', anchorIp: '10.20.0.21' },
    ],
    reservedIps: [{ ip: LAB_RESERVED_IP, droplet: null }],
  };
}

export class World {
  droplets = new Map<number, SimDroplet>();
  reservedIps = new Map<string, SimReservedIp>();
  #nextDropletId = 3001;

  constructor(readonly region: string = DEFAULT_SIM_REGION) {}

  load(seed: SimSeed): void {
    this.droplets.clear();
    this.reservedIps.clear();
    this.#nextDropletId = 3001;
    for (const d of seed.droplets ?? []) this.addDroplet(d);
    for (const r of seed.reservedIps ?? []) this.addReservedIp(r);
  }

  addDroplet(d: DropletInput): SimDroplet {
    const id = d.id ?? this.#nextDropletId;
    if (!Number.isSafeInteger(id) || id <= 0) throw new Error(`droplet id: expected a positive integer, got ${JSON.stringify(d.id)}`);
    if (this.droplets.has(id)) throw new Error(`droplet id ${id} already exists`);
    if (typeof d.name !== 'string' || d.name === '') throw new Error('droplet name: expected a non-empty string');
    if (!isIpv4(d.publicIp)) throw new Error(`droplet ${d.name} publicIp: expected an IPv4 address`);
    for (const k of ['privateIp', 'anchorIp'] as const) {
      if (d[k] !== undefined && !isIpv4(d[k])) throw new Error(`droplet ${d.name} ${k}: expected an IPv4 address`);
    }
    const droplet: SimDroplet = {
      id,
      name: d.name,
      status: d.status ?? 'active',
      tags: [...(d.tags ?? [])],
      publicIp: d.publicIp,
      region: this.region,
      ...(d.privateIp ? { privateIp: d.privateIp } : {}),
      ...(d.anchorIp ? { anchorIp: d.anchorIp } : {}),
    };
    this.droplets.set(id, droplet);
    this.#nextDropletId = Math.max(this.#nextDropletId, id + 1);
    return droplet;
  }

  addReservedIp(r: ReservedIpInput): SimReservedIp {
    if (!isIpv4(r.ip)) throw new Error(`reserved IP ip: expected an IPv4 address, got ${JSON.stringify(r.ip)}`);
    if (this.reservedIps.has(r.ip)) throw new Error(`reserved IP ${r.ip} already exists`);
    const holder = r.droplet === undefined || r.droplet === null ? null : this.findDroplet(r.droplet);
    if (r.droplet !== undefined && r.droplet !== null && !holder) throw new Error(`reserved IP ${r.ip} droplet: no droplet ${JSON.stringify(r.droplet)}`);
    const rip: SimReservedIp = { ip: r.ip, region: this.region, dropletId: holder?.id ?? null, projectId: '1f1e2d3c-0000-4000-8000-00000000d0d0' };
    this.reservedIps.set(r.ip, rip);
    return rip;
  }

  findDroplet(idOrName: number | string): SimDroplet | undefined {
    const n = typeof idOrName === 'number' ? idOrName : /^\d+$/.test(idOrName) ? Number(idOrName) : NaN;
    if (Number.isSafeInteger(n)) return this.droplets.get(n);
    return [...this.droplets.values()].find((d) => d.name === idOrName);
  }

  /** The droplet a metadata request comes from (any of its addresses). */
  dropletByAddress(address: string): SimDroplet | undefined {
    return [...this.droplets.values()].find((d) => d.publicIp === address || d.privateIp === address || d.anchorIp === address);
  }

  reservedIpOf(dropletId: number): SimReservedIp | undefined {
    return [...this.reservedIps.values()].find((r) => r.dropletId === dropletId);
  }
}

export function isIpv4(s: unknown): s is string {
  if (typeof s !== 'string') return false;
  const parts = s.split('.');
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255 && String(Number(p)) === p);
}


// ------------------------------------------------------------------ JSON shapes

export function regionJson(slug: string): Record<string, unknown> {
  return {
    name: slug === 'nyc3' ? 'New York 3' : slug,
    slug,
    features: ['backups', 'ipv6', 'metadata', 'install_agent', 'storage', 'image_transfer'],
    available: true,
    sizes: ['s-1vcpu-1gb', 's-1vcpu-2gb', 's-2vcpu-2gb'],
  };
}

export function dropletJson(d: SimDroplet, world: World): Record<string, unknown> {
  const v4: Array<Record<string, unknown>> = [];
  if (d.privateIp) v4.push({ ip_address: d.privateIp, netmask: '255.255.240.0', gateway: '10.110.0.1', type: 'private' });
  v4.push({ ip_address: d.publicIp, netmask: '255.255.255.0', gateway: d.publicIp.replace(/\.\d+$/, '.1'), type: 'public' });
  const rip = world.reservedIpOf(d.id);
  if (rip) v4.push({ ip_address: rip.ip, netmask: '255.255.255.255', gateway: d.publicIp.replace(/\.\d+$/, '.1'), type: 'public' });
  return {
    id: d.id,
    name: d.name,
    memory: 1024,
    vcpus: 1,
    disk: 25,
    locked: false,
    status: d.status,
    kernel: null,
    created_at: '2026-01-01T00:00:00Z',
    features: ['monitoring', 'droplet_agent', 'private_networking'],
    backup_ids: [],
    next_backup_window: null,
    snapshot_ids: [],
    image: { id: 170000001, name: '12 x64', distribution: 'Debian', slug: 'debian-12-x64', public: true, regions: [d.region], type: 'base' },
    volume_ids: [],
    size: { slug: 's-1vcpu-1gb', memory: 1024, vcpus: 1, disk: 25, transfer: 1, price_monthly: 6, price_hourly: 0.00893 },
    size_slug: 's-1vcpu-1gb',
    networks: { v4, v6: [] },
    region: regionJson(d.region),
    tags: [...d.tags],
    vpc_uuid: '5a4981aa-0000-4000-8000-00000000a1a1',
  };
}

export function reservedIpJson(r: SimReservedIp, world: World, locked: boolean): Record<string, unknown> {
  const d = r.dropletId === null ? undefined : world.droplets.get(r.dropletId);
  return { ip: r.ip, droplet: d ? dropletJson(d, world) : null, region: regionJson(r.region), locked, project_id: r.projectId };
}

/** `/metadata/v1.json` for one droplet. */
export function metadataJson(d: SimDroplet, world: World): Record<string, unknown> {
  const rip = world.reservedIpOf(d.id);
  const ripJson = { ipv4: rip ? { active: true, ip_address: rip.ip } : { active: false } };
  const gw = d.publicIp.replace(/\.\d+$/, '.1');
  return {
    droplet_id: d.id,
    hostname: d.name,
    vendor_data: '',
    public_keys: [],
    auth_key: '',
    region: d.region,
    interfaces: {
      ...(d.privateIp ? { private: [{ ipv4: { ip_address: d.privateIp, netmask: '255.255.240.0', gateway: '10.110.0.1' }, mac: macOf(d, 2), type: 'private' }] } : {}),
      public: [
        {
          ipv4: { ip_address: d.publicIp, netmask: '255.255.255.0', gateway: gw },
          ...(d.anchorIp ? { anchor_ipv4: { ip_address: d.anchorIp, netmask: '255.255.0.0', gateway: '10.20.0.1' } } : {}),
          mac: macOf(d, 1),
          type: 'public',
        },
      ],
    },
    floating_ip: ripJson,
    reserved_ip: ripJson,
    dns: { nameservers: ['67.207.67.2', '67.207.67.3'] },
    tags: [...d.tags],
    features: { dhcp_enabled: false },
  };
}

function macOf(d: SimDroplet, nic: number): string {
  const hex = d.id.toString(16).padStart(6, '0').slice(-6);
  return `02:0${nic}:${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}:00`;
}

/** Plain-text metadata leaves: `/metadata/v1/<path>`, undefined for an unknown path. */
export function metadataLeaf(d: SimDroplet, world: World, path: string): string | undefined {
  const rip = world.reservedIpOf(d.id);
  const gw = d.publicIp.replace(/\.\d+$/, '.1');
  const leaves: Record<string, string | undefined> = {
    id: String(d.id),
    hostname: d.name,
    region: d.region,
    tags: d.tags.join('\n'),
    'interfaces/public/0/ipv4/address': d.publicIp,
    'interfaces/public/0/ipv4/netmask': '255.255.255.0',
    'interfaces/public/0/ipv4/gateway': gw,
    'interfaces/public/0/anchor_ipv4/address': d.anchorIp,
    'interfaces/public/0/anchor_ipv4/netmask': d.anchorIp ? '255.255.0.0' : undefined,
    'interfaces/public/0/anchor_ipv4/gateway': d.anchorIp ? '10.20.0.1' : undefined,
    'interfaces/public/0/mac': macOf(d, 1),
    'interfaces/private/0/ipv4/address': d.privateIp,
    'interfaces/private/0/mac': d.privateIp ? macOf(d, 2) : undefined,
    'reserved_ip/ipv4/active': rip ? 'true' : 'false',
    'reserved_ip/ipv4/ip_address': rip?.ip,
    'floating_ip/ipv4/active': rip ? 'true' : 'false',
    'floating_ip/ipv4/ip_address': rip?.ip,
  };
  return leaves[path.replace(/\/$/, '')];
}
