/**
 * `npm run bench`: ipwarden vs keepalived failover, side by side in network namespaces
 * (see bench/README.md). Writes <out>/results.json (raw), <out>/RESULTS.md and <out>/failover.png;
 * with --clouds/--provider, the same failovers on each cloud's simulator: <out>/cloud-results.json
 * and <out>/CLOUD-RESULTS.md.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { createLab, type Lab } from '../test/lib/netns.js';
import { LocalCluster, sleep } from '../src/lab/local-cluster.js';
import { durationText as formatDuration } from '../src/util/duration.js';
import { parseBenchArgs, USAGE, type BenchArgs } from './lib/args.js';
import { startIpwarden } from './lib/ipwarden-tool.js';
import { sliceLab } from './lib/lab-slice.js';
import { startKeepalived } from './lib/keepalived-tool.js';
import { measure } from './lib/resources.js';
import { loadAverage, machineInfo } from './lib/machine.js';
import { FAILOVER_SCENARIOS, runLoss, runTrial, startTool, stopLinkMonitor, waitSteady, SCENARIO_TITLES, type FailoverScenario } from './lib/scenarios.js';
import type { Tool } from './lib/tool.js';
import { mergeResults, type BenchResults } from './lib/results.js';
import { renderReport } from './lib/report.js';
import { renderChart, writeChart } from './lib/chart.js';
import { renderCloudReport } from './lib/cloud-report.js';
import { CLOUD_OP_TIMES, startBenchCloud, type BenchCloud, type BenchCloudName } from './lib/clouds.js';

const started = Date.now();
let aborted = false;
/** Temporary directories of the tools alive now: removed on exit too (Ctrl-C exits without close()). */
const liveDirs = new Set<string>();
process.on('exit', () => {
  for (const d of liveDirs) rmSync(d, { recursive: true, force: true });
});
const track = <T extends { dir: string }>(tool: T): T => {
  liveDirs.add(tool.dir);
  return tool;
};
const log = (line: string): void => {
  process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(5)}s] ${line}\n`);
};

function machine(): BenchResults['meta']['machine'] {
  // keepalived prints its version on stderr
  const v = spawnSync('/usr/sbin/keepalived', ['--version'], { encoding: 'utf8' });
  const keepalived = `${v.stdout ?? ''}${v.stderr ?? ''}`.split('\n')[0]?.trim() || 'keepalived (version unknown)';
  return { ...machineInfo(), keepalived };
}

function gitCommit(): string | undefined {
  const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' });
  if (head.status !== 0) return undefined;
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no', '--', 'src', 'plugins'], { encoding: 'utf8' });
  return `${head.stdout.trim()}${dirty.stdout.trim() ? '-dirty' : ''}`;
}

const resultsFile = (args: BenchArgs, r: BenchResults): string => join(args.out, r.meta.clouds ? 'cloud-results.json' : 'results.json');

function save(args: BenchArgs, r: BenchResults): void {
  mkdirSync(args.out, { recursive: true });
  writeFileSync(resultsFile(args, r), `${JSON.stringify(r, null, 1)}\n`);
}

async function render(args: BenchArgs, r: BenchResults): Promise<void> {
  mkdirSync(args.out, { recursive: true });
  if (r.meta.clouds) {
    const notes = args.notes ? readFileSync(args.notes, 'utf8') : undefined;
    writeFileSync(join(args.out, 'CLOUD-RESULTS.md'), renderCloudReport(r, notes ? { notes } : {}));
    log(`wrote ${join(args.out, 'CLOUD-RESULTS.md')}`);
    return;
  }
  const svg = renderChart(r.trials, r.meta.intervalsMs, `Failover time, ipwarden vs keepalived 2.2.7 (N = ${r.meta.runs} per row)`);
  const png = await writeChart(svg, join(args.out, 'failover.svg'), join(args.out, 'failover.png'));
  if (!png) log('rsvg-convert not found (apt-get install librsvg2-bin): wrote failover.svg only');
  const notes = args.notes ? readFileSync(args.notes, 'utf8') : undefined;
  const chart = png ? relative(args.out, png) : 'failover.svg';
  // the cloud run's summary, when one was written next to it
  const cloudFile = join(args.out, 'cloud-results.json');
  const clouds = existsSync(cloudFile) ? (JSON.parse(readFileSync(cloudFile, 'utf8')) as BenchResults) : undefined;
  writeFileSync(join(args.out, 'RESULTS.md'), renderReport(r, { chart, ...(notes ? { notes } : {}), ...(clouds ? { clouds } : {}) }));
  log(`wrote ${join(args.out, 'RESULTS.md')}${png ? ` and ${png}` : ''}`);
}

/** After a failed trial: everything back up and healthy, so the next trial starts clean. */
async function recover(tool: Tool): Promise<void> {
  await tool.lab.heal(0).catch(() => undefined);
  for (const h of tool.lab.hosts) {
    await tool.setHealth(h.index, true);
    if (!tool.running(h.index)) {
      await tool.vip.remove(h.index);
      await tool.start(h.index).catch((e: Error) => log(`  recover ${tool.name} h${h.index}: ${e.message}`));
    }
  }
}

async function resourcesOf(tool: Tool, seconds: number, setup: string): Promise<BenchResults['resources'][number]> {
  const perNode = await measure(tool.lab.hosts.map((h) => tool.pids(h.index)), seconds);
  return { tool: tool.name, setup, intervalMs: tool.intervalMs, peers: tool.lab.hosts.length - 1, seconds, perNode };
}

/** The subnet's address ending in `.last` ("203.0.113.0/24", 50 → "203.0.113.50"). */
function inSubnet(subnet: string, last: number): string {
  return `${subnet.slice(0, subnet.lastIndexOf('.'))}.${last}`;
}

/** Tool options for a cloud reached through the relay in lab host `apiHost` (the lab's last host). */
function cloudFor(args: BenchArgs, cloud: BenchCloudName, lab: Lab, apiHost: number, vip: string, nodes: number): (dir: string) => Promise<BenchCloud> {
  return (dir) => startBenchCloud(cloud, { nodes, dir, opTimeMs: args.opTimesMs[cloud], address: vip, reach: { lab, apiHost } });
}

async function intervalPhase(args: BenchArgs, I: number, r: BenchResults, cloud: BenchCloudName = 'exoscale'): Promise<void> {
  const labs: Lab[] = [];
  const tools: Tool[] = [];
  const label = `${args.clouds ? `${cloud} ` : ''}advert ${formatDuration(I)}`;
  try {
    // One bridge, no address in the root namespace: hosts .10-.12 run ipwarden, .13-.15 keepalived
    // (each tool sees its 3 hosts as h0..h2), .16 relays to the tools' cloud simulators (bench/lib/api-relay.ts).
    const lab = await createLab({ hosts: 7, subnet: args.subnet });
    labs.push(lab);
    const common = { intervalMs: I, apiDelayMs: args.opTimesMs[cloud], checkIntervalMs: args.checkIntervalMs };
    const [vipI, vipK] = [inSubnet(args.subnet, 50), inSubnet(args.subnet, 51)];
    tools.push(track(await startIpwarden({ lab: sliceLab(lab, 0, 3), vip: vipI, cloud: cloudFor(args, cloud, lab, 6, vipI, 3), ...common })));
    tools.push(track(await startKeepalived({ lab: sliceLab(lab, 3, 3), vip: vipK, cloud: cloudFor(args, cloud, lab, 6, vipK, 3), ...common })));
    // one tool after the other: on a loaded machine (a shared 2-core VM) six daemons starting at
    // once can miss the lab's 10 s start deadline; the trials do not depend on how they started
    for (const t of tools) await startTool(t);
    log(`${label}: both clusters steady (h0 MASTER, the address on h0 and in the cloud)`);

    if (args.phases.includes('resources')) {
      const setup = (t: Tool) => `3 hosts in netns, idle, ${t.name === 'ipwarden' ? `ip-alias + ${t.cloud.plugin} + file check` : 'virtual_ipaddress + vrrp_script'}`;
      const rows = await Promise.all(tools.map((t) => resourcesOf(t, args.resourceSeconds, setup(t))));
      for (const row of rows) {
        r.resources.push(row);
        log(`  resources ${row.tool} @${formatDuration(I)}: ${row.perNode.map((p) => `${p.cpuPercent.toFixed(2)}% ${p.rssMb.toFixed(0)}MB`).join(', ')}`);
      }
    }

    for (const s of FAILOVER_SCENARIOS.filter((x) => args.phases.includes(x))) {
      log(`${SCENARIO_TITLES[s]} @${formatDuration(I)}${args.clouds ? ` on ${cloud}` : ''}: ${args.runs} runs per tool`);
      const broken = new Set<string>();
      for (let run = 0; run < args.runs && !aborted; run++) {
        for (const tool of tools) {
          if (aborted || broken.has(tool.name)) continue;
          try {
            const t = await runTrial(tool, s as FailoverScenario, run, args.checkIntervalMs);
            r.trials.push(t);
            if (t.note) log(`     timeline: ${t.timeline}`);
            if (t.settleNote) log(`     slow return to the steady state before this run (${Math.round(t.settleMs! / 1000)} s): ${t.settleNote}`);
            log(
              `  ${tool.name.padEnd(10)} run ${String(run + 1).padStart(2)}: elected ${fmt(t.electedMs)} address ${fmt(t.vipMs)} cloud ${fmt(t.eipMs)}${t.unheldMs !== undefined ? ` unheld ${fmt(t.unheldMs)} two ${fmt(t.multiHolderMs)} calls ${t.apiCalls}` : ''}${t.faultMs !== undefined ? ` (left MASTER ${fmt(t.faultMs)})` : ''}${t.note ? `  !! ${t.note}` : ''}`,
            );
          } catch (error) {
            const msg = `${args.clouds ? `${cloud} ` : ''}${tool.name} ${s} @${formatDuration(I)} run ${run + 1}: ${(error as Error).message}`;
            log(`  !! ${msg}`);
            r.meta.errors.push(msg);
            await recover(tool);
            try {
              await waitSteady(tool, 60_000 + 30 * I);
            } catch (again) {
              broken.add(tool.name);
              r.meta.errors.push(`${args.clouds ? `${cloud} ` : ''}${tool.name} ${s} @${formatDuration(I)}: gave up after run ${run + 1}: ${(again as Error).message}`);
            }
          }
        }
        save(args, r);
      }
      if (broken.size) for (const t of tools) if (broken.has(t.name)) await recover(t);
    }

    if (args.phases.includes('loss') && !aborted) {
      log(`${SCENARIO_TITLES.loss} @${formatDuration(I)}: ${args.lossWindows} × ${args.lossSeconds} s, both tools at once`);
      r.loss.push(...(await runLoss(tools, args.lossWindows, args.lossSeconds, { log, aborted: () => aborted })));
      save(args, r);
    }
  } finally {
    for (const t of tools) {
      await t.close().catch((e: Error) => log(`close ${t.name}: ${e.message}`));
      liveDirs.delete(t.dir);
    }
    for (const l of labs) await l.destroy().catch((e: Error) => log(`lab cleanup: ${e.message}`));
    await stopLinkMonitor();
  }
}

/** ipwarden alone, 17 daemons on loopback (16 peers each) at 100 ms adverts, no checks or actions. */
async function peersPhase(args: BenchArgs, r: BenchResults): Promise<void> {
  const nodes = 17;
  const cluster = new LocalCluster({ nodes, intervalMs: 100, deadRatio: 3, preempt: true, firstHost: 11, logLevel: 'info' });
  liveDirs.add(cluster.dir);
  const kill = (): void => {
    for (const n of cluster.nodes) n.process?.kill('SIGKILL');
  };
  process.on('exit', kill);
  try {
    await cluster.prepare();
    // a few at a time: 17 Node.js start-ups at once overrun the start timeout on a small shared machine
    for (let i = 0; i < cluster.nodes.length; i += 4) await Promise.all(cluster.nodes.slice(i, i + 4).map((n) => cluster.start(n)));
    await cluster.waitFor('a single MASTER', 30_000, async () => ((await cluster.masters()).length === 1 ? true : undefined), 200);
    await sleep(5000); // past start-up (JIT, first GCs)
    const perNode = await measure(cluster.nodes.map((n) => (n.process?.pid !== undefined ? [n.process.pid] : [])), args.resourceSeconds);
    r.resources.push({ tool: 'ipwarden', setup: `${nodes} daemons on loopback, no checks/actions, idle`, intervalMs: 100, peers: nodes - 1, seconds: args.resourceSeconds, perNode });
    log(`  resources ipwarden ${nodes - 1} peers @100ms: cpu max ${Math.max(...perNode.map((p) => p.cpuPercent)).toFixed(2)}%, rss max ${Math.max(...perNode.map((p) => p.rssMb)).toFixed(1)} MB`);
  } finally {
    await cluster.stopAll().catch(() => undefined);
    await cluster.destroy();
    liveDirs.delete(cluster.dir);
    process.off('exit', kill);
  }
  // The same fan-out in network namespaces, for both tools (veth + bridge instead of loopback; keepalived
  // for scale: what 16 unicast peers at 100 ms cost a C daemon on this machine).
  const lab = await createLab({ hosts: nodes + 1, subnet: args.subnet });
  try {
    for (const [start, vip] of [[startIpwarden, inSubnet(args.subnet, 50)], [startKeepalived, inSubnet(args.subnet, 51)]] as const) {
      const cloud = cloudFor(args, 'exoscale', lab, nodes, vip, nodes);
      const tool = track(await start({ lab: sliceLab(lab, 0, nodes), intervalMs: 100, apiDelayMs: args.apiDelayMs, checkIntervalMs: args.checkIntervalMs, vip, cloud }));
      try {
        for (let i = 0; i < nodes; i += 4) await Promise.all(tool.lab.hosts.slice(i, i + 4).map((h) => tool.start(h.index)));
        await waitSteady(tool, 60_000);
        await sleep(5000);
        const row = await resourcesOf(tool, args.resourceSeconds, `${nodes} hosts in netns, idle, ${tool.name === 'ipwarden' ? `ip-alias + ${tool.cloud.plugin} + file check` : 'virtual_ipaddress + vrrp_script'}`);
        r.resources.push(row);
        log(`  resources ${tool.name} ${nodes - 1} peers @100ms in netns: cpu max ${Math.max(...row.perNode.map((p) => p.cpuPercent)).toFixed(2)}%, rss max ${Math.max(...row.perNode.map((p) => p.rssMb)).toFixed(1)} MB`);
      } finally {
        await tool.close();
        liveDirs.delete(tool.dir);
      }
    }
  } finally {
    await lab.destroy();
  }
}

/** What the cloud report states about each cloud (the registry's facts, the operation time and its source, the peer's command). */
async function cloudMeta(args: BenchArgs, clouds: readonly BenchCloudName[]): Promise<NonNullable<BenchResults['meta']['clouds']>> {
  const out: NonNullable<BenchResults['meta']['clouds']> = [];
  const dir = mkdtempSync(join(tmpdir(), 'ipwarden-bench-meta-'));
  try {
    for (const cloud of clouds) {
      // a simulator on loopback, only to read the facts (no lab)
      const c = await startBenchCloud(cloud, { nodes: 3, dir, opTimeMs: args.opTimesMs[cloud], address: inSubnet(args.subnet, 50), reach: { host: '127.0.0.1' } });
      const source = args.opTimesMs[cloud] === CLOUD_OP_TIMES[cloud].ms ? CLOUD_OP_TIMES[cloud].source : 'set with --api-delay';
      out.push({ cloud, title: c.title, plugin: c.plugin, holderMode: c.holderMode, opTimeMs: c.opTimeMs, opTimeSource: source, peer: c.notifyTool });
      await c.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

function fmt(v: number | undefined): string {
  return v === undefined ? '     –' : `${Math.round(v)}ms`.padStart(6);
}

async function main(): Promise<number> {
  let args: BenchArgs;
  try {
    args = parseBenchArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (args.reportOnly) {
    const parts = args.reportOnly.split(',').map((f) => JSON.parse(readFileSync(f, 'utf8')) as BenchResults);
    const r = mergeResults(parts);
    if (parts.length > 1) save(args, r);
    await render(args, r);
    return 0;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench: needs root (network namespaces, nftables, keepalived)\n');
    return 2;
  }
  const r: BenchResults = {
    meta: {
      date: new Date().toISOString(),
      commit: gitCommit(),
      machine: machine(),
      runs: args.runs,
      quick: args.quick,
      intervalsMs: args.intervalsMs,
      scenarios: args.phases,
      lossSeconds: args.lossSeconds,
      lossWindows: args.lossWindows,
      apiDelayMs: args.apiDelayMs,
      checkIntervalMs: args.checkIntervalMs,
      resourceSeconds: args.resourceSeconds,
      subnet: args.subnet,
      hostLossFrom: 'link-down',
      ...(args.clouds ? { clouds: await cloudMeta(args, args.clouds) } : {}),
      errors: [],
    },
    trials: [],
    loss: [],
    resources: [],
  };
  // Ctrl-C: the lab library (test/lib/netns.ts) tears the namespaces down first; then the partial results are kept.
  const onSignal = (sig: NodeJS.Signals): void => {
    aborted = true;
    log(`${sig}: stopping; partial results in ${resultsFile(args, r)}`);
    r.meta.errors.push(`interrupted by ${sig}`);
    save(args, r);
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  log(`bench: N=${args.runs}, intervals ${args.intervalsMs.map((i) => formatDuration(i)).join(', ')}, phases ${args.phases.join(',')}${args.clouds ? `, clouds ${args.clouds.join(',')}` : ''}, subnet ${args.subnet}, load ${r.meta.machine.loadBefore}`);
  for (const cloud of args.clouds ?? (['exoscale'] as const)) {
    for (const I of args.intervalsMs) {
      if (aborted) break;
      try {
        await intervalPhase(args, I, r, cloud);
      } catch (error) {
        log(`!! ${cloud} advert ${formatDuration(I)}: ${(error as Error).stack ?? String(error)}`);
        r.meta.errors.push(`${args.clouds ? `${cloud} ` : ''}advert ${formatDuration(I)}: ${(error as Error).message}`);
      }
    }
  }
  if (args.phases.includes('resources') && !aborted && !args.clouds) {
    try {
      await peersPhase(args, r);
    } catch (error) {
      r.meta.errors.push(`16 peers: ${(error as Error).message}`);
    }
  }
  r.meta.machine.loadAfter = loadAverage();
  r.meta.durationS = (Date.now() - started) / 1000;
  save(args, r);
  await render(args, r);
  return r.meta.errors.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
