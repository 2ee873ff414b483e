/** What both benchmarks report about the machine they ran on (each adds its tool's version). */
import { readFileSync } from 'node:fs';
import os from 'node:os';

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGb: number;
  kernel: string;
  node: string;
  /** Load averages (1, 5, 15 min) when the run started. */
  loadBefore: string;
}

/** The load averages (1, 5, 15 min) now, as "0.52 0.61 0.70". */
export function loadAverage(): string {
  return os.loadavg().map((l) => l.toFixed(2)).join(' ');
}

export function machineInfo(): MachineInfo {
  const cpu = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown CPU';
  return {
    cpu,
    cores: os.cpus().length,
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    node: process.version,
    loadBefore: loadAverage(),
  };
}
