/** The benchmark's raw results (written as JSON, read back to render the report). */
import type { LossResult, TrialResult } from './scenarios.js';
import type { ProcessUsage } from './resources.js';
import type { BenchCloudName } from './clouds.js';

export interface ResourceRow {
  tool: 'ipwarden' | 'keepalived';
  /** e.g. "3 nodes in netns, ip-alias + exoscale-eip + file check" */
  setup: string;
  intervalMs: number;
  /** Peers each node has. */
  peers: number;
  seconds: number;
  perNode: ProcessUsage[];
}

export interface BenchMeta {
  date: string;
  /** git HEAD at the start (+ "-dirty" when the work tree had changes): what dist/ was built from. */
  commit?: string;
  machine: { cpu: string; cores: number; memoryGb: number; kernel: string; node: string; keepalived: string; loadBefore: string; loadAfter?: string };
  runs: number;
  quick: boolean;
  intervalsMs: number[];
  scenarios: string[];
  lossSeconds: number;
  lossWindows: number;
  apiDelayMs: number;
  checkIntervalMs: number;
  resourceSeconds: number;
  /** The labs' subnet (absent in runs before --subnet: 198.51.100.0/24). */
  subnet?: string;
  /**
   * Where host-loss times count from: 'link-down', the kernel's event of the cut (runs from
   * 2026-12-05 on); absent: the start of the `ip link set down` command, 5-15 ms earlier.
   */
  hostLossFrom?: 'link-down';
  /** Cloud run: the clouds, each one's simulated operation time and where it comes from. */
  clouds?: { cloud: BenchCloudName; title: string; plugin: string; holderMode: 'single' | 'multi'; opTimeMs: number; opTimeSource: string; peer: string }[];
  durationS?: number;
  /** Anything that went wrong outside a trial (a phase that failed). */
  errors: string[];
}

export interface BenchResults {
  meta: BenchMeta;
  trials: TrialResult[];
  loss: LossResult[];
  resources: ResourceRow[];
}

/**
 * Several partial runs as one (e.g. a run stopped after some phases and a second run of the rest):
 * trials, loss windows and resource rows concatenated; meta from the first, with the union of the
 * intervals and phases, summed durations and every part's errors.
 */
export function mergeResults(parts: BenchResults[]): BenchResults {
  if (parts.length === 0) throw new Error('mergeResults: nothing to merge');
  const first = parts[0]!;
  const union = <T>(xs: T[][]): T[] => [...new Set(xs.flat())];
  return {
    meta: {
      ...first.meta,
      runs: Math.max(...parts.map((p) => p.meta.runs)),
      intervalsMs: union(parts.map((p) => p.meta.intervalsMs)),
      scenarios: union(parts.map((p) => p.meta.scenarios)),
      ...(parts.some((p) => p.meta.clouds) ? { clouds: [...new Map(parts.flatMap((p) => p.meta.clouds ?? []).map((c) => [c.cloud, c])).values()] } : {}),
      durationS: parts.reduce((s, p) => s + (p.meta.durationS ?? 0), 0),
      machine: { ...first.meta.machine, ...(parts.at(-1)!.meta.machine.loadAfter ? { loadAfter: parts.at(-1)!.meta.machine.loadAfter } : {}) },
      errors: parts.flatMap((p, i) => p.meta.errors.map((e) => (parts.length > 1 ? `part ${i + 1}: ${e}` : e))),
      ...(parts.some((p) => p.loss.length) ? { lossWindows: Math.max(...parts.map((p) => (p.loss.length ? p.meta.lossWindows : 0))), lossSeconds: parts.find((p) => p.loss.length)!.meta.lossSeconds } : {}),
    },
    trials: parts.flatMap((p) => p.trials),
    loss: parts.flatMap((p) => p.loss),
    resources: parts.flatMap((p) => p.resources),
  };
}
