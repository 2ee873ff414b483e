/**
 * The simulator's default lab: three load balancers in security group "load-balancer",
 * one web server outside it, and one manual Elastic IP (198.51.100.50, attached to nothing).
 * Public IPs sit in 198.51.100.0/24 so a network-namespace lab can give each node its
 * instance's address (the metadata endpoint also answers by source address).
 */
import type { ElasticIpHealthcheck, InstanceState } from '../types.js';

/** Simulator test credentials (not secret: printed at start, documented). */
export const DEFAULT_SIM_API_KEY = 'EXO5151a7e0000000000000001d';
export const DEFAULT_SIM_API_SECRET = 'simulator-test-secret-do-not-use-elsewhere1';
export const DEFAULT_SIM_ZONE = 'ch-gva-2';

export interface SecurityGroupInput {
  id?: string;
  name: string;
  description?: string;
}

export interface InstanceInput {
  id?: string;
  name: string;
  /** Native public IPv4 (also what the metadata server reports as public-ipv4). */
  publicIp?: string;
  ipv6Address?: string;
  state?: InstanceState;
  labels?: Record<string, string>;
  /** Security groups by name or id; unknown names are created. */
  securityGroups?: string[];
  manager?: { id: string; type: 'instance-pool' | 'sks-nodepool' };
}

export interface ElasticIpInput {
  id?: string;
  ip: string;
  description?: string;
  labels?: Record<string, string>;
  /** Present = a managed EIP. */
  healthcheck?: ElasticIpHealthcheck;
  /** Instances (id or name) it starts attached to. */
  holders?: string[];
}

export interface SimSeed {
  securityGroups?: SecurityGroupInput[];
  instances?: InstanceInput[];
  elasticIps?: ElasticIpInput[];
}

export const LAB_SECURITY_GROUP_ID = '5ec0a1b2-0000-4000-8000-00000000105b';
export const LAB_ELASTIC_IP_ID = 'e1a571c0-0000-4000-8000-000000000050';

/** A fresh copy of the default lab seed. */
export function defaultSeed(): SimSeed {
  return {
    securityGroups: [
      { id: LAB_SECURITY_GROUP_ID, name: 'load-balancer', description: 'ipwarden lab load balancers' },
      { id: '5ec0a1b2-0000-4000-8000-00000000defa', name: 'default', description: 'Default Security Group' },
    ],
    instances: [
      lab('10000000-0000-4000-8000-000000000001', 'lb1', '198.51.100.11', ['load-balancer', 'default']),
      lab('10000000-0000-4000-8000-000000000002', 'lb2', '198.51.100.12', ['load-balancer', 'default']),
      lab('10000000-0000-4000-8000-000000000003', 'lb3', '198.51.100.13', ['load-balancer', 'default']),
      { ...lab('10000000-0000-4000-8000-000000000004', 'web1', '198.51.100.21', ['default']), labels: { role: 'web' } },
    ],
    elasticIps: [{ id: LAB_ELASTIC_IP_ID, ip: '198.51.100.50', description: 'ipwarden lab (manual)', labels: { role: 'lb' } }],
  };
}

function lab(id: string, name: string, publicIp: string, securityGroups: string[]): InstanceInput {
  return { id, name, publicIp, state: 'running', labels: { role: 'lb' }, securityGroups };
}
