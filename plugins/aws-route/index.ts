/**
 * `aws-route` action: routes the instance's `address` (a VIP outside the VPC CIDR) as
 * `<address>/32` to the MASTER's network interface in every route table of `routeTableIds`.
 *
 *   routeTableIds       the route tables (required), e.g. [rtb-0123…, rtb-4567…]: every subnet's
 *                       table whose clients must reach the VIP
 *   networkInterfaceId  this node's interface (default: the primary interface from IMDSv2)
 *   region, endpoint, metadataUrl, accessKeyId, secretAccessKey, sessionToken, and the shared
 *   controller's keys (release, onApiUnreachable, reconcile, startupGrace): see src/aws/plugin.ts
 *
 * MASTER: ReplaceRoute (CreateRoute where a table has no route yet); holders from
 * DescribeRouteTables. Release: DeleteRoute. Source/destination check: EC2 drops packets whose
 * destination is not one of the interface's own addresses unless the check is disabled
 * (`aws ec2 modify-instance-attribute --instance-id i-… --no-source-dest-check`) on every node; the
 * VIP must also be configured on the node (ip-alias on lo or the NIC).
 */
import { z } from 'zod';
import { isIP } from 'node:net';
import { defineAction } from '../../src/index.js';
import { AwsRouteProvider } from '../../src/aws/providers.js';
import { AwsConnection, ROUTE_TABLE_ID_RE, awsActionHandlers, awsConnectionShape, awsControllerShape, awsDoctor, eniIdKey, parseAwsAction, type AwsActionConfig } from '../../src/aws/plugin.js';

export const awsRouteSchema = z.strictObject({
  ...awsConnectionShape,
  ...awsControllerShape,
  routeTableIds: z
    .array(z.string({ error: 'expected a route table id like "rtb-0123456789abcdef0"' }).regex(ROUTE_TABLE_ID_RE, { error: 'expected a route table id like "rtb-0123456789abcdef0"' }), {
      error: 'required: a list of route table ids like ["rtb-0123456789abcdef0"]',
    })
    .min(1, { error: 'required: at least one route table id' }),
  networkInterfaceId: eniIdKey.optional(),
});

export type AwsRouteConfig = AwsActionConfig<{ routeTableIds: string[]; networkInterfaceId?: string }>;

export default defineAction<AwsRouteConfig>({
  kind: 'action',
  name: 'aws-route',
  description: 'route the instance address (a VIP outside the VPC) to the MASTER\'s network interface in route tables (ReplaceRoute)',
  parseConfig(raw, env) {
    return parseAwsAction(awsRouteSchema, raw, env, (c) => ({
      ok: true,
      config: { routeTableIds: [...new Set(c.routeTableIds)], ...(c.networkInterfaceId ? { networkInterfaceId: c.networkInterfaceId } : {}) },
    }));
  },
  doctor: (ctx) => awsDoctor(new AwsRouteProvider(new AwsConnection(ctx.config.connection), { address: ctx.instance.address, ...ctx.config.provider }), ctx),
  create(ctx) {
    if (isIP(ctx.instance.address) !== 4) throw new Error(`aws-route: the instance address ${ctx.instance.address} must be an IPv4 address`);
    const provider = new AwsRouteProvider(new AwsConnection({ ...ctx.config.connection, ...(ctx.onApiCall ? { onCall: ctx.onApiCall } : {}) }), { address: ctx.instance.address, ...ctx.config.provider }, ctx.log);
    return awsActionHandlers(provider, ctx.config.controller, ctx.log);
  },
});
