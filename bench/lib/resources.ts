/**
 * CPU and memory of daemon processes, from /proc: CPU = (utime + stime) ticks over a wall-clock
 * window, as % of one core; RSS = VmRSS at the end of the window (and its maximum, VmHWM).
 */
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { sleep } from '../../src/lab/local-cluster.js';

export interface ProcessUsage {
  /** % of one core over the window. */
  cpuPercent: number;
  rssMb: number;
  peakRssMb: number;
}

const TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of a process, in ticks (undefined when gone). */
export function cpuTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // after "pid (comm) ": state=0 ... utime=11 stime=12
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

function statusKb(pid: number, key: string): number {
  try {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

/** Measures each group of PIDs (one group = one node: summed) over `seconds`. */
export async function measure(groups: number[][], seconds: number): Promise<ProcessUsage[]> {
  const before = groups.map((g) => g.map((p) => cpuTicks(p) ?? NaN));
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const wall = (performance.now() - t0) / 1000;
  return groups.map((g, i) => {
    const ticks = g.reduce((sum, p, k) => sum + ((cpuTicks(p) ?? NaN) - before[i]![k]!), 0);
    return {
      cpuPercent: (ticks / TICKS / wall) * 100,
      rssMb: g.reduce((s, p) => s + statusKb(p, 'VmRSS'), 0) / 1024,
      peakRssMb: g.reduce((s, p) => s + statusKb(p, 'VmHWM'), 0) / 1024,
    };
  });
}

/** CPU tick resolution as % of a core over a window: the smallest CPU figure the window can tell apart from 0. */
export function cpuResolution(seconds: number): number {
  return (1 / TICKS / seconds) * 100;
}
