/**
 * Exoscale's fault catalog on the shared simulator kit (src/cloud/simulator-kit/faults.ts: the rules,
 * rates, counts, seeded PRNG and request faults latency/error/rate-limit/hang/lose-answer live there).
 * What is Exoscale's own:
 *   - the call names (API operation ids, plus "metadata"); attach/detach are the mutating calls;
 *   - an operation fault ends an async operation in `state` (failure|timeout, default failure) with an
 *     operation `reason` (default fault): the kit's `fail-change` plus these two fields;
 *   - the spellings `fail-operation` / `stall-operation` are accepted as aliases of the kit's
 *     `fail-change` / `stall-change` (admin API, `ipwarden simulate exoscale --fault`); rules are listed
 *     with the kit's names.
 */
import { z } from 'zod';
import { KitFaultSet, KIT_FAULT_KINDS, parseKitFaultRule, parseKitFaultSpec, type ActiveKitFaultRule, type KitFaultRule } from '../../cloud/simulator-kit/faults.js';
import { OPERATION_REASONS, type OperationReason } from '../types.js';

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

export const EXOSCALE_FAULT_CATALOG = {
  calls: SIM_CALLS,
  mutating: ['attach-instance-to-elastic-ip', 'detach-instance-from-elastic-ip'],
} as const;

/** Exoscale's spellings of the kit's change faults. */
const KIND_ALIASES: Record<string, KitFaultRule['kind']> = { 'fail-operation': 'fail-change', 'stall-operation': 'stall-change' };
export const FAULT_KINDS = [...KIT_FAULT_KINDS, ...(Object.keys(KIND_ALIASES) as ['fail-operation', 'stall-operation'])] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Exoscale's operation-fault fields, on top of the kit's rule. */
const operationFieldsSchema = z.strictObject({
  state: z.enum(['failure', 'timeout']).optional(),
  reason: z.enum(OPERATION_REASONS as [OperationReason, ...OperationReason[]]).optional(),
});
type OperationFields = z.infer<typeof operationFieldsSchema>;

/** A validated rule (the kit's kind names). */
export type FaultRule = KitFaultRule & OperationFields;
/** A rule as written by tests, seeds and the admin API: Exoscale's kind spellings allowed. */
export type FaultRuleInput = Omit<FaultRule, 'kind'> & { kind: FaultKind };
export type ActiveFaultRule = ActiveKitFaultRule & OperationFields;

export type OperationFault =
  | { kind: 'fail-operation'; state: 'failure' | 'timeout'; reason: OperationReason; message: string; ruleId: string }
  | { kind: 'stall-operation'; ruleId: string };

/** Splits an input rule into the kit's part (aliases resolved) and Exoscale's operation fields. */
function split(input: unknown): { kit: Record<string, unknown>; op: OperationFields } {
  if (!input || typeof input !== 'object' || Array.isArray(input)) throw new Error('fault rule: expected an object');
  const { state, reason, ...rest } = input as Record<string, unknown>;
  const parsed = operationFieldsSchema.safeParse({ state, reason });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`fault ${issue.path.join('.')}: ${issue.message}`);
  }
  const kind = typeof rest.kind === 'string' ? (KIND_ALIASES[rest.kind] ?? rest.kind) : rest.kind;
  const kit = { ...rest, kind };
  if ((parsed.data.state !== undefined || parsed.data.reason !== undefined) && kind !== 'fail-change') {
    throw new Error(`fault ${parsed.data.state !== undefined ? 'state' : 'reason'}: only for fail-change (fail-operation)`);
  }
  return { kit, op: parsed.data };
}

function withOp(rule: KitFaultRule, op: OperationFields): FaultRule {
  return { ...rule, ...(op.state !== undefined ? { state: op.state } : {}), ...(op.reason !== undefined ? { reason: op.reason } : {}) };
}

/** Validates a rule (admin API, library); throws a one-line error naming the field. */
export function parseFaultRule(input: unknown): FaultRule {
  const { kit, op } = split(input);
  return withOp(parseKitFaultRule(kit, SIM_CALLS), op);
}

/**
 * Parses a command-line fault spec, the kit's `kind[:key=value,...]` plus `state=` and `reason=`:
 *   latency:ms=300,jitter=100   error:rate=0.2,status=502   rate-limit:count=3,retry-after=1   lose-answer:count=1
 *   hang:count=1,calls=get-operation   fail-operation:count=1,reason=busy   stall-operation
 */
export function parseFaultSpec(spec: string): FaultRule {
  const colon = spec.indexOf(':');
  const kindWord = colon < 0 ? spec : spec.slice(0, colon);
  const op: Record<string, string> = {};
  const rest: string[] = [];
  for (const pair of colon < 0 ? [] : spec.slice(colon + 1).split(',')) {
    const m = /^(state|reason)=(.*)$/.exec(pair);
    if (m) op[m[1]!] = m[2]!;
    else rest.push(pair);
  }
  const kitSpec = (KIND_ALIASES[kindWord] ?? kindWord) + (colon < 0 ? '' : `:${rest.join(',')}`);
  try {
    return parseFaultRule({ ...parseKitFaultSpec(kitSpec, SIM_CALLS), ...op });
  } catch (err) {
    const message = (err as Error).message;
    throw new Error(message.includes(' (in "') ? message.replace(/ \(in ".*"\)$/, ` (in ${JSON.stringify(spec)})`) : `${message} (in ${JSON.stringify(spec)})`);
  }
}

/** The kit's fault set with Exoscale's catalog; operation faults carry Exoscale's state and reason. */
export class FaultSet {
  readonly #kit: KitFaultSet;
  readonly #op = new Map<string, OperationFields>();

  constructor(rules: readonly FaultRuleInput[] = [], seed?: number) {
    this.#kit = new KitFaultSet(EXOSCALE_FAULT_CATALOG, [], seed);
    for (const r of rules) this.add(r);
  }

  /** Adds a rule (Exoscale's spellings accepted; validated, so admin input may be unknown); returns it with its id. */
  add(rule: FaultRuleInput | unknown): ActiveFaultRule {
    const { kit, op } = split(rule);
    const active = this.#kit.add(kit.kind === 'fail-change' && kit.message === undefined ? { ...kit, message: 'Operation failed (simulated fault)' } : kit);
    this.#op.set(active.id, op);
    return { ...active, ...op };
  }

  remove(id: string): boolean {
    this.#op.delete(id);
    return this.#kit.remove(id);
  }

  clear(): void {
    this.#op.clear();
    this.#kit.clear();
  }

  list(): ActiveFaultRule[] {
    return this.#kit.list().map((r) => ({ ...r, ...this.#op.get(r.id) }));
  }

  forRequest(call: string): ReturnType<KitFaultSet['forRequest']> {
    return this.#kit.forRequest(call);
  }

  /** Decides what goes wrong with the operation of an attach/detach, if anything. */
  forOperation(call: string): OperationFault | undefined {
    const fault = this.#kit.forChange(call);
    if (!fault) return undefined;
    if (fault.kind === 'stall-change') return { kind: 'stall-operation', ruleId: fault.ruleId };
    // kept after a counted rule is used up: the kit removes it as it fires
    const op = this.#op.get(fault.ruleId) ?? {};
    return { kind: 'fail-operation', state: op.state ?? 'failure', reason: op.reason ?? 'fault', message: fault.message, ruleId: fault.ruleId };
  }
}
