/**
 * Fault injection rules of the simulator. A rule fires on matching calls, with a
 * probability (`rate`, default 1) and at most `count` times (then it is removed).
 *
 * Request faults (hit the HTTP exchange, before authentication, like a gateway would):
 *   latency          delay the response by `ms` (+ up to `jitterMs`)
 *   error            answer `status` (5xx, default 503) {"message": …}
 *   rate-limit       answer 429 with Retry-After: `retryAfterSeconds` (default 1; 0 = no header)
 *   hang             never answer (the connection stays open until the client gives up)
 * Operation faults (attach/detach are accepted, their operation goes wrong):
 *   fail-operation   the operation ends in `state` (failure|timeout, default failure) with `reason` (default fault)
 *   stall-operation  the operation stays pending forever
 *
 * `calls` restricts a rule to API operation ids ("attach-instance-to-elastic-ip", "get-operation"…;
 * "metadata" for the metadata endpoint). Without it, request faults hit every /v2 call and
 * operation faults hit attach and detach.
 */
import { z } from 'zod';
import { OPERATION_REASONS, type OperationReason } from '../types.js';

export const FAULT_KINDS = ['latency', 'error', 'rate-limit', 'hang', 'fail-operation', 'stall-operation'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** The calls the simulator knows (operation ids), plus "metadata". */
export const SIM_CALLS = [
  'list-zones',
  'list-elastic-ips',
  'get-elastic-ip',
  'attach-instance-to-elastic-ip',
  'detach-instance-from-elastic-ip',
  'list-instances',
  'get-instance',
  'list-security-groups',
  'get-security-group',
  'get-operation',
  'metadata',
] as const;

export const faultRuleSchema = z.strictObject({
  id: z.string().min(1).optional(),
  kind: z.enum(FAULT_KINDS),
  calls: z.array(z.enum(SIM_CALLS)).min(1).optional(),
  rate: z.number().min(0).max(1).optional(),
  count: z.number().int().positive().optional(),
  ms: z.number().int().min(0).max(600_000).optional(),
  jitterMs: z.number().int().min(0).max(600_000).optional(),
  status: z.number().int().min(500).max(599).optional(),
  message: z.string().max(500).optional(),
  retryAfterSeconds: z.number().min(0).max(3600).optional(),
  state: z.enum(['failure', 'timeout']).optional(),
  reason: z.enum(OPERATION_REASONS as [OperationReason, ...OperationReason[]]).optional(),
});

export type FaultRule = z.infer<typeof faultRuleSchema>;
export type ActiveFaultRule = FaultRule & { id: string; fired: number };

export type RequestFaultOutcome =
  | { kind: 'error'; status: number; message: string }
  | { kind: 'rate-limit'; retryAfterSeconds: number }
  | { kind: 'hang' };

export interface RequestFaults {
  delayMs: number;
  outcome?: RequestFaultOutcome;
  /** Ids of the rules that fired. */
  fired: string[];
}

export type OperationFault =
  | { kind: 'fail-operation'; state: 'failure' | 'timeout'; reason: OperationReason; message: string; ruleId: string }
  | { kind: 'stall-operation'; ruleId: string };

const OPERATION_CALLS = new Set(['attach-instance-to-elastic-ip', 'detach-instance-from-elastic-ip']);
const REQUEST_KINDS = new Set<FaultKind>(['latency', 'error', 'rate-limit', 'hang']);

/** A small deterministic PRNG (mulberry32), so fault rates can be replayed with a seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Validates a rule (admin API, library); throws a one-line error naming the field. */
export function parseFaultRule(input: unknown): FaultRule {
  const r = faultRuleSchema.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new Error(`fault ${issue.path.join('.') || 'rule'}: ${issue.message}`);
  }
  return r.data;
}

const SPEC_KEYS: Record<string, keyof FaultRule> = {
  rate: 'rate',
  count: 'count',
  ms: 'ms',
  jitter: 'jitterMs',
  'jitter-ms': 'jitterMs',
  status: 'status',
  message: 'message',
  'retry-after': 'retryAfterSeconds',
  state: 'state',
  reason: 'reason',
  calls: 'calls',
  id: 'id',
};

/**
 * Parses a command-line fault spec: `kind[:key=value,...]`, e.g.
 *   latency:ms=300,jitter=100   error:rate=0.2,status=502   rate-limit:count=3,retry-after=1
 *   hang:count=1,calls=get-operation   fail-operation:count=1,reason=busy   stall-operation
 * `calls` takes several names separated by "+". Durations ms/jitter are milliseconds.
 */
export function parseFaultSpec(spec: string): FaultRule {
  const colon = spec.indexOf(':');
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  const rule: Record<string, unknown> = { kind };
  if (colon >= 0) {
    for (const pair of spec.slice(colon + 1).split(',')) {
      if (pair === '') continue;
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new Error(`fault ${JSON.stringify(spec)}: expected key=value, got ${JSON.stringify(pair)}`);
      const key = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      const field = SPEC_KEYS[key];
      if (!field) {
        throw new Error(`fault ${JSON.stringify(spec)}: unknown key ${JSON.stringify(key)} (known: ${Object.keys(SPEC_KEYS).join(', ')})`);
      }
      if (field === 'calls') rule.calls = value.split('+');
      else if (['message', 'state', 'reason', 'id'].includes(field)) rule[field] = value;
      else {
        const n = Number(value);
        if (value === '' || !Number.isFinite(n)) throw new Error(`fault ${JSON.stringify(spec)}: ${key} must be a number`);
        rule[field] = n;
      }
    }
  }
  try {
    return parseFaultRule(rule);
  } catch (err) {
    throw new Error(`${(err as Error).message} (in ${JSON.stringify(spec)})`);
  }
}

/** The active rules and the decisions they make. */
export class FaultSet {
  #rules: ActiveFaultRule[] = [];
  #next = 1;
  #random: () => number;

  constructor(rules: FaultRule[] = [], seed?: number) {
    this.#random = seed === undefined ? Math.random : seededRandom(seed);
    for (const r of rules) this.add(r);
  }

  /** Adds a validated rule; returns it with its id. */
  add(rule: FaultRule): ActiveFaultRule {
    const valid = parseFaultRule(rule);
    const id = valid.id ?? `f${this.#next++}`;
    if (this.#rules.some((r) => r.id === id)) throw new Error(`fault id ${JSON.stringify(id)} already exists`);
    const active: ActiveFaultRule = { ...valid, id, fired: 0 };
    this.#rules.push(active);
    return active;
  }

  remove(id: string): boolean {
    const before = this.#rules.length;
    this.#rules = this.#rules.filter((r) => r.id !== id);
    return this.#rules.length !== before;
  }

  clear(): void {
    this.#rules = [];
  }

  list(): ActiveFaultRule[] {
    return this.#rules.map((r) => ({ ...r }));
  }

  /** Decides the request-level faults of one call. */
  forRequest(call: string): RequestFaults {
    const result: RequestFaults = { delayMs: 0, fired: [] };
    for (const rule of [...this.#rules]) {
      if (!REQUEST_KINDS.has(rule.kind) || !this.#matches(rule, call, false)) continue;
      if (rule.kind !== 'latency' && result.outcome) continue;
      if (!this.#fire(rule)) continue;
      result.fired.push(rule.id);
      switch (rule.kind) {
        case 'latency':
          result.delayMs += (rule.ms ?? 0) + Math.floor(this.#random() * (rule.jitterMs ?? 0));
          break;
        case 'error':
          result.outcome = {
            kind: 'error',
            status: rule.status ?? 503,
            message: rule.message ?? 'Service temporarily unavailable (simulated fault)',
          };
          break;
        case 'rate-limit':
          result.outcome = { kind: 'rate-limit', retryAfterSeconds: rule.retryAfterSeconds ?? 1 };
          break;
        case 'hang':
          result.outcome = { kind: 'hang' };
          break;
      }
    }
    return result;
  }

  /** Decides what goes wrong with the operation of an attach/detach, if anything. */
  forOperation(call: string): OperationFault | undefined {
    for (const rule of [...this.#rules]) {
      if (rule.kind !== 'fail-operation' && rule.kind !== 'stall-operation') continue;
      if (!this.#matches(rule, call, true) || !this.#fire(rule)) continue;
      if (rule.kind === 'stall-operation') return { kind: 'stall-operation', ruleId: rule.id };
      return {
        kind: 'fail-operation',
        state: rule.state ?? 'failure',
        reason: rule.reason ?? 'fault',
        message: rule.message ?? 'Operation failed (simulated fault)',
        ruleId: rule.id,
      };
    }
    return undefined;
  }

  #matches(rule: ActiveFaultRule, call: string, operation: boolean): boolean {
    if (rule.calls) return (rule.calls as string[]).includes(call);
    return operation ? OPERATION_CALLS.has(call) : call !== 'metadata';
  }

  #fire(rule: ActiveFaultRule): boolean {
    if (rule.rate !== undefined && rule.rate < 1 && this.#random() >= rule.rate) return false;
    rule.fired++;
    if (rule.count !== undefined && rule.fired >= rule.count) this.remove(rule.id);
    return true;
  }
}
