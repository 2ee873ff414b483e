/** Human rendering of `ipwarden status`: who holds the IP, since when, why, and is everything healthy. */
import type { DaemonStatus } from '../daemon/daemon.js';
import { formatDuration } from '../util/duration.js';

function ago(ms: number): string {
  return formatDuration(Math.max(0, ms));
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd());
}

export function formatStatus(s: DaemonStatus, now = Date.now()): string {
  const lines: string[] = [];
  const up = now - Date.parse(s.node.startedAt);
  lines.push(`node ${s.node.id}  pid ${s.node.pid}  ipwarden ${s.node.version}  up ${ago(up)}  heartbeat ${s.node.bind} (${s.node.protocol})`);
  const rows: string[][] = [['INSTANCE', 'ADDRESS', 'STATE', 'PRIO', 'SINCE', 'MASTER', 'WHY']];
  for (const i of s.instances) {
    const prio = i.effectivePriority === i.basePriority ? String(i.effectivePriority) : `${i.effectivePriority} (base ${i.basePriority})`;
    const since = `${new Date(i.since).toISOString().slice(11, 19)}Z (${ago(now - i.since)})`;
    rows.push([i.instance, i.address, i.state, prio, since, i.master ?? '-', i.fault ?? i.lastTransition?.reason ?? '-']);
  }
  lines.push(...table(rows));
  for (const i of s.instances) {
    const peers = i.peers.length
      ? i.peers.map((p) => `${p.id} ${p.alive ? p.state : 'DEAD'} prio ${p.priority} seen ${ago(p.lastSeenAgoMs)} ago`).join('; ')
      : 'none heard yet';
    lines.push(`  ${i.instance} peers: ${peers}`);
    if (i.checks.length) {
      const checks = i.checks.map((c) => `${c.name} ${c.state.toUpperCase()}${c.lastResult ? ` (${c.lastResult.detail}, ${c.lastResult.latencyMs}ms)` : ''}`).join('; ');
      lines.push(`  ${i.instance} checks: ${checks}`);
    }
    const failed = i.actions.filter((a) => !a.ok);
    if (i.actions.length) {
      lines.push(
        `  ${i.instance} actions: ${i.actions.map((a) => `${a.action}.${a.hook} ${a.ok ? 'ok' : `FAILED (${a.error})`} ${ago(now - a.at)} ago`).join('; ')}`,
      );
    }
    if (i.election) {
      const e = i.election;
      const lease = e.lease
        ? `lease ${e.lease} ttl ${ago(e.grantedTtlMs ?? e.ttlMs)} remaining ${ago(e.leaseRemainingMs ?? 0)}, renewed ${ago(e.lastRenewalAgoMs ?? 0)} ago in ${e.lastRenewalLatencyMs ?? 0}ms`
        : 'no lease';
      const term = e.fencingToken ? `, term ${e.fencingToken}, steps down in ${ago(e.stepDownInMs ?? 0)} without renewal` : '';
      lines.push(`  ${i.instance} election: etcd ${e.keyPrefix} ${lease}${term}${e.error ? `; ERROR ${e.error.message}` : ''}`);
    }
    if (i.takeoverAt !== undefined && i.state === 'BACKUP' && !i.master) lines.push(`  ${i.instance}: no live master; takes over in ${ago(i.takeoverAt - now)} unless one is heard`);
    if (failed.length) lines.push(`  ${i.instance}: WARNING ${failed.length} action(s) failing`);
  }
  const rej = Object.entries(s.counters.rejected);
  lines.push(
    `heartbeats: sent ${s.counters.sent}, received ${s.counters.received}${rej.length ? `, dropped ${rej.map(([k, v]) => `${k}=${v}`).join(' ')}` : ''}${s.counters.sendErrors ? `, send errors ${s.counters.sendErrors}` : ''}`,
  );
  if (s.eventLoop) lines.push(formatEventLoop(s.eventLoop, now));
  return `${lines.join('\n')}\n`;
}

/** "event loop: delay p50 10ms p99 12ms max 20ms (last 10s); blocked 2 times, last 5.0s ago: 5.0s during web/app (plugin x)" */
export function formatEventLoop(e: NonNullable<DaemonStatus['eventLoop']>, now = Date.now()): string {
  const delay = `event loop: delay p50 ${formatDuration(e.p50Ms)} p99 ${formatDuration(e.p99Ms)} max ${formatDuration(e.maxMs)} (last ${formatDuration(e.windowMs)})`;
  if (!e.lastBlock) return delay;
  const b = e.lastBlock;
  const who = b.running.length ? ` during ${b.running.join(', ')}` : '';
  return `${delay}; WARNING blocked ${e.blocks} time(s), last ${ago(now - Date.parse(b.at))} ago for ${formatDuration(b.ms)}${who}`;
}
