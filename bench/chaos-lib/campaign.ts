/**
 * One chaos campaign: N real daemons in network namespaces (ip-alias on e0 + the cloud action against
 * that cloud's simulator on the lab bridge, a `file` check; heartbeat election, or an etcd election
 * against a 3-member etcd cluster whose members run beside the daemons), a seeded schedule of
 * overlapping faults executed against them, and the observations the judge needs, gathered from sources
 * that do not trust the daemons (the simulator's history and request log, `ip monitor` per namespace,
 * process exits, /proc RSS, the daemons' log files only for crash signatures).
 *
 * A campaign lives in its own subnet (--subnet): its bridge address, hosts, floating address and the
 * simulator's seeded public IPs are in it, and the lab's names carry this process's PID, so campaigns
 * on different subnets run side by side.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLab, type Lab } from '../../test/lib/netns.js';
import { IpwardenTool } from '../lib/ipwarden-tool.js';
import { AddressMonitor } from '../lib/ip-monitor.js';
import { priorityOf } from '../lib/tool.js';
import { LocalCluster } from '../../src/lab/local-cluster.js';
import { controlRequest } from '../../src/daemon/control.js';
import type { KitFaultRule } from '../../src/cloud/simulator-kit/index.js';
import { startChaosCloud, type ChaosCloud, type Provider } from './clouds.js';
import { ChaosEtcd } from './etcd-members.js';
import { judge, type Bounds, type ExecutedFault, type Observations, type Verdict } from './invariants.js';
import { buildSchedule, describeFault, quietGapMs, type FaultKind, type PlannedFault, type Schedule } from './schedule.js';

export type Election = 'heartbeat' | 'etcd';

/** How much longer than LocalCluster's 30 s a restarted daemon that is still running may take to answer. */
const SLOW_START_MS = 90_000;
export const ELECTIONS: readonly Election[] = ['heartbeat', 'etcd'];

const ALL_KINDS: readonly FaultKind[] = ['sigkill', 'sigstop', 'sigterm', 'link-cut', 'partition', 'loss', 'check-fail', 'reload', 'api-5xx', 'api-429', 'api-timeout', 'api-lost-answer', 'api-fail-change', 'api-latency'];

/**
 * The fault kinds that make sense for an election backend (every cloud simulator injects every API
 * fault). etcd: an etcd member killed and restarted; no UDP loss burst (etcd speaks TCP, and the
 * heartbeat adverts it would drop are not used).
 */
export function supportedKinds(election: Election): readonly FaultKind[] {
  return election === 'etcd' ? [...ALL_KINDS.filter((k) => k !== 'loss'), 'etcd-kill'] : ALL_KINDS;
}

/** Fault kinds during which (and a settle time after) the address may be on two interfaces. */
export function addressExemptKinds(election: Election): readonly FaultKind[] {
  // etcd: never two MASTERs, even in a partition; only a frozen or SIGKILLed holder cannot take its address down
  return election === 'etcd' ? ['sigstop', 'sigkill'] : ['link-cut', 'partition', 'sigstop', 'loss', 'sigkill'];
}

/** The floating address of a campaign in `subnet` (its address + 50 in a /24../26, else its last but one). */
export function floatingAddressOf(subnet: string): string {
  const m = /^(\d+\.\d+\.\d+)\.(\d+)\/(\d+)$/.exec(subnet);
  if (!m) throw new Error(`--subnet: expected a CIDR like 198.51.100.64/26, got ${JSON.stringify(subnet)}`);
  const size = 2 ** (32 - Number(m[3]));
  return `${m[1]}.${Number(m[2]) + (size >= 64 ? 50 : size - 2)}`;
}

/** The judged API call bound: this many per node and second, all nodes together. */
export const CALLS_PER_NODE_SECOND = 20;

export interface CampaignOptions {
  seed: number;
  durationMs: number;
  nodes: number;
  intervalMs: number;
  deadRatio: number;
  /** The simulator's change (operation) time. */
  apiChangeMs: number;
  provider: Provider;
  election: Election;
  /** etcd lease TTL (--election etcd). */
  ttlMs: number;
  /** The lab's subnet (198.51.100.0/24 or a /25../27 in it). */
  subnet: string;
  checkIntervalMs: number;
  /** The cloud action's reconcile period. */
  reconcile: string;
  kinds?: readonly FaultKind[];
  /** Copy the daemons' (and etcd members') logs here before teardown. */
  logDir?: string;
  /** Slack added to every bound (verify round trips, process start on a busy machine). */
  slackMs: number;
  log: (line: string) => void;
}

export interface TimelineEntry {
  t: number;
  what: string;
}

export interface CampaignResult {
  options: Omit<CampaignOptions, 'log'>;
  schedule: Schedule;
  executed: ExecutedFault[];
  verdict: Verdict;
  bounds: Bounds;
  startT: number;
  endT: number;
  timeline: TimelineEntry[];
  rss: Observations['rss'];
}

function run(argv: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 10_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${argv.join(' ')}: ${stderr || err.message}`)) : resolve(stdout))),
  );
}

/**
 * A 2|1 partition of one host: everything to and from the other hosts is dropped (heartbeat adverts,
 * etcd peer and client traffic), the cloud API on the bridge stays reachable.
 */
async function partition(lab: Lab, node: number, on: boolean): Promise<void> {
  const ns = lab.host(node).ns;
  if (on) {
    const others = lab.hosts.filter((h) => h.index !== node).map((h) => h.address).join(', ');
    const rules = `table inet ipwchaos {\n chain in { type filter hook input priority 0; ip saddr { ${others} } drop; }\n chain out { type filter hook output priority 0; ip daddr { ${others} } drop; }\n}\n`;
    await lab.exec(node, ['nft', '-f', '-'], { input: rules });
  } else {
    await run(['ip', 'netns', 'exec', ns, 'nft', 'delete', 'table', 'inet', 'ipwchaos']).catch(() => undefined);
  }
}

function rssKb(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** The daemons of a campaign: ip-alias + the cloud's action, a `file` check, the chosen election. */
async function startDaemons(lab: Lab, opts: CampaignOptions, vip: string, etcd: ChaosEtcd | undefined): Promise<{ tool: IpwardenTool; cloud: ChaosCloud }> {
  let cloud: ChaosCloud | undefined;
  // the daemons' environment: the cloud's (AWS credentials) and nothing of this machine's AWS settings
  const baseEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_'))) as Record<string, string>;
  const cluster: LocalCluster = new LocalCluster({
    nodes: lab.hosts.length,
    intervalMs: opts.intervalMs,
    deadRatio: opts.deadRatio,
    preempt: true,
    sharedAddress: vip,
    port: 12345,
    addresses: lab.hosts.map((h) => h.address),
    logLevel: 'info',
    ...(etcd ? { extras: { election: { backend: 'etcd', endpoints: etcd.endpoints(), prefix: '/ipwarden-chaos', ttl: `${opts.ttlMs / 1000}s` } } } : {}),
    instanceExtras: (i): Record<string, unknown> => ({
      priority: priorityOf(i),
      checks: [{ plugin: 'file', path: join(cluster.dir, `health-${i}`), interval: `${opts.checkIntervalMs}ms`, fall: 1, rise: 1, weight: 0, initialState: 'ok' }],
      // ip-alias first: the local address does not wait for the API.
      actions: [{ plugin: 'ip-alias', device: 'e0' }, ...(cloud ? [cloud.action(i)] : [])],
    }),
    spawner: (i, argv, fd) => lab.spawn(i, argv, { stdio: ['ignore', fd, fd], env: { ...baseEnv, ...(cloud?.env ?? {}) } }),
  });
  const tool = new IpwardenTool(lab, opts.intervalMs, cluster, new AddressMonitor(lab, vip));
  try {
    cloud = await startChaosCloud(opts.provider, {
      nodes: lab.hosts.length,
      dir: cluster.dir,
      host: lab.bridgeAddress!,
      address: vip,
      hostAddresses: lab.hosts.map((h) => h.address),
      changeMs: opts.apiChangeMs,
      action: { reconcile: opts.reconcile },
    });
    await cluster.prepare();
    for (let i = 0; i < lab.hosts.length; i++) writeFileSync(join(cluster.dir, `health-${i}`), '0\n');
    await tool.vip.start();
    return { tool, cloud };
  } catch (error) {
    await tool.close();
    await cloud?.close();
    throw error;
  }
}

export async function runCampaign(opts: CampaignOptions): Promise<CampaignResult> {
  const { log } = opts;
  const supported = supportedKinds(opts.election);
  const kinds = (opts.kinds ?? supported).filter((k) => supported.includes(k));
  // how long a dead MASTER goes unnoticed: deadRatio adverts, or the etcd lease
  const deadTimeMs = opts.election === 'etcd' ? opts.ttlMs : opts.intervalMs * opts.deadRatio;
  const schedule = buildSchedule({ seed: opts.seed, durationMs: opts.durationMs, nodes: opts.nodes, deadTimeMs, apiChangeMs: opts.apiChangeMs, kinds });
  log(`chaos: seed ${opts.seed}, ${schedule.faults.length} faults in ${schedule.episodes.length} episodes over ${opts.durationMs / 1000} s, provider ${opts.provider}, election ${opts.election}, subnet ${opts.subnet}`);
  const vip = floatingAddressOf(opts.subnet);
  const lab = await createLab({ hosts: opts.nodes, subnet: opts.subnet, bridgeAddress: true });
  let tool: IpwardenTool | undefined;
  let cloud: ChaosCloud | undefined;
  let etcd: ChaosEtcd | undefined;
  const executed: ExecutedFault[] = [];
  const crashes: Observations['crashes'] = [];
  const rss: Observations['rss'] = [];
  const expectedExit = new Set<number>();
  const leaks: string[] = [];
  let startT = Date.now();
  let endT = startT;
  let sampler: NodeJS.Timeout | undefined;
  let verdictInput: Omit<Observations, 'leaks'> | undefined;
  let daemonSays: TimelineEntry[] = [];
  try {
    if (opts.election === 'etcd') {
      etcd = new ChaosEtcd(lab);
      await etcd.start();
      log(`chaos: etcd members ${etcd.endpoints().join(', ')} healthy`);
    }
    ({ tool, cloud } = await startDaemons(lab, opts, vip, etcd));
    const c = cloud;
    const t = tool;
    const watchExit = (i: number): void => {
      const child = t.cluster.nodes[i]!.process;
      child?.once('exit', (code, signal) => {
        if (!expectedExit.has(i)) crashes.push({ t: Date.now(), node: i, detail: `code ${code} signal ${signal}` });
      });
    };
    const startedAt = new Map<number, number>();
    /** Settles when node i's current daemon process has exited. */
    const exits = new Map<number, Promise<void>>();
    /**
     * Starts node i's daemon and waits until its control socket answers. On a machine at full CPU
     * pressure a start has taken over 30 s (LocalCluster's deadline): a daemon still running then is
     * waited for up to SLOW_START_MS more and its start time logged; one that exited or never answers
     * is a health violation, and is started once more.
     */
    const start = async (i: number): Promise<void> => {
      const n = t.cluster.nodes[i]!;
      for (let attempt = 1; ; attempt++) {
        expectedExit.delete(i);
        const began = Date.now();
        startedAt.set(i, began);
        let failure: Error | undefined;
        try {
          await t.cluster.start(n);
        } catch (err) {
          failure = err as Error;
        }
        const p = n.process!;
        const alive = (): boolean => p.exitCode === null && p.signalCode === null;
        exits.set(i, alive() ? new Promise<void>((r) => p.once('exit', () => r())) : Promise.resolve());
        if (failure && alive()) {
          const deadline = Date.now() + SLOW_START_MS;
          while (alive() && Date.now() < deadline) {
            try {
              await controlRequest(n.control, { cmd: 'ping' }, 1000);
              failure = undefined;
              break;
            } catch {
              await sleep(100);
            }
          }
          if (!failure) log(`    node ${i} slow start: answering ${((Date.now() - began) / 1000).toFixed(1)} s after its spawn`);
        }
        if (!failure) {
          watchExit(i);
          return;
        }
        const how = `exit code ${p.exitCode} signal ${p.signalCode}`;
        const tail = t.logLines(i).filter(Boolean).slice(-3).map((l) => l.slice(0, 300)).join(' | ');
        crashes.push({ t: Date.now(), node: i, detail: `did not come up (attempt ${attempt}, ${how}): ${failure.message}; log tail: ${tail}` });
        log(`    node ${i} did not come up (${how}); log tail: ${tail}`);
        expectedExit.add(i);
        if (alive()) {
          p.kill('SIGKILL');
          await exits.get(i);
        }
        if (attempt >= 2) throw failure;
      }
    };
    for (let i = 0; i < opts.nodes; i++) await start(i);
    // settle: node 0 MASTER, the EIP and the address on it
    const settleDeadline = Date.now() + 60_000;
    while (!(c.holders().join() === c.targets[0] && t.vip.holders().join() === '0')) {
      if (Date.now() > settleDeadline) throw new Error(`chaos: the cluster did not settle (${c.address} on ${c.holders().join(',') || 'nobody'}, address on ${t.vip.holders().join(',') || 'nobody'})`);
      await t.vip.changed(100);
    }
    const initialHolders = [0];
    const initialAddress = [0];
    startT = Date.now();
    log(`chaos: settled; campaign starts`);
    sampler = setInterval(() => {
      for (const n of t.cluster.nodes) {
        const pid = n.process?.pid;
        const kb = pid === undefined ? undefined : rssKb(pid);
        if (pid !== undefined && kb !== undefined) rss.push({ t: Date.now(), node: n.index, pid, kb, ageMs: Date.now() - (startedAt.get(n.index) ?? Date.now()) });
      }
    }, 1000);
    sampler.unref();

    const apiRule = (f: PlannedFault): KitFaultRule => {
      switch (f.kind) {
        case 'api-5xx':
          return { kind: 'error', rate: f.param ?? 1, status: 503 };
        case 'api-429':
          return { kind: 'rate-limit', retryAfterSeconds: f.param ?? 1 };
        case 'api-timeout':
          return { kind: 'hang', rate: 0.5 };
        case 'api-lost-answer':
          return { kind: 'lose-answer', count: 1 };
        case 'api-fail-change':
          return { kind: 'fail-change', count: 2 };
        case 'api-latency':
          return { kind: 'latency', ms: f.param ?? 500 };
        default:
          throw new Error(`chaos: ${f.kind} is not an API fault of ${opts.provider}`);
      }
    };

    /** Runs one fault `offsetMs` after its episode's actual start. */
    const execute = async (f: PlannedFault, offsetMs: number): Promise<void> => {
      if (offsetMs > 0) await sleep(offsetMs);
      const node = f.node ?? 0;
      const n = t.cluster.nodes[node]!;
      const s = Date.now();
      log(`  ${describeFault(f)}`);
      let clearT: number;
      switch (f.kind) {
        case 'sigkill':
        case 'sigterm':
          expectedExit.add(node);
          n.process?.kill(f.kind === 'sigkill' ? 'SIGKILL' : 'SIGTERM');
          await exits.get(node);
          n.process = undefined;
          log(`    node ${node} exited ${Date.now() - s} ms after ${f.kind}`);
          await sleep(f.durationMs);
          {
            const before = Date.now();
            await start(node);
            log(`    node ${node} answering ${Date.now() - before} ms after its restart`);
          }
          clearT = Date.now();
          break;
        case 'sigstop':
          n.process?.kill('SIGSTOP');
          await sleep(f.durationMs);
          n.process?.kill('SIGCONT');
          clearT = Date.now();
          break;
        case 'link-cut':
          await lab.cut(node);
          await sleep(f.durationMs);
          await lab.heal(node);
          clearT = Date.now();
          break;
        case 'partition':
          await partition(lab, node, true);
          await sleep(f.durationMs);
          await partition(lab, node, false);
          clearT = Date.now();
          break;
        case 'loss':
          await lab.setLoss(node, f.param ?? 30);
          await sleep(f.durationMs);
          await lab.setLoss(node, 0);
          clearT = Date.now();
          break;
        case 'check-fail':
          await t.setHealth(node, false);
          await sleep(f.durationMs);
          await t.setHealth(node, true);
          // the check can only have seen it one check interval later
          clearT = Date.now() + opts.checkIntervalMs;
          break;
        case 'reload': {
          // a changed check timeout; not a tight one: a 300 ms timeout failed checks on its own on a starved
          // machine (load 25 on 2 cores), and a node FAULT by itself in a quiet gap is no fault of the campaign's
          const extras = t.cluster.opts.instanceExtras?.(node) ?? {};
          const checks = (extras.checks as Array<Record<string, unknown>>).map((c) => ({ ...c, timeout: f.id % 2 === 0 ? '3s' : '2s' }));
          t.cluster.writeConfig(n, { checks });
          n.process?.kill('SIGHUP');
          clearT = Date.now();
          break;
        }
        case 'etcd-kill': {
          const m = etcd!.members.find((x) => x.host === node) ?? etcd!.members[node % etcd!.members.length]!;
          await etcd!.kill(m);
          await sleep(f.durationMs);
          const before = Date.now();
          // a member cut off by other faults of the episode answers once they clear
          await etcd!.restart(m).catch((err: unknown) => log(`    ${(err as Error).message}`));
          log(`    etcd ${m.name} healthy ${Date.now() - before} ms after its restart`);
          clearT = Date.now();
          break;
        }
        default: {
          c.addFault(`chaos${f.id}`, apiRule(f));
          await sleep(f.durationMs);
          c.removeFault(`chaos${f.id}`);
          clearT = Date.now();
        }
      }
      executed.push({ fault: f, startT: s, clearT });
    };

    // Episodes run one after the other: a fault that takes longer than planned (a slow restart) delays the
    // next episode instead of eating its quiet gap; offsets inside an episode are kept.
    const gap = quietGapMs({ deadTimeMs, apiChangeMs: opts.apiChangeMs });
    let shift = 0;
    for (const ep of schedule.episodes) {
      const epStart = startT + ep.startMs + shift;
      if (epStart > Date.now()) await sleep(epStart - Date.now());
      const actualStart = Date.now();
      await Promise.all(schedule.faults.filter((f) => f.episode === ep.index).map((f) => execute(f, f.atMs - ep.startMs)));
      const cleared = Math.max(actualStart, ...executed.filter((e) => e.fault.episode === ep.index).map((e) => e.clearT));
      await sleep(Math.max(0, cleared + gap - Date.now()));
      shift = Date.now() - (startT + ep.quietUntilMs);
    }
    endT = Date.now();
    clearInterval(sampler);

    const idToNode = new Map(c.targets.map((id, i) => [id, i]));
    const holderEvents = c
      .holderEvents()
      .filter((e) => e.t >= startT)
      .map((e) => ({ t: e.t, holders: e.holders.map((h) => idToNode.get(h) ?? -1) }));
    const errorLines: Observations['errorLines'] = [];
    for (const n of t.cluster.nodes) {
      for (const line of t.logLines(n.index)) {
        if (/unhandled ?rejection|uncaught ?exception|"level":"fatal"|ERR_UNHANDLED/i.test(line)) errorLines.push({ node: n.index, line });
      }
    }
    daemonSays = t.transitions().filter((x) => x.t >= startT - 5000 && x.t <= endT).map((x) => ({ t: x.t, what: `node ${x.node} says ${x.to}` }));
    verdictInput = {
      startT,
      endT,
      nodes: opts.nodes,
      holderMode: c.holderMode,
      holderEvents,
      initialHolders,
      addressEvents: t.vip.events.filter((e) => e.t >= startT),
      initialAddress,
      executed,
      crashes: [...crashes],
      errorLines,
      rss,
      apiCalls: c.apiCalls().filter((r) => r.t >= startT).map((r) => {
        const node = lab.hosts.findIndex((h) => h.address === r.caller);
        return { t: r.t, call: r.call, ...(node >= 0 ? { node } : {}) };
      }),
    };
  } finally {
    if (sampler) clearInterval(sampler);
    for (let i = 0; i < opts.nodes; i++) expectedExit.add(i);
    for (const n of tool?.cluster.nodes ?? []) n.process?.kill('SIGCONT');
    if (opts.logDir) {
      mkdirSync(opts.logDir, { recursive: true });
      for (const f of [...(tool?.cluster.nodes.map((n) => n.logFile) ?? []), ...(etcd?.members.map((m) => m.logFile) ?? [])]) if (existsSync(f)) copyFileSync(f, join(opts.logDir, basename(f)));
    }
    await tool?.close().catch((err: unknown) => leaks.push(`tool close: ${(err as Error).message}`));
    await cloud?.close().catch((err: unknown) => leaks.push(`simulator close: ${(err as Error).message}`));
    for (const h of lab.hosts) await partition(lab, h.index, false).catch(() => undefined);
    await etcd?.destroy().catch((err: unknown) => leaks.push(`etcd: ${(err as Error).message}`));
    await lab.destroy().catch((err: unknown) => leaks.push(`lab: ${(err as Error).message}`));
  }
  const left = await run(['ip', 'netns', 'list']).catch(() => '');
  for (const h of lab.hosts) if (left.includes(h.ns)) leaks.push(`namespace ${h.ns}`);
  for (const dir of [tool?.cluster.dir, etcd?.dir]) {
    if (dir === undefined) continue;
    const procs = await run(['pgrep', '-f', dir]).catch(() => '');
    if (procs.trim() !== '') leaks.push(`processes ${procs.trim().split('\n').join(',')} (${dir})`);
  }
  const obs: Observations = { ...verdictInput!, leaks };
  const bounds: Bounds = {
    deadTimeMs,
    addressExempt: addressExemptKinds(opts.election),
    apiChangeMs: opts.apiChangeMs,
    slackMs: opts.slackMs,
    // 20 per node: one Exoscale make-before-break pass with fencing makes up to 16 calls in a second (two
    // operations polled every 150 ms, a read before and after each change), and in a partition every side's
    // MASTER makes its own (seed 1458729571: 16 + 15); a retry storm is a loop, far beyond it
    maxCallsPerSecond: CALLS_PER_NODE_SECOND * opts.nodes,
  };
  const verdict = judge(schedule, obs, bounds);
  const timeline: TimelineEntry[] = [
    ...executed.flatMap((e) => [
      { t: e.startT, what: `fault ${describeFault(e.fault)} injected` },
      { t: e.clearT, what: `fault #${e.fault.id} ${e.fault.kind} cleared` },
    ]),
    ...obs.holderEvents.map((e) => ({ t: e.t, what: `cloud: holders ${e.holders.join(',') || 'none'}` })),
    ...obs.addressEvents.map((e) => ({ t: e.t, what: `h${e.host} address ${e.added ? 'added' : 'removed'}` })),
    ...daemonSays,
    ...crashes.map((c) => ({ t: c.t, what: `node ${c.node} exited: ${c.detail}` })),
  ].sort((a, b) => a.t - b.t);
  const { log: _log, logDir: _logDir, ...options } = opts;
  return { options, schedule, executed, verdict, bounds, startT, endT, timeline, rss };
}

/** The context printed with a violation: the schedule and merged timeline 5 s around it. */
export function violationContext(r: CampaignResult, t: number, windowMs = 5000): string {
  const lines = [`seed ${r.schedule.seed} (replay: npm run chaos -- --seed ${r.schedule.seed} --duration ${r.options.durationMs / 1000}s --provider ${r.options.provider} --election ${r.options.election})`];
  lines.push('faults around it:');
  for (const e of r.executed) {
    if (e.clearT >= t - windowMs && e.startT <= t + windowMs) lines.push(`  ${describeFault(e.fault)} (ran ${((e.startT - r.startT) / 1000).toFixed(2)}–${((e.clearT - r.startT) / 1000).toFixed(2)} s)`);
  }
  lines.push('timeline:');
  for (const e of r.timeline) if (e.t >= t - windowMs && e.t <= t + windowMs) lines.push(`  ${((e.t - r.startT) / 1000).toFixed(3).padStart(8)} s  ${e.what}`);
  return lines.join('\n');
}

/** Writes the raw result (for the report) as JSON. */
export function saveResult(path: string, r: CampaignResult): void {
  writeFileSync(path, `${JSON.stringify(r)}\n`);
}

export const RESULT_FILE = (dir: string, provider: string, election: string): string => join(dir, `chaos-${provider}-${election}.json`);
