/**
 * The clouds ipwarden can keep a floating IP on. Everything generic dispatches through this table:
 * `ipwarden ip show|attach|detach --provider <cloud>`, `ipwarden simulate <cloud>`,
 * `ipwarden lab --provider <cloud>`, and the README/man pages name only what is registered here.
 *
 * Adding a cloud (src/<cloud>/, plugins/<cloud>-*):
 *  1. src/<cloud>/provider.ts: a FloatingIpProvider (src/cloud/provider.ts) on the one HTTP layer
 *     (src/cloud/http.ts), every failure mapped to a CloudApiError kind.
 *  2. src/<cloud>/simulator/: the cloud's simulator on the simulator kit (src/cloud/simulator-kit).
 *  3. plugins/<cloud>-<thing>/index.ts: the action: its zod config schema, a FloatingIpController
 *     (src/cloud/controller.ts) on the provider, handlers from floatingIpHandlers (src/cloud/action.ts).
 *  4. src/<cloud>/cloud.ts: `export const cloudModule: CloudModule` (the CLI connection, the simulator
 *     CLI, the lab), loaded lazily.
 *  5. One entry in CLOUDS below: static facts only (name, title, holder mode, action plugin name, where
 *     credentials come from, the CLI flags it adds to `ipwarden ip`) and `load: () => import('../<cloud>/cloud.js')`. Flags are
 *     shared by name across clouds (`endpoint`, `metadata-url`, `region`...): reuse a name with the
 *     same meaning, never give it another one (a test checks that two clouds do not declare one flag
 *     differently).
 *  6. test/cloud/<cloud>-controller.test.ts: `controllerSuite(...)` from test/cloud/controller-suite.ts
 *     with the cloud's provider and simulator factory.
 * Then add the cloud to the README's first paragraph and to docs/writing-a-cloud-provider.md's list.
 */
import type { CommandContext, CommandIO, FlagSpec } from '../cli/command.js';
import type { FloatingIpProvider, HolderMode } from './provider.js';

/** What `ipwarden ip` needs: a provider for one address from the flags and the environment. */
export interface CloudCli {
  /** A provider for `address`; its self() is the default target. Bad flags throw UsageError; the caller closes it. */
  connect(address: string, ctx: Pick<CommandContext, 'values' | 'env'>): Promise<FloatingIpProvider>;
  /** Optional: a human label of a target ("1000… (lb1)") for `ip show`. */
  describeTarget?(provider: FloatingIpProvider, target: string): Promise<string>;
}

/** `ipwarden simulate <cloud> [flags]`: the cloud's simulator in the foreground; returns the exit code. */
export interface CloudSimulateCli {
  summary: string;
  run(argv: string[], io: Pick<CommandIO, 'stdout' | 'stderr'>): Promise<number>;
}

export interface CloudLabOptions {
  nodes: number;
  /** Directory for credential files (the cluster's temp dir). */
  dir: string;
  operationDelayMs: number;
}

/** A holder change as the lab prints it. */
export interface LabHolderChange {
  type: 'attach' | 'detach';
  target: string;
  holders: string[];
}

/** How one move of the address went, from the simulator's history. */
export interface LabMove {
  attachedAfterMs?: number;
  detachedAfterMs?: number;
  maxMultiHolderMs: number;
  maxUnheldMs: number;
  holders: string[];
}

/** The cloud side of `ipwarden lab`: its simulator in process and each node's action config. */
export interface CloudLab {
  /** The floating address the lab moves. */
  address: string;
  /** One line for the lab's header ("Exoscale API simulator on URL (operation delay 300ms): EIP …"). */
  banner: string;
  /** Target id of lab node i. */
  targets: string[];
  /** Instance keys for lab node i (its `actions:`). */
  instanceExtras(index: number): Record<string, unknown>;
  holders(): string[];
  /** A short name of a target ("lb2"). */
  name(target: string): string;
  onHolderChange(listener: (change: LabHolderChange) => void): () => void;
  measureMove(since: number, to: string, from: string | undefined): LabMove;
  /** One line describing a move ("EIP …: attached to lb2 123 ms after the kill, …"). */
  describeMove(move: LabMove, to: string, from: string | undefined, what: string): string;
  close(): Promise<void>;
}

/** What a cloud's src/<cloud>/cloud.ts exports as `cloudModule`. */
export interface CloudModule {
  cli: CloudCli;
  simulate?: CloudSimulateCli;
  lab?: (opts: CloudLabOptions) => Promise<CloudLab>;
}

export interface CloudRegistration {
  /** `--provider` value, `simulate <cloud>` word. */
  cloud: string;
  /** "Exoscale". */
  title: string;
  holderMode: HolderMode;
  /** The action plugin keeping the address on the MASTER ("exoscale-eip"). */
  action: string;
  /** What the address is called there ("Elastic IP"). */
  addressNoun: string;
  /** Where `ipwarden ip` takes credentials from (the cloud's standard environment variables, flags). */
  credentials: string;
  /** Flags this cloud adds to `ipwarden ip` (static: the flag table is built without loading the cloud). */
  cliFlags: Record<string, FlagSpec>;
  load(): Promise<CloudModule>;
}

/** Flags several clouds take (one spec per name: `ipwarden ip` accepts the union of every cloud's flags). */
const ENDPOINT_FLAG: FlagSpec = {
  type: 'string',
  arg: 'URL',
  description: 'API endpoint (default: the cloud\'s own variable: $EXOSCALE_API_ENDPOINT, $HCLOUD_ENDPOINT, $DIGITALOCEAN_API_URL, $AWS_ENDPOINT_URL_EC2; else its public API)',
};
const METADATA_URL_FLAG: FlagSpec = {
  type: 'string',
  arg: 'URL',
  description: 'metadata service base URL, for the default target (default: $EXOSCALE_METADATA_URL for exoscale, else http://169.254.169.254)',
};
const TOKEN_FLAG: FlagSpec = {
  type: 'string',
  arg: 'REF',
  description: 'hetzner, digitalocean: API token as env:NAME, file:PATH or credential:NAME (default env:HCLOUD_TOKEN; env:DIGITALOCEAN_TOKEN, else env:DIGITALOCEAN_ACCESS_TOKEN)',
};

const EXOSCALE_FLAGS: Record<string, FlagSpec> = {
  zone: { type: 'string', arg: 'ZONE', description: 'exoscale: zone of the address (default $EXOSCALE_ZONE, else the metadata server\'s availability-zone)' },
  endpoint: ENDPOINT_FLAG,
  'metadata-url': METADATA_URL_FLAG,
  'api-key': { type: 'string', arg: 'KEY', description: 'exoscale: API key, or env:NAME / file:PATH (default $EXOSCALE_API_KEY)' },
  'api-secret': { type: 'string', arg: 'REF', description: 'exoscale: API secret as env:NAME, file:PATH or credential:NAME (default $EXOSCALE_API_SECRET)' },
};

const AWS_FLAGS: Record<string, FlagSpec> = {
  mode: { type: 'string', arg: 'MODE', description: 'aws: eip (an Elastic IP, default) | private-ip (a secondary private IP) | route (a VIP routed in route tables)' },
  region: { type: 'string', arg: 'REGION', description: 'aws: region (default $AWS_REGION / $AWS_DEFAULT_REGION, the shared config file, else IMDSv2)' },
  'route-table-ids': { type: 'string', arg: 'IDS', description: 'aws --mode route: comma-separated route table ids' },
};

const DIGITALOCEAN_FLAGS: Record<string, FlagSpec> = {
  token: TOKEN_FLAG,
  endpoint: ENDPOINT_FLAG,
  'metadata-url': METADATA_URL_FLAG,
};

const HETZNER_FLAGS: Record<string, FlagSpec> = {
  endpoint: ENDPOINT_FLAG,
  'metadata-url': METADATA_URL_FLAG,
  token: TOKEN_FLAG,
  network: { type: 'string', arg: 'NET', description: 'hetzner: the address is a private-network alias IP on this network (id or name) instead of a floating IP' },
};

export const CLOUDS: readonly CloudRegistration[] = [
  {
    cloud: 'exoscale',
    title: 'Exoscale',
    holderMode: 'multi',
    action: 'exoscale-eip',
    addressNoun: 'Elastic IP',
    credentials: '$EXOSCALE_API_KEY and $EXOSCALE_API_SECRET, or --api-key / --api-secret (env:NAME, file:PATH, credential:NAME)',
    cliFlags: EXOSCALE_FLAGS,
    load: async () => (await import('../exoscale/cloud.js')).cloudModule,
  },
  {
    cloud: 'aws',
    title: 'AWS',
    holderMode: 'single',
    action: 'aws-eip',
    addressNoun: 'Elastic IP (--mode eip), secondary private IP (private-ip) or routed VIP (route)',
    credentials: 'the standard AWS chain: $AWS_ACCESS_KEY_ID/$AWS_SECRET_ACCESS_KEY/$AWS_SESSION_TOKEN, the shared files with $AWS_PROFILE, the instance role (IMDSv2)',
    cliFlags: AWS_FLAGS,
    load: async () => (await import('../aws/cloud.js')).cloudModule,
  },
  {
    cloud: 'digitalocean',
    title: 'DigitalOcean',
    holderMode: 'single',
    action: 'digitalocean-reserved-ip',
    addressNoun: 'reserved IP',
    credentials: '$DIGITALOCEAN_TOKEN, else $DIGITALOCEAN_ACCESS_TOKEN, or --token (env:NAME, file:PATH, credential:NAME); endpoint $DIGITALOCEAN_API_URL or --endpoint',
    cliFlags: DIGITALOCEAN_FLAGS,
    load: async () => (await import('../digitalocean/cloud.js')).cloudModule,
  },
  {
    cloud: 'hetzner',
    title: 'Hetzner Cloud',
    holderMode: 'single',
    action: 'hetzner-floating-ip',
    addressNoun: 'floating IP',
    credentials: '$HCLOUD_TOKEN (and $HCLOUD_ENDPOINT), or --token env:NAME|file:PATH|credential:NAME',
    cliFlags: HETZNER_FLAGS,
    load: async () => (await import('../hetzner/cloud.js')).cloudModule,
  },
];

/** The registration of `cloud`, or undefined. */
export function findCloud(cloud: string): CloudRegistration | undefined {
  return CLOUDS.find((c) => c.cloud === cloud);
}

export function cloudNames(): string[] {
  return CLOUDS.map((c) => c.cloud);
}

/** The union of every cloud's `ipwarden ip` flags (a flag shared by name keeps the first description). */
export function cloudCliFlags(): Record<string, FlagSpec> {
  const out: Record<string, FlagSpec> = {};
  for (const c of CLOUDS) for (const [name, f] of Object.entries(c.cliFlags)) out[name] ??= f;
  return out;
}
