/**
 * Validation of the simulator's own inputs (admin API bodies, --state files), with
 * one-line errors naming the field. The simulator's inputs use camelCase keys; the
 * /v2 API it serves uses the real wire (kebab-case) names.
 */
import { z } from 'zod';
import { DUPLICATE_MODES, type DuplicateMode } from './state.js';
import type { ElasticIpInput, InstanceInput, SecurityGroupInput, SimSeed } from './seed.js';

const labels = z.record(z.string(), z.string());
const instanceState = z.enum([
  'running', 'starting', 'stopping', 'stopped', 'migrating', 'error', 'destroying', 'destroyed', 'expunging',
]);

export const securityGroupInputSchema = z.strictObject({
  id: z.string().optional(),
  name: z.string().min(1).max(255),
  description: z.string().max(255).optional(),
});

export const instanceInputSchema = z.strictObject({
  id: z.string().optional(),
  name: z.string().min(1).max(255),
  publicIp: z.string().optional(),
  ipv6Address: z.string().optional(),
  state: instanceState.optional(),
  labels: labels.optional(),
  securityGroups: z.array(z.string().min(1)).optional(),
  manager: z.strictObject({ id: z.string(), type: z.enum(['instance-pool', 'sks-nodepool']) }).optional(),
});

export const instancePatchSchema = instanceInputSchema.omit({ id: true }).partial();

export const healthcheckSchema = z.strictObject({
  mode: z.enum(['tcp', 'http', 'https']),
  port: z.number().int().min(1).max(65535),
  uri: z.string().min(1).max(255).optional(),
  interval: z.number().int().min(5).max(300).optional(),
  timeout: z.number().int().min(2).max(60).optional(),
  'strikes-ok': z.number().int().min(1).max(20).optional(),
  'strikes-fail': z.number().int().min(1).max(20).optional(),
  'tls-sni': z.string().min(1).max(255).optional(),
  'tls-skip-verify': z.boolean().optional(),
});

export const elasticIpInputSchema = z.strictObject({
  id: z.string().optional(),
  ip: z.string().min(1),
  description: z.string().max(255).optional(),
  labels: labels.optional(),
  healthcheck: healthcheckSchema.optional(),
  holders: z.array(z.string().min(1)).optional(),
});

export const seedSchema = z.strictObject({
  securityGroups: z.array(securityGroupInputSchema).optional(),
  instances: z.array(instanceInputSchema).optional(),
  elasticIps: z.array(elasticIpInputSchema).optional(),
});

export const configPatchSchema = z.strictObject({
  operationDelayMs: z.number().int().min(0).max(3_600_000).optional(),
  duplicates: z.enum(DUPLICATE_MODES as [DuplicateMode, ...DuplicateMode[]]).optional(),
});

export const holdersSchema = z.strictObject({ instances: z.array(z.string().min(1)) });
export const keySchema = z.strictObject({ key: z.string().regex(/^\S+$/), secret: z.string().min(1) });

/** Parses with a schema; throws one line "<what> <path>: <message>". */
export function parseWith<S extends z.ZodType>(schema: S, input: unknown, what: string): z.infer<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const path = issue.path.length > 0 ? ` ${issue.path.join('.')}` : '';
  throw new Error(`${what}${path}: ${issue.message}`);
}

export const parseSeed = (input: unknown): SimSeed => parseWith(seedSchema, input, 'state');
export const parseInstanceInput = (input: unknown): InstanceInput => parseWith(instanceInputSchema, input, 'instance');
export const parseElasticIpInput = (input: unknown): ElasticIpInput => parseWith(elasticIpInputSchema, input, 'elastic IP');
export const parseSecurityGroupInput = (input: unknown): SecurityGroupInput =>
  parseWith(securityGroupInputSchema, input, 'security group');
