/**
 * Reload tests: two real daemons (child processes on loopback), optionally with the exoscale-eip
 * action on the API simulator; their transitions as they recorded them (the JSON log's
 * `transition` events, with the daemon's own timestamps) and the simulator's attach/detach history.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { LocalCluster, sleep, type LabNode, type LocalClusterOptions } from '../../../src/lab/local-cluster.js';
import { startEipLab, type EipLab } from '../../../src/lab/exoscale-lab.js';
import type { InstanceStatus } from '../../../src/daemon/instance-runner.js';

export { sleep };
export type { LabNode };

export const INTERVAL = 100;
export const DEAD_RATIO = 3;

export interface LoggedTransition {
  node: string;
  instance: string;
  from: string;
  to: string;
  reason: string;
  /** Wall clock ms, as the daemon logged it. */
  at: number;
}

/** The JSON log's records with `event` (oldest first). */
export function events(n: LabNode, event?: string): Record<string, unknown>[] {
  let text = '';
  try {
    text = readFileSync(n.logFile, 'utf8');
  } catch {
    return [];
  }
  const out: Record<string, unknown>[] = [];
  for (const line of text.split('\n')) {
    if (!line.includes('"event"')) continue;
    try {
      const rec = JSON.parse(line) as Record<string, unknown>;
      if (event === undefined || rec.event === event) out.push(rec);
    } catch {
      // a line being written
    }
  }
  return out;
}

/** The node's transitions as its daemon recorded them. */
export function transitions(n: LabNode): LoggedTransition[] {
  return events(n, 'transition').map((r) => ({
    node: n.id,
    instance: String(r.instance ?? ''),
    from: String(r.from),
    to: String(r.to),
    reason: String(r.reason),
    at: Date.parse(String(r.time)),
  }));
}

/**
 * Intervals during which two or more nodes were MASTER of `instance`, from the nodes' own
 * transition timestamps (a poll of the sockets one after another cannot see short overlaps).
 */
export function doubleMasters(all: readonly LoggedTransition[], instance = 'lab'): { from: number; to: number; nodes: string[] }[] {
  const ts = all.filter((t) => t.instance === instance).sort((a, b) => a.at - b.at);
  const masters = new Set<string>();
  const out: { from: number; to: number; nodes: string[] }[] = [];
  let openSince: number | undefined;
  for (const t of ts) {
    if (t.to === 'MASTER') masters.add(t.node);
    else masters.delete(t.node);
    if (masters.size > 1 && openSince === undefined) openSince = t.at;
    if (masters.size <= 1 && openSince !== undefined) {
      out.push({ from: openSince, to: t.at, nodes: [] });
      openSince = undefined;
    }
  }
  if (openSince !== undefined) out.push({ from: openSince, to: Infinity, nodes: [...masters] });
  return out;
}

export interface ReloadCluster {
  c: LocalCluster;
  lab: EipLab | undefined;
  master: LabNode;
  backup: LabNode;
}

export interface ReloadClusterOptions extends Partial<LocalClusterOptions> {
  /** With the exoscale-eip action on the simulator. */
  eip?: boolean;
  /** The nodes (indexes) with the action (default both). */
  eipOn?: number[];
  /** Extra instance keys of node i (checks, ...). */
  instance?: (i: number, dir: string) => Record<string, unknown>;
  before?: (dir: string) => void;
}

/** lab1 (priority 150) MASTER, lab2 (100) BACKUP; with eip, the EIP on lab1 alone. */
export async function startReloadCluster(t: { teardown(fn: () => unknown): void }, opts: ReloadClusterOptions = {}): Promise<ReloadCluster> {
  const { eip, eipOn, instance, before, ...rest } = opts;
  let lab: EipLab | undefined;
  const options: LocalClusterOptions = { nodes: 2, intervalMs: INTERVAL, deadRatio: DEAD_RATIO, firstHost: 71, ...rest };
  const c = new LocalCluster(options);
  const withEip = (i: number) => lab !== undefined && (eipOn ?? [0, 1]).includes(i);
  options.instanceExtras = (i) => ({ ...(withEip(i) ? lab!.instanceExtras(i) : {}), ...(instance?.(i, c.dir) ?? {}) });
  t.teardown(async () => {
    await c.destroy();
    await lab?.close();
  });
  if (eip) lab = await startEipLab({ nodes: 2, dir: c.dir, operationDelayMs: 20, action: { startupGrace: '0s' } });
  await c.prepare();
  before?.(c.dir);
  const [master, backup] = c.nodes as [LabNode, LabNode];
  await c.start(master);
  await c.start(backup);
  await c.waitFor('lab1 the only stable MASTER', 10_000, async () => {
    if ((await c.masters()).join() !== 'lab1') return undefined;
    const b = await status(c, backup);
    if (b?.state !== 'BACKUP' || b.master !== 'lab1') return undefined;
    if (lab && withEip(0) && lab.holders().join() !== lab.instanceIds[0]) return undefined;
    return true;
  });
  return { c, lab, master, backup };
}

export async function status(c: LocalCluster, n: LabNode, name = 'lab'): Promise<InstanceStatus | undefined> {
  return (await c.status(n))?.instances.find((i) => i.instance === name) as InstanceStatus | undefined;
}

/** Rewrites node n's config through `edit` (the parsed JSON). */
export function editConfig(n: LabNode, edit: (config: any) => void): void {
  const config = JSON.parse(readFileSync(n.configFile, 'utf8'));
  edit(config);
  writeFileSync(n.configFile, JSON.stringify(config, null, 2));
}

/** SIGHUP, then waits until the daemon logged the outcome of that reload; returns the record. */
export async function sighup(c: LocalCluster, n: LabNode): Promise<Record<string, unknown>> {
  const before = events(n).filter((e) => e.event === 'reloaded' || e.event === 'reload-rejected').length;
  n.process!.kill('SIGHUP');
  return c.waitFor(`${n.id}: reload outcome in the log`, 10_000, async () => {
    const done = events(n).filter((e) => e.event === 'reloaded' || e.event === 'reload-rejected');
    return done.length > before ? done[done.length - 1] : undefined;
  });
}
