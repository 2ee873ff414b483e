/**
 * The chaos campaign's judge: pure. It reads only what does not trust the daemons — the cloud
 * simulator's change history (who holds the IP at every instant), `ip monitor` in each namespace (who
 * has the address), the executor's record of what it injected and when it cleared, process exits, log
 * lines and RSS samples — and returns every violation with the instant it happened.
 *
 * 1. holders: single-holder clouds never show two holders; multi-holder clouds show two only inside a
 *    make-before-break window (one API change + verify), stretched by API faults active at the time;
 * 2. recovery: after an episode's last fault clears, the IP is held by node 0 alone (the best node; every
 *    node is healthy and reachable in a quiet gap) within deadTime (deadRatio × interval, or the etcd
 *    lease TTL) + the confirming pass's settle time (a change another node sent before the clear lands
 *    unseen; see recoveryBoundMs) + node 0's own change (two on multi-holder clouds: attach, then the
 *    fencing detach) + 1 s + slack, the address is on
 *    node 0's interface only, and nothing moves again until the next episode;
 * 3. address: outside partition-like faults (link cut, partition, frozen host, loss burst, a SIGKILLed
 *    holder that cannot clean up; with etcd only the last two: etcd never elects two MASTERs) and
 *    their settle time, the address is on at most one interface;
 * 4. health: no daemon exits on its own, no unhandled rejection or uncaught exception in a log, nothing
 *    leaked; per node, the RSS of daemons past their start-up (running ≥ 60 s: V8's heap grows for a while
 *    after a start, and the campaign restarts daemons) grows < 10 % from the run's first to its last quarter;
 * 5. no retry storm: the most API calls in any second stays under a bound; calls per fault reported.
 */
import type { FaultKind, PlannedFault, Schedule } from './schedule.js';

export interface ExecutedFault {
  fault: PlannedFault;
  /** Epoch ms the fault was injected. */
  startT: number;
  /** Epoch ms it was cleared (daemon restarted and answering, link up, faults removed). */
  clearT: number;
}

export interface Observations {
  /** Epoch ms of the campaign's time 0 and of its end. */
  startT: number;
  endT: number;
  nodes: number;
  holderMode: 'single' | 'multi';
  /** The cloud's holder changes, holders as node indices (unknown targets as -1). */
  holderEvents: Array<{ t: number; holders: number[] }>;
  initialHolders: number[];
  /** `ip monitor` events for the address. */
  addressEvents: Array<{ t: number; host: number; added: boolean }>;
  initialAddress: number[];
  executed: ExecutedFault[];
  /** Daemon exits the executor did not cause. */
  crashes: Array<{ t: number; node: number; detail: string }>;
  /** Log lines telling of unhandled errors. */
  errorLines: Array<{ node: number; line: string }>;
  /** Leftovers found after teardown (namespaces, nftables tables, processes). */
  leaks: string[];
  /** RSS samples; `ageMs` is how long that daemon process had been running. */
  rss: Array<{ t: number; node: number; pid: number; kb: number; ageMs: number }>;
  /** `node`: the caller's node (by its host address); absent when the caller was none of them. */
  apiCalls: Array<{ t: number; call: string; node?: number }>;
}

export interface Bounds {
  /** How long a dead MASTER goes unnoticed: deadRatio × advert interval, or the etcd lease TTL. */
  deadTimeMs: number;
  /** Fault kinds during which (plus a settle time) the address may be on two interfaces (default: the partition-like ones). */
  addressExempt?: readonly FaultKind[];
  /** One API change (operation time) as configured in the simulator. */
  apiChangeMs: number;
  /** Slack for verify round trips, scheduling and process start on a busy machine. */
  slackMs: number;
  /** API calls in any one second (all nodes). */
  maxCallsPerSecond: number;
}

export type InvariantName = 'holders' | 'recovery' | 'address' | 'health' | 'api-calls';

export interface Violation {
  invariant: InvariantName;
  /** Epoch ms. */
  t: number;
  message: string;
}

export interface Verdict {
  violations: Violation[];
  /** Invariant checks made, by invariant. */
  checks: Record<InvariantName, number>;
  /** Recovery time (ms from the episode's last clear to converged) by the kind of fault that cleared last. */
  recovery: Partial<Record<FaultKind, number[]>>;
  /** Faults injected, by kind. */
  injected: Partial<Record<FaultKind, number>>;
  maxCallsPerSecond: number;
  /** Epoch ms of the start of the busiest second (undefined: no API call). */
  maxCallsAt?: number;
  /** The busiest second's calls by node ("?" for a caller that is no node). */
  maxCallsByNode?: Record<string, number>;
  /** The busiest second of any one node, its calls by kind. */
  busiestNode?: { node: number; t: number; calls: number; byCall: Record<string, number> };
  /** API calls inside episodes (from start to converged) divided by the faults injected. */
  callsPerFault: number;
  longestMultiHolderMs: number;
  longestUnheldMs: number;
  /** The recovery bound applied (ms after the last clear). */
  recoveryBoundMs: number;
  /** Per node: mean RSS of settled daemons in the first and the last quarter of the run. */
  rssGrowth: Array<{ node: number; firstKb: number; lastKb: number }>;
}

const PARTITION_LIKE: readonly FaultKind[] = ['link-cut', 'partition', 'sigstop', 'loss', 'sigkill'];
/** A daemon's RSS counts once it has run this long. */
export const RSS_MIN_AGE_MS = 60_000;
const API_KINDS = new Set<FaultKind>(['api-5xx', 'api-429', 'api-timeout', 'api-lost-answer', 'api-fail-change', 'api-latency']);

interface Interval {
  from: number;
  to: number;
  value: number[];
}

/** Piecewise-constant sets over [start, end] from change events. */
function intervals(initial: number[], changes: Array<{ t: number; set: number[] }>, start: number, end: number): Interval[] {
  const out: Interval[] = [];
  let cur: Interval = { from: start, to: end, value: [...initial].sort() };
  for (const c of [...changes].sort((a, b) => a.t - b.t)) {
    if (c.t <= start) {
      cur.value = [...c.set].sort();
      continue;
    }
    if (c.t >= end) break;
    cur.to = c.t;
    out.push(cur);
    cur = { from: c.t, to: end, value: [...c.set].sort() };
  }
  out.push(cur);
  return out.filter((iv) => iv.to > iv.from);
}

function addressChanges(obs: Observations): Array<{ t: number; set: number[] }> {
  const present = new Set(obs.initialAddress);
  return [...obs.addressEvents]
    .sort((a, b) => a.t - b.t)
    .map((e) => {
      if (e.added) present.add(e.host);
      else present.delete(e.host);
      return { t: e.t, set: [...present] };
    });
}

function overlap(a: { from: number; to: number }, windows: Array<{ from: number; to: number }>): number {
  // windows may overlap each other: merge first
  const merged = mergeWindows(windows);
  let sum = 0;
  for (const w of merged) sum += Math.max(0, Math.min(a.to, w.to) - Math.max(a.from, w.from));
  return sum;
}

function mergeWindows(ws: Array<{ from: number; to: number }>): Array<{ from: number; to: number }> {
  const sorted = [...ws].sort((a, b) => a.from - b.from);
  const out: Array<{ from: number; to: number }> = [];
  for (const w of sorted) {
    const last = out[out.length - 1];
    if (last && w.from <= last.to) last.to = Math.max(last.to, w.to);
    else out.push({ ...w });
  }
  return out;
}

const same = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * The recovery bound after an episode's last clear: deadTime + the confirming pass's settle time
 * (max(1 s, 2 × one change): it finds a change another node sent before the clear) + node 0's own move
 * (one change; two on multi-holder clouds) + 1 s + slack.
 */
export function recoveryBoundMs(b: Pick<Bounds, 'deadTimeMs' | 'apiChangeMs' | 'slackMs'>, mode: 'single' | 'multi'): number {
  return b.deadTimeMs + Math.max(1000, 2 * b.apiChangeMs) + b.apiChangeMs * (mode === 'multi' ? 2 : 1) + 1000 + b.slackMs;
}

export function judge(schedule: Schedule, obs: Observations, b: Bounds): Verdict {
  const violations: Violation[] = [];
  const checks: Record<InvariantName, number> = { holders: 0, recovery: 0, address: 0, health: 0, 'api-calls': 0 };
  const recovery: Partial<Record<FaultKind, number[]>> = {};
  const injected: Partial<Record<FaultKind, number>> = {};
  for (const e of obs.executed) injected[e.fault.kind] = (injected[e.fault.kind] ?? 0) + 1;

  const holderIvs = intervals(obs.initialHolders, obs.holderEvents.map((e) => ({ t: e.t, set: e.holders })), obs.startT, obs.endT);
  const addrIvs = intervals(obs.initialAddress, addressChanges(obs), obs.startT, obs.endT);
  const apiWindows = obs.executed
    .filter((e) => API_KINDS.has(e.fault.kind))
    .map((e) => ({ from: e.startT, to: e.clearT + b.apiChangeMs + b.slackMs }));
  const settle = b.deadTimeMs + b.slackMs;
  const partitionWindows = obs.executed
    .filter((e) => (b.addressExempt ?? PARTITION_LIKE).includes(e.fault.kind))
    .map((e) => ({ from: e.startT, to: e.clearT + settle + b.apiChangeMs }));

  // 1. holders
  const multiAllowed = b.apiChangeMs + b.slackMs;
  let longestMulti = 0;
  let longestUnheld = 0;
  let seenHolder = obs.initialHolders.length > 0;
  for (const iv of holderIvs) {
    checks.holders++;
    const len = iv.to - iv.from;
    if (iv.value.length > 0) seenHolder = true;
    else if (seenHolder) longestUnheld = Math.max(longestUnheld, len);
    if (iv.value.length < 2) continue;
    longestMulti = Math.max(longestMulti, len);
    if (obs.holderMode === 'single') {
      violations.push({ invariant: 'holders', t: iv.from, message: `two holders (${iv.value.join(', ')}) on a single-holder cloud for ${len} ms` });
    } else if (len - overlap(iv, apiWindows) > multiAllowed) {
      violations.push({
        invariant: 'holders',
        t: iv.from,
        message: `holders ${iv.value.join(', ')} for ${len} ms (make-before-break window ${multiAllowed} ms, ${Math.round(overlap(iv, apiWindows))} ms of it under API faults)`,
      });
    }
  }

  // 3. address on at most one interface outside partition-like faults
  for (const iv of addrIvs) {
    checks.address++;
    if (iv.value.length < 2) continue;
    const len = iv.to - iv.from;
    const exempt = overlap(iv, partitionWindows);
    if (len - exempt > b.slackMs) {
      violations.push({ invariant: 'address', t: iv.from, message: `address on nodes ${iv.value.join(', ')} for ${len} ms (${Math.round(exempt)} ms of it inside partition-like faults)` });
    }
  }

  // 2. recovery per episode
  // A change still in flight at the clear (sent by the node that was MASTER during the fault) lands up to
  // one change later, unseen by node 0's read: node 0's confirming pass finds it (the controller's settle
  // time, twice the longest change, at least 1 s), then node 0's own move: one change (two on multi-holder
  // clouds: the attach, then the fencing detach)
  const recoveryBound = recoveryBoundMs(b, obs.holderMode);
  let episodeCalls = 0;
  for (const ep of schedule.episodes) {
    const mine = obs.executed.filter((e) => e.fault.episode === ep.index);
    if (mine.length === 0) continue;
    const clear = Math.max(...mine.map((e) => e.clearT));
    const last = mine.reduce((a, e) => (e.clearT > a.clearT ? e : a));
    const next = obs.executed.filter((e) => e.fault.episode > ep.index).map((e) => e.startT);
    const quietEnd = Math.min(obs.endT, ...(next.length > 0 ? next : [obs.endT]));
    checks.recovery++;
    const good = (t: number): boolean => {
      const h = holderIvs.find((iv) => iv.from <= t && t < iv.to)?.value ?? [];
      const a = addrIvs.find((iv) => iv.from <= t && t < iv.to)?.value ?? [];
      return same(h, [0]) && same(a, [0]);
    };
    // candidate instants: the clear itself and every change after it
    const instants = [clear, ...holderIvs.map((iv) => iv.from), ...addrIvs.map((iv) => iv.from)].filter((t) => t >= clear && t < quietEnd).sort((a, b2) => a - b2);
    const converged = instants.find((t) => good(t) && instants.filter((u) => u > t).every((u) => good(u)));
    const startEp = Math.min(...mine.map((e) => e.startT));
    episodeCalls += obs.apiCalls.filter((c) => c.t >= startEp && c.t <= (converged ?? quietEnd)).length;
    if (converged === undefined) {
      violations.push({ invariant: 'recovery', t: clear, message: `episode ${ep.index}: not held by node 0 alone before the next episode (${Math.round(quietEnd - clear)} ms of quiet)` });
      continue;
    }
    const took = converged - clear;
    (recovery[last.fault.kind] ??= []).push(Math.round(took));
    if (took > recoveryBound) {
      violations.push({ invariant: 'recovery', t: clear, message: `episode ${ep.index}: held by node 0 alone ${Math.round(took)} ms after the last fault cleared (bound ${recoveryBound} ms)` });
    }
  }

  // 4. health
  for (const c of obs.crashes) {
    checks.health++;
    violations.push({ invariant: 'health', t: c.t, message: `node ${c.node} daemon exited on its own: ${c.detail}` });
  }
  for (const l of obs.errorLines) violations.push({ invariant: 'health', t: obs.endT, message: `node ${l.node} log: ${l.line.slice(0, 300)}` });
  for (const leak of obs.leaks) violations.push({ invariant: 'health', t: obs.endT, message: `leaked: ${leak}` });
  checks.health += 1 + obs.leaks.length;
  const rssGrowth: Verdict['rssGrowth'] = [];
  const runLen = obs.endT - obs.startT;
  const settled = obs.rss.filter((x) => x.ageMs >= RSS_MIN_AGE_MS);
  for (let node = 0; node < obs.nodes; node++) {
    const mine = settled.filter((x) => x.node === node);
    const first = mine.filter((x) => x.t < obs.startT + runLen / 4);
    const last = mine.filter((x) => x.t >= obs.endT - runLen / 4);
    if (first.length < 3 || last.length < 3) continue;
    checks.health++;
    const mean = (xs: typeof mine): number => xs.reduce((sum, x) => sum + x.kb, 0) / xs.length;
    const firstKb = Math.round(mean(first));
    const lastKb = Math.round(mean(last));
    rssGrowth.push({ node, firstKb, lastKb });
    if (lastKb > firstKb * 1.1) {
      violations.push({ invariant: 'health', t: obs.endT, message: `node ${node} RSS grew ${firstKb} -> ${lastKb} kB from the first to the last quarter (> +10 %)` });
    }
  }

  // 5. API calls: judged per second for all nodes together; broken down by node (the busiest second, the
  // busiest node-second), not judged per node: one Exoscale make-before-break pass alone makes 11-16 calls
  // in a second (two operations polled, reads before and after each change: chaos seed 600050276)
  const second = (t: number): number => Math.floor(t / 1000);
  const perSecond = new Map<number, number>();
  interface NodeSecond { node: number; sec: number; byCall: Record<string, number>; calls: number }
  const perNodeSecond = new Map<string, NodeSecond>();
  for (const c of obs.apiCalls) {
    perSecond.set(second(c.t), (perSecond.get(second(c.t)) ?? 0) + 1);
    if (c.node === undefined) continue;
    const key = `${c.node}@${second(c.t)}`;
    const slot = perNodeSecond.get(key) ?? { node: c.node, sec: second(c.t), byCall: {}, calls: 0 };
    slot.calls++;
    slot.byCall[c.call] = (slot.byCall[c.call] ?? 0) + 1;
    perNodeSecond.set(key, slot);
  }
  const maxCallsPerSecond = Math.max(0, ...perSecond.values());
  const busiest = [...perSecond].find(([, n]) => n === maxCallsPerSecond)?.[0];
  const byNodeIn = (sec: number): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const c of obs.apiCalls) if (second(c.t) === sec) out[c.node ?? '?'] = (out[c.node ?? '?'] ?? 0) + 1;
    return out;
  };
  const listed = (counts: Record<string, number>, label: (k: string) => string): string =>
    Object.entries(counts).sort(([, a], [, b]) => b - a).map(([k, n]) => `${label(k)} ${n}`).join(', ');
  checks['api-calls'] += perSecond.size;
  if (maxCallsPerSecond > b.maxCallsPerSecond) {
    violations.push({ invariant: 'api-calls', t: busiest! * 1000, message: `${maxCallsPerSecond} API calls in one second (bound ${b.maxCallsPerSecond}; ${listed(byNodeIn(busiest!), (k) => `node ${k}`)})` });
  }
  const busiestNode = [...perNodeSecond.values()].reduce<NodeSecond | undefined>((best, x) => (best === undefined || x.calls > best.calls ? x : best), undefined);
  const faultsInjected = obs.executed.length;
  return {
    violations: violations.sort((x, y) => x.t - y.t),
    checks,
    recovery,
    injected,
    maxCallsPerSecond,
    ...(busiest !== undefined ? { maxCallsAt: busiest * 1000, maxCallsByNode: byNodeIn(busiest) } : {}),
    ...(busiestNode ? { busiestNode: { node: busiestNode.node, t: busiestNode.sec * 1000, calls: busiestNode.calls, byCall: busiestNode.byCall } } : {}),
    callsPerFault: faultsInjected === 0 ? 0 : Math.round((episodeCalls / faultsInjected) * 10) / 10,
    longestMultiHolderMs: Math.round(longestMulti),
    longestUnheldMs: Math.round(longestUnheld),
    recoveryBoundMs: recoveryBound,
    rssGrowth,
  };
}
