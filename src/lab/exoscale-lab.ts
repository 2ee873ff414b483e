/**
 * The Exoscale side of `ipwarden lab` (and the process-level tests): the API simulator in
 * process on loopback, one simulated instance per lab node, each node configured with the
 * exoscale-eip action, and measurements of where the Elastic IP was when, from the
 * simulator's event history.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DEFAULT_SIM_API_KEY,
  DEFAULT_SIM_API_SECRET,
  startSimulator,
  type RunningSimulator,
  type SimEvent,
  type SimulatorOptions,
} from '../exoscale/simulator/index.js';
import type { CloudLab, CloudLabOptions } from '../cloud/registry.js';
import { formatDuration } from '../util/duration.js';

/** The lab's Elastic IP (the simulator seed's manual EIP). */
export const LAB_EIP = '198.51.100.50';

export interface EipLabOptions {
  nodes: number;
  /** Directory for the credential files (the cluster's temp dir). */
  dir: string;
  /** Attach/detach operation time in the simulator (default 300 ms). */
  operationDelayMs?: number;
  /** Extra keys of each node's exoscale-eip action (reconcile, strategy...). */
  action?: Record<string, unknown>;
  simulator?: SimulatorOptions;
}

export interface EipLab {
  sim: RunningSimulator;
  /** Instance id of lab node i. */
  instanceIds: string[];
  /** The `actions:` key for lab node i (instanceId = its simulated instance). */
  instanceExtras(index: number): Record<string, unknown>;
  /** Current holders (instance ids). */
  holders(): string[];
  /** "lb2" for an instance id. */
  name(instanceId: string): string;
  close(): Promise<void>;
}

/** Starts the simulator (default lab seed: lb1..lb3; more nodes get lb4.. added) and writes the credential files. */
export async function startEipLab(opts: EipLabOptions): Promise<EipLab> {
  const sim = await startSimulator({ port: 0, host: '127.0.0.1', operationDelayMs: opts.operationDelayMs ?? 300, ...opts.simulator });
  const ids: string[] = [];
  for (let i = 0; i < opts.nodes; i++) {
    const name = `lb${i + 1}`;
    const inst = sim.state.findInstance(name) ?? sim.state.addInstance({ name, publicIp: `198.51.100.${11 + i}`, state: 'running', labels: { role: 'lb' }, securityGroups: ['load-balancer'] });
    ids.push(inst.id);
  }
  const [key, secret] = [...sim.keys.entries()][0] ?? [DEFAULT_SIM_API_KEY, DEFAULT_SIM_API_SECRET];
  const keyFile = join(opts.dir, 'exoscale-api-key');
  const secretFile = join(opts.dir, 'exoscale-api-secret');
  writeFileSync(keyFile, key, { mode: 0o600 });
  writeFileSync(secretFile, secret, { mode: 0o600 });
  return {
    sim,
    instanceIds: ids,
    instanceExtras: (index) => ({
      actions: [
        {
          plugin: 'exoscale-eip',
          zone: sim.zone,
          endpoint: sim.endpoint,
          apiKey: `file:${keyFile}`,
          apiSecret: `file:${secretFile}`,
          instanceId: ids[index],
          ...opts.action,
        },
      ],
    }),
    holders: () => sim.state.holdersOf(LAB_EIP),
    name: (id) => sim.state.findInstance(id)?.name ?? id,
    close: () => sim.close(),
  };
}

/** How one move of the EIP went, measured from the simulator's history. */
export interface EipMove {
  /** ms from `since` to the attach to `to` (undefined: not attached in the window). */
  attachedAfterMs?: number;
  /** ms from `since` to the detach from `from` (undefined: no detach in the window). */
  detachedAfterMs?: number;
  /** Longest stretch with two or more holders since `since`. */
  maxMultiHolderMs: number;
  /** Longest stretch with no holder since `since` (counted from the first holder). */
  maxUnheldMs: number;
  holders: string[];
}

/** Pure: the move of the EIP from instance `from` to instance `to` after `since`, from attach/detach events. */
export function eipMove(events: readonly SimEvent[], since: number, to: string, from: string | undefined): Pick<EipMove, 'attachedAfterMs' | 'detachedAfterMs'> {
  const after = events.filter((e) => e.t >= since && e.eip?.ip === LAB_EIP);
  const attach = after.find((e) => e.type === 'attach' && e.instance === to);
  const detach = from ? after.find((e) => e.type === 'detach' && e.instance === from) : undefined;
  return {
    ...(attach ? { attachedAfterMs: attach.t - since } : {}),
    ...(detach ? { detachedAfterMs: detach.t - since } : {}),
  };
}

/** The measured move since `since` (wall clock ms). */
export function measureMove(lab: EipLab, since: number, to: string, from: string | undefined): EipMove {
  const history = lab.sim.state.history(LAB_EIP, since);
  return {
    ...eipMove(lab.sim.state.events(), since, to, from),
    maxMultiHolderMs: history.maxMultiHolderMs,
    maxUnheldMs: history.maxUnheldMs,
    holders: history.holders,
  };
}

/** One line for the lab's output. */
export function describeMove(lab: EipLab, m: EipMove, to: string, from: string | undefined, what: string): string {
  const parts = [
    m.attachedAfterMs !== undefined ? `attached to ${lab.name(to)} ${m.attachedAfterMs} ms after ${what}` : `never attached to ${lab.name(to)}`,
    from ? (m.detachedAfterMs !== undefined ? `detached from ${lab.name(from)} after ${m.detachedAfterMs} ms` : `not detached from ${lab.name(from)} (it was not holding it)`) : '',
    `on two instances for ${m.maxMultiHolderMs} ms at most`,
    m.maxUnheldMs > 0 ? `unheld for ${m.maxUnheldMs} ms at most` : 'never unheld',
  ].filter(Boolean);
  return `EIP ${LAB_EIP}: ${parts.join(', ')}; holders now: ${m.holders.map((h) => lab.name(h)).join(', ') || 'none'}`;
}

/** The Exoscale lab as the generic `ipwarden lab --provider exoscale` sees it (src/cloud/registry.ts). */
export async function startExoscaleCloudLab(opts: CloudLabOptions): Promise<CloudLab> {
  const lab = await startEipLab(opts);
  return {
    address: LAB_EIP,
    banner: `Exoscale API simulator on ${lab.sim.endpoint} (operation delay ${formatDuration(opts.operationDelayMs)}): EIP ${LAB_EIP}`,
    targets: lab.instanceIds,
    instanceExtras: (i) => lab.instanceExtras(i),
    holders: () => lab.holders(),
    name: (id) => lab.name(id),
    onHolderChange: (listener) =>
      lab.sim.state.onEvent((e) => {
        if ((e.type === 'attach' || e.type === 'detach') && e.eip?.ip === LAB_EIP) listener({ type: e.type, target: e.instance ?? '', holders: e.holders ?? [] });
      }),
    measureMove: (since, to, from) => measureMove(lab, since, to, from),
    describeMove: (m, to, from, what) => describeMove(lab, m, to, from, what),
    close: () => lab.close(),
  };
}
