/**
 * `ipwarden config check` across a cluster: given every node's resolved config (one file per node),
 * the mistakes no single file shows. Pure functions over ResolvedConfig; no I/O.
 *
 * Problems (the cluster cannot work as configured):
 *   - two files with the same node id (an unset node.id defaults to the hostname);
 *   - an instance whose address differs between files (the nodes would run separate instances);
 *   - different heartbeat protocols, or a node whose signing key another node cannot verify;
 *   - an instance elected by heartbeats on some nodes and by etcd on others, or under different
 *     etcd prefixes (separate leader keys).
 * Warnings (it works, but not as intended):
 *   - an instance missing from some files; different interval or deadRatio;
 *   - a node's peers not listing another node's node.bind (when that is a specific address), or
 *     listing more peers than the files given (the analysis only covers the given files); not for
 *     instances whose peers are discovered at runtime nor for etcd-elected ones; a different etcd ttl;
 *   - per node, weightWarnings with the other files as the peers: timeouts longer than the interval,
 *     weights that can never change who is MASTER, equal priorities.
 */
import { weightWarnings, type PlannedCheck, type WeightPlan } from '../engine/health.js';
import { formatDuration } from '../util/duration.js';
import { canonicalAddress, formatEndpoint, isWildcard, type Endpoint } from './endpoint.js';
import type { ResolvedConfig, ResolvedInstance } from './resolve.js';

/** One node of the cluster: its rc file and what it resolved to. */
export interface ClusterNode {
  file: string;
  config: ResolvedConfig;
}

export interface ClusterReport {
  /** Cluster-wide problems: with any, the cluster cannot work as configured. */
  problems: string[];
  /** Cluster-wide warnings. */
  warnings: string[];
  /** Per file (same order as the input): the node's own warnings, the weight analysis included. */
  nodeWarnings: string[][];
}

const plannedChecks = (inst: ResolvedInstance): PlannedCheck[] =>
  inst.checks.map((c) => ({ name: c.name, weight: c.weight, intervalMs: c.intervalMs, timeoutMs: c.timeoutMs }));

/**
 * The weight and timer warnings of one node: its instances' checks, with the given other nodes as
 * the peers (their priorities, checks and preemption). Without other nodes, only what one file
 * shows (timeouts longer than the interval).
 */
export function nodeWarnings(node: ResolvedConfig, others: readonly ResolvedConfig[] = []): string[] {
  const plans: WeightPlan[] = node.instances.map((inst) => ({
    instance: inst.name,
    id: node.node.id,
    priority: inst.priority,
    peers: others.flatMap((o) => {
      const peer = o.instances.find((i) => i.name === inst.name);
      return peer ? [{ id: o.node.id, priority: peer.priority, preempt: peer.preempt, checks: plannedChecks(peer) }] : [];
    }),
    checks: plannedChecks(inst),
  }));
  return weightWarnings(plans);
}

/** Peers found at runtime (an instance's `discovery`) are not in the files. */
const discoversPeers = (inst: ResolvedInstance): boolean => 'discovery' in inst && inst.discovery !== undefined;

const sameEndpoint = (a: Endpoint, b: Endpoint): boolean => a.port === b.port && canonicalAddress(a.host) === canonicalAddress(b.host);

function label(n: ClusterNode): string {
  return `${n.config.node.id} (${n.file})`;
}

/** Lists `value (file), value (file)` grouped by value, for "differs" messages. */
function byValue<T>(nodes: readonly { node: ClusterNode; value: T }[], show: (v: T) => string): string {
  const groups = new Map<string, string[]>();
  for (const { node, value } of nodes) {
    const key = show(value);
    groups.set(key, [...(groups.get(key) ?? []), node.file]);
  }
  return [...groups].map(([v, files]) => `${v} (${files.join(', ')})`).join(', ');
}

/** Cross-checks the configs of the nodes of one cluster (see the module comment). */
export function checkCluster(nodes: readonly ClusterNode[]): ClusterReport {
  const problems: string[] = [];
  const warnings: string[] = [];

  // node ids
  const byId = new Map<string, ClusterNode[]>();
  for (const n of nodes) byId.set(n.config.node.id, [...(byId.get(n.config.node.id) ?? []), n]);
  for (const [id, same] of byId) {
    if (same.length > 1) {
      problems.push(`node.id "${id}" is used by ${same.map((n) => n.file).join(' and ')}: every node needs its own id (an unset node.id is the hostname)`);
    }
  }

  // heartbeat protocol and keys
  const protocols = new Set(nodes.map((n) => n.config.protocol));
  if (protocols.size > 1) {
    problems.push(`protocol differs: ${byValue(nodes.map((n) => ({ node: n, value: n.config.protocol })), String)}: the nodes cannot read each other's heartbeats`);
  } else if (nodes[0]?.config.protocol === 'ipwarden') {
    for (const sender of nodes) {
      const signing = sender.config.secrets[0];
      if (!signing) continue;
      for (const receiver of nodes) {
        if (receiver === sender) continue;
        const key = receiver.config.secrets.find((k) => k.id === signing.id);
        if (!key) problems.push(`secret: ${label(receiver)} has no key id ${signing.id}, which ${label(sender)} signs its heartbeats with`);
        else if (!key.key.equals(signing.key)) problems.push(`secret: key id ${signing.id} differs between ${label(sender)} and ${label(receiver)}: heartbeats are rejected (bad-tag)`);
      }
    }
  }

  // instances
  const names = [...new Set(nodes.flatMap((n) => n.config.instances.map((i) => i.name)))];
  for (const name of names) {
    const having = nodes.flatMap((node) => {
      const inst = node.config.instances.find((i) => i.name === name);
      return inst ? [{ node, inst }] : [];
    });
    for (const n of nodes) {
      if (having.some((h) => h.node === n)) continue;
      const address = having[0]!.inst.address;
      const there = n.config.instances.find((i) => canonicalAddress(i.address) === canonicalAddress(address));
      warnings.push(`instance ${name} is not in ${n.file}${there ? ` (its address ${address} is instance ${there.name} there; the names should match)` : ''}`);
    }
    if (having.length < 2) continue;
    const differs = <T>(what: string, value: (i: ResolvedInstance) => T, show: (v: T) => string): string | undefined => {
      const values = having.map((h) => ({ node: h.node, value: value(h.inst) }));
      return new Set(values.map((v) => show(v.value))).size > 1 ? `instance ${name}: ${what} differs: ${byValue(values, show)}` : undefined;
    };
    const address = differs('address', (i) => canonicalAddress(i.address), String);
    if (address) problems.push(`${address}: the nodes would run separate instances`);
    const interval = differs('interval', (i) => i.interval, formatDuration);
    if (interval) warnings.push(`${interval}: a peer is declared dead only after deadRatio × the longer interval; use the same everywhere`);
    const deadRatio = differs('deadRatio', (i) => i.deadRatio, String);
    if (deadRatio) warnings.push(`${deadRatio}: the nodes would wait different times before taking over; use the same everywhere`);
    // election backend: all heartbeat, or all etcd with the same keys (endpoints may differ per node)
    const backend = differs('election backend', (i) => i.election?.backend ?? 'heartbeat', String);
    if (backend) problems.push(`${backend}: the nodes would not see each other's claims (two MASTERs)`);
    else if (having[0]!.inst.election) {
      const prefix = differs('election prefix', (i) => i.election?.prefix ?? '', String);
      if (prefix) problems.push(`${prefix}: the nodes would use separate leader keys (two MASTERs)`);
      const ttl = differs('election ttl', (i) => i.election?.ttlMs ?? 0, formatDuration);
      if (ttl) warnings.push(`${ttl}: failover and step-down times differ per node; use the same everywhere`);
      const heartbeat = differs('election heartbeat', (i) => i.election?.heartbeat ?? false, String);
      if (heartbeat) warnings.push(`${heartbeat}: nodes without heartbeats neither give nor use the crash fast path's proof, and a MASTER with onEtcdLoss hold-if-peers-agree never holds (those peers send no etcd report)`);
      const loss = differs('election onEtcdLoss', (i) => i.election?.onEtcdLoss ?? 'release', String);
      if (loss) warnings.push(`${loss}: an etcd outage drops the IP on some nodes and not on others; use the same everywhere`);
    }

    // peers: every other node's specific bind address should be listed
    for (const { node, inst } of having) {
      if (discoversPeers(inst) || (inst.election && !inst.election.heartbeat)) continue; // etcd instances without heartbeats need no peers
      for (const other of having) {
        if (other.node === node) continue;
        const bind = other.node.config.node.bind;
        if (isWildcard(bind.host)) continue;
        if (!inst.peers.some((p) => sameEndpoint(p, bind))) {
          warnings.push(
            `instance ${name}: ${node.file} does not list ${other.node.config.node.id}'s node.bind ${formatEndpoint(bind)} in peers: ` +
              `${other.node.config.node.id} never hears ${node.config.node.id}'s heartbeats`,
          );
        }
      }
      if (inst.peers.length > having.length - 1) {
        warnings.push(
          `instance ${name}: ${node.file} lists ${inst.peers.length} peers but ${having.length - 1} other given file(s) have the instance: ` +
            `give every node's file (the weight analysis only covers the given files)`,
        );
      }
    }
  }

  const nodeWarningsList = nodes.map((n) =>
    nodeWarnings(
      n.config,
      nodes.filter((o) => o !== n).map((o) => o.config),
    ),
  );
  return { problems, warnings, nodeWarnings: nodeWarningsList };
}
