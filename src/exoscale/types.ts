/**
 * Exoscale API v2 objects, with the wire (kebab-case) field names of the OpenAPI spec.
 * Shared by the client (what it returns) and the simulator (what it serves).
 * Only the fields ipwarden reads are typed strictly; the rest pass through.
 */

export type ZoneName = string;

export interface Zone {
  name: ZoneName;
  'api-endpoint'?: string;
  'sos-endpoint'?: string;
}

export interface Ref {
  id: string;
}

export type InstanceState =
  | 'running'
  | 'starting'
  | 'stopping'
  | 'stopped'
  | 'migrating'
  | 'error'
  | 'destroying'
  | 'destroyed'
  | 'expunging';

export interface ElasticIpHealthcheck {
  mode: 'tcp' | 'http' | 'https';
  port: number;
  uri?: string;
  interval?: number;
  timeout?: number;
  'strikes-ok'?: number;
  'strikes-fail'?: number;
  'tls-sni'?: string;
  'tls-skip-verify'?: boolean;
}

/** Schema `elastic-ip`. There is no field listing the attached instances. */
export interface ElasticIp {
  id: string;
  ip: string;
  addressfamily?: 'inet4' | 'inet6';
  cidr?: string;
  description?: string;
  labels?: Record<string, string>;
  /** Present if and only if the EIP is "managed". */
  healthcheck?: ElasticIpHealthcheck;
}

/** An item of `GET /instance` (no `elastic-ips`; nested references carry only `id`). */
export interface InstanceSummary {
  id: string;
  name?: string;
  state?: InstanceState;
  'public-ip'?: string;
  'public-ip-assignment'?: 'inet4' | 'dual' | 'none';
  'ipv6-address'?: string;
  labels?: Record<string, string>;
  'security-groups'?: Ref[];
  'private-networks'?: { id: string; 'mac-address'?: string }[];
  manager?: { id: string; type: 'instance-pool' | 'sks-nodepool' };
  'instance-type'?: Ref;
  template?: Ref;
  'mac-address'?: string;
  'created-at'?: string;
}

/** Schema `instance` (`GET /instance/{id}`). */
export interface Instance extends InstanceSummary {
  'elastic-ips'?: Ref[];
  'anti-affinity-groups'?: Ref[];
  'disk-size'?: number;
}

/** Schema `security-group`. Membership is not listed here (see securityGroupMembers). */
export interface SecurityGroup {
  id: string;
  name: string;
  description?: string;
  'external-sources'?: string[];
  rules?: unknown[];
}

export type OperationState = 'pending' | 'success' | 'failure' | 'timeout';

export type OperationReason =
  | 'busy'
  | 'conflict'
  | 'fault'
  | 'forbidden'
  | 'incorrect'
  | 'interrupted'
  | 'not-found'
  | 'partial'
  | 'unavailable'
  | 'unknown'
  | 'unsupported';

export const OPERATION_REASONS: readonly OperationReason[] = [
  'busy', 'conflict', 'fault', 'forbidden', 'incorrect', 'interrupted',
  'not-found', 'partial', 'unavailable', 'unknown', 'unsupported',
];

/** Schema `operation`: what every mutating call returns. */
export interface Operation {
  id: string;
  state: OperationState;
  reason?: OperationReason;
  message?: string;
  reference?: { id?: string; link?: string; command?: string };
}

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(text: string): boolean {
  return UUID_RE.test(text);
}
