/**
 * How check results change an instance's fitness: keepalived's vrrp_script weight rules.
 * Pure functions, no I/O.
 *
 *   weight 0   a failing check puts the instance in FAULT (it gives the IP up).
 *   weight > 0 adds `weight` to the priority while the check is OK.
 *   weight < 0 subtracts |weight| from the priority while the check fails.
 *   The effective priority is clamped to 1..254.
 *
 * `reverse` is not seen here: the check runner inverts a reversed check's results before rise/fall,
 * so `state` is already the check's effective state. (For weight 0 that is exactly keepalived's
 * `weight 0 reverse`; for other weights keepalived negates the adjustment instead, which moves the
 * same distance between the two states but from a different starting point.)
 */

/** The lowest and highest priority an instance can advertise (255 = address owner is not used). */
export const MIN_PRIORITY = 1;
export const MAX_PRIORITY = 254;
/** The range of a check weight (keepalived's). */
export const MIN_WEIGHT = -253;
export const MAX_WEIGHT = 253;

/** A check's settled state (after reverse and rise/fall), as the engine needs it. */
export interface WeightedCheck {
  name: string;
  state: 'ok' | 'fail';
  weight: number;
}

export interface Health {
  /** Effective priority, 1..254 (also computed while in fault). */
  priority: number;
  /** A weight-0 check is failing: the instance must not hold the IP. */
  fault: boolean;
  /** Why: names the failing checks ("check haproxy failed (weight 0)"; "priority 100 -50 (web failing) = 50"). */
  reason: string;
}

export function clampPriority(p: number): number {
  return Math.min(MAX_PRIORITY, Math.max(MIN_PRIORITY, Math.round(p)));
}

/** The priority change one check contributes in its state (0 for weight-0 checks). */
export function checkAdjustment(check: Pick<WeightedCheck, 'state' | 'weight'>): number {
  if (check.weight > 0 && check.state === 'ok') return check.weight;
  if (check.weight < 0 && check.state === 'fail') return check.weight;
  return 0;
}

/** True when a weight-0 check holds the instance in FAULT. */
export function causesFault(check: Pick<WeightedCheck, 'state' | 'weight'>): boolean {
  return check.weight === 0 && check.state === 'fail';
}

function signed(n: number): string {
  return n >= 0 ? `+${n}` : String(n);
}

/** Effective priority and fault state from the base priority and the settled check states. */
export function effectiveHealth(basePriority: number, checks: readonly WeightedCheck[]): Health {
  const base = clampPriority(basePriority);
  const faulting: string[] = [];
  const terms: string[] = [];
  let total = base;
  for (const c of checks) {
    if (causesFault(c)) {
      faulting.push(`check ${c.name} failed (weight 0)`);
      continue;
    }
    const adj = checkAdjustment(c);
    if (adj !== 0) {
      total += adj;
      terms.push(`${signed(adj)} (${c.name} ${c.state === 'ok' ? 'ok' : 'failing'})`);
    }
  }
  const priority = clampPriority(total);
  if (faulting.length > 0) return { priority, fault: true, reason: faulting.join(', ') };
  if (terms.length === 0) return { priority, fault: false, reason: `priority ${priority}` };
  const clamped = priority !== total ? ` (clamped from ${total})` : '';
  return { priority, fault: false, reason: `priority ${base} ${terms.join(' ')} = ${priority}${clamped}` };
}

// ------------------------------------------------------------------ config warnings

/** A check as the weight validator needs it. */
export interface PlannedCheck {
  name: string;
  weight: number;
  intervalMs?: number;
  timeoutMs?: number;
}

/** Another node of the instance, as the weight validator knows it. */
export interface PlannedPeer {
  id: string;
  /** Its configured base priority. */
  priority: number;
  /**
   * Its own checks, when its config is known (`ipwarden config check` given every node's file).
   * With every peer's checks and this node's `id`, the analysis is exact instead of assuming that
   * the peers run this node's checks.
   */
  checks?: readonly PlannedCheck[];
  /** Its `preempt` setting (default true): a peer that does not preempt never takes over from a live MASTER. */
  preempt?: boolean;
}

/** One instance as the weight validator needs it (the user declares the peers' priorities). */
export interface WeightPlan {
  /** Instance name, used in the messages. */
  instance: string;
  /** This node's id (needed for the exact analysis, see PlannedPeer.checks). */
  id?: string;
  /** This node's base priority. */
  priority: number;
  /** The configured base priorities of the other nodes of this instance (unknown peers: omit). */
  peers: readonly PlannedPeer[];
  checks: readonly PlannedCheck[];
}

/**
 * Configuration smells in check weights and timers, one human line each.
 *
 * When every peer's checks are known (and the plan has this node's `id`), the weight analysis is
 * exactWeightWarnings'. Otherwise (peers known by their priority only):
 *
 *  - a check whose timeout is longer than its interval (runs never overlap, so it is really checked
 *    every `timeout`, and a hung run delays the next one);
 *  - for the node with the highest configured priority: a weighted check that, failing alone on this
 *    node, can never hand the IP to the best peer. The peers are assumed to run the same checks with the
 *    same weights and to have them passing (the usual symmetric setup): the check can move mastership
 *    only if |weight| > this priority - best peer priority (equal effective priorities are decided by
 *    node id, not by the check);
 *  - equal configured priorities (mastership then depends on node ids only).
 */
export function weightWarnings(plans: readonly WeightPlan[]): string[] {
  const out: string[] = [];
  for (const plan of plans) {
    const where = `instance ${plan.instance}`;
    for (const c of plan.checks) {
      if (c.weight < MIN_WEIGHT || c.weight > MAX_WEIGHT || !Number.isInteger(c.weight)) {
        out.push(`${where}: check ${c.name}: weight ${c.weight} is outside ${MIN_WEIGHT}..${MAX_WEIGHT}`);
      }
      if (c.intervalMs !== undefined && c.timeoutMs !== undefined && c.timeoutMs > c.intervalMs) {
        out.push(
          `${where}: check ${c.name}: timeout ${c.timeoutMs}ms is longer than interval ${c.intervalMs}ms ` +
            `(runs never overlap: a slow run delays the next one, so failures are seen late)`,
        );
      }
    }
    if (plan.peers.length === 0) continue;
    if (plan.id !== undefined && plan.peers.every((p) => p.checks !== undefined)) {
      out.push(...exactWeightWarnings({ ...plan, id: plan.id }));
      continue;
    }
    const best = plan.peers.reduce((a, b) => (b.priority > a.priority ? b : a));
    if (best.priority === plan.priority) {
      out.push(
        `${where}: priority ${plan.priority} equals peer ${best.id}'s: who is MASTER is decided by node id; give the preferred node a higher priority`,
      );
      continue;
    }
    if (best.priority > plan.priority) continue; // a backup here: its checks only matter when it could take over
    const good = plan.checks.map((c) => ({ name: c.name, weight: c.weight, state: 'ok' as const }));
    const upSelf = effectiveHealth(plan.priority, good).priority;
    const upPeer = effectiveHealth(best.priority, good).priority;
    if (upSelf <= upPeer) {
      out.push(
        `${where}: with every check healthy this node (priority ${plan.priority}) and peer ${best.id} (priority ${best.priority}) ` +
          `both advertise ${upSelf} after clamping to ${MAX_PRIORITY}: lower the positive weights or the priorities`,
      );
      continue;
    }
    for (const c of plan.checks) {
      if (c.weight === 0) continue; // weight 0 = FAULT: always hands over
      const badSelf = effectiveHealth(
        plan.priority,
        good.map((o, i) => (plan.checks[i] === c ? { ...o, state: 'fail' as const } : o)),
      ).priority;
      if (badSelf >= upPeer) {
        const gap = plan.priority - best.priority;
        out.push(
          `${where}: check ${c.name}: weight ${c.weight} can never move the IP: ` +
            `when it fails this node still advertises ${badSelf}, ` +
            `not below peer ${best.id}'s ${upPeer}; |weight| must exceed ${gap} (priority ${plan.priority} - ${best.priority}), ` +
            `or use weight 0 to give the IP up`,
        );
      }
    }
  }
  return out;
}

// ------------------------------------------------------------------ exact analysis

/**
 * The effective priorities (before clamping) a node can advertise while eligible (no weight-0
 * check failing), over every combination of its weighted checks' states; `skip` leaves one out.
 */
function reachableSums(base: number, checks: readonly PlannedCheck[], skip?: PlannedCheck): number[] {
  let sums = new Set([clampPriority(base)]);
  for (const c of checks) {
    if (c === skip || c.weight === 0) continue;
    const next = new Set(sums);
    for (const s of sums) next.add(s + c.weight);
    sums = next;
  }
  return [...sums].sort((a, b) => a - b);
}

function range(values: readonly number[]): string {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return lo === hi ? String(lo) : `${lo}..${hi}`;
}

/** Counts the priorities q with above < q <= atMost, in O(1) (prefix sums over 0..254). */
function counter(priorities: readonly number[]): (above: number, atMost: number) => number {
  const prefix = new Array<number>(MAX_PRIORITY + 1).fill(0);
  const marks = new Set(priorities);
  for (let i = 1; i <= MAX_PRIORITY; i++) prefix[i] = prefix[i - 1]! + (marks.has(i) ? 1 : 0);
  const at = (i: number) => prefix[Math.min(MAX_PRIORITY, Math.max(0, i))]!;
  return (above, atMost) => (atMost <= above ? 0 : at(atMost) - at(above));
}

interface Competitor {
  id: string;
  preempt: boolean;
  /** The clamped priorities it can advertise while eligible. */
  priorities: number[];
  count: (above: number, atMost: number) => number;
}

/**
 * True when a check of weight `w` can hand the IP over: in some state of this node's other checks
 * (`sums`), with the check passing this node advertises `hi` and can be MASTER, and when it fails
 * (`lo`) a peer that preempts advertises more than `lo` but not more than `hi` (preemption needs a
 * strictly higher priority: equal priorities never unseat a MASTER). The nodes not involved can be
 * down, so looking at one competitor at a time is exact.
 */
function canHandOver(sums: readonly number[], w: number, competitors: readonly Competitor[]): boolean {
  for (const s of sums) {
    const hi = clampPriority(s + Math.max(w, 0));
    const lo = clampPriority(s + Math.min(w, 0));
    for (const p of competitors) if (p.preempt && p.count(lo, hi) > 0) return true;
  }
  return false;
}

/**
 * The exact weight analysis, when every node's config is known: each weighted check of this node
 * that no combination of check states in the cluster lets hand the IP over (see canHandOver), with
 * the nearest weight that would. Equal base priorities are reported once per pair (by the node
 * whose id sorts first). Timers are weightWarnings' business.
 */
export function exactWeightWarnings(plan: WeightPlan & { id: string }): string[] {
  const where = `instance ${plan.instance}`;
  const out: string[] = [];
  for (const peer of plan.peers) {
    if (clampPriority(peer.priority) === clampPriority(plan.priority) && plan.id < peer.id) {
      out.push(
        `${where}: priority ${plan.priority} equals peer ${peer.id}'s: whichever becomes MASTER first keeps the IP ` +
          `(equal priorities never preempt; at a simultaneous start the node id decides: ${plan.id}); give the preferred node a higher priority`,
      );
    }
  }
  const competitor = (p: PlannedPeer, checks: readonly PlannedCheck[]): Competitor => {
    const priorities = [...new Set(reachableSums(p.priority, checks).map(clampPriority))].sort((a, b) => a - b);
    return { id: p.id, preempt: p.preempt ?? true, priorities, count: counter(priorities) };
  };
  const competitors = plan.peers.map((p) => competitor(p, p.checks ?? []));
  for (const c of plan.checks) {
    if (c.weight === 0 || !Number.isInteger(c.weight) || c.weight < MIN_WEIGHT || c.weight > MAX_WEIGHT) continue;
    const sums = reachableSums(plan.priority, plan.checks, c);
    if (canHandOver(sums, c.weight, competitors)) continue;
    // The nearest weight that would do. A check the peers run too (same name and weight) is
    // changed on every node, as the user would.
    const twin = (o: PlannedCheck) => o.name === c.name && o.weight === c.weight;
    const symmetric = plan.peers.some((p) => p.checks?.some(twin));
    const sign = Math.sign(c.weight);
    let better: number | undefined;
    for (let m = Math.abs(c.weight) + 1; m <= MAX_WEIGHT && better === undefined; m++) {
      const w = sign * m;
      const others = symmetric ? plan.peers.map((p) => competitor(p, (p.checks ?? []).map((o) => (twin(o) ? { ...o, weight: w } : o)))) : competitors;
      if (canHandOver(sums, w, others)) better = w;
    }
    const passing = sums.map((s) => clampPriority(s + Math.max(c.weight, 0)));
    const failing = sums.map((s) => clampPriority(s + Math.min(c.weight, 0)));
    const peers = competitors.map((p) => `peer ${p.id}: ${range(p.priorities)}${p.preempt ? '' : ', preempt off'}`).join('; ');
    const hint =
      better !== undefined
        ? `use weight ${better > 0 ? `+${better} or more` : `${better} or less`}${symmetric ? ' (on every node that runs it)' : ''}, or 0 to give the IP up`
        : competitors.every((p) => !p.preempt)
          ? 'no peer preempts a live MASTER: only weight 0 (FAULT) hands the IP over'
          : `no ${c.weight > 0 ? 'positive' : 'negative'} weight can: use weight 0 to give the IP up, or change the priorities`;
    out.push(
      `${where}: check ${c.name}: weight ${signed(c.weight)} can never change who is MASTER ` +
        `(this node: ${range(passing)} with it passing, ${range(failing)} failing; ${peers}; ` +
        `a peer takes over only with a priority above the failing one); ${hint}`,
    );
  }
  return out;
}
