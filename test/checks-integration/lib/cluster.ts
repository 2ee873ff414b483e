/**
 * Helpers for the engine-integration tests: real daemons (LocalCluster, loopback), their
 * status over the control socket and their JSON logs.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { LocalCluster, sleep, type LabNode, type LocalClusterOptions } from '../../../src/lab/local-cluster.js';
import type { InstanceStatus } from '../../../src/daemon/instance-runner.js';

export { sleep };
export type { LabNode };

/** Advert interval of the test clusters (and of their checks). */
export const INTERVAL = 100;
export const DEAD_RATIO = 3;

export interface TestClusterOptions extends Partial<LocalClusterOptions> {
  /** Check entries of node `index` (0 = lab1); `dir` is the cluster's temp dir (the config files' dir). */
  checks?: (index: number, dir: string) => unknown[];
  /** Extra instance keys of node `index` (e.g. preempt). */
  instance?: (index: number, dir: string) => Record<string, unknown>;
  /** `plugins:` of every node. */
  plugins?: (dir: string) => string[];
  /** Runs after the configs are written, before the daemons start (write files the checks read). */
  before?: (dir: string) => void;
}

/** A 2-node cluster (lab1 priority 150, lab2 100), started lab1 first; destroyed at teardown. */
export async function startCluster(t: { teardown(fn: () => unknown): void }, opts: TestClusterOptions = {}): Promise<LocalCluster> {
  const { checks, instance: inst, plugins, before, ...rest } = opts;
  const options: LocalClusterOptions = { nodes: 2, intervalMs: INTERVAL, deadRatio: DEAD_RATIO, ...rest };
  const c = new LocalCluster(options);
  t.teardown(() => c.destroy());
  options.instanceExtras = (i) => ({ ...(inst?.(i, c.dir) ?? {}), ...(checks ? { checks: checks(i, c.dir) } : {}) });
  if (plugins) options.extras = { ...options.extras, plugins: plugins(c.dir) };
  await c.prepare();
  before?.(c.dir);
  await c.start(c.nodes[0]!);
  await Promise.all(c.nodes.slice(1).map((n) => c.start(n)));
  return c;
}

/** The node's (single) instance status, or undefined while it does not answer. */
export async function instance(c: LocalCluster, n: LabNode): Promise<InstanceStatus | undefined> {
  return (await c.status(n))?.instances[0] as InstanceStatus | undefined;
}

/** Waits until `id` is the only MASTER and stays it for 3 intervals. */
export async function stableMaster(c: LocalCluster, id: string, timeoutMs = 10_000): Promise<void> {
  await c.waitFor(`${id} the only stable MASTER`, timeoutMs, async () => {
    if ((await c.masters()).join() !== id) return undefined;
    await sleep(3 * INTERVAL);
    return (await c.masters()).join() === id ? true : undefined;
  });
}

/** Waits until the node's instance status satisfies `pred`; returns that status. */
export async function waitStatus(c: LocalCluster, n: LabNode, what: string, pred: (s: InstanceStatus) => boolean, timeoutMs = 5000): Promise<InstanceStatus> {
  return c.waitFor(`${n.id}: ${what}`, timeoutMs, async () => {
    const s = await instance(c, n);
    return s && pred(s) ? s : undefined;
  });
}

/** Transitions the node logged so far ({from, to, reason}), oldest first. */
export function transitions(n: LabNode): { from: string; to: string; reason: string }[] {
  let text = '';
  try {
    text = readFileSync(n.logFile, 'utf8');
  } catch {
    return [];
  }
  const out: { from: string; to: string; reason: string }[] = [];
  for (const line of text.split('\n')) {
    if (!line.includes('"transition"')) continue;
    try {
      const rec = JSON.parse(line) as { event?: string; from: string; to: string; reason: string };
      if (rec.event === 'transition') out.push({ from: rec.from, to: rec.to, reason: rec.reason });
    } catch {
      // a line being written
    }
  }
  return out;
}

/** Writes `text` to `file` (a file check's value: "0" passes, anything else fails). */
export function setFile(file: string, text: string): void {
  writeFileSync(file, `${text}\n`);
}
