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

/** One instance as the weight validator needs it (the user declares the peers' priorities). */
export interface WeightPlan {
  /** Instance name, used in the messages. */
  instance: string;
  /** This node's base priority. */
  priority: number;
  /** The configured base priorities of the other nodes of this instance (unknown peers: omit). */
  peers: readonly { id: string; priority: number }[];
  checks: readonly {
    name: string;
    weight: number;
    intervalMs?: number;
    timeoutMs?: number;
  }[];
}

/**
 * Configuration smells in check weights and timers, one human line each:
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
