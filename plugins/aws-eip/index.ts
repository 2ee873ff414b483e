/**
 * `aws-eip` action: keeps the instance's `address` (an AWS Elastic IP) on the MASTER.
 *
 *   allocationId        the Elastic IP's allocation (default: found with DescribeAddresses PublicIp=address)
 *   instanceId          this node's instance (default: IMDSv2 instance-id)
 *   networkInterfaceId  associate with this interface instead of the instance (+ privateIpAddress,
 *                       default the interface's primary private IP)
 *   privateIpAddress    the private IP of networkInterfaceId the Elastic IP maps to
 *   region, endpoint, metadataUrl, accessKeyId, secretAccessKey, sessionToken, and the shared
 *   controller's keys (release, onApiUnreachable, reconcile, startupGrace): see src/aws/plugin.ts
 *
 * The MASTER takes the address with AssociateAddress AllowReassociation=true: synchronous and atomic
 * (it moves from the old holder in one call, never on two). Release: DisassociateAddress.
 */
import { z } from 'zod';
import { isIP } from 'node:net';
import { defineAction, type Logger } from '../../src/index.js';
import { AwsEipProvider, type AwsEipSettings } from '../../src/aws/providers.js';
import { ALLOCATION_ID_RE, AwsConnection, awsActionHandlers, awsConnectionShape, awsControllerShape, awsDoctor, eniIdKey, instanceIdKey, parseAwsAction, type AwsActionConfig } from '../../src/aws/plugin.js';

export const awsEipSchema = z.strictObject({
  ...awsConnectionShape,
  ...awsControllerShape,
  allocationId: z.string({ error: 'expected an allocation id like "eipalloc-0123456789abcdef0"' }).regex(ALLOCATION_ID_RE, { error: 'expected an allocation id like "eipalloc-0123456789abcdef0"' }).optional(),
  instanceId: instanceIdKey.optional(),
  networkInterfaceId: eniIdKey.optional(),
  privateIpAddress: z.string({ error: 'expected an IPv4 address' }).refine((s) => isIP(s) === 4, { error: 'expected an IPv4 address' }).optional(),
});

export type AwsEipConfig = AwsActionConfig<Omit<AwsEipSettings, 'address'>>;

function provider(config: AwsEipConfig, address: string, log?: Logger): AwsEipProvider {
  return new AwsEipProvider(new AwsConnection(config.connection), { address, ...config.provider }, log);
}

export default defineAction<AwsEipConfig>({
  kind: 'action',
  name: 'aws-eip',
  description: 'associate the instance address (an AWS Elastic IP) with the MASTER (AssociateAddress, AllowReassociation)',
  parseConfig(raw, env) {
    return parseAwsAction(awsEipSchema, raw, env, (c) => {
      if (c.instanceId && c.networkInterfaceId) return { ok: false, issues: [{ path: ['networkInterfaceId'], message: 'give instanceId or networkInterfaceId, not both' }] };
      if (c.privateIpAddress && !c.networkInterfaceId) return { ok: false, issues: [{ path: ['privateIpAddress'], message: 'privateIpAddress needs networkInterfaceId' }] };
      return {
        ok: true,
        config: {
          ...(c.allocationId ? { allocationId: c.allocationId } : {}),
          ...(c.instanceId ? { instanceId: c.instanceId } : {}),
          ...(c.networkInterfaceId ? { networkInterfaceId: c.networkInterfaceId } : {}),
          ...(c.privateIpAddress ? { privateIpAddress: c.privateIpAddress } : {}),
        },
      };
    });
  },
  doctor: (ctx) => awsDoctor(provider(ctx.config, ctx.instance.address), ctx),
  create(ctx) {
    if (isIP(ctx.instance.address) !== 4) throw new Error(`aws-eip: the instance address ${ctx.instance.address} must be an IPv4 Elastic IP`);
    return awsActionHandlers(provider({ ...ctx.config, connection: { ...ctx.config.connection, ...(ctx.onApiCall ? { onCall: ctx.onApiCall } : {}) } }, ctx.instance.address, ctx.log), ctx.config.controller, ctx.log);
  },
});
