/**
 * RESULTS.md from the raw results (pure: same input, same text). Targets are evaluated on ipwarden's
 * numbers as the issue states them; nothing is rounded in ipwarden's favour.
 */
import { durationText as formatDuration } from '../../src/util/duration.js';
import { FAILOVER_SCENARIOS, SCENARIO_TITLES, type FailoverScenario, type LossResult, type TrialResult } from './scenarios.js';
import { summarize, type Summary } from './stats.js';
import type { BenchResults, ResourceRow } from './results.js';
import { cloudSummaryTable, opTimeText } from './cloud-report.js';
import { closingSections } from './report-parts.js';

type Metric = 'vipMs' | 'eipMs' | 'electedMs';

export interface TargetCheck {
  name: string;
  target: string;
  measured: string;
  met: boolean | undefined;
}

const ms = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '–' : v >= 10 ? String(Math.round(v)) : v.toFixed(1));
const four = (s: Summary | undefined): string => (s ? `${ms(s.median)} / ${ms(s.p90)} / ${ms(s.p99)} / ${ms(s.max)}` : '–');
const ratio = (a: number | undefined, b: number | undefined): string =>
  a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0 ? '–' : (a / b).toFixed(2);
const yes = (m: boolean | undefined): string => (m === undefined ? 'n/a' : m ? 'yes' : '**no**');

export function select(trials: TrialResult[], tool: string, scenario: FailoverScenario, intervalMs: number): TrialResult[] {
  return trials.filter((t) => t.tool === tool && t.scenario === scenario && t.intervalMs === intervalMs);
}

function stat(trials: TrialResult[], metric: Metric): Summary | undefined {
  return summarize(trials.map((t) => t[metric]));
}

function misses(trials: TrialResult[], metric: Metric): number {
  return trials.filter((t) => t[metric] === undefined).length;
}

/** Median of (EIP attached - attach request received): the simulator's own API time. */
export function apiTime(trials: TrialResult[]): number | undefined {
  return summarize(trials.map((t) => (t.eipMs !== undefined && t.eipRequestMs !== undefined ? t.eipMs - t.eipRequestMs : undefined)))?.median;
}

/** The issue's targets, on ipwarden's measurements. */
export function targetChecks(r: BenchResults): TargetCheck[] {
  const out: TargetCheck[] = [];
  for (const I of r.meta.intervalsMs) {
    const p99 = (s: FailoverScenario, m: Metric) => stat(select(r.trials, 'ipwarden', s, I), m)?.p99;
    const has = (s: FailoverScenario) => select(r.trials, 'ipwarden', s, I).length > 0;
    const label = `@${formatDuration(I)}`;
    if (has('hostloss')) {
      const v = p99('hostloss', 'vipMs');
      const bound = 3 * I + 100;
      out.push({ name: `host loss ${label}`, target: `p99 ≤ 3 × ${formatDuration(I)} + 100 ms = ${bound} ms (address on the new master)`, measured: `p99 ${ms(v)} ms`, met: v === undefined ? false : v <= bound });
      // issue 23: ahead of keepalived at equal timers, in the same run
      const iw = stat(select(r.trials, 'ipwarden', 'hostloss', I), 'vipMs');
      const ka = stat(select(r.trials, 'keepalived', 'hostloss', I), 'vipMs');
      if (iw && ka) {
        const [rm, rp] = [iw.median / ka.median, iw.p99 / ka.p99];
        out.push({
          name: `host loss ${label} vs keepalived`,
          target: 'median and p99 ≤ 0.85 × keepalived’s (address on the new master, same run)',
          measured: `${ms(iw.median)} / ${ms(iw.p99)} ms vs ${ms(ka.median)} / ${ms(ka.p99)} ms: ${rm.toFixed(2)} / ${rp.toFixed(2)}`,
          met: rm <= 0.85 && rp <= 0.85,
        });
      }
    }
    if (has('sigkill')) {
      const v = p99('sigkill', 'vipMs');
      const bound = I + 100;
      out.push({ name: `SIGKILL ${label}`, target: `p99 ≤ ${formatDuration(I)} + 100 ms = ${bound} ms (address on the new master)`, measured: `p99 ${ms(v)} ms`, met: v === undefined ? false : v <= bound });
    }
    if (has('sigterm')) {
      const v = p99('sigterm', 'vipMs');
      out.push({ name: `SIGTERM ${label}, address`, target: 'p99 ≤ 50 ms (address on the new master: no API involved)', measured: `p99 ${ms(v)} ms`, met: v === undefined ? false : v <= 50 });
      const trials = select(r.trials, 'ipwarden', 'sigterm', I);
      const api = apiTime(trials);
      const e = p99('sigterm', 'eipMs');
      out.push({
        name: `SIGTERM ${label}, EIP`,
        target: `p99 ≤ 50 ms + simulator API time (median attach request → attached: ${ms(api)} ms)`,
        measured: `p99 ${ms(e)} ms = ${ms(e !== undefined && api !== undefined ? e - api : undefined)} ms + API time`,
        met: e === undefined || api === undefined ? false : e - api <= 50,
      });
    }
    const loss = r.loss.filter((l) => l.intervalMs === I);
    if (loss.length) {
      const sum = (tool: string) => loss.filter((l) => l.tool === tool).reduce((s, l) => s + l.falseTakeovers, 0);
      const [iw, ka] = [sum('ipwarden'), sum('keepalived')];
      const windows = loss.filter((l) => l.tool === 'ipwarden');
      const secs = windows.reduce((s, l) => s + l.seconds, 0);
      out.push({
        name: `20 % loss ${label}`,
        target: '≥ 10× fewer false takeovers than keepalived',
        measured: `ipwarden ${iw}, keepalived ${ka} in ${windows.length} × ${windows[0]?.seconds ?? 0} s (${secs} s)`,
        met: ka === 0 ? (iw === 0 ? undefined : false) : iw * 10 <= ka,
      });
      if (I === 1000) {
        const worst = Math.max(0, ...windows.map((l) => l.falseTakeovers));
        out.push({ name: `20 % loss ${label}, per window`, target: `none in any ${windows[0]?.seconds ?? 60} s window`, measured: `max ${worst} in one window`, met: worst === 0 });
      }
    }
  }
  const peers16 = r.resources.filter((x) => x.tool === 'ipwarden' && x.peers >= 16 && x.intervalMs === 100);
  for (const row of peers16) {
    const cpu = Math.max(...row.perNode.map((p) => p.cpuPercent));
    const rss = Math.max(...row.perNode.map((p) => p.rssMb));
    const where = row.setup.includes('loopback') ? 'loopback' : 'netns';
    out.push({ name: `${row.peers} peers @100ms (${where}), CPU`, target: '< 0.5 % of one core per node', measured: `max ${cpu.toFixed(2)} % (mean ${mean(row.perNode.map((p) => p.cpuPercent)).toFixed(2)} %)`, met: cpu < 0.5 });
    out.push({ name: `${row.peers} peers @100ms (${where}), RSS`, target: '< 60 MB per node', measured: `max ${rss.toFixed(1)} MB`, met: rss < 60 });
  }
  return out;
}

function mean(v: number[]): number {
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
}

function failoverTable(r: BenchResults, metric: Metric): string[] {
  const lines = [
    '| scenario | advert | N (missed) | ipwarden median / p90 / p99 / max | keepalived median / p90 / p99 / max | ipwarden / keepalived (median, p99) |',
    '|---|---|---|---|---|---|',
  ];
  for (const s of FAILOVER_SCENARIOS) {
    for (const I of r.meta.intervalsMs) {
      const iw = select(r.trials, 'ipwarden', s, I);
      const ka = select(r.trials, 'keepalived', s, I);
      if (!iw.length && !ka.length) continue;
      const [a, b] = [stat(iw, metric), stat(ka, metric)];
      lines.push(
        `| ${SCENARIO_TITLES[s]} | ${formatDuration(I)} | ${iw.length} (${misses(iw, metric)}) / ${ka.length} (${misses(ka, metric)}) | ${four(a)} | ${four(b)} | ${ratio(a?.median, b?.median)}, ${ratio(a?.p99, b?.p99)} |`,
      );
    }
  }
  return lines;
}

function checkDetail(r: BenchResults): string[] {
  const lines = ['| advert | tool | check fails → node 0 leaves MASTER (median / p90 / max) | node 0 leaves → address on the new master (median / p90 / max) |', '|---|---|---|---|'];
  for (const I of r.meta.intervalsMs) {
    for (const tool of ['ipwarden', 'keepalived']) {
      const t = select(r.trials, tool, 'check', I);
      if (!t.length) continue;
      const f = summarize(t.map((x) => x.faultMs));
      const h = summarize(t.map((x) => (x.vipMs !== undefined && x.faultMs !== undefined ? x.vipMs - x.faultMs : undefined)));
      lines.push(`| ${formatDuration(I)} | ${tool} | ${f ? `${ms(f.median)} / ${ms(f.p90)} / ${ms(f.max)}` : '–'} | ${h ? `${ms(h.median)} / ${ms(h.p90)} / ${ms(h.max)}` : '–'} |`);
    }
  }
  return lines;
}

function lossTable(loss: LossResult[], intervals: number[]): string[] {
  const lines = [
    '| advert | tool | windows × length | heartbeats dropped | false takeovers (total) | state changes (total) | windows with a false takeover | most in one window |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const I of intervals) {
    for (const tool of ['ipwarden', 'keepalived']) {
      const w = loss.filter((l) => l.tool === tool && l.intervalMs === I);
      if (!w.length) continue;
      lines.push(
        `| ${formatDuration(I)} | ${tool} | ${w.length} × ${w[0]!.seconds} s | ${w.some((l) => l.dropped !== undefined) ? w.reduce((s, l) => s + (l.dropped ?? 0), 0) : '–'} | ${w.reduce((s, l) => s + l.falseTakeovers, 0)} | ${w.reduce((s, l) => s + l.transitions, 0)} | ${w.filter((l) => l.falseTakeovers > 0).length} | ${Math.max(...w.map((l) => l.falseTakeovers))} |`,
      );
    }
  }
  return lines;
}

function resourceTable(rows: ResourceRow[]): string[] {
  const lines = ['| tool | setup | advert | peers per node | window | CPU % of one core per node (mean / max) | RSS MB per node (mean / max) | peak RSS MB (max) |', '|---|---|---|---|---|---|---|---|'];
  for (const r of rows) {
    const cpu = r.perNode.map((p) => p.cpuPercent);
    const rss = r.perNode.map((p) => p.rssMb);
    lines.push(
      `| ${r.tool} | ${r.setup} | ${formatDuration(r.intervalMs)} | ${r.peers} | ${r.seconds} s | ${mean(cpu).toFixed(2)} / ${Math.max(...cpu).toFixed(2)} | ${mean(rss).toFixed(1)} / ${Math.max(...rss).toFixed(1)} | ${Math.max(...r.perNode.map((p) => p.peakRssMb)).toFixed(1)} |`,
    );
  }
  return lines;
}

/** The section pointing to CLOUD-RESULTS.md, with its summary table. */
export function cloudSection(clouds: BenchResults): string[] {
  const c = clouds.meta.clouds ?? [];
  return [
    '## Per cloud',
    '',
    `The same failovers with each cloud's action against that cloud's simulator (${c.map((x) => `${x.title} ${opTimeText(x.opTimeMs)}`).join(', ')} simulated operation time; the real clouds' times differ), measured from the cloud's side (its holder history): [CLOUD-RESULTS.md](CLOUD-RESULTS.md), ${clouds.meta.date.slice(0, 10)}, with keepalived + the cloud's CLI side by side there. ipwarden:`,
    '',
    ...cloudSummaryTable(clouds),
    '',
  ];
}

/** The whole RESULTS.md; `notes` is the hand-written analysis appended at the end; `clouds`: a cloud run's results, summarised with a pointer to CLOUD-RESULTS.md. */
export function renderReport(r: BenchResults, opts: { chart?: string; notes?: string; clouds?: BenchResults } = {}): string {
  const m = r.meta;
  const checks = targetChecks(r);
  const out = [
    '# Failover benchmark: ipwarden vs keepalived',
    '',
    `Generated by \`npm run bench\` (bench/run.ts) on ${m.date}${m.durationS ? `, ${Math.round(m.durationS / 60)} min` : ''}${m.commit ? `, ipwarden built from ${m.commit}` : ''}.`,
    '',
    `- Machine: ${m.machine.cpu}, ${m.machine.cores} cores (load average ${m.machine.loadBefore} at the start${m.machine.loadAfter ? `, ${m.machine.loadAfter} at the end` : ''}; the benchmark itself makes part of it), ${m.machine.memoryGb} GB, Linux ${m.machine.kernel}, Node ${m.machine.node}, ${m.machine.keepalived}.`,
    `- N = ${m.runs} trials per scenario, tool and advert interval${m.quick ? ' (--quick smoke run: too few for p90/p99 to mean much)' : ''}; with N < 100, p99 is interpolated between the two largest samples and sits close to the max.`,
    `- Timers equal for both: advert ${m.intervalsMs.map((i) => formatDuration(i)).join(' and ')}, dead ratio 3 (keepalived: master down = 3 × advert + skew); health check every ${formatDuration(m.checkIntervalMs)}, fall 1, rise 1, weight 0 (keepalived's vrrp_script cannot run more often than once a second); simulated API operation time ${formatDuration(m.apiDelayMs)}.`,
    `- Topology: per tool, 3 hosts (network namespaces) on one bridge (${m.subnet ?? '198.51.100.0/24'}: ipwarden .10-.12 sharing .50, keepalived .13-.15 sharing .51), priorities 150/100/50, preemption on, unicast peers; each tool has its own Exoscale API simulator ${m.subnet ? 'in this process, reached from the hosts through a relay in a 7th namespace (.16)' : 'on the bridge address'}. Both clusters run at the same time; trials alternate ipwarden, keepalived.`,
    `- Each fault is injected on node 0, the MASTER, at a random phase of the advert cycle (uniform over one interval; for the health-check scenario over the longer check interval); times are from the injection${m.hostLossFrom === 'link-down' ? " (host loss: from the kernel's link-down event of the master's bridge port, stamped by `ip monitor` like the address events, not from the start of the `ip link set down` command that causes it, 5-15 ms earlier)" : ''}.`,
    '',
    ...(opts.clouds ? cloudSection(opts.clouds) : []),
    '## Targets',
    '',
    '| target | required | measured (ipwarden) | met |',
    '|---|---|---|---|',
    ...checks.map((c) => `| ${c.name} | ${c.target} | ${c.measured} | ${yes(c.met)} |`),
    '',
    '## Failover: address on the new master (ms)',
    '',
    "Time from the fault until the shared address appears on the new master's e0 (kernel event from `ip monitor` in its namespace). ipwarden: ip-alias action; keepalived: virtual_ipaddress.",
    '',
    ...failoverTable(r, 'vipMs'),
    '',
    ...(opts.chart ? [`![failover time distributions](${opts.chart})`, ''] : []),
    '## Failover: Elastic IP attached in the simulator (ms)',
    '',
    "Time from the fault until the simulator attached the EIP to the new master's instance (the attach operation completes " +
      `${formatDuration(m.apiDelayMs)} after the call). ipwarden: exoscale-eip action (make-before-break). keepalived: its notify_master script runs ` +
      '`ipwarden eip attach --exclusive` (a one-shot Node.js CLI, as a keepalived user would run a CLI: process start-up is part of its time).',
    '',
    ...failoverTable(r, 'eipMs'),
    '',
    '## Failover: election as each tool records it (ms)',
    '',
    "ipwarden: the new master's transition log line; keepalived: the first line of its notify_master script (scripts are forked asynchronously, a few ms after the transition).",
    '',
    ...failoverTable(r, 'electedMs'),
    '',
    '### Health-check scenario, split',
    '',
    ...checkDetail(r),
    '',
    '## 20 % random loss, no failure',
    '',
    'nftables in every host namespace drops 20 % of the inbound heartbeats (`meta l4proto udp` for ipwarden, `meta l4proto 112` = VRRP for keepalived, each `numgen random mod 10000 < 2000`); both clusters at once. A false takeover is a node other than the master becoming MASTER. keepalived backups do not advertise, so fewer of its packets exist to drop.',
    '',
    ...lossTable(r.loss, m.intervalsMs),
    '',
    '## Resources',
    '',
    `CPU from /proc/PID/stat (utime + stime) over the window, RSS = VmRSS at its end; keepalived = parent + VRRP child. Tick resolution: 0.01 s, i.e. ±${((1 / 100 / Math.max(1, m.resourceSeconds)) * 100).toFixed(3)} % over ${m.resourceSeconds} s.`,
    '',
    ...resourceTable(r.resources),
    '',
    ...closingSections(r.trials, m.errors, 'None: every trial ended with one new master holding the address and the EIP.', opts.notes),
  ];
  return out.join('\n');
}
