/**
 * The AWS simulator's world: a VPC with subnets, instances with network interfaces, Elastic IPs,
 * route tables, the access keys it accepts and the instance roles IMDS hands out. Plain data plus the
 * seed; the operations that change it live in ec2.ts, which records every holder change.
 */

export interface SimSubnet {
  subnetId: string;
  vpcId: string;
  cidr: string;
  availabilityZone: string;
}

export interface SimInterface {
  networkInterfaceId: string;
  subnetId: string;
  mac: string;
  /** The primary private IP first. */
  privateIps: string[];
  instanceId?: string;
  deviceIndex?: number;
  sourceDestCheck: boolean;
}

export interface SimInstance {
  instanceId: string;
  state: 'pending' | 'running' | 'stopping' | 'stopped' | 'terminated';
  tags: Record<string, string>;
  /** Interface ids, device index order (the first is the primary). */
  interfaceIds: string[];
  publicIp?: string;
  /** IAM role of its instance profile (served by IMDS). */
  role?: string;
}

export interface SimAddress {
  allocationId: string;
  publicIp: string;
  association?: { associationId: string; networkInterfaceId: string; privateIpAddress: string };
}

export interface SimRoute {
  destinationCidrBlock: string;
  networkInterfaceId?: string;
  gatewayId?: string;
}

export interface SimRouteTable {
  routeTableId: string;
  vpcId: string;
  routes: SimRoute[];
}

export interface SimAccessKey {
  accessKeyId: string;
  secretAccessKey: string;
  /** Session (temporary) credentials require this token, signed as x-amz-security-token. */
  sessionToken?: string;
  /** Epoch ms: after it, ExpiredToken. */
  expiresMs?: number;
  /** Refused every mutating call with UnauthorizedOperation. */
  readOnly?: boolean;
  /** Who it belongs to, for the request log ("role lb-role for i-…"). */
  owner?: string;
}

export interface AwsWorld {
  region: string;
  accountId: string;
  subnets: SimSubnet[];
  instances: SimInstance[];
  interfaces: SimInterface[];
  addresses: SimAddress[];
  routeTables: SimRouteTable[];
  accessKeys: SimAccessKey[];
}

/** The documented lab credentials (never valid anywhere but a simulator). */
export const SIM_ACCESS_KEY_ID = 'AKIAIPWARDENSIMULATOR';
export const SIM_SECRET_ACCESS_KEY = 'ipwarden/simulator/secret/key/0123456789ab';
export const SIM_READONLY_ACCESS_KEY_ID = 'AKIAIPWARDENREADONLY1';
export const SIM_READONLY_SECRET_ACCESS_KEY = 'ipwarden/simulator/read-only/0123456789ab';

export interface SeedOptions {
  region?: string;
  /** Number of instances (default 3), private IPs 10.0.1.11, .12, …; tag role=lb. */
  instances?: number;
  /** Elastic IPs (default 203.0.113.10). */
  elasticIps?: string[];
  /** Route-table VIP routed to the first instance in every table (default 192.168.100.10/32). */
  routeVip?: string;
}

const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');

export function instanceIdOf(i: number): string {
  return `i-0${hex(0xa000 + i, 16)}`;
}

export function interfaceIdOf(i: number): string {
  return `eni-0${hex(0xe000 + i, 16)}`;
}

/** A VPC 10.0.0.0/16, subnet 10.0.1.0/24, N running instances tagged role=lb, one EIP, two route tables. */
export function seedWorld(opts: SeedOptions = {}): AwsWorld {
  const region = opts.region ?? 'us-east-1';
  const n = opts.instances ?? 3;
  const subnet: SimSubnet = { subnetId: 'subnet-0a1b2c3d4e5f60001', vpcId: 'vpc-0a1b2c3d4e5f60001', cidr: '10.0.1.0/24', availabilityZone: `${region}a` };
  const instances: SimInstance[] = [];
  const interfaces: SimInterface[] = [];
  for (let i = 1; i <= n; i++) {
    const instanceId = instanceIdOf(i);
    const networkInterfaceId = interfaceIdOf(i);
    instances.push({ instanceId, state: 'running', tags: { Name: `lb-${i}`, role: 'lb' }, interfaceIds: [networkInterfaceId], role: 'ipwarden-lb' });
    interfaces.push({
      networkInterfaceId,
      subnetId: subnet.subnetId,
      mac: `0e:00:00:00:00:${hex(i, 2)}`,
      privateIps: [`10.0.1.${10 + i}`],
      instanceId,
      deviceIndex: 0,
      sourceDestCheck: true,
    });
  }
  const routeVip = opts.routeVip ?? '192.168.100.10/32';
  return {
    region,
    accountId: '123456789012',
    subnets: [subnet],
    instances,
    interfaces,
    addresses: (opts.elasticIps ?? ['203.0.113.10']).map((publicIp, i) => ({ allocationId: `eipalloc-0${hex(0xa110c + i, 16)}`, publicIp })),
    routeTables: ['rtb-0a1b2c3d4e5f60001', 'rtb-0a1b2c3d4e5f60002'].map((routeTableId) => ({
      routeTableId,
      vpcId: subnet.vpcId,
      routes: [
        { destinationCidrBlock: '10.0.0.0/16', gatewayId: 'local' },
        ...(n > 0 ? [{ destinationCidrBlock: routeVip, networkInterfaceId: interfaceIdOf(1) }] : []),
      ],
    })),
    accessKeys: [
      { accessKeyId: SIM_ACCESS_KEY_ID, secretAccessKey: SIM_SECRET_ACCESS_KEY, owner: 'lab user' },
      { accessKeyId: SIM_READONLY_ACCESS_KEY_ID, secretAccessKey: SIM_READONLY_SECRET_ACCESS_KEY, readOnly: true, owner: 'lab read-only user' },
    ],
  };
}

