/**
 * The Hetzner side of `ipwarden lab --provider hetzner` and of the Hetzner integration tests: the
 * simulator in process (lab seed: lb1..lbN, floating IP 198.51.100.50), the token file, and each
 * node's hetzner-floating-ip action (its server named through the simulator's /_meta/<server>/ form
 * of the metadata service, as a real node would find itself).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CloudLab, CloudLabOptions, LabMove } from '../cloud/registry.js';
import { formatDuration } from '../util/duration.js';
import { DEFAULT_SIM_TOKEN, LAB_FLOATING_IP, defaultHetznerSeed, startHetznerSimulator, type HetznerSimulatorOptions, type RunningHetznerSimulator } from './simulator/index.js';

export interface HetznerLabOptions extends CloudLabOptions {
  /** Extra keys of each node's hetzner-floating-ip action (reconcile, onApiUnreachable...). */
  action?: Record<string, unknown>;
  simulator?: HetznerSimulatorOptions;
}

export interface HetznerLab extends CloudLab {
  sim: RunningHetznerSimulator;
  tokenFile: string;
}

/** Pure: a move of the address from the simulator's holder events since `since`. */
export function hetznerMove(sim: RunningHetznerSimulator, address: string, since: number, to: string, from: string | undefined): LabMove {
  const events = sim.history.events(since, address);
  const attach = events.find((e) => e.holders.includes(to));
  const detach = from ? events.find((e) => !e.holders.includes(from)) : undefined;
  const tl = sim.history.timeline(address, since);
  return {
    ...(attach ? { attachedAfterMs: attach.t - since } : {}),
    ...(detach ? { detachedAfterMs: detach.t - since } : {}),
    maxMultiHolderMs: tl.maxMultiHolderMs,
    maxUnheldMs: tl.maxUnheldMs,
    holders: tl.holders,
  };
}

export async function startHetznerLab(opts: HetznerLabOptions): Promise<HetznerLab> {
  const seed = defaultHetznerSeed();
  for (let i = 3; i < opts.nodes; i++) {
    seed.servers!.push({ id: 1001 + i, name: `lb${i + 1}`, status: 'running', publicIpv4: `198.51.100.${11 + i}`, labels: { role: 'lb' }, privateNet: [{ network: 'lb-net', ip: `10.0.1.${11 + i}` }] });
  }
  const sim = await startHetznerSimulator({ port: 0, host: '127.0.0.1', seed, actionDelayMs: opts.operationDelayMs, ...opts.simulator });
  const tokenFile = join(opts.dir, 'hcloud-token');
  writeFileSync(tokenFile, DEFAULT_SIM_TOKEN, { mode: 0o600 });
  const targets = Array.from({ length: opts.nodes }, (_, i) => String(1001 + i));
  const name = (id: string) => sim.world.servers.get(Number(id))?.name ?? id;
  return {
    sim,
    tokenFile,
    address: LAB_FLOATING_IP,
    banner: `Hetzner API simulator on ${sim.endpoint} (action delay ${formatDuration(opts.operationDelayMs)}): floating IP ${LAB_FLOATING_IP}`,
    targets,
    instanceExtras: (index) => ({
      actions: [
        {
          plugin: 'hetzner-floating-ip',
          endpoint: sim.endpoint,
          token: `file:${tokenFile}`,
          metadataUrl: sim.metadataUrl(`lb${index + 1}`),
          ...opts.action,
        },
      ],
    }),
    holders: () => sim.history.timeline(LAB_FLOATING_IP).holders,
    name,
    onHolderChange: (listener) =>
      sim.onHolderChange((e) => {
        if (e.resource !== LAB_FLOATING_IP) return;
        listener(e.holders.length ? { type: 'attach', target: e.holders[0]!, holders: e.holders } : { type: 'detach', target: '', holders: [] });
      }),
    measureMove: (since, to, from) => hetznerMove(sim, LAB_FLOATING_IP, since, to, from),
    describeMove: (m, to, from, what) => {
      const parts = [
        m.attachedAfterMs !== undefined ? `assigned to ${name(to)} ${m.attachedAfterMs} ms after ${what}` : `never assigned to ${name(to)}`,
        from ? (m.detachedAfterMs !== undefined ? `off ${name(from)} after ${m.detachedAfterMs} ms` : `${name(from)} was not holding it`) : '',
        m.maxUnheldMs > 0 ? `unheld for ${m.maxUnheldMs} ms at most` : 'never unheld',
      ].filter(Boolean);
      return `floating IP ${LAB_FLOATING_IP}: ${parts.join(', ')}; server now: ${m.holders.map(name).join(', ') || 'none'}`;
    },
    close: () => sim.close(),
  };
}
