/**
 * The reload cases of test/daemon/reload-*.test.ts: a reload changes an instance's state only when
 * the new config demands it (issue 12). A MASTER (lab1) with a live BACKUP (lab2), both with exoscale-eip on the API
 * simulator; each kind of change on the MASTER and on the BACKUP. Transitions are judged from the
 * daemons' own records (their JSON logs, with their timestamps), the Elastic IP from the
 * simulator's attach/detach history.
 */
import type { Test } from 'tap';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CLI_ENTRY } from '../../../src/lab/local-cluster.js';
import {
  DEAD_RATIO,
  INTERVAL,
  doubleMasters,
  editConfig,
  sighup,
  sleep,
  startReloadCluster,
  transitions,
  type LabNode,
  type LoggedTransition,
  type ReloadCluster,
} from './reload-cluster.js';
export { INTERVAL };

export const RECORDER = fileURLToPath(new URL('../../lib/recorder-action.mjs', import.meta.url));
/** How long "nothing happens" is watched after a reload: several master-down periods. */
export const QUIET_MS = 4 * DEAD_RATIO * INTERVAL;

export const fileCheck = (dir: string, extra: Record<string, unknown> = {}) => ({ plugin: 'file', name: 'f', path: join(dir, 'flag'), interval: `${INTERVAL}ms`, weight: 0, ...extra });

export type Edit = (cfg: any, dir: string) => void;

/** `ipwarden reload` for node n: exit code and output. */
export function cliReload(n: LabNode): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [CLI_ENTRY, 'reload', '--control', n.control], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

export function eipCalls(rc: ReloadCluster, since: number): string[] {
  const name = (id: string | undefined) => (id === rc.lab!.instanceIds[0] ? 'lab1' : id === rc.lab!.instanceIds[1] ? 'lab2' : String(id));
  return rc.lab!.sim.state
    .events()
    .filter((e) => e.t >= since && (e.type === 'attach' || e.type === 'detach'))
    .map((e) => `${e.type} ${name(e.instance)}`);
}

export const brief = (ts: LoggedTransition[]) => ts.map((x) => `${x.node}:${x.instance} ${x.from}->${x.to}`);

export interface Case {
  name: string;
  /** Edits of lab1's (0) and lab2's (1) files, applied in this order (each node reloads after its edit). */
  edits: [index: 0 | 1, edit: Edit][];
  /** Transitions expected after the reload (both nodes), as "node:instance FROM->TO", in order per node. */
  expect?: string[];
  /** Attach/detach calls expected after the reload. */
  eip?: string[];
  /** Waits for the new state before judging (for cases with transitions). */
  settled?: (rc: ReloadCluster) => Promise<unknown>;
  instance?: (i: number, dir: string) => Record<string, unknown>;
  nodeExtras?: (i: number, dir: string) => Record<string, unknown>;
  before?: (dir: string) => void;
  /** Waits after edit i (before the next one). */
  after?: Record<number, (rc: ReloadCluster) => Promise<unknown>>;
  /**
   * Preemption (a MASTER hears a better MASTER and yields) overlaps by one advert's flight plus
   * the event loops' lag on a loaded machine: the longest two-MASTER stretch allowed (default 0: none at all).
   */
  overlapMs?: number;
  /** Reload through `ipwarden reload` instead of SIGHUP. */
  cli?: boolean;
  refused?: RegExp;
}

export async function runCase(t: Test, k: Case): Promise<void> {
  let dir = '';
  const rc = await startReloadCluster(t, {
    eip: true,
    ...(k.instance ? { instance: k.instance } : {}),
    before: (d) => {
      dir = d;
      writeFileSync(join(d, 'flag'), '0\n');
      k.before?.(d);
    },
    ...(k.nodeExtras ? { nodeExtras: (i: number) => k.nodeExtras!(i, dir) } : {}),
  });
  const { c } = rc;
  const nodes = [rc.master, rc.backup];
  const seen = nodes.map((n) => transitions(n).length);
  const since = Date.now();
  for (const [step, [i, edit]] of k.edits.entries()) {
    const n = nodes[i]!;
    editConfig(n, (cfg) => edit(cfg, c.dir));
    if (k.cli) {
      const r = cliReload(n);
      if (k.refused) {
        t.equal(r.code, 1, `${n.id}: ipwarden reload exits 1`);
        t.match(r.err, k.refused, `${n.id}: with the daemon's error`);
      } else t.equal(r.code, 0, `${n.id}: ipwarden reload exits 0 (${r.err.trim()})`);
    } else {
      const outcome = await sighup(c, n);
      if (k.refused) t.match(String(outcome.err), k.refused, `${n.id}: refused, naming the problem`);
      else t.equal(outcome.event, 'reloaded', `${n.id}: reloaded (${String(outcome.err ?? outcome.changes)})`);
    }
    const st = await c.status(n);
    t.equal(st?.lastReload?.ok, !k.refused, `${n.id}: status lastReload.ok`);
    t.match(st?.lastReload?.configHash, /^[0-9a-f]{16}$/, `${n.id}: status lastReload.configHash`);
    if (k.refused) t.match(st?.lastReload?.error, k.refused, `${n.id}: status lastReload.error`);
    await k.after?.[step]?.(rc);
  }
  if (k.settled) await k.settled(rc);
  await sleep(QUIET_MS); // observation window: nothing else may happen
  const after = nodes.flatMap((n, i) => transitions(n).slice(seen[i]));
  const per = (id: string) => brief(after.filter((x) => x.node === id));
  const expected = k.expect ?? [];
  t.same({ lab1: per('lab1'), lab2: per('lab2') }, { lab1: expected.filter((e) => e.startsWith('lab1:')), lab2: expected.filter((e) => e.startsWith('lab2:')) }, 'transitions on both nodes');
  // a hand-over's attach (new MASTER) and detach (old one, now BACKUP) race: their order is the controller's business
  t.same(eipCalls(rc, since).sort(), [...(k.eip ?? [])].sort(), 'attach/detach calls');
  const all = nodes.flatMap((n) => transitions(n));
  // the whole history gives each node's state at the reload; only overlaps since then are the reload's
  const doubles = doubleMasters(all).filter((d) => d.to > since);
  if (!k.overlapMs) t.same(doubles, [], 'never two MASTERs at once (from the transition timestamps)');
  else {
    const longest = Math.max(0, ...doubles.map((d) => d.to - d.from));
    t.ok(doubles.length <= 1 && longest <= k.overlapMs, `two MASTERs at most once, for ${longest} ms (bound ${k.overlapMs} ms, from the transition timestamps)`);
  }
}

export const both = (edit: Edit): [0 | 1, Edit][] => [[0, edit], [1, edit]];
export const onMaster = (edit: Edit): [0 | 1, Edit][] => [[0, edit]];
export const onBackup = (edit: Edit): [0 | 1, Edit][] => [[1, edit]];
export const withCheck = { instance: (_i: number, dir: string) => ({ checks: [fileCheck(dir)] }) };
export const eipOf = (cfg: any) => cfg.instances.lab.actions.find((a: any) => a.plugin === 'exoscale-eip');

