/**
 * Fault injection shared by every cloud simulator. A rule fires on matching calls, with a probability
 * (`rate`, default 1) and at most `count` times (then it is removed).
 *
 * Request faults (hit the HTTP exchange before authentication, like a gateway would):
 *   latency      delay the answer by `ms` (+ up to `jitterMs`)
 *   error        answer `status` (5xx, default 503) in the cloud's error shape
 *   rate-limit   answer 429 (or the cloud's throttling error) asking to wait `retryAfterSeconds` (default 1)
 *   hang         never answer (the connection stays open until the client gives up)
 *   lose-answer  apply the call, then drop the connection without an answer ("change applied, answer lost")
 * Change faults (a mutation is accepted, its asynchronous change goes wrong; synchronous clouds apply
 * `fail-change` as an error answer):
 *   fail-change  the change ends in error with `message`
 *   stall-change the change stays running forever
 *
 * `calls` restricts a rule to the simulator's call names (each simulator lists its own, e.g. Hetzner's
 * "assign-floating-ip"; "metadata" for the metadata service). Without it, request faults hit every API
 * call (not metadata) and change faults hit every mutating call.
 */
import { z } from 'zod';

export const KIT_FAULT_KINDS = ['latency', 'error', 'rate-limit', 'hang', 'lose-answer', 'fail-change', 'stall-change'] as const;
export type KitFaultKind = (typeof KIT_FAULT_KINDS)[number];

export const kitFaultRuleSchema = z.strictObject({
  id: z.string().min(1).optional(),
  kind: z.enum(KIT_FAULT_KINDS),
  calls: z.array(z.string().min(1)).min(1).optional(),
  rate: z.number().min(0).max(1).optional(),
  count: z.number().int().positive().optional(),
  ms: z.number().int().min(0).max(600_000).optional(),
  jitterMs: z.number().int().min(0).max(600_000).optional(),
  status: z.number().int().min(500).max(599).optional(),
  message: z.string().max(500).optional(),
  retryAfterSeconds: z.number().min(0).max(3600).optional(),
});

export type KitFaultRule = z.infer<typeof kitFaultRuleSchema>;
export type ActiveKitFaultRule = KitFaultRule & { id: string; fired: number };

export type KitRequestOutcome =
  | { kind: 'error'; status: number; message: string }
  | { kind: 'rate-limit'; retryAfterSeconds: number }
  | { kind: 'hang' }
  | { kind: 'lose-answer' };

export interface KitRequestFaults {
  delayMs: number;
  outcome?: KitRequestOutcome;
  fired: string[];
}

export type KitChangeFault = { kind: 'fail-change'; message: string; ruleId: string } | { kind: 'stall-change'; ruleId: string };

const REQUEST_KINDS = new Set<KitFaultKind>(['latency', 'error', 'rate-limit', 'hang', 'lose-answer']);

/** mulberry32: deterministic, so a seed replays fault rates. */
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

/** Validates a rule against the simulator's call names; throws a one-line error naming the field. */
export function parseKitFaultRule(input: unknown, knownCalls?: readonly string[]): KitFaultRule {
  const r = kitFaultRuleSchema.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new Error(`fault ${issue.path.join('.') || 'rule'}: ${issue.message}`);
  }
  if (knownCalls && r.data.calls) {
    const unknown = r.data.calls.filter((c) => !knownCalls.includes(c));
    if (unknown.length > 0) throw new Error(`fault calls: unknown call ${JSON.stringify(unknown[0])} (known: ${knownCalls.join(', ')})`);
  }
  return r.data;
}

const SPEC_KEYS: Record<string, keyof KitFaultRule> = {
  rate: 'rate', count: 'count', ms: 'ms', jitter: 'jitterMs', status: 'status', message: 'message',
  'retry-after': 'retryAfterSeconds', calls: 'calls', id: 'id',
};

/** Parses `kind[:key=value,...]` (e.g. `error:rate=0.2,status=502`, `hang:count=1,calls=get-action`). */
export function parseKitFaultSpec(spec: string, knownCalls?: readonly string[]): KitFaultRule {
  const colon = spec.indexOf(':');
  const rule: Record<string, unknown> = { kind: colon < 0 ? spec : spec.slice(0, colon) };
  if (colon >= 0) {
    for (const pair of spec.slice(colon + 1).split(',')) {
      if (pair === '') continue;
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new Error(`fault ${JSON.stringify(spec)}: expected key=value, got ${JSON.stringify(pair)}`);
      const key = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      const field = SPEC_KEYS[key];
      if (!field) throw new Error(`fault ${JSON.stringify(spec)}: unknown key ${JSON.stringify(key)} (known: ${Object.keys(SPEC_KEYS).join(', ')})`);
      if (field === 'calls') rule.calls = value.split('+');
      else if (field === 'message' || field === 'id') rule[field] = value;
      else {
        const n = Number(value);
        if (value === '' || !Number.isFinite(n)) throw new Error(`fault ${JSON.stringify(spec)}: ${key} must be a number`);
        rule[field] = n;
      }
    }
  }
  try {
    return parseKitFaultRule(rule, knownCalls);
  } catch (err) {
    throw new Error(`${(err as Error).message} (in ${JSON.stringify(spec)})`);
  }
}

export interface FaultCatalog {
  /** Every call name the simulator knows. */
  calls: readonly string[];
  /** The calls that change state (targets of change faults and lose-answer by default). */
  mutating: readonly string[];
}

export class KitFaultSet {
  #rules: ActiveKitFaultRule[] = [];
  #next = 1;
  #random: () => number;

  constructor(
    readonly catalog: FaultCatalog,
    rules: KitFaultRule[] = [],
    seed?: number,
  ) {
    this.#random = seed === undefined ? Math.random : seededRandom(seed);
    for (const r of rules) this.add(r);
  }

  add(rule: unknown): ActiveKitFaultRule {
    const valid = parseKitFaultRule(rule, this.catalog.calls);
    const id = valid.id ?? `f${this.#next++}`;
    if (this.#rules.some((r) => r.id === id)) throw new Error(`fault id ${JSON.stringify(id)} already exists`);
    const active: ActiveKitFaultRule = { ...valid, id, fired: 0 };
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

  list(): ActiveKitFaultRule[] {
    return this.#rules.map((r) => ({ ...r }));
  }

  forRequest(call: string): KitRequestFaults {
    const result: KitRequestFaults = { delayMs: 0, fired: [] };
    for (const rule of [...this.#rules]) {
      if (!REQUEST_KINDS.has(rule.kind) || !this.#matches(rule, call)) continue;
      if (rule.kind !== 'latency' && result.outcome) continue;
      if (!this.#fire(rule)) continue;
      result.fired.push(rule.id);
      if (rule.kind === 'latency') result.delayMs += (rule.ms ?? 0) + Math.floor(this.#random() * (rule.jitterMs ?? 0));
      else if (rule.kind === 'error') {
        result.outcome = { kind: 'error', status: rule.status ?? 503, message: rule.message ?? 'Service temporarily unavailable (simulated fault)' };
      } else if (rule.kind === 'rate-limit') result.outcome = { kind: 'rate-limit', retryAfterSeconds: rule.retryAfterSeconds ?? 1 };
      else if (rule.kind === 'hang') result.outcome = { kind: 'hang' };
      else result.outcome = { kind: 'lose-answer' };
    }
    return result;
  }

  forChange(call: string): KitChangeFault | undefined {
    for (const rule of [...this.#rules]) {
      if (rule.kind !== 'fail-change' && rule.kind !== 'stall-change') continue;
      if (!this.#matches(rule, call) || !this.#fire(rule)) continue;
      if (rule.kind === 'stall-change') return { kind: 'stall-change', ruleId: rule.id };
      return { kind: 'fail-change', message: rule.message ?? 'change failed (simulated fault)', ruleId: rule.id };
    }
    return undefined;
  }

  #matches(rule: ActiveKitFaultRule, call: string): boolean {
    if (rule.calls) return rule.calls.includes(call);
    const mutatingOnly = rule.kind === 'fail-change' || rule.kind === 'stall-change' || rule.kind === 'lose-answer';
    return mutatingOnly ? this.catalog.mutating.includes(call) : call !== 'metadata';
  }

  #fire(rule: ActiveKitFaultRule): boolean {
    if (rule.rate !== undefined && rule.rate < 1 && this.#random() >= rule.rate) return false;
    rule.fired++;
    if (rule.count !== undefined && rule.fired >= rule.count) this.remove(rule.id);
    return true;
  }
}

/** What the /_sim/faults admin routes need of a fault set (KitFaultSet, or a cloud's wrapper of it). */
export interface FaultRuleStore {
  add(rule: unknown): { id: string };
  remove(id: string): boolean;
  clear(): void;
  list(): unknown[];
}

/**
 * The /_sim/faults admin routes (`parts` after /_sim/): GET list, POST a rule or {faults: [rules]}
 * (all or none: a bad rule throws, naming its field, and none of the batch stays), DELETE all,
 * DELETE /ID. Undefined when the path is not a faults route.
 */
export function faultsAdmin(faults: FaultRuleStore, method: string, parts: readonly string[], body: unknown): { status?: number; body: unknown } | undefined {
  const [head, id] = parts;
  if (head !== 'faults') return undefined;
  if (method === 'GET' && parts.length === 1) return { body: { faults: faults.list() } };
  if (method === 'POST' && parts.length === 1) {
    const rules = body && typeof body === 'object' && Array.isArray((body as { faults?: unknown }).faults) ? (body as { faults: unknown[] }).faults : [body];
    const added: { id: string }[] = [];
    try {
      for (const r of rules) added.push(faults.add(r));
    } catch (err) {
      for (const a of added) faults.remove(a.id);
      throw err;
    }
    return { status: 201, body: { faults: added } };
  }
  if (method === 'DELETE' && parts.length === 1) {
    faults.clear();
    return { body: { faults: [] } };
  }
  if (method === 'DELETE' && id !== undefined && parts.length === 2) {
    if (!faults.remove(id)) return { status: 404, body: { error: `no fault ${JSON.stringify(id)}` } };
    return { body: { faults: faults.list() } };
  }
  return undefined;
}
