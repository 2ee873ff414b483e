/**
 * The failover scenarios, run the same way against any Tool. Node 0 is the steady-state MASTER;
 * a trial injects one fault on it at a random phase of the advert cycle and measures, from that
 * instant (t0):
 *   elected  the first other node's transition to MASTER, as the tool recorded it
 *            (ipwarden: its log line; keepalived: its notify_master script's first line)
 *   vip      the address appearing on that node's e0 (kernel event, `ip monitor`)
 *   eip      the cloud's simulator putting the floating address on that node's target (its holder history)
 * and, from the same history and the simulator's request log, how long the address had no holder,
 * how long two, and how many API calls the failover took; then undoes the fault and waits for the
 * steady state again.
 */
import { sleep } from '../../src/lab/local-cluster.js';
import type { Tool, Transition } from './tool.js';
import { LinkMonitor } from './ip-monitor.js';

let links: Promise<LinkMonitor> | undefined;

/** The root namespace's link monitor, started on first use (host-loss trials), for the whole run. */
function linkMonitor(): Promise<LinkMonitor> {
  links ??= (async () => {
    const m = new LinkMonitor();
    await m.start();
    return m;
  })();
  return links;
}

/** Stops the link monitor, if one was started. */
export async function stopLinkMonitor(): Promise<void> {
  const m = links;
  links = undefined;
  (await m)?.stop();
}

export const FAILOVER_SCENARIOS = ['sigkill', 'hostloss', 'sigterm', 'check'] as const;
export type FailoverScenario = (typeof FAILOVER_SCENARIOS)[number];

export const SCENARIO_TITLES: Record<FailoverScenario | 'loss', string> = {
  sigkill: '1. SIGKILL of the master daemon (host alive)',
  hostloss: "1b. master's host lost (link cut)",
  sigterm: '2. planned hand-over (SIGTERM)',
  check: "3. master's health check starts failing",
  loss: '4. 20 % random heartbeat loss on every host',
};

export interface TrialResult {
  tool: string;
  /** The cloud of the floating address (absent: exoscale, results before the clouds were generalised). */
  cloud?: string;
  intervalMs: number;
  scenario: FailoverScenario;
  run: number;
  /** Node that took over. */
  newMaster?: number;
  electedMs?: number;
  vipMs?: number;
  eipMs?: number;
  /** When the simulator received the new master's attach call (the API's own time is eipMs - this). */
  eipRequestMs?: number;
  /** Longest stretch without a holder from the fault until the new master held the address (+ a short grace), ms. */
  unheldMs?: number;
  /** Longest stretch with two or more holders in the same window, ms. */
  multiHolderMs?: number;
  /** API calls the simulator served in that window (metadata excluded), and how many changed holders. */
  apiCalls?: number;
  mutatingCalls?: number;
  /** check scenario: when node 0 left MASTER (FAULT). */
  faultMs?: number;
  /** Nodes (other than 0) that became MASTER during the trial: more than 1 = an extra election. */
  masters: number;
  note?: string;
  /** How long the steady state took to come back before this trial (after the previous trial's undo). */
  settleMs?: number;
  /** Set when that took long: the last non-steady state seen. */
  settleNote?: string;
  /** What happened after the fault, in order: state changes, address events (+/-), EIP attach/detach, ms from t0. */
  timeline?: string;
}

export interface ScenarioHooks {
  /** Progress line. */
  log(line: string): void;
  /** Stops the run (Ctrl-C): checked between steps. */
  aborted(): boolean;
}

function stableFor(intervalMs: number): number {
  return Math.max(1000, 2 * intervalMs + 500);
}

/** Every node's daemon runs and node 0 is the single MASTER holding the address and the EIP, for a while. */
export async function waitSteady(tool: Tool, timeoutMs: number): Promise<{ waitedMs: number; lastBad: string }> {
  const started = Date.now();
  const deadline = started + timeoutMs;
  let lastBad = '';
  const inst0 = tool.cloud.targets[0]!;
  let goodSince: number | undefined;
  let last = '';
  while (Date.now() < deadline) {
    const states = await tool.states();
    const vip = tool.vip.holders();
    let holders = tool.cloud.holders();
    const electionOk = states[0] === 'MASTER' && states.slice(1).every((s) => s === 'BACKUP') && vip.join() === '0';
    if (electionOk && tool.resetsEip && holders.join() !== inst0 && idleScripts(tool) && tool.cloud.setHolder) {
      // keepalived has no way to re-claim the address when its master never left MASTER (host-loss heal),
      // or when its script failed (a locked floating IP): the bench puts it back, so every trial starts alike.
      await tool.cloud.setHolder(inst0);
      holders = tool.cloud.holders();
    }
    const ok = electionOk && holders.join() === inst0 && idleScripts(tool);
    last = `states ${states.map((s) => s ?? 'down').join(',')}; address on ${vip.map((h) => `h${h}`).join(',') || 'none'}; ${tool.cloud.cloud} address on ${holders.map((h) => tool.cloud.name(h)).join(',') || 'none'}`;
    if (ok) {
      goodSince ??= Date.now();
      if (Date.now() - goodSince >= stableFor(tool.intervalMs)) return { waitedMs: goodSince - started, lastBad };
    } else {
      goodSince = undefined;
      lastBad = `${last} @+${Date.now() - started}ms`;
    }
    await sleep(Math.min(100, tool.intervalMs));
  }
  throw new Error(`${tool.name}: no steady state (h0 MASTER with the address here and in the cloud) within ${timeoutMs} ms: ${last}`);
}

function idleScripts(tool: Tool): boolean {
  const k = tool as Tool & { eipScriptIdle?: (i: number) => boolean };
  return k.eipScriptIdle ? tool.lab.hosts.every((h) => k.eipScriptIdle!(h.index)) : true;
}

/**
 * Starts every node, node 0 first so that it is the first MASTER (as in production), one at a time
 * (parallel start-ups on a loaded machine miss the lab's start deadline).
 */
export async function startTool(tool: Tool): Promise<void> {
  for (const h of tool.lab.hosts) await tool.start(h.index);
  await waitSteady(tool, 30_000 + 20 * tool.intervalMs);
}

async function inject(tool: Tool, scenario: FailoverScenario, checkIntervalMs: number): Promise<number> {
  // A uniformly random phase of the advert cycle (for the check scenario: of the check cycle, the
  // longer one), so no trial is locked to a timer of either tool.
  await sleep(Math.random() * (scenario === 'check' ? Math.max(tool.intervalMs, checkIntervalMs) : tool.intervalMs));
  switch (scenario) {
    case 'sigkill':
    case 'sigterm': {
      const t0 = Date.now();
      tool.signal(0, scenario === 'sigkill' ? 'SIGKILL' : 'SIGTERM');
      return t0;
    }
    case 'hostloss': {
      // from the kernel's link-down event (the cut command's own start-up is no part of a failover);
      // the command's start if the event never came
      const t0 = Date.now();
      await tool.lab.cut(0);
      return (await (await linkMonitor()).downAfter(tool.lab.host(0).rootVeth, t0 - 50, 1000)) ?? t0;
    }
    case 'check': {
      const t0 = Date.now();
      await tool.setHealth(0, false);
      return t0;
    }
  }
}

async function undo(tool: Tool, scenario: FailoverScenario): Promise<void> {
  switch (scenario) {
    case 'sigkill':
    case 'sigterm':
      await tool.exited(0);
      // a crashed daemon leaves the address behind (both tools): clear it before the restart
      await tool.vip.remove(0);
      await tool.start(0);
      return;
    case 'hostloss':
      await tool.lab.heal(0);
      return;
    case 'check':
      await tool.setHealth(0, true);
      return;
  }
}

function firstMasterAfter(transitions: Transition[], since: number): Transition | undefined {
  return transitions.find((t) => t.to === 'MASTER' && t.node !== 0 && t.t >= since);
}

/** One trial: steady state, fault, measurements, undo. */
export async function runTrial(tool: Tool, scenario: FailoverScenario, run: number, checkIntervalMs: number): Promise<TrialResult> {
  const I = tool.intervalMs;
  const settled = await waitSteady(tool, 60_000 + 30 * I);
  const t0 = await inject(tool, scenario, checkIntervalMs);
  const result: TrialResult = { tool: tool.name, cloud: tool.cloud.cloud, intervalMs: I, scenario, run, masters: 0, settleMs: settled.waitedMs };
  // restoring the steady state after the previous trial took long: say what it was waiting for
  if (settled.waitedMs > 5000 + 10 * I) result.settleNote = settled.lastBad;
  // Done when a new master has the address and holds it in the cloud, or at the deadline.
  const deadline = t0 + 10 * I + 15_000 + 3 * tool.cloud.opTimeMs;
  let vipAt: { host: number; t: number } | undefined;
  let eipAt: number | undefined;
  while (Date.now() < deadline) {
    vipAt ??= tool.vip.firstAddAfter(t0, 0);
    if (vipAt) {
      const target = tool.cloud.targets[vipAt.host]!;
      eipAt = tool.cloud.holderEvents(t0).find((e) => e.holders.includes(target))?.t;
      if (eipAt !== undefined) break;
    }
    await tool.vip.changed(Math.min(50, I));
  }
  // let late notify lines land (keepalived's scripts are asynchronous), and a late release show in the history
  await sleep(eipAt !== undefined ? 500 : 100);
  const stretches = tool.cloud.stretches(t0);
  const calls = tool.cloud.apiCalls(t0);
  const trans = tool.transitions();
  const elected = firstMasterAfter(trans, t0);
  const took = vipAt?.host ?? elected?.node;
  if (took !== undefined) result.newMaster = took;
  if (elected) result.electedMs = elected.t - t0;
  if (vipAt) result.vipMs = vipAt.t - t0;
  if (eipAt !== undefined) result.eipMs = eipAt - t0;
  // the call that put it there: the last attaching call before it held (DigitalOcean's one action call also unassigns)
  const req = eipAt !== undefined ? calls.filter((c) => c.mutating && c.t <= eipAt! && !/unassign|detach|disassociate/.test(c.call)).at(-1) : undefined;
  if (req) result.eipRequestMs = req.t - t0;
  if (eipAt !== undefined) {
    result.unheldMs = stretches.maxUnheldMs;
    result.multiHolderMs = stretches.maxMultiHolderMs;
    result.apiCalls = calls.length;
    result.mutatingCalls = calls.filter((c) => c.mutating).length;
  }
  if (scenario === 'check') {
    const fault = trans.find((t) => t.node === 0 && t.to === 'FAULT' && t.t >= t0);
    if (fault) result.faultMs = fault.t - t0;
  }
  result.masters = new Set(trans.filter((t) => t.to === 'MASTER' && t.node !== 0 && t.t >= t0).map((t) => t.node)).size;
  const notes: string[] = [];
  if (!vipAt) notes.push('address never appeared on another node');
  if (vipAt && eipAt === undefined) notes.push(`the ${tool.cloud.title} address never reached the new master`);
  if (result.masters > 1) notes.push(`${result.masters} nodes became MASTER`);
  if (tool.cloud.holderMode === 'single' && stretches.maxMultiHolderMs > 0) notes.push(`two holders for ${stretches.maxMultiHolderMs} ms on a single-holder cloud`);
  if (notes.length) result.note = notes.join('; ');
  const end = Date.now();
  result.timeline = [
    ...trans.filter((t) => t.t >= t0 && t.t <= end).map((t) => ({ t: t.t, what: `h${t.node} ${t.to}` })),
    ...tool.vip.events.filter((e) => e.t >= t0 && e.t <= end).map((e) => ({ t: e.t, what: `h${e.host} address${e.added ? '+' : '-'}` })),
    ...tool.cloud.holderEvents(t0).map((e) => ({ t: e.t, what: `cloud: ${e.holders.map((h) => tool.cloud.name(h)).join('+') || 'none'}` })),
    ...calls.filter((c) => c.mutating).map((c) => ({ t: c.t, what: `API ${c.call}` })),
    // the reads that led to the attaching call (later ones poll operations and verify)
    ...(req ? calls.filter((c) => !c.mutating && c.t <= req.t).map((c) => ({ t: c.t, what: `read ${c.call}` })) : []),
  ]
    .sort((a, b) => a.t - b.t)
    .map((e) => `${e.what} @${Math.round(e.t - t0)}`)
    .join(', ');
  await undo(tool, scenario);
  return result;
}

export interface LossResult {
  tool: string;
  intervalMs: number;
  window: number;
  seconds: number;
  /** Every state change of any node inside the window. */
  transitions: number;
  /** A node other than the steady master became MASTER. */
  falseTakeovers: number;
  /** Heartbeat packets the loss rules dropped in the window, all hosts (nftables counters): proof the loss was real. */
  dropped?: number;
  /** The state changes, "h1->MASTER@+1234ms". */
  detail: string;
}

const LOSS_TABLE = 'ipwlab';

/**
 * Drops `percent` % of the heartbeats a host receives: UDP through the lab library (ipwarden's
 * heartbeats), plus VRRP (IP protocol 112, keepalived's adverts) added to the same nftables chain,
 * so both tools lose the same share whichever protocol they speak. 0 removes both (the table goes).
 */
export async function setHeartbeatLoss(tool: Tool, host: number, percent: number): Promise<void> {
  await tool.lab.setLoss(host, percent);
  if (percent <= 0) return;
  const threshold = Math.round(percent * 100);
  await tool.lab.exec(host, ['nft', 'add', 'rule', 'inet', LOSS_TABLE, 'in', 'meta', 'l4proto', '112', 'numgen', 'random', 'mod', '10000', '<', String(threshold), 'counter', 'drop']);
}

/** Sum of the loss rules' drop counters on every host of the tool's lab. */
export async function droppedPackets(tool: Tool): Promise<number> {
  let total = 0;
  for (const h of tool.lab.hosts) {
    const { stdout } = await tool.lab.exec(h, ['nft', 'list', 'table', 'inet', LOSS_TABLE]).catch(() => ({ stdout: '' }));
    for (const m of stdout.matchAll(/counter packets (\d+)/g)) total += Number(m[1]);
  }
  return total;
}

/**
 * 20 % loss (nftables, every host, inbound UDP) for `windows` consecutive windows of `seconds` on every
 * given tool at once; counts the state changes in each window.
 */
export async function runLoss(tools: Tool[], windows: number, seconds: number, hooks: ScenarioHooks): Promise<LossResult[]> {
  const out: LossResult[] = [];
  for (const tool of tools) await waitSteady(tool, 60_000 + 30 * tool.intervalMs);
  try {
    for (const tool of tools) for (const h of tool.lab.hosts) await setHeartbeatLoss(tool, h.index, 20);
    const dropped = new Map<Tool, number>();
    for (const tool of tools) dropped.set(tool, await droppedPackets(tool));
    for (let w = 0; w < windows && !hooks.aborted(); w++) {
      const start = Date.now();
      await sleep(seconds * 1000);
      const end = Date.now();
      for (const tool of tools) {
        const now = await droppedPackets(tool);
        const droppedInWindow = now - dropped.get(tool)!;
        dropped.set(tool, now);
        const inWindow = tool.transitions().filter((t) => t.t >= start && t.t < end);
        const r: LossResult = {
          tool: tool.name,
          intervalMs: tool.intervalMs,
          window: w,
          seconds,
          transitions: inWindow.length,
          falseTakeovers: inWindow.filter((t) => t.to === 'MASTER' && t.node !== 0).length,
          dropped: droppedInWindow,
          detail: inWindow.map((t) => `h${t.node}->${t.to}@+${Math.round(t.t - start)}ms`).join(' '),
        };
        out.push(r);
        hooks.log(`  loss ${tool.name} ${tool.intervalMs}ms window ${w + 1}/${windows}: ${r.falseTakeovers} false takeovers, ${r.transitions} transitions, ${droppedInWindow} heartbeats dropped ${r.detail}`);
      }
    }
  } finally {
    for (const tool of tools) for (const h of tool.lab.hosts) await setHeartbeatLoss(tool, h.index, 0).catch(() => undefined);
  }
  return out;
}
