/**
 * The DigitalOcean side of `ipwarden lab --provider digitalocean`: the DigitalOcean simulator in process
 * on loopback, one simulated droplet per lab node (lb1, lb2, ...), each node configured with the
 * digitalocean-reserved-ip action, and each move measured from the simulator's holder history.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CloudLab, CloudLabOptions, LabMove } from '../cloud/registry.js';
import type { HolderEvent } from '../cloud/simulator-kit/index.js';
import { formatDuration } from '../util/duration.js';
import { LAB_RESERVED_IP, startDigitalOceanSimulator } from './simulator/index.js';

/** Pure: when `to` got the IP and `from` lost it after `since`, from the holder events of the IP. */
export function reservedIpMove(events: readonly HolderEvent[], since: number, to: string, from: string | undefined): Pick<LabMove, 'attachedAfterMs' | 'detachedAfterMs'> {
  const after = events.filter((e) => e.t >= since && e.resource === LAB_RESERVED_IP);
  const attach = after.find((e) => e.holders.includes(to));
  const detach = from ? after.find((e) => !e.holders.includes(from)) : undefined;
  return { ...(attach ? { attachedAfterMs: attach.t - since } : {}), ...(detach ? { detachedAfterMs: detach.t - since } : {}) };
}

export async function startDigitalOceanCloudLab(opts: CloudLabOptions): Promise<CloudLab> {
  const sim = await startDigitalOceanSimulator({ port: 0, host: '127.0.0.1', actionDelayMs: opts.operationDelayMs });
  const targets: string[] = [];
  for (let i = 0; i < opts.nodes; i++) {
    const name = `lb${i + 1}`;
    const d = sim.world.findDroplet(name) ?? sim.world.addDroplet({ name, tags: ['lb'], publicIp: `203.0.113.${11 + i}`, privateIp: `10.110.0.${11 + i}`, anchorIp: `10.20.0.${11 + i}` });
    targets.push(String(d.id));
  }
  const tokenFile = join(opts.dir, 'do-token');
  writeFileSync(tokenFile, sim.tokens.full[0]!, { mode: 0o600 });
  const name = (target: string): string => sim.world.findDroplet(target)?.name ?? target;
  return {
    address: LAB_RESERVED_IP,
    banner: `DigitalOcean API simulator on ${sim.url} (action delay ${formatDuration(opts.operationDelayMs)}): reserved IP ${LAB_RESERVED_IP}`,
    targets,
    instanceExtras: (i) => ({
      actions: [{ plugin: 'digitalocean-reserved-ip', endpoint: sim.url, token: `file:${tokenFile}`, dropletId: targets[i] }],
    }),
    holders: () => {
      const d = sim.world.reservedIps.get(LAB_RESERVED_IP)?.dropletId;
      return d === null || d === undefined ? [] : [String(d)];
    },
    name,
    onHolderChange: (listener) =>
      sim.onChange((e) => {
        if (e.ip !== LAB_RESERVED_IP) return;
        const holders = e.dropletId === null ? [] : [String(e.dropletId)];
        if (e.previous !== null && e.dropletId === null) listener({ type: 'detach', target: String(e.previous), holders });
        if (e.dropletId !== null) listener({ type: 'attach', target: String(e.dropletId), holders });
      }),
    measureMove(since, to, from) {
      const tl = sim.history.timeline(LAB_RESERVED_IP, since);
      return { ...reservedIpMove(sim.history.events(since), since, to, from), maxMultiHolderMs: tl.maxMultiHolderMs, maxUnheldMs: tl.maxUnheldMs, holders: tl.holders };
    },
    describeMove(m, to, from, what) {
      const parts = [
        m.attachedAfterMs !== undefined ? `assigned to ${name(to)} ${m.attachedAfterMs} ms after ${what}` : `never assigned to ${name(to)}`,
        from ? (m.detachedAfterMs !== undefined ? `off ${name(from)} after ${m.detachedAfterMs} ms${m.detachedAfterMs === m.attachedAfterMs ? ' (the same action)' : ' (unassigned by its own release)'}` : `not on ${name(from)} before`) : '',
        m.maxUnheldMs > 0 ? `unheld for ${m.maxUnheldMs} ms at most` : 'never unheld',
      ].filter(Boolean);
      return `reserved IP ${LAB_RESERVED_IP}: ${parts.join(', ')}; holders now: ${m.holders.map(name).join(', ') || 'none'}`;
    },
    close: () => sim.close(),
  };
}
