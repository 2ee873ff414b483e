/**
 * The simulator's world: instances, security groups (account-global), Elastic IPs with
 * one source of truth for attachments (EIP -> set of instance ids), async operations,
 * an event log (attach/detach with timestamps and the holders after each change) and a
 * request log. The HTTP layer (server.ts) and the admin API only go through this class.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import type {
  ElasticIp,
  ElasticIpHealthcheck,
  Instance,
  InstanceState,
  InstanceSummary,
  Operation,
  OperationReason,
  SecurityGroup,
} from '../types.js';
import { isUuid } from '../types.js';
import { FaultSet, type FaultRuleInput, type OperationFault } from './faults.js';
import { holderHistory, type HolderHistory } from './history.js';
import type { ElasticIpInput, InstanceInput, SecurityGroupInput, SimSeed } from './seed.js';

/**
 * What attaching an already attached pair (or detaching a pair that is not attached) does.
 * The real behaviour is unverified (reference §10.2):
 *   operation-failure  the call is accepted, its operation ends in failure, reason "conflict" (default)
 *   http-conflict      the call is refused at once: 409 {"message": …}
 *   succeed            idempotent: the operation succeeds without change
 */
export type DuplicateMode = 'operation-failure' | 'http-conflict' | 'succeed';
export const DUPLICATE_MODES: readonly DuplicateMode[] = ['operation-failure', 'http-conflict', 'succeed'];

export interface SimConfig {
  /** Time from an attach/detach call to its operation's completion (and the state change). */
  operationDelayMs: number;
  duplicates: DuplicateMode;
}

export interface SimInstance {
  id: string;
  name: string;
  state: InstanceState;
  publicIp?: string;
  ipv6Address?: string;
  labels: Record<string, string>;
  securityGroupIds: string[];
  manager?: { id: string; type: 'instance-pool' | 'sks-nodepool' };
  createdAt: string;
  macAddress: string;
  instanceTypeId: string;
  templateId: string;
}

export interface SimSecurityGroup {
  id: string;
  name: string;
  description?: string;
}

export interface SimElasticIp {
  id: string;
  ip: string;
  description?: string;
  labels: Record<string, string>;
  healthcheck?: ElasticIpHealthcheck;
  /** The single source of truth for attachments. */
  holders: Set<string>;
}

export type SimEventType =
  | 'attach'
  | 'detach'
  | 'operation'
  | 'instance-added'
  | 'instance-updated'
  | 'instance-removed'
  | 'elastic-ip-added'
  | 'security-group-added'
  | 'reset';

export interface SimEvent {
  seq: number;
  /** ISO time. */
  at: string;
  /** Epoch ms. */
  t: number;
  type: SimEventType;
  /** Who caused it: an API call, the admin API/library, or the seed. */
  source: 'api' | 'admin' | 'seed';
  eip?: { id: string; ip: string };
  instance?: string;
  /** For attach/detach: the EIP's holders right after the change. */
  holders?: string[];
  operation?: string;
  /** For operation events: the final state. */
  state?: string;
  detail?: string;
}

export interface SimRequestRecord {
  seq: number;
  at: string;
  t: number;
  method: string;
  path: string;
  call: string;
  status: number | null;
  /** The caller's address (the daemon's host), as the kit's simulators record it. */
  caller: string;
  apiKey?: string;
  /** The fault that decided the answer (error, rate-limit, hang). */
  fault?: string;
  durationMs?: number;
}

interface SimOperationRecord {
  op: Operation;
  kind: 'attach' | 'detach';
  eipId: string;
  instanceId: string;
  timer?: NodeJS.Timeout;
  /** Held by a test (holdOperations) until completeOperation. */
  held?: boolean;
  fault?: OperationFault;
}

/** An attach/detach operation as tests see it (holdOperations, pendingOperations). */
export interface SimOperationView {
  id: string;
  kind: 'attach' | 'detach';
  /** The instance attached or detached. */
  instance: string;
  eip: string;
  state: Operation['state'];
  held: boolean;
}

export interface SimStateOptions {
  zone: string;
  seed: SimSeed;
  config?: Partial<SimConfig>;
  faults?: FaultRuleInput[];
  /** Seed of the fault PRNG (rate-based faults become reproducible). */
  faultSeed?: number;
}

const MAX_EVENTS = 10_000;
const MAX_REQUESTS = 2_000;
const MAX_OPERATIONS = 5_000;

export class SimulatorState {
  readonly zone: string;
  readonly faults: FaultSet;
  config: SimConfig;
  readonly #seed: SimSeed;
  readonly #initialFaults: readonly FaultRuleInput[];
  #instances = new Map<string, SimInstance>();
  #groups = new Map<string, SimSecurityGroup>();
  #eips = new Map<string, SimElasticIp>();
  #operations = new Map<string, SimOperationRecord>();
  #events: SimEvent[] = [];
  #requests: SimRequestRecord[] = [];
  #seq = 0;
  #reqSeq = 0;
  #listeners = new Set<(e: SimEvent) => void>();
  #requestListeners = new Set<(r: SimRequestRecord) => void>();
  #holds = new Set<(op: SimOperationView) => boolean>();

  constructor(opts: SimStateOptions) {
    this.zone = opts.zone;
    this.#seed = structuredClone(opts.seed);
    this.#initialFaults = opts.faults ?? [];
    this.config = { operationDelayMs: 300, duplicates: 'operation-failure', ...opts.config };
    this.faults = new FaultSet(this.#initialFaults, opts.faultSeed);
    this.#applySeed();
  }

  // ---------------------------------------------------------------- setup

  #applySeed(): void {
    for (const g of this.#seed.securityGroups ?? []) this.addSecurityGroup(g, 'seed');
    for (const i of this.#seed.instances ?? []) this.addInstance(i, 'seed');
    for (const e of this.#seed.elasticIps ?? []) this.addElasticIp(e, 'seed');
  }

  /** Back to the seed: entities, faults (the initial ones), operations; logs are cleared. */
  reset(): void {
    this.dispose();
    this.#instances.clear();
    this.#groups.clear();
    this.#eips.clear();
    this.#operations.clear();
    this.#events = [];
    this.#requests = [];
    this.faults.clear();
    for (const f of this.#initialFaults) this.faults.add(f);
    this.#applySeed();
    this.#emit({ type: 'reset', source: 'admin' });
  }

  /** Stops pending operation timers (the server calls it on close). */
  dispose(): void {
    for (const rec of this.#operations.values()) if (rec.timer) clearTimeout(rec.timer);
  }

  setConfig(patch: Partial<SimConfig>): SimConfig {
    if (patch.operationDelayMs !== undefined && (!Number.isFinite(patch.operationDelayMs) || patch.operationDelayMs < 0)) {
      throw new Error('operationDelayMs must be a non-negative number');
    }
    if (patch.duplicates !== undefined && !DUPLICATE_MODES.includes(patch.duplicates)) {
      throw new Error(`duplicates must be one of ${DUPLICATE_MODES.join(', ')}`);
    }
    this.config = { ...this.config, ...patch };
    return this.config;
  }

  // ---------------------------------------------------------------- security groups

  addSecurityGroup(input: SecurityGroupInput, source: SimEvent['source'] = 'admin'): SimSecurityGroup {
    if (!input.name || input.name.length > 255) throw new Error('security group name must be 1..255 characters');
    if ([...this.#groups.values()].some((g) => g.name === input.name)) {
      throw new Error(`security group ${JSON.stringify(input.name)} already exists`);
    }
    const id = this.#newId(input.id, 'security group', this.#groups);
    const group: SimSecurityGroup = { id, name: input.name, ...(input.description ? { description: input.description } : {}) };
    this.#groups.set(id, group);
    this.#emit({ type: 'security-group-added', source, detail: input.name });
    return group;
  }

  findSecurityGroup(nameOrId: string): SimSecurityGroup | undefined {
    return this.#groups.get(nameOrId.toLowerCase()) ?? [...this.#groups.values()].find((g) => g.name === nameOrId);
  }

  securityGroups(): SimSecurityGroup[] {
    return [...this.#groups.values()];
  }

  // ---------------------------------------------------------------- instances

  addInstance(input: InstanceInput, source: SimEvent['source'] = 'admin'): SimInstance {
    if (!input.name || input.name.length > 255) throw new Error('instance name must be 1..255 characters');
    if (input.publicIp !== undefined && isIP(input.publicIp) !== 4) {
      throw new Error(`instance ${input.name}: publicIp ${JSON.stringify(input.publicIp)} is not an IPv4 address`);
    }
    const id = this.#newId(input.id, 'instance', this.#instances);
    const inst: SimInstance = {
      id,
      name: input.name,
      state: input.state ?? 'running',
      ...(input.publicIp ? { publicIp: input.publicIp } : {}),
      ...(input.ipv6Address ? { ipv6Address: input.ipv6Address } : {}),
      labels: { ...input.labels },
      securityGroupIds: this.#groupIds(input.securityGroups ?? [], source),
      ...(input.manager ? { manager: { ...input.manager } } : {}),
      createdAt: new Date().toISOString(),
      macAddress: `06:${[...randomBytes(5)].map((b) => b.toString(16).padStart(2, '0')).join(':')}`,
      instanceTypeId: 'b6e9d1e8-89fc-4db3-aaa4-9b4c5b1d0844',
      templateId: 'cbd89eb1-c66c-4637-9483-904d7e36c318',
    };
    this.#instances.set(id, inst);
    this.#emit({ type: 'instance-added', source, instance: id, detail: inst.name });
    return inst;
  }

  /** Changes name, state, publicIp, labels or security groups (names or ids; unknown names are created). */
  updateInstance(idOrName: string, patch: Partial<Omit<InstanceInput, 'id'>>): SimInstance {
    const inst = this.#requireInstance(idOrName);
    if (patch.publicIp !== undefined && isIP(patch.publicIp) !== 4) {
      throw new Error(`publicIp ${JSON.stringify(patch.publicIp)} is not an IPv4 address`);
    }
    if (patch.name !== undefined) inst.name = patch.name;
    if (patch.state !== undefined) inst.state = patch.state;
    if (patch.publicIp !== undefined) inst.publicIp = patch.publicIp;
    if (patch.ipv6Address !== undefined) inst.ipv6Address = patch.ipv6Address;
    if (patch.labels !== undefined) inst.labels = { ...patch.labels };
    if (patch.securityGroups !== undefined) inst.securityGroupIds = this.#groupIds(patch.securityGroups, 'admin');
    if (patch.manager !== undefined) inst.manager = { ...patch.manager };
    this.#emit({ type: 'instance-updated', source: 'admin', instance: inst.id, detail: JSON.stringify(patch) });
    return inst;
  }

  /** Removes an instance (it is detached from every EIP first, with events). */
  removeInstance(idOrName: string): boolean {
    const inst = this.findInstance(idOrName);
    if (!inst) return false;
    for (const eip of this.#eips.values()) if (eip.holders.has(inst.id)) this.detachNow(eip.id, inst.id, 'admin');
    this.#instances.delete(inst.id);
    this.#emit({ type: 'instance-removed', source: 'admin', instance: inst.id, detail: inst.name });
    return true;
  }

  findInstance(idOrName: string): SimInstance | undefined {
    return this.#instances.get(idOrName.toLowerCase()) ?? [...this.#instances.values()].find((i) => i.name === idOrName);
  }

  instances(): SimInstance[] {
    return [...this.#instances.values()];
  }

  /** The instance whose public (or IPv6) address is this one, e.g. to answer metadata by source address. */
  instanceByAddress(address: string): SimInstance | undefined {
    const a = address.replace(/^::ffff:/, '');
    return [...this.#instances.values()].find((i) => i.publicIp === a || i.ipv6Address === a);
  }

  // ---------------------------------------------------------------- elastic IPs

  addElasticIp(input: ElasticIpInput, source: SimEvent['source'] = 'admin'): SimElasticIp {
    if (isIP(input.ip) === 0) throw new Error(`elastic IP ${JSON.stringify(input.ip)} is not an IP address`);
    if ([...this.#eips.values()].some((e) => e.ip === input.ip)) throw new Error(`elastic IP ${input.ip} already exists`);
    const id = this.#newId(input.id, 'elastic IP', this.#eips);
    const eip: SimElasticIp = {
      id,
      ip: input.ip,
      ...(input.description !== undefined ? { description: input.description } : {}),
      labels: { ...input.labels },
      ...(input.healthcheck ? { healthcheck: { ...input.healthcheck } } : {}),
      holders: new Set(),
    };
    this.#eips.set(id, eip);
    this.#emit({ type: 'elastic-ip-added', source, eip: { id, ip: eip.ip } });
    for (const h of input.holders ?? []) this.attachNow(id, this.#requireInstance(h).id, source);
    return eip;
  }

  findElasticIp(idOrIp: string): SimElasticIp | undefined {
    return this.#eips.get(idOrIp.toLowerCase()) ?? [...this.#eips.values()].find((e) => e.ip === idOrIp);
  }

  elasticIps(): SimElasticIp[] {
    return [...this.#eips.values()];
  }

  /** Instance ids the EIP (id or address) is attached to. */
  holdersOf(idOrIp: string): string[] {
    return [...this.#requireEip(idOrIp).holders];
  }

  /** EIP ids attached to an instance. */
  elasticIpsOf(instanceId: string): string[] {
    return [...this.#eips.values()].filter((e) => e.holders.has(instanceId)).map((e) => e.id);
  }

  /** Sets the holders directly (test setup); emits attach/detach events for the differences. */
  setHolders(idOrIp: string, instances: string[], source: SimEvent['source'] = 'admin'): string[] {
    const eip = this.#requireEip(idOrIp);
    const wanted = new Set(instances.map((i) => this.#requireInstance(i).id));
    for (const h of [...eip.holders]) if (!wanted.has(h)) this.detachNow(eip.id, h, source);
    for (const w of wanted) if (!eip.holders.has(w)) this.attachNow(eip.id, w, source);
    return [...eip.holders];
  }

  /** Attaches immediately (no operation). Returns false when already attached. */
  attachNow(eipId: string, instanceId: string, source: SimEvent['source'], operation?: string): boolean {
    const eip = this.#requireEip(eipId);
    if (eip.holders.has(instanceId)) return false;
    eip.holders.add(instanceId);
    this.#emit({
      type: 'attach',
      source,
      eip: { id: eip.id, ip: eip.ip },
      instance: instanceId,
      holders: [...eip.holders],
      ...(operation ? { operation } : {}),
    });
    return true;
  }

  /** Detaches immediately (no operation). Returns false when not attached. */
  detachNow(eipId: string, instanceId: string, source: SimEvent['source'], operation?: string): boolean {
    const eip = this.#requireEip(eipId);
    if (!eip.holders.delete(instanceId)) return false;
    this.#emit({
      type: 'detach',
      source,
      eip: { id: eip.id, ip: eip.ip },
      instance: instanceId,
      holders: [...eip.holders],
      ...(operation ? { operation } : {}),
    });
    return true;
  }

  /** Holder intervals of an EIP from the event log (see history.ts). */
  history(idOrIp: string, sinceMs?: number): HolderHistory {
    const eip = this.#requireEip(idOrIp);
    const since = sinceMs;
    const events = since === undefined ? this.#events : this.#events.filter((e) => e.t >= since);
    const before = since === undefined ? [] : this.#holdersAt(eip.id, since);
    return holderHistory(events, { id: eip.id, ip: eip.ip }, before, Date.now(), since);
  }

  #holdersAt(eipId: string, t: number): string[] {
    let holders: string[] = [];
    for (const e of this.#events) {
      if (e.t >= t) break;
      if (e.eip?.id === eipId && e.holders) holders = e.holders;
    }
    return holders;
  }

  // ---------------------------------------------------------------- operations

  /**
   * Starts an attach/detach operation: pending now; after config.operationDelayMs it
   * applies the change and succeeds, or fails (fault, vanished resource, duplicate).
   */
  startOperation(kind: 'attach' | 'detach', eipId: string, instanceId: string, fault?: OperationFault): Operation {
    const eip = this.#requireEip(eipId);
    const op: Operation = {
      id: randomUUID(),
      state: 'pending',
      reference: { id: eip.id, link: `/v2/elastic-ip/${eip.id}`, command: 'get-elastic-ip' },
    };
    const rec: SimOperationRecord = { op, kind, eipId: eip.id, instanceId };
    this.#operations.set(op.id, rec);
    this.#trimOperations();
    const view = this.#view(rec);
    if ([...this.#holds].some((match) => match(view))) {
      rec.held = true;
      if (fault) rec.fault = fault;
    } else if (fault?.kind !== 'stall-operation') {
      rec.timer = setTimeout(() => this.#complete(rec, fault), this.config.operationDelayMs);
    }
    return { ...op };
  }

  /**
   * Test control for deterministic interleavings: attach/detach operations started while `match`
   * selects them stay pending until completeOperation(id). Returns the function that stops holding
   * (operations already held stay held).
   */
  holdOperations(match: (op: SimOperationView) => boolean): () => void {
    this.#holds.add(match);
    return () => this.#holds.delete(match);
  }

  /** Operations still pending, oldest first. */
  pendingOperations(): SimOperationView[] {
    return [...this.#operations.values()].filter((r) => r.op.state === 'pending').map((r) => this.#view(r));
  }

  /** Completes a pending operation now (a held one, or one whose delay has not elapsed). */
  completeOperation(id: string): boolean {
    const rec = this.#operations.get(id.toLowerCase());
    if (!rec || rec.op.state !== 'pending') return false;
    if (rec.timer) clearTimeout(rec.timer);
    rec.held = false;
    this.#complete(rec, rec.fault?.kind === 'fail-operation' ? rec.fault : undefined);
    return true;
  }

  #view(rec: SimOperationRecord): SimOperationView {
    return { id: rec.op.id, kind: rec.kind, instance: rec.instanceId, eip: rec.eipId, state: rec.op.state, held: rec.held ?? false };
  }

  getOperation(id: string): Operation | undefined {
    const rec = this.#operations.get(id.toLowerCase());
    return rec ? structuredClone(rec.op) : undefined;
  }

  #complete(rec: SimOperationRecord, fault: OperationFault | undefined): void {
    rec.timer = undefined;
    const finish = (state: Operation['state'], reason?: OperationReason, message?: string): void => {
      rec.op.state = state;
      if (reason) rec.op.reason = reason;
      if (message) rec.op.message = message;
      this.#emit({
        type: 'operation',
        source: 'api',
        operation: rec.op.id,
        state,
        instance: rec.instanceId,
        ...(this.#eips.get(rec.eipId) ? { eip: { id: rec.eipId, ip: this.#eips.get(rec.eipId)!.ip } } : {}),
        detail: `${rec.kind}${reason ? ` ${reason}` : ''}`,
      });
    };
    if (fault?.kind === 'fail-operation') return finish(fault.state, fault.reason, fault.message);
    const eip = this.#eips.get(rec.eipId);
    if (!eip) return finish('failure', 'not-found', 'Elastic IP not found');
    if (!this.#instances.has(rec.instanceId)) return finish('failure', 'not-found', 'Instance not found');
    const attached = eip.holders.has(rec.instanceId);
    if (rec.kind === 'attach' ? attached : !attached) {
      if (this.config.duplicates === 'succeed') return finish('success');
      return finish(
        'failure',
        'conflict',
        rec.kind === 'attach' ? 'Instance is already attached to this Elastic IP' : 'Instance is not attached to this Elastic IP',
      );
    }
    if (rec.kind === 'attach') this.attachNow(eip.id, rec.instanceId, 'api', rec.op.id);
    else this.detachNow(eip.id, rec.instanceId, 'api', rec.op.id);
    finish('success');
  }

  #trimOperations(): void {
    if (this.#operations.size <= MAX_OPERATIONS) return;
    for (const [id, rec] of this.#operations) {
      if (this.#operations.size <= MAX_OPERATIONS) break;
      if (rec.op.state !== 'pending') this.#operations.delete(id);
    }
  }

  // ---------------------------------------------------------------- logs

  events(sinceSeq = 0): SimEvent[] {
    return this.#events.filter((e) => e.seq > sinceSeq).map((e) => ({ ...e }));
  }

  requests(sinceSeq = 0): SimRequestRecord[] {
    return this.#requests.filter((r) => r.seq > sinceSeq).map((r) => ({ ...r }));
  }

  recordRequest(rec: Omit<SimRequestRecord, 'seq' | 'at' | 't'>): SimRequestRecord {
    const t = Date.now();
    const full: SimRequestRecord = { seq: ++this.#reqSeq, at: new Date(t).toISOString(), t, ...rec };
    this.#requests.push(full);
    if (this.#requests.length > MAX_REQUESTS) this.#requests.splice(0, this.#requests.length - MAX_REQUESTS);
    for (const l of this.#requestListeners) l(full);
    return full;
  }

  /** Subscribes to events; returns the unsubscribe function. */
  onEvent(listener: (e: SimEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Subscribes to the request log; returns the unsubscribe function. */
  onRequest(listener: (r: SimRequestRecord) => void): () => void {
    this.#requestListeners.add(listener);
    return () => this.#requestListeners.delete(listener);
  }

  #emit(e: Omit<SimEvent, 'seq' | 'at' | 't'>): void {
    const t = Date.now();
    const full: SimEvent = { seq: ++this.#seq, at: new Date(t).toISOString(), t, ...e };
    this.#events.push(full);
    if (this.#events.length > MAX_EVENTS) this.#events.splice(0, this.#events.length - MAX_EVENTS);
    for (const l of this.#listeners) {
      try {
        l(full);
      } catch {
        // listeners must not break the simulator
      }
    }
  }

  // ---------------------------------------------------------------- views

  /** Everything, JSON-ready (admin GET /_sim/state). Secrets are not part of the state. */
  snapshot(): Record<string, unknown> {
    return {
      zone: this.zone,
      config: { ...this.config },
      securityGroups: this.securityGroups(),
      instances: this.instances().map((i) => ({ ...i, elasticIps: this.elasticIpsOf(i.id) })),
      elasticIps: this.elasticIps().map((e) => ({ ...e, holders: [...e.holders] })),
      operations: [...this.#operations.values()].map((r) => ({
        ...structuredClone(r.op),
        kind: r.kind,
        instance: r.instanceId,
      })),
      faults: this.faults.list(),
      events: this.#events.length,
      requests: this.#requests.length,
    };
  }

  // ---------------------------------------------------------------- helpers

  #newId(given: string | undefined, what: string, map: Map<string, unknown>): string {
    if (given === undefined) return randomUUID();
    if (!isUuid(given)) throw new Error(`${what} id ${JSON.stringify(given)} is not a UUID`);
    const id = given.toLowerCase();
    if (map.has(id)) throw new Error(`${what} ${id} already exists`);
    return id;
  }

  #groupIds(namesOrIds: string[], source: SimEvent['source']): string[] {
    return [...new Set(namesOrIds.map((n) => (this.findSecurityGroup(n) ?? this.addSecurityGroup({ name: n }, source)).id))];
  }

  #requireInstance(idOrName: string): SimInstance {
    const inst = this.findInstance(idOrName);
    if (!inst) throw new Error(`no instance ${JSON.stringify(idOrName)}`);
    return inst;
  }

  #requireEip(idOrIp: string): SimElasticIp {
    const eip = this.findElasticIp(idOrIp);
    if (!eip) throw new Error(`no elastic IP ${JSON.stringify(idOrIp)}`);
    return eip;
  }
}

// ---------------------------------------------------------------- wire renderers

export function renderElasticIp(e: SimElasticIp): ElasticIp {
  const v6 = isIP(e.ip) === 6;
  return {
    id: e.id,
    ip: e.ip,
    addressfamily: v6 ? 'inet6' : 'inet4',
    cidr: `${e.ip}/${v6 ? 128 : 32}`,
    ...(e.description !== undefined ? { description: e.description } : {}),
    ...(Object.keys(e.labels).length > 0 ? { labels: { ...e.labels } } : {}),
    ...(e.healthcheck ? { healthcheck: { ...e.healthcheck } } : {}),
  };
}

/** A `GET /instance` item: no `elastic-ips`, references carry only `id`. */
export function renderInstanceSummary(i: SimInstance): InstanceSummary {
  return {
    id: i.id,
    name: i.name,
    state: i.state,
    ...(i.publicIp ? { 'public-ip': i.publicIp } : {}),
    'public-ip-assignment': i.publicIp ? (i.ipv6Address ? 'dual' : 'inet4') : 'none',
    ...(i.ipv6Address ? { 'ipv6-address': i.ipv6Address } : {}),
    labels: { ...i.labels },
    'security-groups': i.securityGroupIds.map((id) => ({ id })),
    ...(i.manager ? { manager: { ...i.manager } } : {}),
    'instance-type': { id: i.instanceTypeId },
    template: { id: i.templateId },
    'mac-address': i.macAddress,
    'created-at': i.createdAt,
  };
}

/** `GET /instance/{id}`: the summary plus `elastic-ips` (omitted when none). */
export function renderInstance(i: SimInstance, elasticIpIds: string[]): Instance {
  return {
    ...renderInstanceSummary(i),
    ...(elasticIpIds.length > 0 ? { 'elastic-ips': elasticIpIds.map((id) => ({ id })) } : {}),
    'disk-size': 50,
  };
}

export function renderSecurityGroup(g: SimSecurityGroup): SecurityGroup {
  return { id: g.id, name: g.name, ...(g.description ? { description: g.description } : {}), rules: [] };
}
