/**
 * `aws-tag` discovery: an instance's peers are the running EC2 instances carrying a tag, by their
 * private IPv4 (DescribeInstances with `tag:KEY` and `instance-state-name=running` filters).
 *
 *   discovery:
 *     plugin: aws-tag
 *     tag: { role: lb }             # one or more Key: Value pairs (all must match; values may use * and ?)
 *     refresh: 60s                  # ipwarden's key: how often the list is re-read
 *     port: 12345                   # heartbeat port of the peers (default: node.bind's port)
 *     instanceId: i-…               # this node, left out (default: IMDSv2 instance-id; also left out by address)
 *     region, endpoint, metadataUrl, accessKeyId, secretAccessKey, sessionToken   # as for aws-eip
 *
 * A failed refresh keeps the last good list (the daemon's discovery runner).
 */
import { networkInterfaces } from 'node:os';
import { z } from 'zod';
import { defineDiscovery, type DiscoveredPeer } from '../../src/index.js';
import { zodConfig } from '../../src/kit.js';
import type { Ec2Instance } from '../../src/aws/ec2.js';
import { AwsConnection, awsConnectionShape, instanceIdKey, resolveAwsConnection } from '../../src/aws/plugin.js';
import type { AwsConnectionSettings } from '../../src/aws/connection.js';

export const awsTagSchema = z.strictObject({
  ...awsConnectionShape,
  tag: z
    .record(z.string().min(1, { error: 'a tag key must not be empty' }).max(128), z.string({ error: 'expected a tag value (a string)' }).max(256), {
      error: 'expected a map of tag Key: Value, like { role: lb }',
    })
    .refine((t) => Object.keys(t).length > 0, { error: 'expected at least one tag Key: Value' }),
  port: z.int({ error: 'expected a port 1..65535' }).min(1, { error: 'expected a port 1..65535' }).max(65535, { error: 'expected a port 1..65535' }).optional(),
  instanceId: instanceIdKey.optional(),
});

export interface AwsTagConfig {
  connection: AwsConnectionSettings;
  tag: Record<string, string>;
  port?: number;
  instanceId?: string;
}

/** Pure: instances → peers (private IPv4), this node left out, sorted by address. */
export function instancesToPeers(instances: readonly Ec2Instance[], self: { instanceId?: string; addresses: ReadonlySet<string> }, port?: number): DiscoveredPeer[] {
  const peers: DiscoveredPeer[] = [];
  for (const i of instances) {
    const ip = i.privateIpAddress;
    if (!ip || i.state !== 'running') continue;
    if (self.instanceId === i.instanceId || self.addresses.has(ip)) continue;
    peers.push({ host: ip, ...(port !== undefined ? { port } : {}), id: i.tags.Name ? `${i.tags.Name} (${i.instanceId})` : i.instanceId });
  }
  return peers.sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
}

const parseShape = zodConfig(awsTagSchema);

export default defineDiscovery<AwsTagConfig>({
  kind: 'discovery',
  name: 'aws-tag',
  description: 'peers are the running EC2 instances carrying a tag, by private IPv4',
  parseConfig(raw, env) {
    const shape = parseShape(raw);
    if (!shape.ok) return shape;
    const c = shape.config;
    const conn = resolveAwsConnection(c, env);
    if (!conn.ok) return conn;
    return { ok: true, config: { connection: conn.settings, tag: c.tag, ...(c.port !== undefined ? { port: c.port } : {}), ...(c.instanceId ? { instanceId: c.instanceId } : {}) } };
  },
  create(ctx) {
    const { config } = ctx;
    const conn = new AwsConnection(config.connection);
    let self: string | undefined = config.instanceId;
    const filters = [...Object.entries(config.tag).map(([k, v]) => ({ name: `tag:${k}`, values: [v] })), { name: 'instance-state-name', values: ['running'] }];
    return {
      async discover(signal) {
        if (!self) {
          try {
            self = await conn.imds.instanceId({ signal });
          } catch (err) {
            ctx.log.debug({ err: (err as Error).message }, 'aws-tag: this instance id is unknown (IMDSv2); leaving this node out by address only');
          }
        }
        const ec2 = await conn.ec2({ signal });
        const instances = await ec2.describeInstances(filters, { signal });
        const addresses = new Set<string>([ctx.node.bind.host]);
        for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) addresses.add(a.address);
        return instancesToPeers(instances, { ...(self ? { instanceId: self } : {}), addresses }, config.port);
      },
      async close() {
        conn.close();
      },
    };
  },
});
