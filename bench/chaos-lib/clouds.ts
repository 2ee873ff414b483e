/**
 * The cloud side of a chaos campaign, one adapter per cloud of the registry (src/cloud/registry.ts):
 * that cloud's simulator on the lab bridge (the daemons in the namespaces reach it there), seeded with
 * one target per node whose public IP is the node's address and with the campaign's floating address
 * (in the lab's subnet, so campaigns on other subnets never share one), each node's action config, and
 * what the judge reads from the simulator: its holder history and its request log. Fault rules are the
 * simulator kit's (src/cloud/simulator-kit/faults.ts); Exoscale's fault set takes the same rule shape.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLOUDS, findCloud } from '../../src/cloud/registry.js';
import type { HolderMode } from '../../src/cloud/provider.js';
import type { KitFaultRule } from '../../src/cloud/simulator-kit/index.js';
import type { HolderHistory } from '../../src/cloud/simulator-kit/history.js';
import type { RequestRecord } from '../../src/cloud/simulator-kit/server.js';
import { startEipLab } from '../../src/lab/exoscale-lab.js';
import { startHetznerLab } from '../../src/hetzner/lab.js';
import { defaultHetznerSeed, LAB_FLOATING_IP_ID } from '../../src/hetzner/simulator/index.js';
import { startDigitalOceanSimulator } from '../../src/digitalocean/simulator/index.js';
import { startAwsSimulator } from '../../src/aws/simulator/server.js';
import { instanceIdOf, SIM_ACCESS_KEY_ID, SIM_SECRET_ACCESS_KEY } from '../../src/aws/simulator/world.js';

/** Every cloud of the registry takes part (a cloud without an adapter below fails the type check). */
export const PROVIDERS = CLOUDS.map((c) => c.cloud);
export type Provider = 'exoscale' | 'aws' | 'digitalocean' | 'hetzner';

/**
 * How long one change of the address takes on each cloud, as its simulator plays it (the clouds'
 * usual figures, docs in /work/shared/reference/clouds.md): an Exoscale attach operation ~300 ms, a
 * Hetzner assign action ~2 s, a DigitalOcean assign action ~3 s, AWS AssociateAddress synchronous (the
 * call's own round trip: 200 ms budget). The recovery bound adds one such change.
 */
export const CHANGE_MS: Record<Provider, number> = { exoscale: 300, hetzner: 2000, digitalocean: 3000, aws: 200 };

export interface ChaosCloudOptions {
  nodes: number;
  /** Directory for credential files. */
  dir: string;
  /** Where the simulator listens (the lab bridge's address). */
  host: string;
  /** The floating address. */
  address: string;
  /** Node i's own address (its instance's public IP). */
  hostAddresses: string[];
  /** The simulator's change time. */
  changeMs: number;
  /** Extra keys of each node's action (reconcile...). */
  action: Record<string, unknown>;
}

export interface ChaosCloud {
  provider: Provider;
  holderMode: HolderMode;
  address: string;
  /** Node i's target (instance, server, droplet id). */
  targets: string[];
  /** Node i's cloud action config. */
  action(i: number): Record<string, unknown>;
  /** Environment the daemons need (AWS credentials). */
  env: Record<string, string>;
  /** Every change of the address's holders so far (targets). */
  holderEvents(): Array<{ t: number; holders: string[] }>;
  holders(): string[];
  /** API calls so far (metadata excluded), with the caller's address (a node's host address). */
  apiCalls(): Array<{ t: number; call: string; caller: string }>;
  addFault(id: string, rule: KitFaultRule): void;
  removeFault(id: string): void;
  close(): Promise<void>;
}

const lbName = (i: number): string => `lb${i + 1}`;

/** A simulator on the kit: what the judge reads (holder history, request log) and the fault hooks. */
interface KitSimulator {
  history: HolderHistory;
  requests(): RequestRecord[];
  faults: { add(rule: unknown): unknown; remove(id: string): unknown };
}

function kitJudgeView(sim: KitSimulator, address: string): Pick<ChaosCloud, 'holderEvents' | 'holders' | 'apiCalls' | 'addFault' | 'removeFault'> {
  return {
    holderEvents: () => sim.history.events(0, address),
    holders: () => sim.history.timeline(address).holders,
    apiCalls: () => sim.requests().filter((r) => r.call !== 'metadata'),
    addFault: (id, rule) => void sim.faults.add({ ...rule, id }),
    removeFault: (id) => void sim.faults.remove(id),
  };
}

async function exoscale(o: ChaosCloudOptions): Promise<ChaosCloud> {
  const lab = await startEipLab({
    nodes: o.nodes,
    dir: o.dir,
    operationDelayMs: o.changeMs,
    action: o.action,
    simulator: {
      host: o.host,
      instances: o.hostAddresses.map((ip, i) => ({ name: lbName(i), publicIp: ip, state: 'running', labels: { role: 'lb' }, securityGroups: ['load-balancer'] })),
      elasticIps: [{ ip: o.address, description: 'ipwarden chaos', labels: { role: 'lb' } }],
    },
  });
  const { state } = lab.sim;
  // the simulator keeps its last 2000 requests: collect them as they come (a 30-minute run makes more)
  const calls: Array<{ t: number; call: string; caller: string }> = [];
  let seq = 0;
  const collect = (): void => {
    for (const r of state.requests(seq)) {
      seq = Math.max(seq, r.seq);
      if (r.call !== 'metadata') calls.push({ t: r.t, call: r.call, caller: r.caller });
    }
  };
  const collector = setInterval(collect, 500);
  collector.unref();
  return {
    provider: 'exoscale',
    holderMode: 'multi',
    address: o.address,
    targets: lab.instanceIds,
    action: (i) => (lab.instanceExtras(i).actions as Array<Record<string, unknown>>)[0]!,
    env: {},
    holderEvents: () => state.events().filter((e) => e.eip?.ip === o.address && e.holders !== undefined).map((e) => ({ t: e.t, holders: e.holders! })),
    holders: () => state.holdersOf(o.address),
    apiCalls: () => (collect(), [...calls]),
    addFault: (id, rule) => void state.faults.add({ ...rule, id }),
    removeFault: (id) => void state.faults.remove(id),
    close: async () => {
      clearInterval(collector);
      await lab.close();
    },
  };
}

async function hetzner(o: ChaosCloudOptions): Promise<ChaosCloud> {
  const seed = defaultHetznerSeed();
  seed.servers = o.hostAddresses.map((ip, i) => ({ id: 1001 + i, name: lbName(i), status: 'running', publicIpv4: ip, labels: { role: 'lb' }, privateNet: [{ network: 'lb-net', ip: `10.0.1.${11 + i}` }] }));
  seed.floatingIps = [{ id: LAB_FLOATING_IP_ID, name: 'vip', description: 'ipwarden chaos', ip: o.address, server: null, labels: { role: 'lb' } }];
  const lab = await startHetznerLab({ nodes: o.nodes, dir: o.dir, operationDelayMs: o.changeMs, action: o.action, simulator: { host: o.host, seed } });
  const { sim } = lab;
  return {
    provider: 'hetzner',
    holderMode: 'single',
    address: o.address,
    targets: lab.targets,
    action: (i) => (lab.instanceExtras(i).actions as Array<Record<string, unknown>>)[0]!,
    env: {},
    ...kitJudgeView(sim, o.address),
    close: () => lab.close(),
  };
}

async function digitalocean(o: ChaosCloudOptions): Promise<ChaosCloud> {
  const sim = await startDigitalOceanSimulator({
    host: o.host,
    port: 0,
    actionDelayMs: o.changeMs,
    seed: {
      droplets: o.hostAddresses.map((ip, i) => ({ id: 3001 + i, name: lbName(i), tags: ['lb'], publicIp: ip, privateIp: `10.110.0.${11 + i}`, anchorIp: `10.20.0.${11 + i}` })),
      reservedIps: [{ ip: o.address, droplet: null }],
    },
  });
  const tokenFile = join(o.dir, 'do-token');
  writeFileSync(tokenFile, sim.tokens.full[0]!, { mode: 0o600 });
  const targets = o.hostAddresses.map((_, i) => String(3001 + i));
  return {
    provider: 'digitalocean',
    holderMode: 'single',
    address: o.address,
    targets,
    action: (i) => ({ plugin: 'digitalocean-reserved-ip', endpoint: sim.url, token: `file:${tokenFile}`, dropletId: targets[i], ...o.action }),
    env: {},
    ...kitJudgeView(sim, o.address),
    close: () => sim.close(),
  };
}

async function aws(o: ChaosCloudOptions): Promise<ChaosCloud> {
  const sim = await startAwsSimulator({ host: o.host, port: 0, seed: { instances: o.nodes, elasticIps: [o.address] } });
  const targets = o.hostAddresses.map((_, i) => instanceIdOf(i + 1));
  const none = join(o.dir, 'aws-none');
  return {
    provider: 'aws',
    holderMode: 'single',
    address: o.address,
    targets,
    action: (i) => ({ plugin: 'aws-eip', endpoint: sim.url, metadataUrl: sim.metadataUrl(targets[i]!), instanceId: targets[i], ...o.action }),
    env: { AWS_REGION: sim.region, AWS_ACCESS_KEY_ID: SIM_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: SIM_SECRET_ACCESS_KEY, AWS_SHARED_CREDENTIALS_FILE: none, AWS_CONFIG_FILE: none },
    ...kitJudgeView(sim, o.address),
    close: () => sim.close(),
  };
}

const ADAPTERS: Record<Provider, (o: ChaosCloudOptions) => Promise<ChaosCloud>> = { exoscale, hetzner, digitalocean, aws };

export function isProvider(name: string): name is Provider {
  return name in ADAPTERS && findCloud(name) !== undefined;
}

/** Starts `provider`'s simulator for a campaign. */
export function startChaosCloud(provider: Provider, o: ChaosCloudOptions): Promise<ChaosCloud> {
  return ADAPTERS[provider](o);
}
