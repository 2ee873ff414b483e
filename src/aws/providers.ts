/**
 * The three AWS floating-address providers for the shared controller (src/cloud/controller.ts). All
 * are single-holder: one call moves the address atomically.
 *
 * - AwsEipProvider (aws-eip): an Elastic IP. Targets are instance ids (AssociateAddress InstanceId),
 *   or network-interface ids when `networkInterfaceId` is configured (NetworkInterfaceId +
 *   PrivateIpAddress). attach = AssociateAddress AllowReassociation=true (synchronous, atomic);
 *   detach = DisassociateAddress of the current association when the target holds it.
 * - AwsPrivateIpProvider (aws-private-ip): a secondary private IPv4 of a subnet. Targets are network
 *   interfaces. attach = AssignPrivateIpAddresses AllowReassignment=true; detach =
 *   UnassignPrivateIpAddresses. The address must also be configured on the MASTER's NIC (ip-alias).
 * - AwsRouteProvider (aws-route): a VIP outside the VPC CIDR routed (`<address>/32`) to the MASTER's
 *   network interface in every table of `routeTableIds`. attach = ReplaceRoute (CreateRoute where the
 *   table has no such route); detach = DeleteRoute where the route points at the target. The
 *   instances need their source/destination check disabled to receive traffic for the VIP.
 */
import type { Logger } from '../plugins/api.js';
import { CloudApiError, type CallOptions, type FloatingIpProvider } from '../cloud/provider.js';
import type { AwsConnection } from './connection.js';

abstract class AwsProviderBase {
  readonly cloud = 'aws';
  readonly holderMode = 'single' as const;
  #self: Promise<string> | undefined;

  constructor(
    readonly connection: AwsConnection,
    readonly address: string,
    protected readonly log?: Logger,
  ) {}

  protected abstract configuredSelf(): string | undefined;
  protected abstract selfFromMetadata(opts?: CallOptions): Promise<string>;

  /** Configured, else IMDSv2 (cached once found). */
  self(opts?: CallOptions): Promise<string> {
    const configured = this.configuredSelf();
    if (configured) return Promise.resolve(configured);
    this.#self ??= this.selfFromMetadata(opts).catch((err: unknown) => {
      this.#self = undefined;
      throw err;
    });
    return this.#self;
  }

  close(): void {
    this.connection.close();
  }
}

export interface AwsEipSettings {
  address: string;
  allocationId?: string;
  instanceId?: string;
  networkInterfaceId?: string;
  privateIpAddress?: string;
}

export class AwsEipProvider extends AwsProviderBase implements FloatingIpProvider {
  #allocationId: string | undefined;

  constructor(
    connection: AwsConnection,
    private readonly settings: AwsEipSettings,
    log?: Logger,
  ) {
    super(connection, settings.address, log);
    this.#allocationId = settings.allocationId;
  }

  /** Targets are network interfaces when one is configured, else instances. */
  get targetKind(): 'instance' | 'network-interface' {
    return this.settings.networkInterfaceId ? 'network-interface' : 'instance';
  }

  describe(): string {
    return `AWS Elastic IP ${this.address}${this.#allocationId ? ` (${this.#allocationId})` : ''}`;
  }

  protected configuredSelf(): string | undefined {
    return this.settings.networkInterfaceId ?? this.settings.instanceId;
  }

  protected selfFromMetadata(opts?: CallOptions): Promise<string> {
    return this.connection.imds.instanceId(opts);
  }

  async #address(opts?: CallOptions) {
    const ec2 = await this.connection.ec2(opts);
    const found = this.#allocationId
      ? await ec2.describeAddresses({ allocationIds: [this.#allocationId] }, opts)
      : await ec2.describeAddresses({ publicIps: [this.address] }, opts);
    const a = found[0];
    if (!a?.allocationId) throw new CloudApiError('aws', 'not-found', `${this.describe()}: DescribeAddresses found no VPC Elastic IP`);
    if (a.publicIp !== this.address) {
      throw new CloudApiError('aws', 'invalid', `allocationId ${a.allocationId} is the Elastic IP ${a.publicIp}, not the instance address ${this.address}`);
    }
    this.#allocationId = a.allocationId;
    return a;
  }

  async holders(opts?: CallOptions): Promise<string[]> {
    const a = await this.#address(opts);
    const holder = this.targetKind === 'network-interface' ? a.networkInterfaceId : (a.instanceId ?? a.networkInterfaceId);
    return holder ? [holder] : [];
  }

  async attach(target: string, opts?: CallOptions): Promise<void> {
    const a = await this.#address(opts);
    const ec2 = await this.connection.ec2(opts);
    if (target.startsWith('eni-')) {
      const privateIp = target === this.settings.networkInterfaceId ? this.settings.privateIpAddress : undefined;
      await ec2.associateAddress({ allocationId: a.allocationId!, networkInterfaceId: target, ...(privateIp ? { privateIpAddress: privateIp } : {}) }, opts);
    } else {
      await ec2.associateAddress({ allocationId: a.allocationId!, instanceId: target }, opts);
    }
  }

  async detach(target: string, opts?: CallOptions): Promise<void> {
    const a = await this.#address(opts);
    const holds = a.associationId && (a.instanceId === target || a.networkInterfaceId === target);
    if (!holds) return;
    const ec2 = await this.connection.ec2(opts);
    try {
      await ec2.disassociateAddress(a.associationId!, opts);
    } catch (err) {
      // Moved by someone else between our read and the call: no longer ours to detach.
      if (err instanceof CloudApiError && err.code === 'InvalidAssociationID.NotFound') return;
      throw err;
    }
  }
}

export interface AwsInterfaceSettings {
  address: string;
  networkInterfaceId?: string;
}

export class AwsPrivateIpProvider extends AwsProviderBase implements FloatingIpProvider {
  constructor(
    connection: AwsConnection,
    private readonly settings: AwsInterfaceSettings,
    log?: Logger,
  ) {
    super(connection, settings.address, log);
  }

  describe(): string {
    return `AWS secondary private IP ${this.address}`;
  }

  protected configuredSelf(): string | undefined {
    return this.settings.networkInterfaceId;
  }

  protected selfFromMetadata(opts?: CallOptions): Promise<string> {
    return this.connection.imds.primaryInterfaceId(opts);
  }

  async holders(opts?: CallOptions): Promise<string[]> {
    const ec2 = await this.connection.ec2(opts);
    const enis = await ec2.describeNetworkInterfaces({ filters: [{ name: 'addresses.private-ip-address', values: [this.address] }] }, opts);
    return enis.filter((e) => e.privateIpAddresses.some((p) => p.privateIpAddress === this.address)).map((e) => e.networkInterfaceId);
  }

  async attach(target: string, opts?: CallOptions): Promise<void> {
    await (await this.connection.ec2(opts)).assignPrivateIpAddresses(target, [this.address], opts);
  }

  async detach(target: string, opts?: CallOptions): Promise<void> {
    try {
      await (await this.connection.ec2(opts)).unassignPrivateIpAddresses(target, [this.address], opts);
    } catch (err) {
      // Not (or no longer) on that interface: nothing to release; the controller reads holders back.
      if (err instanceof CloudApiError && err.code === 'InvalidParameterValue' && /not assigned/i.test(err.message)) return;
      throw err;
    }
  }
}

export interface AwsRouteSettings extends AwsInterfaceSettings {
  routeTableIds: string[];
}

export class AwsRouteProvider extends AwsProviderBase implements FloatingIpProvider {
  readonly destination: string;

  constructor(
    connection: AwsConnection,
    private readonly settings: AwsRouteSettings,
    log?: Logger,
  ) {
    super(connection, settings.address, log);
    if (settings.routeTableIds.length === 0) throw new Error('aws-route routeTableIds: at least one route table');
    this.destination = `${settings.address}/32`;
  }

  describe(): string {
    return `AWS route ${this.destination} in ${this.settings.routeTableIds.join(', ')}`;
  }

  protected configuredSelf(): string | undefined {
    return this.settings.networkInterfaceId;
  }

  protected selfFromMetadata(opts?: CallOptions): Promise<string> {
    return this.connection.imds.primaryInterfaceId(opts);
  }

  async #targets(opts?: CallOptions): Promise<Map<string, string | undefined>> {
    const tables = await (await this.connection.ec2(opts)).describeRouteTables(this.settings.routeTableIds, opts);
    const out = new Map<string, string | undefined>();
    for (const id of this.settings.routeTableIds) {
      const t = tables.find((x) => x.routeTableId === id);
      if (!t) throw new CloudApiError('aws', 'not-found', `route table ${id}: not in the DescribeRouteTables answer`);
      out.set(id, t.routes.find((r) => r.destinationCidrBlock === this.destination)?.networkInterfaceId);
    }
    return out;
  }

  /** Every interface some table routes the VIP to (several while tables disagree). */
  async holders(opts?: CallOptions): Promise<string[]> {
    return [...new Set([...(await this.#targets(opts)).values()].filter((v): v is string => v !== undefined))];
  }

  async attach(target: string, opts?: CallOptions): Promise<void> {
    const ec2 = await this.connection.ec2(opts);
    const targets = await this.#targets(opts);
    await Promise.all(
      [...targets].map(async ([table, current]) => {
        if (current === target) return;
        if (current === undefined) {
          try {
            await ec2.createRoute(table, this.destination, target, opts);
            return;
          } catch (err) {
            if (!(err instanceof CloudApiError && err.code === 'RouteAlreadyExists')) throw err;
          }
        }
        await ec2.replaceRoute(table, this.destination, target, opts);
      }),
    );
  }

  async detach(target: string, opts?: CallOptions): Promise<void> {
    const ec2 = await this.connection.ec2(opts);
    const targets = await this.#targets(opts);
    await Promise.all(
      [...targets].map(async ([table, current]) => {
        if (current !== target) return;
        try {
          await ec2.deleteRoute(table, this.destination, opts);
        } catch (err) {
          if (!(err instanceof CloudApiError && err.code === 'InvalidRoute.NotFound')) throw err;
        }
      }),
    );
  }
}
