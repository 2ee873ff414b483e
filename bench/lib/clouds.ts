/**
 * The cloud side of a benchmark cluster, the same for every cloud of the registry
 * (src/cloud/registry.ts): the cloud's own simulator with a realistic operation time, the floating
 * address seeded in it, each node's action (the registry's action plugin for that cloud), the
 * command a keepalived notify script runs to move the address (what operators run today), and
 * what the simulator saw (its holder history and request log), from the cloud's side.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab } from '../../test/lib/netns.js';
import { findCloud } from '../../src/cloud/registry.js';
import type { HolderHistory, RequestRecord } from '../../src/cloud/simulator-kit/index.js';
import { CLI_ENTRY } from '../../src/lab/local-cluster.js';
import { startEipLab, type EipLab } from '../../src/lab/exoscale-lab.js';
import { DEFAULT_SIM_TOKEN as HCLOUD_SIM_TOKEN, LAB_FLOATING_IP_ID, defaultHetznerSeed, startHetznerSimulator, HETZNER_SIM_MUTATING } from '../../src/hetzner/simulator/index.js';
import { DEFAULT_SIM_TOKEN as DO_SIM_TOKEN, DO_SIM_MUTATING, defaultSeed as defaultDoSeed, startDigitalOceanSimulator } from '../../src/digitalocean/simulator/index.js';
import { startAwsSimulator } from '../../src/aws/simulator/server.js';
import { EC2_CALLS, MUTATING_ACTIONS } from '../../src/aws/simulator/ec2.js';
import { instanceIdOf, SIM_ACCESS_KEY_ID, SIM_SECRET_ACCESS_KEY } from '../../src/aws/simulator/world.js';
import { startApiRelay, withOrigin, type ApiRelay, type RelayTarget } from './api-relay.js';

export const BENCH_CLOUDS = ['exoscale', 'hetzner', 'aws', 'digitalocean'] as const;
export type BenchCloudName = (typeof BENCH_CLOUDS)[number];

/**
 * Each cloud's simulated operation time (attach/assign until done) and where the figure comes from.
 * The real clouds' times differ (and vary): these make the simulators behave in their order of magnitude.
 */
export const CLOUD_OP_TIMES: Record<BenchCloudName, { ms: number; source: string }> = {
  exoscale: { ms: 300, source: 'the failover benchmark\'s Exoscale figure since its first run (bench/RESULTS.md); attach/detach are asynchronous operations, polled until done' },
  hetzner: { ms: 2000, source: 'test/hetzner/failover.test.ts (ACTION_MS, "the order of Hetzner\'s real assign time"; /work/shared/reference/clouds.md: "a few seconds in practice"); the assign action is polled until success' },
  aws: {
    ms: 0,
    source:
      'test/aws/failover.test.ts runs the simulator without added latency: AssociateAddress is synchronous (clouds.md), the move happens when the call is handled; only the call\'s own time on this machine counts',
  },
  digitalocean: { ms: 3000, source: 'test/digitalocean/failover.test.ts (ACTION_MS, "actions taking 3 s as on DigitalOcean"; clouds.md: "an assign takes about 3 s in recorded examples"); the action is polled until completed' },
};

/** One API request the simulator served (metadata and the simulator's own admin routes excluded). */
export interface BenchApiCall {
  t: number;
  call: string;
  /** The call changes who holds an address. */
  mutating: boolean;
}

/** The holders' worst stretches in a window, from the simulator's holder history. */
export interface HolderStretch {
  /** Longest stretch with two or more holders, ms. */
  maxMultiHolderMs: number;
  /** Longest stretch with no holder (after the first holder), ms. */
  maxUnheldMs: number;
}

export interface BenchCloud {
  readonly cloud: BenchCloudName;
  readonly title: string;
  /** The registry's action plugin the nodes run. */
  readonly plugin: string;
  /** single: the cloud keeps one holder at most (two holders must never be seen). */
  readonly holderMode: 'single' | 'multi';
  readonly opTimeMs: number;
  /** The floating address (seeded in the simulator; the tool's shared address). */
  readonly address: string;
  /** Target id (instance / server / droplet) of node i. */
  readonly targets: string[];
  /** Node i's action (the `actions:` entry after ip-alias). */
  action(i: number): Record<string, unknown>;
  /** Shell command that moves the address to node i (a keepalived notify_master script's body). */
  notifyCommand(i: number): string;
  /** What notifyCommand runs, for the report ("hcloud floating-ip assign (hcloud-cli)"). */
  readonly notifyTool: string;
  holders(): string[];
  /** Holder changes of the address at or after `since` (the simulator's history). */
  holderEvents(since: number): { t: number; holders: string[] }[];
  /** Worst stretches between `since` and now. */
  stretches(since: number): HolderStretch;
  apiCalls(since: number): BenchApiCall[];
  /** Puts the address on `target` at once, as an operator would by hand (undefined: this simulator cannot). */
  setHolder?(target: string): Promise<void>;
  name(target: string): string;
  /** Exoscale only: the lab the chaos campaign reads (bench/chaos-lib). */
  readonly eipLab?: EipLab;
  close(): Promise<void>;
}

/** How the lab's hosts reach the simulator. */
export type ApiReach =
  /** The simulator listens on this address of the root namespace (the lab's bridge address). */
  | { host: string }
  /** Through a relay in lab host `apiHost` (no root-namespace address needed). */
  | { lab: Lab; apiHost: number };

export interface BenchCloudOptions {
  nodes: number;
  /** Directory for credential files and the relay's socket. */
  dir: string;
  opTimeMs: number;
  address: string;
  reach: ApiReach;
  /** Extra keys of each node's action (reconcile...). */
  action?: Record<string, unknown>;
}

export function isBenchCloud(s: string): s is BenchCloudName {
  return (BENCH_CLOUDS as readonly string[]).includes(s);
}

const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

const simHost = (reach: ApiReach): string => ('host' in reach ? reach.host : '127.0.0.1');

function registration(cloud: BenchCloudName): { title: string; plugin: string; holderMode: 'single' | 'multi' } {
  const r = findCloud(cloud);
  if (!r) throw new Error(`cloud ${cloud}: not in the cloud registry`);
  return { title: r.title, plugin: r.action, holderMode: r.holderMode === 'single' ? 'single' : 'multi' };
}

/** The measurements of a cloud on the simulator kit (Hetzner, AWS, DigitalOcean): its holder history and request log. */
function kitMeasurements(
  sim: { history: HolderHistory; requests(sinceMs?: number): RequestRecord[] },
  address: string,
  mutatingCalls: readonly string[],
): Pick<BenchCloud, 'holders' | 'holderEvents' | 'stretches' | 'apiCalls'> {
  const mutating = new Set(mutatingCalls);
  return {
    holders: () => sim.history.timeline(address).holders,
    holderEvents: (since) => sim.history.events(since, address).map((e) => ({ t: e.t, holders: e.holders })),
    stretches: (since) => {
      const tl = sim.history.timeline(address, since);
      return { maxMultiHolderMs: tl.maxMultiHolderMs, maxUnheldMs: tl.maxUnheldMs };
    },
    apiCalls: (since) =>
      sim
        .requests(since)
        .filter((r) => r.call !== 'metadata')
        .map((r) => ({ t: r.t, call: r.call, mutating: mutating.has(r.call) })),
  };
}

/** The relay to the simulator's `port` when `reach` asks for one (none: the simulator listens where the hosts reach it); closes the simulator when the relay cannot start. */
async function relayFor(reach: ApiReach, sim: RelayTarget, dir: string, closeSim: () => Promise<void>): Promise<ApiRelay | undefined> {
  if ('host' in reach) return undefined;
  try {
    return await startApiRelay(reach.lab, reach.apiHost, sim, dir);
  } catch (error) {
    await closeSim();
    throw error;
  }
}

export async function startBenchCloud(cloud: BenchCloudName, opts: BenchCloudOptions): Promise<BenchCloud> {
  switch (cloud) {
    case 'exoscale':
      return startExoscale(opts);
    case 'hetzner':
      return startHetzner(opts);
    case 'aws':
      return startAws(opts);
    case 'digitalocean':
      return startDigitalOcean(opts);
  }
}

async function startExoscale(opts: BenchCloudOptions): Promise<BenchCloud> {
  const lab = await startEipLab({ nodes: opts.nodes, dir: opts.dir, operationDelayMs: opts.opTimeMs, simulator: { host: simHost(opts.reach) }, ...(opts.action ? { action: opts.action } : {}) });
  const state = lab.sim.state;
  if (!state.findElasticIp(opts.address)) state.addElasticIp({ ip: opts.address });
  const relay = await relayFor(opts.reach, lab.sim, opts.dir, () => lab.close());
  const endpoint = relay ? withOrigin(lab.sim.endpoint, relay.origin) : lab.sim.endpoint;
  const keyFile = join(opts.dir, 'exoscale-api-key');
  const secretFile = join(opts.dir, 'exoscale-api-secret');
  const seqAt = (since: number): number => (state.events().find((e) => e.t >= since)?.seq ?? Number.MAX_SAFE_INTEGER) - 1;
  return {
    cloud: 'exoscale',
    ...registration('exoscale'),
    opTimeMs: opts.opTimeMs,
    address: opts.address,
    targets: lab.instanceIds,
    eipLab: lab,
    action: (i) => ({ ...(lab.instanceExtras(i).actions as Record<string, unknown>[])[0], endpoint }),
    notifyCommand: (i) =>
      `${process.execPath} ${CLI_ENTRY} eip attach --exclusive --address ${opts.address} --instance ${lab.instanceIds[i]} --zone ${lab.sim.zone} ` +
      `--endpoint ${endpoint} --api-key file:${keyFile} --api-secret file:${secretFile}`,
    notifyTool: '`ipwarden eip attach --exclusive` (a one-shot Node.js CLI: Exoscale\'s own `exo` CLI is not packaged in Debian)',
    holders: () => state.holdersOf(opts.address),
    holderEvents: (since) =>
      state
        .events(seqAt(since))
        .filter((e) => e.t >= since && (e.type === 'attach' || e.type === 'detach') && e.eip?.ip === opts.address && e.holders)
        .map((e) => ({ t: e.t, holders: [...e.holders!] })),
    stretches: (since) => {
      const h = state.history(opts.address, since);
      return { maxMultiHolderMs: h.maxMultiHolderMs, maxUnheldMs: h.maxUnheldMs };
    },
    apiCalls: (since) =>
      state
        .requests()
        .filter((r) => r.t >= since && r.call !== 'metadata')
        .map((r) => ({ t: r.t, call: r.call, mutating: /attach|detach/.test(r.call) })),
    setHolder: async (target) => {
      state.setHolders(opts.address, [target]);
    },
    name: (id) => lab.name(id),
    close: async () => {
      await relay?.close();
      await lab.close();
    },
  };
}

async function startHetzner(opts: BenchCloudOptions): Promise<BenchCloud> {
  const seed = defaultHetznerSeed();
  seed.floatingIps = seed.floatingIps!.map((f) => (f.id === LAB_FLOATING_IP_ID ? { ...f, ip: opts.address } : f));
  const servers = seed.servers!.filter((s) => s.name.startsWith('lb'));
  for (let i = servers.length; i < opts.nodes; i++) seed.servers!.push({ id: 1001 + i, name: `lb${i + 1}`, status: 'running', labels: { role: 'lb' }, publicIpv4: `198.51.100.${11 + i}` });
  const sim = await startHetznerSimulator({ port: 0, host: simHost(opts.reach), seed, actionDelayMs: opts.opTimeMs });
  const relay = await relayFor(opts.reach, sim, opts.dir, () => sim.close());
  const endpoint = relay ? withOrigin(sim.endpoint, relay.origin) : sim.endpoint;
  const tokenFile = join(opts.dir, 'hcloud-token');
  writeFileSync(tokenFile, HCLOUD_SIM_TOKEN, { mode: 0o600 });
  const targets = Array.from({ length: opts.nodes }, (_, i) => String(1001 + i));
  const mutating = HETZNER_SIM_MUTATING;
  return {
    cloud: 'hetzner',
    ...registration('hetzner'),
    opTimeMs: opts.opTimeMs,
    address: opts.address,
    targets,
    action: (i) => ({
      plugin: 'hetzner-floating-ip',
      endpoint,
      token: `file:${tokenFile}`,
      serverId: targets[i],
      metadataUrl: relay ? withOrigin(sim.metadataUrl(targets[i]!), relay.origin) : sim.metadataUrl(targets[i]!),
      ...opts.action,
    }),
    // hcloud waits for the assign action to finish (it polls it), as a notify script using it does
    notifyCommand: (i) =>
      `HCLOUD_ENDPOINT=${shq(endpoint)} HCLOUD_TOKEN="$(cat ${shq(tokenFile)})" HCLOUD_CONFIG=${shq(join(opts.dir, 'no-hcloud-config'))} /usr/bin/hcloud floating-ip assign ${LAB_FLOATING_IP_ID} ${targets[i]}`,
    notifyTool: '`hcloud floating-ip assign` (Debian\'s hcloud-cli; it waits for the assign action to finish)',
    ...kitMeasurements(sim, opts.address, mutating),
    setHolder: async (target) => {
      const res = await fetch(`${sim.url}/_sim/floating_ips/${opts.address}`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ server: Number(target) }) });
      if (!res.ok) throw new Error(`hetzner simulator: PATCH floating IP: ${res.status} ${await res.text()}`);
    },
    name: (id) => sim.world.servers.get(Number(id))?.name ?? id,
    close: async () => {
      await relay?.close();
      await sim.close();
    },
  };
}

async function startAws(opts: BenchCloudOptions): Promise<BenchCloud> {
  const sim = await startAwsSimulator({ port: 0, host: simHost(opts.reach), seed: { instances: opts.nodes, elasticIps: [opts.address] } });
  // AssociateAddress is synchronous: the operation time is the answer's latency (the move happens after it)
  if (opts.opTimeMs > 0) sim.faults.add({ kind: 'latency', ms: opts.opTimeMs, calls: ['associate-address', 'disassociate-address'] });
  const relay = await relayFor(opts.reach, sim, opts.dir, () => sim.close());
  const endpoint = relay ? relay.origin : sim.url;
  const keyFile = join(opts.dir, 'aws-access-key-id');
  const secretFile = join(opts.dir, 'aws-secret-access-key');
  writeFileSync(keyFile, SIM_ACCESS_KEY_ID, { mode: 0o600 });
  writeFileSync(secretFile, SIM_SECRET_ACCESS_KEY, { mode: 0o600 });
  const targets = Array.from({ length: opts.nodes }, (_, i) => instanceIdOf(i + 1));
  const allocationId = sim.world().addresses.find((a) => a.publicIp === opts.address)!.allocationId;
  const mutating = [...MUTATING_ACTIONS].map((a) => EC2_CALLS[a]);
  const none = shq(join(opts.dir, 'no-aws-config'));
  return {
    cloud: 'aws',
    ...registration('aws'),
    opTimeMs: opts.opTimeMs,
    address: opts.address,
    targets,
    action: (i) => ({
      plugin: 'aws-eip',
      endpoint,
      region: sim.region,
      metadataUrl: relay ? withOrigin(sim.metadataUrl(targets[i]!), relay.origin) : sim.metadataUrl(targets[i]!),
      accessKeyId: `file:${keyFile}`,
      secretAccessKey: `file:${secretFile}`,
      instanceId: targets[i],
      ...opts.action,
    }),
    // AWS CLI v2 from Debian, credentials from the environment, never the instance metadata service
    notifyCommand: (i) =>
      `AWS_ACCESS_KEY_ID="$(cat ${shq(keyFile)})" AWS_SECRET_ACCESS_KEY="$(cat ${shq(secretFile)})" AWS_DEFAULT_REGION=${sim.region} AWS_PAGER= ` +
      `AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=${none} AWS_SHARED_CREDENTIALS_FILE=${none} HOME=${shq(opts.dir)} ` +
      `/usr/bin/aws ec2 associate-address --endpoint-url ${shq(endpoint)} --allocation-id ${allocationId} --instance-id ${targets[i]} --allow-reassociation`,
    notifyTool: '`aws ec2 associate-address --allow-reassociation` (Debian\'s AWS CLI v2, /usr/bin/aws)',
    ...kitMeasurements(sim, opts.address, mutating),
    name: (id) => `lb-${targets.indexOf(id) + 1}`,
    close: async () => {
      await relay?.close();
      await sim.close();
    },
  };
}

async function startDigitalOcean(opts: BenchCloudOptions): Promise<BenchCloud> {
  const seed = defaultDoSeed();
  seed.reservedIps = [{ ip: opts.address, droplet: null }];
  const sim = await startDigitalOceanSimulator({ port: 0, host: simHost(opts.reach), actionDelayMs: opts.opTimeMs, seed });
  const targets: string[] = [];
  for (let i = 0; i < opts.nodes; i++) {
    const name = `lb${i + 1}`;
    const d = sim.world.findDroplet(name) ?? sim.world.addDroplet({ name, tags: ['lb'], publicIp: `198.51.100.${11 + i}` });
    targets.push(String(d.id));
  }
  const relay = await relayFor(opts.reach, sim, opts.dir, () => sim.close());
  const endpoint = relay ? relay.origin : sim.url;
  const tokenFile = join(opts.dir, 'do-token');
  writeFileSync(tokenFile, DO_SIM_TOKEN, { mode: 0o600 });
  const mutating = DO_SIM_MUTATING;
  return {
    cloud: 'digitalocean',
    ...registration('digitalocean'),
    opTimeMs: opts.opTimeMs,
    address: opts.address,
    targets,
    action: (i) => ({
      plugin: 'digitalocean-reserved-ip',
      endpoint,
      token: `file:${tokenFile}`,
      dropletId: targets[i],
      metadataUrl: `${endpoint}/_meta/${targets[i]}`,
      ...opts.action,
    }),
    // DigitalOcean's keepalived tutorial script: one assign request, no wait for the action
    notifyCommand: (i) =>
      `/usr/bin/curl -sS --max-time 10 -X POST -H "Authorization: Bearer $(cat ${shq(tokenFile)})" -H 'Content-Type: application/json' ` +
      `-d '{"type":"assign","droplet_id":${targets[i]}}' ${shq(`${endpoint}/v2/reserved_ips/${opts.address}/actions`)}`,
    notifyTool: '`curl` POST /v2/reserved_ips/IP/actions {"type":"assign"} (what DigitalOcean\'s keepalived tutorial script does; it does not wait for the action)',
    ...kitMeasurements(sim, opts.address, mutating),
    setHolder: async (target) => sim.setHolder(opts.address, Number(target)),
    name: (id) => sim.world.findDroplet(id)?.name ?? id,
    close: async () => {
      await relay?.close();
      await sim.close();
    },
  };
}
