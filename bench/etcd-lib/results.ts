/** Raw results of `npm run bench:etcd` (written as JSON, read back to render the report). */
import type { LoadResult } from './load.js';
import type { FailoverTrial } from './scenarios.js';

export interface EtcdBenchMeta {
  date: string;
  command: string;
  machine: { cpu: string; cores: number; memoryGb: number; kernel: string; node: string; etcd: string; loadBefore: string; loadAfter?: string };
  /** Other benchmark/test processes seen running at the start (the machine is shared). */
  concurrent: string[];
  runs: number;
  quick: boolean;
  scenarios: string[];
  faults: string[];
  loadSeconds: number;
  burstSeconds: number;
  durationS?: number;
  /** Phases that failed outside a trial. */
  errors: string[];
  /** Stopped by Ctrl-C: partial results. */
  aborted?: boolean;
  /** The load results were kept from an earlier run (--load-from), not measured in this one. */
  loadFrom?: { date: string; command: string; machine: EtcdBenchMeta['machine']; concurrent: string[] };
}

export interface EtcdBenchResults {
  meta: EtcdBenchMeta;
  failover: FailoverTrial[];
  load: LoadResult[];
}
