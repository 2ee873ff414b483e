/**
 * The EC2 Query API client: one CloudHttpClient (keep-alive, timeouts, retries, redaction) whose
 * `authorize` hook signs each final request with SigV4 (credentials from the chain, refreshed there)
 * and whose `classify` hook reads EC2 error documents. Typed wrappers for the calls ipwarden makes.
 */
import { CloudHttpClient, type RetryPolicy } from '../cloud/http.js';
import { CloudApiError, type CallOptions } from '../cloud/provider.js';
import type { CredentialProvider } from './credentials.js';
import { classifyEc2 } from './errors.js';
import { encodeQuery, filterParams, listParams, type Ec2Filter, type QueryParams } from './query.js';
import { signRequest } from './sigv4.js';
import { child, childText, items, parseXml, XmlError, type XmlElement } from './xml.js';

export interface Ec2ClientOptions {
  region: string;
  endpoint: string;
  credentials: CredentialProvider;
  timeoutMs?: number;
  /** The first attempt's timeout, doubled per retry up to timeoutMs (CloudHttpOptions.firstTimeoutMs). */
  firstTimeoutMs?: number;
  retry?: RetryPolicy;
  onRetry?: (info: { attempt: number; error: CloudApiError; delayMs?: number }) => void;
  /** Signing clock (tests). */
  now?: () => Date;
  /** Every attempt (metrics: ipwarden_api_*), named by its EC2 Action. */
  onCall?: (sample: { call: string; status?: number; durationMs: number; error?: boolean }) => void;
}

export interface Ec2Address {
  publicIp: string;
  allocationId?: string;
  associationId?: string;
  instanceId?: string;
  networkInterfaceId?: string;
  privateIpAddress?: string;
}

export interface Ec2NetworkInterface {
  networkInterfaceId: string;
  subnetId?: string;
  instanceId?: string;
  privateIpAddress?: string;
  privateIpAddresses: Array<{ privateIpAddress: string; primary: boolean }>;
  deviceIndex?: number;
}

export interface Ec2Instance {
  instanceId: string;
  state: string;
  privateIpAddress?: string;
  ipAddress?: string;
  tags: Record<string, string>;
  networkInterfaces: Ec2NetworkInterface[];
}

export interface Ec2Route {
  destinationCidrBlock?: string;
  instanceId?: string;
  networkInterfaceId?: string;
  gatewayId?: string;
  state?: string;
}

export interface Ec2RouteTable {
  routeTableId: string;
  vpcId?: string;
  routes: Ec2Route[];
}

export interface CallSettings extends CallOptions {
  /** Safe to repeat even if applied (Describe*, AllowReassociation moves, ReplaceRoute). */
  idempotent?: boolean;
}

function opt<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined || value === '' ? {} : ({ [key]: value } as Record<K, string>);
}

export class Ec2Client {
  readonly region: string;
  readonly endpoint: string;
  readonly credentials: CredentialProvider;
  readonly #http: CloudHttpClient;

  constructor(opts: Ec2ClientOptions) {
    this.region = opts.region;
    this.endpoint = opts.endpoint;
    this.credentials = opts.credentials;
    const now = opts.now ?? (() => new Date());
    this.#http = new CloudHttpClient({
      cloud: 'aws',
      baseUrl: opts.endpoint,
      timeoutMs: opts.timeoutMs ?? 10_000,
      ...(opts.firstTimeoutMs !== undefined ? { firstTimeoutMs: opts.firstTimeoutMs } : {}),
      ...(opts.retry ? { retry: opts.retry } : {}),
      ...(opts.onRetry ? { onRetry: opts.onRetry } : {}),
      ...(opts.onCall ? { onCall: opts.onCall } : {}),
      headers: { accept: 'text/xml', 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
      authorize: async (req) => {
        const creds = await this.credentials.get();
        const signed = signRequest(
          { method: req.method, url: req.url, headers: { 'content-type': req.headers['content-type'] ?? '', host: req.url.host }, ...(req.body !== undefined ? { body: req.body } : {}) },
          creds,
          { region: this.region, service: 'ec2', date: now() },
        );
        return { host: req.url.host, ...signed };
      },
      classify: (res, req) => classifyEc2(res, req, () => this.credentials.source()),
      secrets: () => this.credentials.secrets(),
    });
  }

  /** One call; the root element of its XML answer. */
  async call(action: string, params: QueryParams = {}, settings: CallSettings = {}): Promise<XmlElement> {
    let res;
    try {
      res = await this.#http.request('POST', '/', {
        body: encodeQuery(action, params),
        call: action,
        idempotent: settings.idempotent ?? action.startsWith('Describe'),
        ...(settings.signal ? { signal: settings.signal } : {}),
        ...(settings.resend ? { resend: settings.resend } : {}),
      });
    } catch (err) {
      if (err instanceof CloudApiError && err.code === 'ExpiredToken') this.credentials.invalidate();
      throw err;
    }
    try {
      return parseXml(res.body);
    } catch (err) {
      if (err instanceof XmlError) throw new CloudApiError('aws', 'invalid', `EC2 ${action}: answer is not XML: ${err.message}`, { status: res.status });
      throw err;
    }
  }

  async describeAddresses(q: { publicIps?: string[]; allocationIds?: string[]; filters?: Ec2Filter[] }, o?: CallOptions): Promise<Ec2Address[]> {
    const root = await this.call(
      'DescribeAddresses',
      { ...listParams('PublicIp', q.publicIps ?? []), ...listParams('AllocationId', q.allocationIds ?? []), ...filterParams(q.filters ?? []) },
      { ...o },
    );
    return items(root, 'addressesSet').map((it) => ({
      publicIp: childText(it, 'publicIp') ?? '',
      ...opt('allocationId', childText(it, 'allocationId')),
      ...opt('associationId', childText(it, 'associationId')),
      ...opt('instanceId', childText(it, 'instanceId')),
      ...opt('networkInterfaceId', childText(it, 'networkInterfaceId')),
      ...opt('privateIpAddress', childText(it, 'privateIpAddress')),
    }));
  }

  /** AssociateAddress with AllowReassociation=true: moves the address atomically. Returns the association id. */
  async associateAddress(
    a: { allocationId: string; instanceId?: string; networkInterfaceId?: string; privateIpAddress?: string },
    o?: CallOptions,
  ): Promise<string> {
    const root = await this.call(
      'AssociateAddress',
      {
        AllocationId: a.allocationId,
        AllowReassociation: 'true',
        ...opt('InstanceId', a.instanceId),
        ...opt('NetworkInterfaceId', a.networkInterfaceId),
        ...opt('PrivateIpAddress', a.privateIpAddress),
      },
      { ...o, idempotent: true },
    );
    return childText(root, 'associationId') ?? '';
  }

  async disassociateAddress(associationId: string, o?: CallOptions): Promise<void> {
    await this.call('DisassociateAddress', { AssociationId: associationId }, { ...o });
  }

  async describeInstances(filters: Ec2Filter[], o?: CallOptions): Promise<Ec2Instance[]> {
    const out: Ec2Instance[] = [];
    let next: string | undefined;
    for (let page = 0; page < 100; page++) {
      const root = await this.call('DescribeInstances', { ...filterParams(filters), MaxResults: '1000', ...opt('NextToken', next) }, { ...o });
      for (const r of items(root, 'reservationSet')) for (const it of items(r, 'instancesSet')) out.push(readInstance(it));
      next = childText(root, 'nextToken') || undefined;
      if (!next) return out;
    }
    throw new CloudApiError('aws', 'invalid', 'EC2 DescribeInstances: more than 100 pages');
  }

  async describeNetworkInterfaces(q: { ids?: string[]; filters?: Ec2Filter[] }, o?: CallOptions): Promise<Ec2NetworkInterface[]> {
    const root = await this.call('DescribeNetworkInterfaces', { ...listParams('NetworkInterfaceId', q.ids ?? []), ...filterParams(q.filters ?? []) }, { ...o });
    return items(root, 'networkInterfaceSet').map(readInterface);
  }

  async assignPrivateIpAddresses(networkInterfaceId: string, addresses: string[], o?: CallOptions): Promise<void> {
    await this.call(
      'AssignPrivateIpAddresses',
      { NetworkInterfaceId: networkInterfaceId, AllowReassignment: 'true', ...listParams('PrivateIpAddress', addresses) },
      { ...o, idempotent: true },
    );
  }

  async unassignPrivateIpAddresses(networkInterfaceId: string, addresses: string[], o?: CallOptions): Promise<void> {
    await this.call('UnassignPrivateIpAddresses', { NetworkInterfaceId: networkInterfaceId, ...listParams('PrivateIpAddress', addresses) }, { ...o });
  }

  async describeRouteTables(routeTableIds: string[], o?: CallOptions): Promise<Ec2RouteTable[]> {
    const root = await this.call('DescribeRouteTables', listParams('RouteTableId', routeTableIds), { ...o });
    return items(root, 'routeTableSet').map((it) => ({
      routeTableId: childText(it, 'routeTableId') ?? '',
      ...opt('vpcId', childText(it, 'vpcId')),
      routes: items(it, 'routeSet').map((r) => ({
        ...opt('destinationCidrBlock', childText(r, 'destinationCidrBlock')),
        ...opt('instanceId', childText(r, 'instanceId')),
        ...opt('networkInterfaceId', childText(r, 'networkInterfaceId')),
        ...opt('gatewayId', childText(r, 'gatewayId')),
        ...opt('state', childText(r, 'state')),
      })),
    }));
  }

  async replaceRoute(routeTableId: string, destinationCidrBlock: string, networkInterfaceId: string, o?: CallOptions): Promise<void> {
    await this.call('ReplaceRoute', { RouteTableId: routeTableId, DestinationCidrBlock: destinationCidrBlock, NetworkInterfaceId: networkInterfaceId }, { ...o, idempotent: true });
  }

  async createRoute(routeTableId: string, destinationCidrBlock: string, networkInterfaceId: string, o?: CallOptions): Promise<void> {
    await this.call('CreateRoute', { RouteTableId: routeTableId, DestinationCidrBlock: destinationCidrBlock, NetworkInterfaceId: networkInterfaceId }, { ...o });
  }

  async deleteRoute(routeTableId: string, destinationCidrBlock: string, o?: CallOptions): Promise<void> {
    await this.call('DeleteRoute', { RouteTableId: routeTableId, DestinationCidrBlock: destinationCidrBlock }, { ...o });
  }

  close(): void {
    this.#http.close();
  }
}

function readInterface(it: XmlElement): Ec2NetworkInterface {
  const attachment = child(it, 'attachment');
  const deviceIndex = childText(attachment, 'deviceIndex');
  return {
    networkInterfaceId: childText(it, 'networkInterfaceId') ?? '',
    ...opt('subnetId', childText(it, 'subnetId')),
    ...opt('instanceId', childText(attachment, 'instanceId')),
    ...opt('privateIpAddress', childText(it, 'privateIpAddress')),
    privateIpAddresses: items(it, 'privateIpAddressesSet').map((p) => ({
      privateIpAddress: childText(p, 'privateIpAddress') ?? '',
      primary: childText(p, 'primary') === 'true',
    })),
    ...(deviceIndex !== undefined ? { deviceIndex: Number(deviceIndex) } : {}),
  };
}

function readInstance(it: XmlElement): Ec2Instance {
  const tags: Record<string, string> = {};
  for (const t of items(it, 'tagSet')) tags[childText(t, 'key') ?? ''] = childText(t, 'value') ?? '';
  return {
    instanceId: childText(it, 'instanceId') ?? '',
    state: childText(child(it, 'instanceState'), 'name') ?? '',
    ...opt('privateIpAddress', childText(it, 'privateIpAddress')),
    ...opt('ipAddress', childText(it, 'ipAddress')),
    tags,
    networkInterfaces: items(it, 'networkInterfaceSet').map(readInterface),
  };
}
