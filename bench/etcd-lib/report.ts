/**
 * ETCD-RESULTS.md from the raw results (pure: same input, same text). Loads are reported per
 * membership (one instance on one daemon: one lease), the unit etcd's load scales with.
 */
import { summarize, type Summary } from '../lib/stats.js';
import type { EtcdWindow } from './etcd-metrics.js';
import type { BurstWindow, LoadResult, LoadWindow } from './load.js';
import type { EtcdBenchResults } from './results.js';
import { FAILOVER_SCENARIOS, FAULTS, type Fault, type FailoverScenario, type FailoverTrial } from './scenarios.js';
import { minLeaseTtlMs, raftLabel } from './etcd-raft.js';

const ms = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '–' : String(Math.round(v)));
const four = (s: Summary | undefined): string => (s ? `${ms(s.median)} / ${ms(s.p90)} / ${ms(s.p99)} / ${ms(s.max)}` : '–');
/** A rate with sensible precision. */
export function num(v: number | undefined, digits?: number): string {
  if (v === undefined || !Number.isFinite(v)) return '–';
  const d = digits ?? (Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : Math.abs(v) >= 1 ? 2 : 3);
  return v.toFixed(d);
}
/** Bytes per second, human. */
export function bytes(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '–';
  if (Math.abs(v) >= 2 ** 20) return `${(v / 2 ** 20).toFixed(2)} MiB`;
  if (Math.abs(v) >= 1024) return `${(v / 1024).toFixed(1)} KiB`;
  return `${v.toFixed(0)} B`;
}
const mean = (v: number[]): number => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN);

function timers(s: FailoverScenario): string {
  if (s.backend === 'heartbeat') return `advert ${s.intervalMs} ms, dead after ${s.deadRatio} × ${s.intervalMs} = ${s.deadRatio * s.intervalMs} ms`;
  const t = s.ttlMs!;
  const hb = s.heartbeat ? `; heartbeats every ${s.intervalMs} ms (deadRatio ${s.deadRatio})` : '';
  return `ttl ${t / 1000} s (renew ${t / 4} ms, step-down ${t / 2} ms); etcd raft ${raftLabel(s.raft!)}, minimum lease ${minLeaseTtlMs(s.raft!) / 1000} s${hb}`;
}

function granted(trials: FailoverTrial[]): string {
  const g = [...new Set(trials.map((t) => t.grantedTtlMs).filter((x): x is number => x !== undefined))].sort((a, b) => a - b);
  return g.length ? g.map((x) => `${x / 1000} s`).join(', ') : '–';
}

const FAULT_TITLES: Record<Fault, string> = {
  sigkill: 'SIGKILL (daemon dead, host alive)',
  sigstop: 'SIGSTOP (daemon frozen: like a hung or cut-off host)',
};

function failoverTable(r: EtcdBenchResults, fault: Fault): string[] {
  const lines = [
    '| scenario | timers | granted TTL | N (missed) | first new MASTER: median / p90 / p99 / max (ms) | min (ms) | lab2 (best remaining) settled MASTER: median / p99 / max (ms) | trials where lab3 took over first | samples with two MASTERs |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const s of FAILOVER_SCENARIOS) {
    const t = r.failover.filter((x) => x.scenario === s.id && x.fault === fault);
    if (!t.length) continue;
    const st = summarize(t.map((x) => x.electedMs));
    const best = summarize(t.map((x) => x.bestMs));
    const detours = t.filter((x) => (x.masters?.length ?? 0) > 1 || (x.newMaster !== undefined && x.newMaster !== 'lab2')).length;
    lines.push(
      `| ${s.title} | ${timers(s)} | ${granted(t)} | ${t.length} (${t.filter((x) => x.electedMs === undefined).length}) | ${four(st)} | ${ms(st?.min)} | ${best ? `${ms(best.median)} / ${ms(best.p99)} / ${ms(best.max)}` : '–'} | ${detours} | ${t.reduce((a, x) => a + x.doubleMasters, 0)} of ${t.reduce((a, x) => a + x.samples, 0)} |`,
    );
  }
  return lines;
}

function pairs(r: EtcdBenchResults, fault: Fault): string[] {
  const med = (id: string) => summarize(r.failover.filter((x) => x.scenario === id && x.fault === fault).map((x) => x.electedMs));
  const out: string[] = [];
  const comparisons = [
    ['etcd-3s', 'heartbeat-1s'],
    ['etcd-1s', 'heartbeat-333ms'],
    ['etcd-3s-fast', 'etcd-3s'],
    ['etcd-3s-fast', 'heartbeat-1s'],
    ['etcd-1s-fast', 'etcd-1s'],
    ['etcd-1s-fast', 'heartbeat-333ms'],
  ] as const;
  for (const [e, h] of comparisons) {
    const a = med(e);
    const b = med(h);
    if (a && b) out.push(`- ${e} vs ${h}: median ${ms(a.median)} vs ${ms(b.median)} ms (${(a.median - b.median >= 0 ? '+' : '')}${ms(a.median - b.median)} ms), p99 ${ms(a.p99)} vs ${ms(b.p99)} ms.`);
  }
  if (fault === 'sigkill') {
    // the crash fast path's target (issue 18): median within one heartbeat interval + 200 ms, never two MASTERs
    for (const s of FAILOVER_SCENARIOS.filter((x) => x.backend === 'etcd' && x.heartbeat)) {
      const t = r.failover.filter((x) => x.scenario === s.id && x.fault === fault);
      const st = summarize(t.map((x) => x.electedMs));
      if (!st) continue;
      const bound = s.intervalMs + 200;
      const doubles = t.reduce((a, x) => a + x.doubleMasters, 0);
      out.push(`- ${s.id} crash fast path target (median ≤ interval + 200 ms = ${bound} ms, no sample with two MASTERs): median ${ms(st.median)} ms, ${doubles} samples with two MASTERs: ${st.median <= bound && doubles === 0 ? 'met' : 'NOT met'}.`);
    }
  }
  return out;
}

function failoverAnomalies(r: EtcdBenchResults): string[] {
  const out: string[] = [];
  for (const f of FAULTS) {
    for (const s of FAILOVER_SCENARIOS) {
      const t = r.failover.filter((x) => x.scenario === s.id && x.fault === f);
      const detours = t.filter((x) => (x.masters?.length ?? 0) > 1 || (x.newMaster !== undefined && x.newMaster !== 'lab2'));
      if (!detours.length) continue;
      const gap = summarize(detours.map((x) => (x.bestMs !== undefined && x.electedMs !== undefined ? x.bestMs - x.electedMs : undefined)));
      const causes = [...new Set(detours.map((x) => x.cause))].join(', ');
      out.push(
        `- ${s.id} ${f}: in ${detours.length} of ${t.length} trials lab3 (priority 50) became MASTER first (cause ${causes}) and lab2 (priority 100) preempted it ${gap ? `${ms(gap.median)} ms later (median; max ${ms(gap.max)} ms)` : 'later'}: two hand-overs instead of one.`,
      );
    }
  }
  for (const t of r.failover.filter((x) => x.error)) out.push(`- ${t.scenario} ${t.fault} run ${t.run}: ${t.error}`);
  const doubles = r.failover.filter((x) => x.doubleMasters > 0);
  for (const t of doubles) out.push(`- ${t.scenario} ${t.fault} run ${t.run}: ${t.doubleMasters} samples with two MASTERs`);
  if (!out.length) return ['Every trial: lab2 (the best remaining priority) became the single new MASTER; no sample showed two MASTERs.'];
  return out;
}

function windowRow(label: string, w: LoadWindow, m: number): string {
  const e = w.etcd;
  const cpu = w.daemons.map((d) => d.cpuPercent);
  return (
    `| ${label} | ${num(e.seconds, 1)} s | ${num(e.requestsPerS)} (${num(e.requestsPerS / m)}) | ${num(e.rpcsPerS)} (${num(e.rpcsPerS / m)}) | ` +
    `${num(w.peak?.requestsPerS)} | ${bytes(e.clientBytesInPerS)} / ${bytes(e.clientBytesOutPerS)} | ${bytes(w.wire.bytesToEtcdPerS)} / ${bytes(w.wire.bytesFromEtcdPerS)} (${bytes(w.wire.bytesToEtcdPerS / m)} / ${bytes(w.wire.bytesFromEtcdPerS / m)}) | ` +
    `${num(w.wire.segmentsPerS)} | ${bytes(e.peerBytesPerS)} | ${num(e.proposalsPerS)} (${num(w.peak?.proposalsPerS)}) | ${num(e.fsyncsPerS)} | ${num(e.cpuPercent, 1)} % | ${num(mean(cpu), 1)} / ${num(Math.max(...cpu), 1)} % | ${w.transitions} |`
  );
}

const WINDOW_HEAD = [
  '| window | length | requests/s (per membership) | RPCs/s (per membership) | busiest second: requests/s | etcd-counted bytes/s in / out | wire payload bytes/s to / from etcd (per membership) | TCP segments/s | etcd peer bytes/s | raft proposals/s (busiest second) | WAL fsyncs/s | etcd CPU (3 members, % of a core) | ipwarden CPU per daemon (mean / max) | state changes |',
  '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
];

function methodTable(e: EtcdWindow, m: number): string[] {
  const lines = ['| gRPC method | type | RPCs/s | client messages/s (per membership) | server messages/s | errors/s |', '|---|---|---|---|---|---|'];
  for (const x of e.methods) lines.push(`| ${x.method} | ${x.type} | ${num(x.startedPerS)} | ${num(x.msgInPerS)} (${num(x.msgInPerS / m)}) | ${num(x.msgOutPerS)} | ${num(x.errorsPerS)} |`);
  return lines;
}

function burstLines(b: BurstWindow, steady: LoadWindow | undefined, m: number): string[] {
  const f = summarize(b.failoverMs);
  const out = [
    `SIGKILL of ${b.victim} (${b.victimMemberships} memberships; MASTER of ${b.held} instances, ${b.movable} of them with another candidate):`,
    b.movable
      ? `${b.failoverMs.length} of ${b.movable} moved within the window; SIGKILL → new MASTER median / p90 / max ${f ? `${ms(f.median)} / ${ms(f.p90)} / ${ms(f.max)}` : '–'} ms; ${b.doubleMasters} status samples with two MASTERs for one instance.`
      : 'no other candidate: the instances it held stay without a MASTER (one daemon per shared IP cannot fail over).',
  ];
  if (steady) {
    const rate = steady.etcd.requestsPerS / m;
    const baseline = rate * (m - b.victimMemberships) * b.etcd.seconds;
    const extra = b.etcd.requestsPerS * b.etcd.seconds - baseline;
    const noise = Math.abs(extra) < 0.02 * baseline;
    out.push(
      `Requests beyond the steady rate of the surviving memberships: ${num(extra, 0)} in ${num(b.etcd.seconds, 1)} s` +
        (noise ? ' (within ±2 % of the steady traffic: no measurable excess)' : ` (${num(extra / b.victimMemberships, 1)} per membership of the dead daemon: its candidate keys vanish, every other member of those instances re-reads them)`) +
        `; raft proposals (writes: lease expiries, leader claims, candidate keys) in the window: ${num(b.etcd.proposalsPerS * b.etcd.seconds, 0)}.`,
    );
  }
  return out;
}

function loadSection(l: LoadResult): string[] {
  const L = l.layout;
  const out = [
    `### ${L.nodes} daemons, ${L.instances} instances, ${L.candidates} candidate${L.candidates > 1 ? 's' : ''} per instance (${l.memberships} memberships, ${l.perNode[0] ?? '?'} instances per daemon), ttl ${L.ttlMs / 1000} s`,
    '',
  ];
  if (l.error) out.push(`**Failed**: ${l.error}`, '');
  if (l.convergeMs !== undefined) out.push(`Start of all daemons → every instance held by its preferred daemon and followed by the others: ${(l.convergeMs / 1000).toFixed(1)} s.`, '');
  if (l.steady || l.burst) {
    out.push(...WINDOW_HEAD);
    if (l.steady) out.push(windowRow('steady state', l.steady, l.memberships));
    if (l.burst) out.push(windowRow(`after SIGKILL of ${l.burst.victim}`, l.burst, l.memberships));
    out.push('');
  }
  if (l.steady) {
    const e = l.steady.etcd;
    out.push(
      `Steady state per gRPC method (all members summed); etcd leader ${e.leader ?? '?'}; etcd CPU by member ${Object.entries(e.cpuPercentByMember).map(([k, v]) => `${k} ${num(v, 1)} %`).join(', ')}; RSS ${Object.entries(e.rssMbByMember).map(([k, v]) => `${k} ${num(v, 0)} MB`).join(', ')}; ${e.keys} keys, database ${bytes(e.dbBytes).replace(/ B$/, ' bytes')}; ipwarden RSS per daemon ${num(mean(l.steady.daemons.map((d) => d.rssMb)), 0)} MB (mean).`,
      '',
      ...methodTable(e, l.memberships),
      '',
    );
  }
  if (l.burst) out.push(...burstLines(l.burst, l.steady, l.memberships).map((s) => `- ${s}`), '');
  return out;
}

/** Per-membership figures of the steady state, the base of the sizing rules. */
export interface PerMembership {
  memberships: number;
  ttlMs: number;
  requestsPerS: number;
  rpcsPerS: number;
  etcdBytesInPerS: number;
  etcdBytesOutPerS: number;
  wireToEtcdPerS: number;
  wireFromEtcdPerS: number;
  segmentsPerS: number;
  peerBytesPerS: number;
  /** etcd CPU, ms of CPU per second, all 3 members. */
  etcdCpuMsPerS: number;
  /** ipwarden CPU, ms per second. */
  daemonCpuMsPerS: number;
}

export function perMembership(l: LoadResult): PerMembership | undefined {
  const s = l.steady;
  if (!s) return undefined;
  const m = l.memberships;
  return {
    memberships: m,
    ttlMs: l.layout.ttlMs,
    requestsPerS: s.etcd.requestsPerS / m,
    rpcsPerS: s.etcd.rpcsPerS / m,
    etcdBytesInPerS: s.etcd.clientBytesInPerS / m,
    etcdBytesOutPerS: s.etcd.clientBytesOutPerS / m,
    wireToEtcdPerS: s.wire.bytesToEtcdPerS / m,
    wireFromEtcdPerS: s.wire.bytesFromEtcdPerS / m,
    segmentsPerS: s.wire.segmentsPerS / m,
    peerBytesPerS: s.etcd.peerBytesPerS / m,
    etcdCpuMsPerS: (s.etcd.cpuPercent * 10) / m,
    daemonCpuMsPerS: (s.daemons.reduce((a, d) => a + d.cpuPercent, 0) * 10) / m,
  };
}

/** Least-squares line y = a + b·x; one point (or one x): through the origin. */
export function linearFit(points: [number, number][]): { a: number; b: number } {
  const xs = new Set(points.map(([x]) => x));
  if (xs.size < 2) {
    const [x, y] = points.reduce(([sx, sy], [px, py]) => [sx + px, sy + py], [0, 0]);
    return { a: 0, b: x === 0 ? 0 : y / x };
  }
  const n = points.length;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const b = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0) / points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return { a: my - b * mx, b };
}

const fitText = (f: { a: number; b: number }, x: string, unit: (v: number) => string): string =>
  f.a === 0 ? `${unit(f.b)} × ${x}` : `${unit(f.a)} ${f.b >= 0 ? '+' : '−'} ${unit(Math.abs(f.b))} × ${x}`;

function sizing(r: EtcdBenchResults): string[] {
  const rows = r.load.map((l) => ({ l, p: perMembership(l) })).filter((x): x is { l: LoadResult; p: PerMembership } => x.p !== undefined);
  if (!rows.length) return ['No load run completed.'];
  const out = [
    "One **membership** = one shared IP (instance) configured on one daemon: it owns one lease and one candidate key, and makes its own keepalives and reads. etcd's request rate is proportional to",
    '',
    '    memberships = instances × daemons per instance (K)        × 3 s / ttl',
    '',
    'and does not depend on how the instances are spread over the daemons. Measured per membership in the steady state:',
    '',
    '| run | memberships | ttl | requests/s | RPCs/s | etcd-counted bytes/s in / out | wire payload bytes/s to / from etcd | TCP segments/s | etcd peer bytes/s | etcd CPU ms/s (3 members, average) | ipwarden CPU ms/s (average) |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const { l, p } of rows) {
    out.push(
      `| K = ${l.layout.candidates} | ${p.memberships} | ${p.ttlMs / 1000} s | ${num(p.requestsPerS)} | ${num(p.rpcsPerS)} | ${bytes(p.etcdBytesInPerS)} / ${bytes(p.etcdBytesOutPerS)} | ${bytes(p.wireToEtcdPerS)} / ${bytes(p.wireFromEtcdPerS)} | ${num(p.segmentsPerS)} | ${bytes(p.peerBytesPerS)} | ${num(p.etcdCpuMsPerS)} | ${num(p.daemonCpuMsPerS)} |`,
    );
  }
  // normalise to ttl 3 s (every per-membership rate scales with 1/ttl)
  const k3 = (l: LoadResult) => l.layout.ttlMs / 3000;
  const req = mean(rows.map(({ l, p }) => p.requestsPerS * k3(l)));
  const to = linearFit(rows.map(({ l, p }) => [l.layout.candidates, p.wireToEtcdPerS * k3(l)]));
  const from = linearFit(rows.map(({ l, p }) => [l.layout.candidates, p.wireFromEtcdPerS * k3(l)]));
  const cpu = linearFit(rows.map(({ l }) => [l.memberships, l.steady!.etcd.cpuPercent * 10 * k3(l)]));
  const daemonCpu = linearFit(rows.map(({ l }) => [l.memberships / l.layout.nodes, mean(l.steady!.daemons.map((d) => d.cpuPercent)) * 10 * k3(l)]));
  const B = (v: number) => `${v.toFixed(0)} B/s`;
  const MS = (v: number) => `${num(v)} ms/s`;
  out.push(
    '',
    `Design rate (src/election/etcd.ts): per membership a keepalive every ttl/4 (one short LeaseKeepAlive stream each) and a read of the instance's keys every ttl/2: 6/ttl requests/s, 2.00 at ttl 3 s. Measured: ${num(req)}. No writes in the steady state (0 raft proposals, 0 WAL fsyncs): etcd's disk is idle; writes happen only on changes (a claim, a candidate registering, a lease expiring).`,
    '',
    `Rules fitted to the runs above${rows.length < 2 ? ' (one run: ratios, no fixed part)' : ''}, at ttl 3 s, per membership unless said otherwise (K = daemons per instance; a read returns every candidate key of the instance, so responses grow with K):`,
    '',
    `- requests/s ≈ ${num(req)} × memberships (× 3 s / ttl)`,
    `- wire bytes/s daemons → etcd ≈ (${fitText(to, 'K', B)}) × memberships`,
    `- wire bytes/s etcd → daemons ≈ (${fitText(from, 'K', B)}) × memberships`,
    `- etcd CPU, all 3 members together ≈ ${fitText(cpu, 'memberships', MS)} on this machine (the fixed part: idle raft, metrics scrapes, noise)`,
    `- ipwarden CPU per daemon ≈ ${fitText(daemonCpu, 'memberships of that daemon', MS)}`,
    '',
    'Examples at ttl 3 s (TCP/IP headers not included; halve the TTL and every rate doubles):',
    '',
    '| fleet | memberships | requests/s | bytes/s daemons → etcd | bytes/s etcd → daemons | etcd CPU (3 members, this machine) |',
    '|---|---|---|---|---|---|',
  );
  for (const [ips, K] of [[100, 2], [100, 3], [100, 10], [1000, 3], [1000, 10]] as const) {
    const m = ips * K;
    out.push(
      `| ${ips} IPs × ${K} daemons | ${m} | ${num(req * m, 0)} | ${bytes((to.a + to.b * K) * m)} | ${bytes((from.a + from.b * K) * m)} | ${num((cpu.a + cpu.b * m) / 10, 0)} % of a core |`,
    );
  }
  return out;
}

function autoNotes(r: EtcdBenchResults): string[] {
  const out: string[] = [];
  const m = r.meta;
  if (m.quick) out.push('- `--quick` smoke run: far too few trials for p90/p99 to mean anything.');
  if (m.runs < 20) out.push(`- N = ${m.runs} trials per scenario (reduced from the default 20).`);
  out.push('- With N < 100, p99 is interpolated between the largest samples and sits next to the max.');
  if (m.concurrent.length) out.push(`- The machine was shared: at the start, other processes were running (${m.concurrent.join('; ')}). CPU figures and tails are inflated by that.`);
  if (m.aborted) out.push('- The run was stopped (Ctrl-C): partial results.');
  for (const e of m.errors) out.push(`- Phase error: ${e}`);
  return out;
}

export function renderEtcdReport(r: EtcdBenchResults, opts: { notes?: string } = {}): string {
  const m = r.meta;
  const mc = m.machine;
  const out = [
    '# etcd election backend: failover time and etcd load',
    '',
    `Generated by \`${m.command}\` (bench/etcd.ts) on ${m.date}${m.durationS ? `, ${Math.round(m.durationS / 60)} min` : ''}.`,
    '',
    `- Machine: ${mc.cpu}, ${mc.cores} cores, ${mc.memoryGb} GB, Linux ${mc.kernel}, Node ${mc.node}, ${mc.etcd}; load average ${mc.loadBefore} at the start${mc.loadAfter ? `, ${mc.loadAfter} at the end` : ''}.`,
    '- Everything on loopback: 3 etcd members (data in /dev/shm, `--logger zap --log-level warn`), ipwarden daemons from dist/ (`ipwarden run`), all on one machine: no network latency, and etcd and the daemons compete for the same cores.',
    `- Failover: N = ${m.runs} trials per scenario and fault${m.quick ? ' (--quick)' : ''}; the scenarios run side by side and alternate trial by trial, so load from other work hits all alike.`,
    '- Run it: `npm run bench:etcd` (about 20 min; `-- --quick` for a 4-minute smoke run, `-- --help` for `--runs`, `--only failover|load`, `--scenarios`, `--faults`, `--candidates`, `--load-seconds`...). Needs `etcd`, `etcdctl` (Debian etcd-server, etcd-client) and `ss`; no root. Raw data: bench/etcd-lib/results.json; re-render with `--report-only`.',
    '',
    '## Failover: etcd backend vs heartbeat backend',
    '',
    'Three daemons, priorities 150/100/50, preempt on. Each trial waits for the steady state (lab1 MASTER, lab2 and lab3 BACKUP following it, unchanged for 2 periods + 0.5 s), a random fraction of one period (etcd: the renewal period ttl/4; heartbeat: the advert interval), then injects the fault on lab1 and measures until the new MASTER\'s own transition time (`status` → lastTransition.at). lab1 is (killed and) restarted after each trial; it preempts back.',
    '',
    ...FAULTS.filter((f) => r.failover.some((t) => t.fault === f)).flatMap((f) => [`### ${FAULT_TITLES[f]}`, '', ...failoverTable(r, f), '', ...pairs(r, f), '']),
    ...failoverAnomalies(r),
    '',
    '## etcd load',
    '',
    ...(m.loadFrom
      ? [
          `Not rerun: these load results are those of \`${m.loadFrom.command}\` on ${m.loadFrom.date} (machine load average ${m.loadFrom.machine.loadBefore} at its start${m.loadFrom.concurrent.length ? `; shared with ${m.loadFrom.concurrent.join('; ')}` : ''}), kept with \`--load-from\`: the failover run above changed nothing the load phase measures.`,
          '',
        ]
      : []),
    `Daemons with many shared IPs (each its own instance on the etcd backend, no checks, no actions). Instance i prefers daemon i mod N, then the next ones; every daemon holds instances/N leaderships. Windows: steady state ${m.loadSeconds} s after convergence + 2 × ttl; then the SIGKILL of lab1 and ${m.burstSeconds} s after it.`,
    '',
    '- requests = client gRPC messages (`grpc_server_msg_received_total`, a unary call is one, each keepalive is one); RPCs = calls and streams started (`grpc_server_started_total`; ipwarden opens a short LeaseKeepAlive stream per renewal).',
    "- etcd-counted bytes: `etcd_network_client_grpc_received_bytes_total` / `sent_bytes_total`, i.e. etcd's own count of request/response sizes; wire payload: the daemons' TCP counters (`ss -ti` bytes_sent/bytes_received), HTTP/2 + gRPC framing included, TCP/IP headers not (≈ 52 bytes a segment on loopback, 66 on Ethernet).",
    '- All figures are sums over the 3 members; a member that receives a keepalive or a linearizable read it does not lead forwards it to the leader (peer bytes).',
    '',
    ...r.load.flatMap((l) => loadSection(l)),
    '## Sizing etcd',
    '',
    ...sizing(r),
    '',
    '## Notes',
    '',
    ...autoNotes(r),
    '',
  ];
  if (opts.notes) out.push(opts.notes.trim(), '');
  return out.join('\n');
}
