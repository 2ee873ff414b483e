/**
 * The EC2 calls the simulator serves, on the world of world.ts: validation and error codes as EC2
 * answers them, XML answers in EC2's shapes (what botocore's model reads), every holder change recorded
 * in the HolderHistory at the instant it is applied.
 */
import { randomUUID } from 'node:crypto';
import type { HolderHistory } from '../../cloud/simulator-kit/index.js';
import { EC2_XMLNS, readFilters, readList, type Ec2Filter } from '../query.js';
import { escapeXml } from '../xml.js';
import { type AwsWorld, type SimAddress, type SimInstance, type SimInterface, type SimRouteTable } from './world.js';
import { inIpv4Cidr } from '../../util/ipv4.js';

/** An EC2 error answer. */
export class Ec2Fault extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const EC2_CALLS = {
  DescribeAddresses: 'describe-addresses',
  AssociateAddress: 'associate-address',
  DisassociateAddress: 'disassociate-address',
  DescribeInstances: 'describe-instances',
  DescribeNetworkInterfaces: 'describe-network-interfaces',
  AssignPrivateIpAddresses: 'assign-private-ip-addresses',
  UnassignPrivateIpAddresses: 'unassign-private-ip-addresses',
  DescribeRouteTables: 'describe-route-tables',
  ReplaceRoute: 'replace-route',
  CreateRoute: 'create-route',
  DeleteRoute: 'delete-route',
} as const;
export type Ec2Action = keyof typeof EC2_CALLS;
export const MUTATING_ACTIONS: ReadonlySet<Ec2Action> = new Set([
  'AssociateAddress',
  'DisassociateAddress',
  'AssignPrivateIpAddresses',
  'UnassignPrivateIpAddresses',
  'ReplaceRoute',
  'CreateRoute',
  'DeleteRoute',
]);

export function isEc2Action(a: string | undefined): a is Ec2Action {
  return a !== undefined && Object.prototype.hasOwnProperty.call(EC2_CALLS, a);
}

/** <name>text</name>, or nothing when text is undefined. */
function x(name: string, content: string | string[] | undefined | boolean | number): string {
  if (content === undefined) return '';
  const inner = Array.isArray(content) ? content.join('') : escapeXml(String(content));
  return `<${name}>${inner}</${name}>`;
}

function set(name: string, items: string[]): string {
  return items.length === 0 ? `<${name}/>` : x(name, items.map((i) => x('item', [i])));
}

export function responseXml(action: string, body: string[]): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${EC2_XMLNS}">${x('requestId', randomUUID())}${body.join('')}</${action}Response>`;
}

export function errorXml(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>${x('Code', code)}${x('Message', message)}</Error></Errors>${x('RequestID', randomUUID())}</Response>`;
}

function globBody(pattern: string): string {
  return pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
}

function glob(pattern: string): RegExp {
  return new RegExp(`^${globBody(pattern)}$`);
}

/** tag:KEY=VALUE filters match "key\u0000value" strings: the key exactly, the value as a glob. */
function tagGlob(key: string, pattern: string): RegExp {
  return new RegExp(`^${key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\u0000${globBody(pattern)}$`);
}

function matchFilters(filters: Ec2Filter[], known: Record<string, (v: RegExp) => boolean>): boolean {
  return filters.every((f) => {
    const test = f.name.startsWith('tag:') ? known['tag:'] : known[f.name];
    if (!test) throw new Ec2Fault(400, 'InvalidParameterValue', `The filter '${f.name}' is invalid`);
    return f.values.some((v) => (f.name.startsWith('tag:') ? test(tagGlob(f.name.slice(4), v)) : test(glob(v))));
  });
}

function bool(v: string | undefined): boolean {
  return v === 'true' || v === 'True' || v === '1';
}

export class Ec2World {
  #assoc = 0;

  constructor(
    public world: AwsWorld,
    private readonly history: HolderHistory,
  ) {}

  // ---- lookups ----
  instance(id: string): SimInstance {
    const i = this.world.instances.find((x) => x.instanceId === id);
    if (!i) throw new Ec2Fault(400, 'InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`);
    return i;
  }

  eni(id: string): SimInterface {
    const e = this.world.interfaces.find((x) => x.networkInterfaceId === id);
    if (!e) throw new Ec2Fault(400, 'InvalidNetworkInterfaceID.NotFound', `The networkInterface ID '${id}' does not exist`);
    return e;
  }

  routeTable(id: string): SimRouteTable {
    const t = this.world.routeTables.find((x) => x.routeTableId === id);
    if (!t) throw new Ec2Fault(400, 'InvalidRouteTableID.NotFound', `The routeTable ID '${id}' does not exist`);
    return t;
  }

  /** Holder of an EIP as ipwarden targets it: the instance when the interface is attached, else the interface. */
  eipHolder(a: SimAddress): string | undefined {
    if (!a.association) return undefined;
    return this.world.interfaces.find((e) => e.networkInterfaceId === a.association!.networkInterfaceId)?.instanceId ?? a.association.networkInterfaceId;
  }

  recordEip(a: SimAddress, cause: string): void {
    const h = this.eipHolder(a);
    this.history.record(a.publicIp, h ? [h] : [], cause);
  }

  recordPrivateIp(ip: string, cause: string): void {
    this.history.record(ip, this.world.interfaces.filter((e) => e.privateIps.includes(ip)).map((e) => e.networkInterfaceId), cause);
  }

  recordRoute(t: SimRouteTable, cidr: string, cause: string): void {
    const r = t.routes.find((x) => x.destinationCidrBlock === cidr);
    this.history.record(`${t.routeTableId}:${cidr}`, r?.networkInterfaceId ? [r.networkInterfaceId] : [], cause);
  }

  /** Records the seed's holders (so timelines start from the seed). */
  recordAll(cause: string): void {
    for (const a of this.world.addresses) this.recordEip(a, cause);
    for (const e of this.world.interfaces) for (const ip of e.privateIps.slice(1)) this.recordPrivateIp(ip, cause);
    for (const t of this.world.routeTables) for (const r of t.routes) if (r.networkInterfaceId) this.recordRoute(t, r.destinationCidrBlock, cause);
  }

  // ---- calls ----
  handle(action: Ec2Action, p: Map<string, string>): string {
    switch (action) {
      case 'DescribeAddresses':
        return this.describeAddresses(p);
      case 'AssociateAddress':
        return this.associateAddress(p);
      case 'DisassociateAddress':
        return this.disassociateAddress(p);
      case 'DescribeInstances':
        return this.describeInstances(p);
      case 'DescribeNetworkInterfaces':
        return this.describeNetworkInterfaces(p);
      case 'AssignPrivateIpAddresses':
        return this.assignPrivateIps(p);
      case 'UnassignPrivateIpAddresses':
        return this.unassignPrivateIps(p);
      case 'DescribeRouteTables':
        return this.describeRouteTables(p);
      case 'ReplaceRoute':
      case 'CreateRoute':
        return this.putRoute(action, p);
      case 'DeleteRoute':
        return this.deleteRoute(p);
    }
  }

  #required(p: Map<string, string>, name: string): string {
    const v = p.get(name);
    if (v === undefined || v === '') throw new Ec2Fault(400, 'MissingParameter', `The request must contain the parameter ${name}`);
    return v;
  }

  describeAddresses(p: Map<string, string>): string {
    const ips = readList(p, 'PublicIp');
    const allocs = readList(p, 'AllocationId');
    for (const ip of ips) if (!this.world.addresses.some((a) => a.publicIp === ip)) throw new Ec2Fault(400, 'InvalidAddress.NotFound', `Address '${ip}' not found.`);
    for (const id of allocs) {
      if (!this.world.addresses.some((a) => a.allocationId === id)) throw new Ec2Fault(400, 'InvalidAllocationID.NotFound', `The allocation ID '${id}' does not exist`);
    }
    const filters = readFilters(p);
    const found = this.world.addresses.filter((a) => {
      if (ips.length > 0 && !ips.includes(a.publicIp)) return false;
      if (allocs.length > 0 && !allocs.includes(a.allocationId)) return false;
      const eni = a.association ? this.world.interfaces.find((e) => e.networkInterfaceId === a.association!.networkInterfaceId) : undefined;
      return matchFilters(filters, {
        'public-ip': (r) => r.test(a.publicIp),
        'allocation-id': (r) => r.test(a.allocationId),
        'association-id': (r) => r.test(a.association?.associationId ?? ''),
        'instance-id': (r) => r.test(eni?.instanceId ?? ''),
        'network-interface-id': (r) => r.test(a.association?.networkInterfaceId ?? ''),
        'private-ip-address': (r) => r.test(a.association?.privateIpAddress ?? ''),
        domain: (r) => r.test('vpc'),
      });
    });
    return responseXml(
      'DescribeAddresses',
      [
        set(
          'addressesSet',
          found.map((a) => {
            const eni = a.association ? this.world.interfaces.find((e) => e.networkInterfaceId === a.association!.networkInterfaceId) : undefined;
            return [
              x('publicIp', a.publicIp),
              x('allocationId', a.allocationId),
              x('domain', 'vpc'),
              x('instanceId', eni?.instanceId),
              x('associationId', a.association?.associationId),
              x('networkInterfaceId', a.association?.networkInterfaceId),
              x('networkInterfaceOwnerId', a.association ? this.world.accountId : undefined),
              x('privateIpAddress', a.association?.privateIpAddress),
              '<tagSet/>',
              x('publicIpv4Pool', 'amazon'),
              x('networkBorderGroup', this.world.region),
            ].join('');
          }),
        ),
      ],
    );
  }

  associateAddress(p: Map<string, string>): string {
    const allocationId = p.get('AllocationId');
    const publicIp = p.get('PublicIp');
    if (!allocationId && !publicIp) throw new Ec2Fault(400, 'MissingParameter', 'Either public IP or allocation id must be specified');
    const address = allocationId
      ? this.world.addresses.find((a) => a.allocationId === allocationId)
      : this.world.addresses.find((a) => a.publicIp === publicIp);
    if (!address) {
      if (allocationId) throw new Ec2Fault(400, 'InvalidAllocationID.NotFound', `The allocation ID '${allocationId}' does not exist`);
      throw new Ec2Fault(400, 'InvalidAddress.NotFound', `Address '${publicIp}' not found.`);
    }
    const instanceId = p.get('InstanceId');
    const eniId = p.get('NetworkInterfaceId');
    if (!instanceId && !eniId) throw new Ec2Fault(400, 'MissingParameter', 'Either instance ID or network interface id must be specified');
    let eni: SimInterface;
    if (eniId) {
      eni = this.eni(eniId);
      if (instanceId && eni.instanceId !== instanceId) throw new Ec2Fault(400, 'InvalidParameterCombination', `Network interface '${eniId}' is not attached to instance '${instanceId}'`);
    } else {
      const inst = this.instance(instanceId!);
      if (inst.state !== 'running' && inst.state !== 'stopped') throw new Ec2Fault(400, 'IncorrectInstanceState', `The instance '${inst.instanceId}' is not in a valid state for this operation.`);
      if (inst.interfaceIds.length > 1 && !p.get('PrivateIpAddress')) {
        throw new Ec2Fault(400, 'InvalidInstanceID', `There are multiple interfaces attached to instance '${inst.instanceId}'. Please specify an interface ID for the operation instead.`);
      }
      eni = this.eni(inst.interfaceIds[0]!);
    }
    const privateIp = p.get('PrivateIpAddress') ?? eni.privateIps[0]!;
    if (!eni.privateIps.includes(privateIp)) {
      throw new Ec2Fault(400, 'InvalidParameterValue', `The private IP address ${privateIp} is not associated with network interface ${eni.networkInterfaceId}`);
    }
    const same = address.association && address.association.networkInterfaceId === eni.networkInterfaceId && address.association.privateIpAddress === privateIp;
    if (address.association && !same && !bool(p.get('AllowReassociation'))) {
      throw new Ec2Fault(400, 'Resource.AlreadyAssociated', `resource ${address.allocationId} is already associated with associate-id ${address.association.associationId}`);
    }
    // Another EIP on the same private IP is displaced (EC2 keeps one public IP per private IP).
    for (const other of this.world.addresses) {
      if (other !== address && other.association?.networkInterfaceId === eni.networkInterfaceId && other.association.privateIpAddress === privateIp) {
        delete other.association;
        this.recordEip(other, 'associate-address');
      }
    }
    const associationId = `eipassoc-0${(0xa550c000 + ++this.#assoc).toString(16).padStart(16, '0')}`;
    address.association = { associationId, networkInterfaceId: eni.networkInterfaceId, privateIpAddress: privateIp };
    this.recordEip(address, 'associate-address');
    return responseXml('AssociateAddress', [x('return', 'true'), x('associationId', associationId)]);
  }

  disassociateAddress(p: Map<string, string>): string {
    const associationId = p.get('AssociationId');
    const publicIp = p.get('PublicIp');
    if (!associationId && !publicIp) throw new Ec2Fault(400, 'MissingParameter', 'Either public IP or association id must be specified');
    const address = associationId
      ? this.world.addresses.find((a) => a.association?.associationId === associationId)
      : this.world.addresses.find((a) => a.publicIp === publicIp && a.association);
    if (!address) {
      if (associationId) throw new Ec2Fault(400, 'InvalidAssociationID.NotFound', `The association ID '${associationId}' does not exist`);
      throw new Ec2Fault(400, 'InvalidAddress.NotFound', `Address '${publicIp}' not found.`);
    }
    delete address.association;
    this.recordEip(address, 'disassociate-address');
    return responseXml('DisassociateAddress', [x('return', 'true')]);
  }

  #interfaceXml(e: SimInterface, inInstance: boolean): string {
    const subnet = this.world.subnets.find((s) => s.subnetId === e.subnetId);
    const eipOf = (ip: string): SimAddress | undefined =>
      this.world.addresses.find((a) => a.association?.networkInterfaceId === e.networkInterfaceId && a.association.privateIpAddress === ip);
    const assocXml = (ip: string): string => {
      const a = eipOf(ip);
      return a ? x('association', [x('publicIp', a.publicIp), x('publicDnsName', ''), x('ipOwnerId', this.world.accountId), x('allocationId', a.allocationId), x('associationId', a.association!.associationId)]) : '';
    };
    return [
      x('networkInterfaceId', e.networkInterfaceId),
      x('subnetId', e.subnetId),
      x('vpcId', subnet?.vpcId),
      inInstance ? '' : x('availabilityZone', subnet?.availabilityZone),
      x('description', ''),
      x('ownerId', this.world.accountId),
      inInstance ? '' : x('requesterManaged', 'false'),
      x('status', e.instanceId ? 'in-use' : 'available'),
      x('macAddress', e.mac),
      x('privateIpAddress', e.privateIps[0]),
      x('sourceDestCheck', String(e.sourceDestCheck)),
      '<groupSet/>',
      e.instanceId
        ? x('attachment', [x('attachmentId', `eni-attach-${e.networkInterfaceId.slice(4)}`), inInstance ? '' : x('instanceId', e.instanceId), inInstance ? '' : x('instanceOwnerId', this.world.accountId), x('deviceIndex', String(e.deviceIndex ?? 0)), x('status', 'attached'), x('deleteOnTermination', 'true')])
        : '',
      assocXml(e.privateIps[0]!),
      set('privateIpAddressesSet', e.privateIps.map((ip, i) => [x('privateIpAddress', ip), x('primary', String(i === 0)), assocXml(ip)].join(''))),
      inInstance ? '' : '<tagSet/>',
      x('interfaceType', 'interface'),
    ].join('');
  }

  describeInstances(p: Map<string, string>): string {
    const ids = readList(p, 'InstanceId');
    for (const id of ids) this.instance(id);
    const filters = readFilters(p);
    const found = this.world.instances.filter((i) => {
      if (ids.length > 0 && !ids.includes(i.instanceId)) return false;
      const enis = i.interfaceIds.map((id) => this.eni(id));
      return matchFilters(filters, {
        'tag:': (r) => Object.entries(i.tags).some(([k, v]) => r.test(`${k}\u0000${v}`)),
        'tag-key': (r) => Object.keys(i.tags).some((k) => r.test(k)),
        'instance-id': (r) => r.test(i.instanceId),
        'instance-state-name': (r) => r.test(i.state),
        'private-ip-address': (r) => r.test(enis[0]?.privateIps[0] ?? ''),
        'ip-address': (r) => r.test(i.publicIp ?? ''),
        'network-interface.network-interface-id': (r) => enis.some((e) => r.test(e.networkInterfaceId)),
        'network-interface.addresses.private-ip-address': (r) => enis.some((e) => e.privateIps.some((ip) => r.test(ip))),
        'subnet-id': (r) => r.test(enis[0]?.subnetId ?? ''),
        'vpc-id': (r) => r.test(this.world.subnets.find((s) => s.subnetId === enis[0]?.subnetId)?.vpcId ?? ''),
      });
    });
    const maxResults = Number(p.get('MaxResults') ?? 1000);
    if (p.has('MaxResults') && !(Number.isInteger(maxResults) && maxResults >= 5 && maxResults <= 1000)) {
      throw new Ec2Fault(400, 'InvalidParameterValue', `Value ( ${p.get('MaxResults')} ) for parameter maxResults is invalid. Expecting a value greater than 5.`);
    }
    const start = Number(p.get('NextToken') ?? 0);
    if (!Number.isInteger(start) || start < 0) throw new Ec2Fault(400, 'InvalidParameterValue', `Invalid value '${p.get('NextToken')}' for nextToken`);
    const page = found.slice(start, start + maxResults);
    const next = start + maxResults < found.length ? String(start + maxResults) : undefined;
    return responseXml('DescribeInstances', [
      set(
        'reservationSet',
        page.map((i) => {
          const enis = i.interfaceIds.map((id) => this.eni(id));
          const primary = enis[0];
          const subnet = this.world.subnets.find((s) => s.subnetId === primary?.subnetId);
          const code = { pending: 0, running: 16, 'shutting-down': 32, terminated: 48, stopping: 64, stopped: 80 }[i.state];
          const eip = primary ? this.world.addresses.find((a) => a.association?.networkInterfaceId === primary.networkInterfaceId && a.association.privateIpAddress === primary.privateIps[0]) : undefined;
          return [
            x('reservationId', `r-${i.instanceId.slice(2)}`),
            x('ownerId', this.world.accountId),
            '<groupSet/>',
            set('instancesSet', [
              [
                x('instanceId', i.instanceId),
                x('imageId', 'ami-0123456789abcdef0'),
                x('instanceState', [x('code', String(code)), x('name', i.state)]),
                x('privateDnsName', primary ? `ip-${primary.privateIps[0]!.replace(/\./g, '-')}.ec2.internal` : ''),
                x('dnsName', ''),
                x('amiLaunchIndex', '0'),
                x('instanceType', 't3.micro'),
                x('launchTime', '2026-01-01T00:00:00.000Z'),
                x('placement', [x('availabilityZone', subnet?.availabilityZone), x('tenancy', 'default')]),
                x('monitoring', [x('state', 'disabled')]),
                x('subnetId', primary?.subnetId),
                x('vpcId', subnet?.vpcId),
                x('privateIpAddress', primary?.privateIps[0]),
                x('ipAddress', eip?.publicIp ?? i.publicIp),
                x('sourceDestCheck', String(primary?.sourceDestCheck ?? true)),
                '<groupSet/>',
                x('architecture', 'x86_64'),
                x('rootDeviceType', 'ebs'),
                x('rootDeviceName', '/dev/xvda'),
                '<blockDeviceMapping/>',
                x('virtualizationType', 'hvm'),
                set('tagSet', Object.entries(i.tags).map(([k, v]) => x('key', k) + x('value', v))),
                x('hypervisor', 'xen'),
                set('networkInterfaceSet', enis.map((e) => this.#interfaceXml(e, true))),
                i.role ? x('iamInstanceProfile', [x('arn', `arn:aws:iam::${this.world.accountId}:instance-profile/${i.role}`), x('id', 'AIPAEXAMPLE')]) : '',
              ].join(''),
            ]),
          ].join('');
        }),
      ),
      x('nextToken', next),
    ]);
  }

  describeNetworkInterfaces(p: Map<string, string>): string {
    const ids = readList(p, 'NetworkInterfaceId');
    for (const id of ids) this.eni(id);
    const filters = readFilters(p);
    const found = this.world.interfaces.filter((e) => {
      if (ids.length > 0 && !ids.includes(e.networkInterfaceId)) return false;
      return matchFilters(filters, {
        'network-interface-id': (r) => r.test(e.networkInterfaceId),
        'addresses.private-ip-address': (r) => e.privateIps.some((ip) => r.test(ip)),
        'private-ip-address': (r) => r.test(e.privateIps[0] ?? ''),
        'attachment.instance-id': (r) => r.test(e.instanceId ?? ''),
        'subnet-id': (r) => r.test(e.subnetId),
        'vpc-id': (r) => r.test(this.world.subnets.find((s) => s.subnetId === e.subnetId)?.vpcId ?? ''),
        'mac-address': (r) => r.test(e.mac),
      });
    });
    return responseXml('DescribeNetworkInterfaces', [set('networkInterfaceSet', found.map((e) => this.#interfaceXml(e, false)))]);
  }

  assignPrivateIps(p: Map<string, string>): string {
    const eni = this.eni(this.#required(p, 'NetworkInterfaceId'));
    const ips = readList(p, 'PrivateIpAddress');
    if (ips.length === 0) throw new Ec2Fault(400, 'MissingParameter', 'Either PrivateIpAddress or SecondaryPrivateIpAddressCount must be specified');
    const subnet = this.world.subnets.find((s) => s.subnetId === eni.subnetId)!;
    const allow = bool(p.get('AllowReassignment'));
    for (const ip of ips) {
      if (!inIpv4Cidr(ip, subnet.cidr)) throw new Ec2Fault(400, 'InvalidParameterValue', `Address ${ip} does not fall within the subnet's address range`);
      const holder = this.world.interfaces.find((e) => e !== eni && e.privateIps.includes(ip));
      if (holder && (holder.privateIps[0] === ip || !allow)) {
        throw new Ec2Fault(400, 'InvalidParameterValue', `Address ${ip} is in use.`);
      }
    }
    for (const ip of ips) {
      if (eni.privateIps.includes(ip)) continue;
      const holder = this.world.interfaces.find((e) => e !== eni && e.privateIps.includes(ip));
      if (holder) holder.privateIps = holder.privateIps.filter((x) => x !== ip);
      eni.privateIps.push(ip);
      // An Elastic IP associated with the private IP moves with it.
      for (const a of this.world.addresses) {
        if (holder && a.association?.networkInterfaceId === holder.networkInterfaceId && a.association.privateIpAddress === ip) {
          a.association.networkInterfaceId = eni.networkInterfaceId;
          this.recordEip(a, 'assign-private-ip-addresses');
        }
      }
      this.recordPrivateIp(ip, 'assign-private-ip-addresses');
    }
    return responseXml('AssignPrivateIpAddresses', [
      x('return', 'true'),
      x('networkInterfaceId', eni.networkInterfaceId),
      set('assignedPrivateIpAddressesSet', ips.map((ip) => x('privateIpAddress', ip))),
    ]);
  }

  unassignPrivateIps(p: Map<string, string>): string {
    const eni = this.eni(this.#required(p, 'NetworkInterfaceId'));
    const ips = readList(p, 'PrivateIpAddress');
    if (ips.length === 0) throw new Ec2Fault(400, 'MissingParameter', 'The request must contain the parameter PrivateIpAddress');
    for (const ip of ips) {
      if (!eni.privateIps.includes(ip)) throw new Ec2Fault(400, 'InvalidParameterValue', `Some of the specified addresses are not assigned to interface ${eni.networkInterfaceId}`);
      if (eni.privateIps[0] === ip) throw new Ec2Fault(400, 'InvalidParameterValue', `The primary private IP address ${ip} of ${eni.networkInterfaceId} cannot be unassigned`);
    }
    eni.privateIps = eni.privateIps.filter((ip) => !ips.includes(ip));
    for (const a of this.world.addresses) {
      if (a.association?.networkInterfaceId === eni.networkInterfaceId && ips.includes(a.association.privateIpAddress)) {
        delete a.association;
        this.recordEip(a, 'unassign-private-ip-addresses');
      }
    }
    for (const ip of ips) this.recordPrivateIp(ip, 'unassign-private-ip-addresses');
    return responseXml('UnassignPrivateIpAddresses', [x('return', 'true')]);
  }

  describeRouteTables(p: Map<string, string>): string {
    const ids = readList(p, 'RouteTableId');
    for (const id of ids) this.routeTable(id);
    const filters = readFilters(p);
    const found = this.world.routeTables.filter(
      (t) =>
        (ids.length === 0 || ids.includes(t.routeTableId)) &&
        matchFilters(filters, {
          'route-table-id': (r) => r.test(t.routeTableId),
          'vpc-id': (r) => r.test(t.vpcId),
          'route.destination-cidr-block': (r) => t.routes.some((x) => r.test(x.destinationCidrBlock)),
        }),
    );
    return responseXml('DescribeRouteTables', [
      set(
        'routeTableSet',
        found.map((t) =>
          [
            x('routeTableId', t.routeTableId),
            x('vpcId', t.vpcId),
            x('ownerId', this.world.accountId),
            set(
              'routeSet',
              t.routes.map((r) => {
                const eni = r.networkInterfaceId ? this.world.interfaces.find((e) => e.networkInterfaceId === r.networkInterfaceId) : undefined;
                return [
                  x('destinationCidrBlock', r.destinationCidrBlock),
                  x('gatewayId', r.gatewayId),
                  x('instanceId', eni?.instanceId),
                  x('instanceOwnerId', eni?.instanceId ? this.world.accountId : undefined),
                  x('networkInterfaceId', r.networkInterfaceId),
                  x('state', eni || r.gatewayId ? 'active' : 'blackhole'),
                  x('origin', r.gatewayId === 'local' ? 'CreateRouteTable' : 'CreateRoute'),
                ].join('');
              }),
            ),
            '<associationSet/>',
            '<propagatingVgwSet/>',
            '<tagSet/>',
          ].join(''),
        ),
      ),
    ]);
  }

  putRoute(action: 'ReplaceRoute' | 'CreateRoute', p: Map<string, string>): string {
    const table = this.routeTable(this.#required(p, 'RouteTableId'));
    const cidr = this.#required(p, 'DestinationCidrBlock');
    if (!/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(cidr)) throw new Ec2Fault(400, 'InvalidParameterValue', `Value (${cidr}) for parameter destinationCidrBlock is invalid. This is not a valid CIDR block.`);
    let eniId = p.get('NetworkInterfaceId');
    const instanceId = p.get('InstanceId');
    if (!eniId && instanceId) eniId = this.instance(instanceId).interfaceIds[0];
    if (!eniId) throw new Ec2Fault(400, 'MissingParameter', 'The request must contain exactly one of gatewayId, natGatewayId, networkInterfaceId, vpcPeeringConnectionId or instanceId');
    this.eni(eniId);
    const route = table.routes.find((r) => r.destinationCidrBlock === cidr);
    if (action === 'ReplaceRoute' && !route) {
      throw new Ec2Fault(400, 'InvalidParameterValue', `There is no route defined for '${cidr}' in the route table. Use CreateRoute instead.`);
    }
    if (action === 'CreateRoute' && route) {
      if (route.networkInterfaceId === eniId) return responseXml(action, [x('return', 'true')]);
      throw new Ec2Fault(400, 'RouteAlreadyExists', `The route identified by ${cidr} already exists.`);
    }
    if (route?.gatewayId === 'local') throw new Ec2Fault(400, 'InvalidParameterValue', `Cannot replace local route ${cidr} in route table ${table.routeTableId}`);
    if (route) {
      route.networkInterfaceId = eniId;
      delete route.gatewayId;
    } else table.routes.push({ destinationCidrBlock: cidr, networkInterfaceId: eniId });
    this.recordRoute(table, cidr, EC2_CALLS[action]);
    return responseXml(action, [x('return', 'true')]);
  }

  deleteRoute(p: Map<string, string>): string {
    const table = this.routeTable(this.#required(p, 'RouteTableId'));
    const cidr = this.#required(p, 'DestinationCidrBlock');
    const route = table.routes.find((r) => r.destinationCidrBlock === cidr);
    if (!route) throw new Ec2Fault(400, 'InvalidRoute.NotFound', `no route with destination-cidr-block ${cidr} in route table ${table.routeTableId}`);
    table.routes = table.routes.filter((r) => r !== route);
    this.recordRoute(table, cidr, 'delete-route');
    return responseXml('DeleteRoute', [x('return', 'true')]);
  }
}

export type { Ec2Filter };
