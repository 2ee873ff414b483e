/**
 * The chaos campaign's fault schedule: pure and seeded, so a seed replays the same schedule.
 *
 * The run is a sequence of episodes. An episode overlaps one to three faults (different nodes for node
 * faults, never all nodes at once, so a healthy node always exists), then leaves a quiet gap in which
 * the invariants about recovery are judged. Node 0 has the highest priority, so outside faults it is the
 * node that must hold the IP.
 */
import { seededRandom } from '../../src/cloud/simulator-kit/faults.js';

export const NODE_FAULTS = ['sigkill', 'sigstop', 'sigterm', 'link-cut', 'partition', 'loss', 'check-fail', 'reload', 'etcd-kill'] as const;
export const API_FAULTS = ['api-5xx', 'api-429', 'api-timeout', 'api-lost-answer', 'api-fail-change', 'api-latency'] as const;
export type NodeFaultKind = (typeof NODE_FAULTS)[number];
export type ApiFaultKind = (typeof API_FAULTS)[number];
export type FaultKind = NodeFaultKind | ApiFaultKind;

export interface PlannedFault {
  /** Sequence number in the schedule (stable for a seed). */
  id: number;
  kind: FaultKind;
  /** ms from the campaign start. */
  atMs: number;
  /** How long the fault lasts (restart delay for sigkill/sigterm; 0 for a reload). */
  durationMs: number;
  /** Node index for node faults. */
  node?: number;
  /** Loss percent (loss), error rate (api-5xx), added latency ms (api-latency), Retry-After s (api-429). */
  param?: number;
  episode: number;
}

export interface Episode {
  index: number;
  startMs: number;
  /** When its last fault is planned to end (the actual end is recorded by the executor). */
  endMs: number;
  /** Quiet until this instant (the next episode's start). */
  quietUntilMs: number;
}

export interface Schedule {
  seed: number;
  durationMs: number;
  nodes: number;
  faults: PlannedFault[];
  episodes: Episode[];
}

export interface ScheduleOptions {
  seed: number;
  durationMs: number;
  nodes: number;
  /** Advert interval × deadRatio: faults last around it, quiet gaps exceed it. */
  deadTimeMs: number;
  /** One API change (simulated operation time). */
  apiChangeMs: number;
  /** Fault kinds to draw from (default: all). */
  kinds?: readonly FaultKind[];
  /** Time before the first episode (cluster settles), ms. Default 3000. */
  warmupMs?: number;
}

/** The quiet gap after an episode: longer than the recovery bound of the invariants (recoveryBoundMs), plus room for restarts. */
export function quietGapMs(o: Pick<ScheduleOptions, 'deadTimeMs' | 'apiChangeMs'>): number {
  return o.deadTimeMs + Math.max(1000, 2 * o.apiChangeMs) + 2 * o.apiChangeMs + 4000;
}

export function buildSchedule(o: ScheduleOptions): Schedule {
  if (o.nodes < 2) throw new Error('chaos: at least 2 nodes');
  const random = seededRandom(o.seed);
  const between = (lo: number, hi: number): number => Math.round(lo + random() * (hi - lo));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const kinds = o.kinds ?? [...NODE_FAULTS, ...API_FAULTS];
  const nodeKinds = kinds.filter((k): k is NodeFaultKind => (NODE_FAULTS as readonly string[]).includes(k));
  const apiKinds = kinds.filter((k): k is ApiFaultKind => (API_FAULTS as readonly string[]).includes(k));
  const faults: PlannedFault[] = [];
  const episodes: Episode[] = [];
  const dead = o.deadTimeMs;
  let t = o.warmupMs ?? 3000;
  let id = 0;
  while (t < o.durationMs) {
    const index = episodes.length;
    const count = between(1, 3);
    const usedNodes = new Set<number>();
    let apiUsed = false;
    let end = t;
    for (let k = 0; k < count; k++) {
      const wantApi = apiKinds.length > 0 && !apiUsed && (nodeKinds.length === 0 || random() < 0.35);
      const atMs = t + between(0, Math.min(1500, dead * 2));
      let f: PlannedFault;
      if (wantApi) {
        apiUsed = true;
        const kind = pick(apiKinds);
        const durationMs = between(Math.max(500, o.apiChangeMs), Math.max(1500, 3 * o.apiChangeMs));
        const param = kind === 'api-5xx' ? between(30, 100) / 100 : kind === 'api-latency' ? between(200, 1500) : kind === 'api-429' ? between(1, 2) : undefined;
        f = { id: id++, kind, atMs, durationMs, episode: index, ...(param !== undefined ? { param } : {}) };
      } else {
        const free = Array.from({ length: o.nodes }, (_, i) => i).filter((i) => !usedNodes.has(i));
        // never every node at once: one healthy node stays
        if (free.length <= 1 || usedNodes.size >= o.nodes - 1 || nodeKinds.length === 0) continue;
        const node = pick(free);
        usedNodes.add(node);
        const kind = pick(nodeKinds);
        const durationMs =
          kind === 'reload' ? 0 : kind === 'sigkill' || kind === 'sigterm' || kind === 'etcd-kill' ? between(200, 2 * dead + 500) : between(Math.round(dead / 2), 3 * dead + 1000);
        const param = kind === 'loss' ? between(20, 50) : undefined;
        f = { id: id++, kind, atMs, durationMs, node, episode: index, ...(param !== undefined ? { param } : {}) };
      }
      faults.push(f);
      end = Math.max(end, f.atMs + f.durationMs);
    }
    const quietUntil = end + quietGapMs(o);
    episodes.push({ index, startMs: t, endMs: end, quietUntilMs: quietUntil });
    t = quietUntil;
  }
  // The last episode must end (and its quiet gap fit) inside the run.
  while (episodes.length > 0 && episodes[episodes.length - 1]!.quietUntilMs > o.durationMs + quietGapMs(o)) {
    const last = episodes.pop()!;
    for (let i = faults.length - 1; i >= 0; i--) if (faults[i]!.episode === last.index) faults.splice(i, 1);
  }
  return { seed: o.seed, durationMs: o.durationMs, nodes: o.nodes, faults, episodes };
}

/** One line per fault, for the run's log and a violation's context. */
export function describeFault(f: PlannedFault): string {
  const who = f.node !== undefined ? ` node ${f.node}` : '';
  const p = f.param !== undefined ? ` (${f.kind === 'loss' ? `${f.param} %` : f.kind === 'api-5xx' ? `rate ${f.param}` : f.kind === 'api-latency' ? `+${f.param} ms` : f.kind === 'api-429' ? `Retry-After ${f.param} s` : f.param})` : '';
  return `#${f.id} ${f.kind}${who}${p} at ${(f.atMs / 1000).toFixed(2)} s for ${f.durationMs} ms`;
}
