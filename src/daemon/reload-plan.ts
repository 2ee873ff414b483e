/**
 * What a reload changes (pure): the running config and the new one in, per instance what to do out.
 * The daemon (src/daemon/daemon.ts) carries the plan out; the rules are ipwarden(8)'s RELOAD section:
 *
 * - an instance only in the new config is added (it starts as at daemon start); one only in the
 *   old is removed (its STOP actions run); one whose `address` or election backend changed is
 *   replaced (the old one stops, releasing the address; the new one starts and claims it);
 * - every other instance is reloaded in place: no transition unless the election under the new
 *   values demands one (e.g. a lowered priority lets a better peer preempt);
 * - checks and actions are matched by name: the same normalised config (the plugin's parsed
 *   config, compared structurally: regular expressions by source and flags) is `kept`, a
 *   different one `changed`; new names are `added`, missing ones `removed`.
 */
import { isDeepStrictEqual } from 'node:util';
import type { InstanceSettings } from './instance-runner.js';
import type { DaemonSettings } from './daemon.js';
import type { ScheduledCheck } from '../plugins/check-runner.js';
import type { ScheduledAction } from '../plugins/action-runner.js';
import type { ScheduledDiscovery } from './discovery.js';
import { formatEndpoint } from '../config/endpoint.js';
import { electionIdentity } from '../election/config.js';

export type ItemChange = 'kept' | 'changed' | 'added' | 'removed';

/** One check or action of an instance, by name. */
export interface ItemPlan {
  name: string;
  change: ItemChange;
}

/** The instance settings a reload applies in place (besides checks and actions). */
export type InPlaceKey = 'priority' | 'preempt' | 'preemptDelay' | 'peers' | 'interval' | 'deadRatio' | 'discovery';

export type InstancePlan =
  | { name: string; change: 'added' }
  | { name: string; change: 'removed' }
  /** Stopped (STOP actions: the old address is released), then started anew (claims the new one). */
  | { name: string; change: 'replaced'; because: ('address' | 'election')[] }
  | {
      name: string;
      /** 'unchanged': nothing to do at all; 'in-place': see the lists. */
      change: 'unchanged' | 'in-place';
      settings: InPlaceKey[];
      checks: ItemPlan[];
      actions: ItemPlan[];
    };

export interface ReloadPlan {
  instances: InstancePlan[];
  /** The heartbeat keys changed (rotation): the transport takes the new ones. */
  keys: boolean;
  /** Node settings a reload cannot change (they need a restart): the running values stay. */
  needRestart: ('node.id' | 'node.bind' | 'node.control' | 'protocol' | 'metrics' | 'stateFile')[];
  /** True when the plan changes nothing at all. */
  noop: boolean;
}

/** The parts of a check that define it (the plugin object itself is not compared: it is reloaded with the file). */
function checkDefinition(c: ScheduledCheck): unknown {
  const { impl: _impl, ...rest } = c;
  return rest;
}

function actionDefinition(a: ScheduledAction): unknown {
  const { impl: _impl, ...rest } = a;
  return rest;
}

function discoveryDefinition(d: ScheduledDiscovery | undefined): unknown {
  if (!d) return undefined;
  const { impl: _impl, ...rest } = d;
  return rest;
}

/** Structural equality of normalised configs: RegExps by source and flags, Dates by time, key order ignored. */
export function sameDefinition(a: unknown, b: unknown): boolean {
  return isDeepStrictEqual(a, b);
}

/** Matches two lists by name. */
export function planItems<T extends { name: string }>(before: readonly T[], after: readonly T[], definition: (x: T) => unknown): ItemPlan[] {
  const old = new Map(before.map((x) => [x.name, x]));
  const out: ItemPlan[] = [];
  for (const x of after) {
    const o = old.get(x.name);
    out.push({ name: x.name, change: o === undefined ? 'added' : sameDefinition(definition(o), definition(x)) ? 'kept' : 'changed' });
  }
  const now = new Set(after.map((x) => x.name));
  for (const x of before) if (!now.has(x.name)) out.push({ name: x.name, change: 'removed' });
  return out;
}

function samePeers(a: InstanceSettings['peers'], b: InstanceSettings['peers']): boolean {
  const key = (l: InstanceSettings['peers']) => l.map(formatEndpoint).sort().join(',');
  return key(a) === key(b);
}

/** The plan for one instance present in both configs. */
export function planInstance(old: InstanceSettings, next: InstanceSettings): InstancePlan {
  const because: ('address' | 'election')[] = [];
  if (old.address !== next.address) because.push('address');
  if (electionIdentity(old.election) !== electionIdentity(next.election)) because.push('election');
  if (because.length) return { name: next.name, change: 'replaced', because };
  const settings: InPlaceKey[] = [];
  if (old.priority !== next.priority) settings.push('priority');
  if (old.preempt !== next.preempt) settings.push('preempt');
  if (old.preemptDelayMs !== next.preemptDelayMs) settings.push('preemptDelay');
  if (!samePeers(old.peers, next.peers)) settings.push('peers');
  if (old.intervalMs !== next.intervalMs) settings.push('interval');
  if (old.deadRatio !== next.deadRatio) settings.push('deadRatio');
  if (!sameDefinition(discoveryDefinition(old.discovery), discoveryDefinition(next.discovery))) settings.push('discovery');
  const checks = planItems(old.checks, next.checks, checkDefinition);
  const actions = planItems(old.actions, next.actions, actionDefinition);
  const unchanged = settings.length === 0 && [...checks, ...actions].every((i) => i.change === 'kept');
  return { name: next.name, change: unchanged ? 'unchanged' : 'in-place', settings, checks, actions };
}

/** The whole plan: instances in the new config's order, then the removed ones. */
export function planReload(old: DaemonSettings, next: DaemonSettings): ReloadPlan {
  const before = new Map(old.instances.map((i) => [i.name, i]));
  const instances: InstancePlan[] = next.instances.map((n) => {
    const o = before.get(n.name);
    return o ? planInstance(o, n) : { name: n.name, change: 'added' };
  });
  const names = new Set(next.instances.map((i) => i.name));
  for (const o of old.instances) if (!names.has(o.name)) instances.push({ name: o.name, change: 'removed' });
  const needRestart: ReloadPlan['needRestart'] = [];
  if (old.nodeId !== next.nodeId) needRestart.push('node.id');
  if (formatEndpoint(old.bind) !== formatEndpoint(next.bind)) needRestart.push('node.bind');
  if (old.control !== next.control) needRestart.push('node.control');
  if (old.protocol !== next.protocol) needRestart.push('protocol');
  if ((old.metrics ? formatEndpoint(old.metrics) : '') !== (next.metrics ? formatEndpoint(next.metrics) : '')) needRestart.push('metrics');
  if (old.stateFile !== next.stateFile) needRestart.push('stateFile');
  const keys = !sameDefinition(old.keys, next.keys) || old.replayWindowMs !== next.replayWindowMs;
  const noop = !keys && instances.every((i) => i.change === 'unchanged');
  return { instances, keys, needRestart, noop };
}

/** One line per change, for the log ("web: check f changed, priority"). */
export function describePlan(plan: ReloadPlan): string {
  const parts: string[] = [];
  for (const i of plan.instances) {
    if (i.change === 'unchanged') continue;
    if (i.change === 'added' || i.change === 'removed') parts.push(`${i.name} ${i.change}`);
    else if (i.change === 'replaced') parts.push(`${i.name} replaced (${i.because.join(', ')} changed)`);
    else {
      const items = [
        ...i.checks.filter((c) => c.change !== 'kept').map((c) => `check ${c.name} ${c.change}`),
        ...i.actions.filter((a) => a.change !== 'kept').map((a) => `action ${a.name} ${a.change}`),
        ...i.settings,
      ];
      parts.push(`${i.name}: ${items.join(', ')}`);
    }
  }
  if (plan.keys) parts.push('heartbeat keys');
  return parts.length ? parts.join('; ') : 'nothing changed';
}
