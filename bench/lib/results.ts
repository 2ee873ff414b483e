/** The benchmark's raw results (written as JSON, read back to render the report). */
import type { LossResult, TrialResult } from './scenarios.js';
import type { ProcessUsage } from './resources.js';

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
