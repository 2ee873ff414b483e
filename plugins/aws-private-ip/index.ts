/**
 * `aws-private-ip` action: keeps the instance's `address`, a secondary private IPv4 of one subnet, on
 * the MASTER's network interface.
 *
 *   networkInterfaceId  this node's interface (default: the primary interface from IMDSv2)
 *   region, endpoint, metadataUrl, accessKeyId, secretAccessKey, sessionToken, and the shared
 *   controller's keys (release, onApiUnreachable, reconcile, startupGrace): see src/aws/plugin.ts
 *
 * MASTER: AssignPrivateIpAddresses AllowReassignment=true (moves it from the other interface in one
 * call; an Elastic IP associated with that private IP moves with it). Release:
 * UnassignPrivateIpAddresses. The address must also be configured on the NIC: add an `ip-alias`
 * action (or the OS's secondary-IP tooling).
 */
import { z } from 'zod';
import { isIP } from 'node:net';
import { defineAction } from '../../src/index.js';
import { AwsPrivateIpProvider } from '../../src/aws/providers.js';
import { AwsConnection, awsActionHandlers, awsConnectionShape, awsControllerShape, awsDoctor, eniIdKey, parseAwsAction, type AwsActionConfig } from '../../src/aws/plugin.js';

export const awsPrivateIpSchema = z.strictObject({
  ...awsConnectionShape,
  ...awsControllerShape,
  networkInterfaceId: eniIdKey.optional(),
});

export type AwsPrivateIpConfig = AwsActionConfig<{ networkInterfaceId?: string }>;

export default defineAction<AwsPrivateIpConfig>({
  kind: 'action',
  name: 'aws-private-ip',
  description: 'assign the instance address (a secondary private IPv4) to the MASTER\'s network interface (AssignPrivateIpAddresses, AllowReassignment)',
  parseConfig(raw, env) {
    return parseAwsAction(awsPrivateIpSchema, raw, env, (c) => ({ ok: true, config: c.networkInterfaceId ? { networkInterfaceId: c.networkInterfaceId } : {} }));
  },
  doctor: (ctx) => awsDoctor(new AwsPrivateIpProvider(new AwsConnection(ctx.config.connection), { address: ctx.instance.address, ...ctx.config.provider }), ctx),
  create(ctx) {
    if (isIP(ctx.instance.address) !== 4) throw new Error(`aws-private-ip: the instance address ${ctx.instance.address} must be an IPv4 address`);
    const provider = new AwsPrivateIpProvider(new AwsConnection({ ...ctx.config.connection, ...(ctx.onApiCall ? { onCall: ctx.onApiCall } : {}) }), { address: ctx.instance.address, ...ctx.config.provider }, ctx.log);
    return awsActionHandlers(provider, ctx.config.controller, ctx.log);
  },
});
