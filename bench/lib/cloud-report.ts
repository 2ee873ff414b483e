/**
 * CLOUD-RESULTS.md from a cloud run's raw results (pure: same input, same text): per cloud, the
 * failovers measured from the cloud's side (its simulator's holder history and request log).
 */
import { durationText as formatDuration } from '../../src/util/duration.js';
import { FAILOVER_SCENARIOS, SCENARIO_TITLES, type FailoverScenario, type TrialResult } from './scenarios.js';
import { summarize, type Summary } from './stats.js';
import type { BenchResults } from './results.js';
import { closingSections } from './report-parts.js';

type CloudMeta = NonNullable<BenchResults['meta']['clouds']>[number];

const ms = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '–' : v === 0 ? '0' : v >= 10 ? String(Math.round(v)) : v.toFixed(1));
const count = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '–' : Number.isInteger(v) ? String(v) : v.toFixed(1));
const medP99 = (s: Summary | undefined): string => (s ? `${ms(s.median)} / ${ms(s.p99)}` : '–');
const medMax = (s: Summary | undefined, f = ms): string => (s ? `${f(s.median)} / ${f(s.max)}` : '–');

/** The trials of one cloud, tool, scenario and interval (trials without a cloud are Exoscale's). */
export function cloudTrials(trials: readonly TrialResult[], cloud: string, tool: string, scenario: FailoverScenario, intervalMs: number): TrialResult[] {
  return trials.filter((t) => (t.cloud ?? 'exoscale') === cloud && t.tool === tool && t.scenario === scenario && t.intervalMs === intervalMs);
}

/** The rows that exist (cloud × scenario × interval with trials of either tool), in the report's order. */
function rows(r: BenchResults): { c: CloudMeta; s: FailoverScenario; I: number }[] {
  const out: { c: CloudMeta; s: FailoverScenario; I: number }[] = [];
  for (const c of r.meta.clouds ?? []) {
    for (const s of FAILOVER_SCENARIOS) {
      for (const I of r.meta.intervalsMs) {
        if (['ipwarden', 'keepalived'].some((tool) => cloudTrials(r.trials, c.cloud, tool, s, I).length)) out.push({ c, s, I });
      }
    }
  }
  return out;
}

/** "30" or "30 at 1s, 10 at 100ms": the largest row per advert interval. */
function runsText(r: BenchResults): string {
  const per = r.meta.intervalsMs.map((I) => ({ I, n: Math.max(0, ...rows(r).filter((x) => x.I === I).map(({ c, s }) => Math.max(...['ipwarden', 'keepalived'].map((tool) => cloudTrials(r.trials, c.cloud, tool, s, I).length)))) }));
  const ns = [...new Set(per.map((p) => p.n))];
  return ns.length === 1 ? String(ns[0]) : per.map((p) => `${p.n} at ${formatDuration(p.I)}`).join(', ');
}

/** A cloud's simulated operation time as the reports print it ("2s"; "synchronous" for 0). */
export function opTimeText(ms: number): string {
  return ms === 0 ? 'synchronous' : formatDuration(ms);
}

const SHORT: Record<FailoverScenario, string> = { sigkill: 'SIGKILL', hostloss: 'host lost', sigterm: 'SIGTERM (graceful)', check: 'check fails' };

/** The summary table (ipwarden): also what README's benchmark section shows. */
export function cloudSummaryTable(r: BenchResults): string[] {
  const lines = [
    '| cloud (simulated operation) | fault | advert | N | held by the new master, median / p99 (ms) | unheld, median / max (ms) | two holders, max (ms) | API calls per failover, median / max |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const { c, s, I } of rows(r)) {
    const t = cloudTrials(r.trials, c.cloud, 'ipwarden', s, I);
    if (!t.length) continue;
    const multi = summarize(t.map((x) => x.multiHolderMs));
    lines.push(
      `| ${c.title} (${opTimeText(c.opTimeMs)}) | ${SHORT[s]} | ${formatDuration(I)} | ${t.length}${missed(t)} | ${medP99(summarize(t.map((x) => x.eipMs)))} | ${medMax(summarize(t.map((x) => x.unheldMs)))} | ${multi ? ms(multi.max) : '–'} | ${medMax(summarize(t.map((x) => x.apiCalls)), count)} |`,
    );
  }
  return lines;
}

function missed(t: TrialResult[]): string {
  const n = t.filter((x) => x.eipMs === undefined).length;
  return n ? ` (${n} missed)` : '';
}

function sideBySide(r: BenchResults): string[] {
  const lines = [
    '| cloud | fault | advert | tool | N | address on e0, median / p99 | held in the cloud by the new master, median / p99 | unheld, median / max | two holders, max | API calls, median / max (of which change calls: assign, attach, unassign..., refused ones included) |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const { c, s, I } of rows(r)) {
    for (const tool of ['ipwarden', 'keepalived']) {
      const t = cloudTrials(r.trials, c.cloud, tool, s, I);
      if (!t.length) continue;
      const multi = summarize(t.map((x) => x.multiHolderMs));
      const moves = summarize(t.map((x) => x.mutatingCalls));
      lines.push(
        `| ${c.title} | ${SHORT[s]} | ${formatDuration(I)} | ${tool} | ${t.length}${missed(t)} | ${medP99(summarize(t.map((x) => x.vipMs)))} | ${medP99(summarize(t.map((x) => x.eipMs)))} | ${medMax(summarize(t.map((x) => x.unheldMs)))} | ${multi ? ms(multi.max) : '–'} | ${medMax(summarize(t.map((x) => x.apiCalls)), count)} (${moves ? count(moves.median) : '–'}) |`,
      );
    }
  }
  return lines;
}

/** Single-holder clouds must never show two holders: one line per cloud and tool saying whether they did. */
function singleHolderCheck(r: BenchResults): string[] {
  const out: string[] = [];
  for (const c of (r.meta.clouds ?? []).filter((x) => x.holderMode === 'single')) {
    for (const tool of ['ipwarden', 'keepalived']) {
      const t = r.trials.filter((x) => (x.cloud ?? 'exoscale') === c.cloud && x.tool === tool && x.multiHolderMs !== undefined);
      if (!t.length) continue;
      const bad = t.filter((x) => x.multiHolderMs! > 0);
      out.push(`- ${c.title}, ${tool}: ${bad.length ? `**${bad.length} of ${t.length} trials showed two holders** (max ${Math.max(...bad.map((x) => x.multiHolderMs!))} ms)` : `0 ms on two holders in all ${t.length} trials`}`);
    }
  }
  return out.length ? out : ['- (no single-holder cloud in this run)'];
}

export function renderCloudReport(r: BenchResults, opts: { notes?: string } = {}): string {
  const m = r.meta;
  const clouds = m.clouds ?? [];
  const out = [
    '# Failover benchmark per cloud: the address as each cloud sees it',
    '',
    `Generated by \`npm run bench -- --clouds ${clouds.map((c) => c.cloud).join(',')}\` (bench/run.ts) on ${m.date}${m.durationS ? `, ${Math.round(m.durationS / 60)} min` : ''}${m.commit ? `, ipwarden built from ${m.commit}` : ''}. Raw data (every trial with its timeline): cloud-results.json.`,
    '',
    `- Machine: ${m.machine.cpu}, ${m.machine.cores} cores, ${m.machine.memoryGb} GB, Linux ${m.machine.kernel}, Node ${m.machine.node}, ${m.machine.keepalived}. Load average ${m.machine.loadBefore} at the start${m.machine.loadAfter ? `, ${m.machine.loadAfter} at the end` : ''} (other engineers' tests and benchmarks shared the 2 cores; this run makes part of it).`,
    `- N = ${runsText(r)} trials per cloud, scenario, tool and advert interval (each row gives its own N)${Math.min(...rows(r).map(({ c, s, I }) => cloudTrials(r.trials, c.cloud, 'ipwarden', s, I).length)) < 30 ? '; fewer than 30 leave p99 close to the max: it says little' : ''}; p99 is interpolated between the two largest samples when N < 100.`,
    `- Per cloud, one lab of network namespaces on ${m.subnet ?? '198.51.100.0/24'}: ipwarden on 3 hosts (.10-.12, address .50), keepalived 2.2.7 on 3 hosts (.13-.15, address .51), priorities 150/100/50, preemption on, advert ${m.intervalsMs.map((i) => formatDuration(i)).join(' and ')}, dead ratio 3; each tool has its own simulator of the cloud with the address seeded in it, reached from the hosts through a relay in a 7th namespace (.16), so the root namespace needs no address in the lab's subnet.`,
    `- Each fault is injected on node 0, the MASTER, at a random phase of the advert cycle; times are from the injection${m.hostLossFrom === 'link-down' ? " (host loss: from the kernel's link-down event of the master's bridge port)" : ''}. Trials alternate ipwarden, keepalived.`,
    '',
    '## The clouds and their simulated operation times',
    '',
    '**The operation times are the simulators\' settings, not measurements of the real clouds: real clouds\' times differ (and vary from call to call, region to region and day to day).** They put each cloud in its order of magnitude, so the results show how each tool behaves around a slow or a synchronous API; the figures below are the tools\' own share plus that setting.',
    '',
    '| cloud | ipwarden action | holders | simulated operation time | where the figure comes from | keepalived peer: its notify_master script runs |',
    '|---|---|---|---|---|---|',
    ...clouds.map((c) => `| ${c.title} | ${c.plugin} | ${c.holderMode === 'single' ? 'one at most' : 'several allowed (make-before-break)'} | ${opTimeText(c.opTimeMs)} | ${c.opTimeSource} | ${c.peer} |`),
    '',
    '## Summary (ipwarden)',
    '',
    '- **held by the new master**: from the fault until the simulator\'s holder history shows the new MASTER\'s instance/server/droplet holding the address;',
    '- **unheld**: the longest stretch without any holder between the fault and 0.5 s after that (a graceful stop that releases first leaves the address unheld until the new MASTER\'s move completes);',
    '- **two holders**: the longest stretch with two holders in the same window (a single-holder cloud cannot have two: must be 0);',
    '- **API calls**: every request the simulator served in that window (metadata excluded), from all nodes.',
    '',
    ...cloudSummaryTable(r),
    '',
    '## ipwarden and keepalived side by side',
    '',
    'keepalived moves the address the way its users do: a notify_master script running the command in the table above. "Address on e0" is the kernel event on the new master (ip-alias / virtual_ipaddress), the same measurement as RESULTS.md.',
    '',
    ...sideBySide(r),
    '',
    '### Two holders on single-holder clouds',
    '',
    ...singleHolderCheck(r),
    '',
    ...closingSections(r.trials, m.errors, 'None: every trial ended with one new master holding the address on its NIC and in the cloud.', opts.notes),
  ];
  return out.join('\n');
}
