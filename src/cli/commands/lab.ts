/**
 * `ipwarden lab`: a live local failover demo on loopback, no cloud account needed.
 * Starts N real daemons, shows who is MASTER, kills the master (SIGKILL) and measures the
 * takeover, restarts it and shows preemption, then a graceful hand-over (SIGTERM).
 */
import type { Command, CommandContext } from '../command.js';
import { UsageError } from '../command.js';
import { LocalCluster, sleep, type LabNode } from '../../lab/local-cluster.js';
import { formatDuration, requireDuration } from '../../util/duration.js';
import { cloudNames, findCloud, type CloudLab } from '../../cloud/registry.js';

export const labCommand: Command = {
  name: 'lab',
  summary: 'run a live local failover demo on loopback (no cloud account needed)',
  usage: '[--nodes N] [--interval DURATION] [--provider CLOUD] [--operation-delay DURATION] [--election-only] [--keep]',
  details: `Starts N real ipwarden daemons on 127.0.0.11, 127.0.0.12, ... sharing 198.51.100.50 (nothing
is configured on the host: the lab only elects), prints a timeline of their states, kills the
MASTER with SIGKILL and prints the measured takeover time, restarts it to show preemption, then
stops the MASTER gracefully (SIGTERM, goodbye advert) and prints the hand-over time. Unless
--election-only, it also runs the --provider cloud's API simulator in process (loopback; default exoscale)
and gives each node that cloud's floating-IP action with its simulated target (lb1, lb2, ...), and prints
for every move when the address was attached to the new MASTER and detached from the old one, as the
simulator recorded it.`,
  flags: {
    nodes: { type: 'string', arg: 'N', description: 'number of daemons, 2..9', default: '3' },
    interval: { type: 'string', arg: 'DURATION', description: 'advertisement interval', default: '200ms' },
    keep: { type: 'boolean', description: 'keep the cluster running after the demo (Ctrl-C ends it)' },
    'operation-delay': { type: 'string', arg: 'DURATION', description: 'how long the simulated API takes to attach or detach', default: '300ms' },
    provider: { type: 'string', arg: 'CLOUD', description: `the cloud whose simulator the lab runs (${cloudNames().join(', ')})`, default: 'exoscale' },
    'election-only': { type: 'boolean', description: 'no API simulator, no Elastic IP action: the election alone' },
  },
  run: runLab,
};

async function runLab(ctx: CommandContext): Promise<number> {
  const nodes = Number(ctx.values.nodes ?? '3');
  if (!Number.isInteger(nodes) || nodes < 2 || nodes > 9) throw new UsageError(`--nodes: expected an integer 2..9, got ${String(ctx.values.nodes)}`);
  const intervalMs = requireDuration(String(ctx.values.interval ?? '200ms'), '--interval');
  if (intervalMs < 20 || intervalMs > 5000) throw new UsageError(`--interval: expected 20ms..5s, got ${String(ctx.values.interval)}`);
  const out = (line: string) => ctx.stdout.write(`${line}\n`);

  const operationDelayMs = requireDuration(String(ctx.values['operation-delay'] ?? '300ms'), '--operation-delay');
  const providerName = String(ctx.values.provider ?? 'exoscale');
  const cloud = findCloud(providerName);
  if (!cloud) throw new UsageError(`--provider: unknown cloud ${JSON.stringify(providerName)} (known: ${cloudNames().join(', ')})`);
  let eip: CloudLab | undefined;
  const cluster = new LocalCluster({ nodes, intervalMs, deadRatio: 3, preempt: true, instanceExtras: (i) => (eip ? { address: eip.address, ...eip.instanceExtras(i) } : {}) });
  const t0 = Date.now();
  const stamp = () => `+${((Date.now() - t0) / 1000).toFixed(3).padStart(7)}s`;
  let stopTimeline = false;
  let last = '';
  const seen = new Map<string, number>();
  const timeline = (async () => {
    while (!stopTimeline) {
      const states = await cluster.states();
      const line = cluster.nodes.map((n) => `${n.id}=${states.get(n.id)?.state ?? 'down'}`).join('  ');
      if (line !== last) {
        out(`${stamp()}  ${line}`);
        last = line;
      }
      for (const [id, s] of states) {
        const t = s.status.instances[0]?.lastTransition;
        if (t && seen.get(id) !== t.at) {
          seen.set(id, t.at);
          out(`${stamp()}    ${id}: ${t.from} -> ${t.to} (${t.reason})`);
        }
      }
      await sleep(Math.max(10, Math.min(50, intervalMs / 4)));
    }
  })();
  let stopApiLines = (): void => undefined;
  const cleanup = async () => {
    stopTimeline = true;
    stopApiLines();
    await timeline.catch(() => undefined);
    await cluster.stopAll().catch(() => undefined);
    await cluster.destroy();
    await eip?.close();
  };
  const onSignal = () => void cleanup().then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const instanceOf = (n: LabNode) => eip?.targets[n.index] ?? '';
  /** Waits until the EIP sits on `n` alone, then prints how it moved since `since`. */
  const reportMove = async (since: number, to: LabNode, from: LabNode | undefined, what: string): Promise<string> => {
    if (!eip) return '';
    const lab = eip;
    await cluster
      .waitFor(`the EIP on ${to.id} alone`, 60_000, async () => (lab.holders().join() === instanceOf(to) ? true : undefined))
      .catch(() => undefined);
    const line = lab.describeMove(lab.measureMove(since, instanceOf(to), from ? instanceOf(from) : undefined), instanceOf(to), from ? instanceOf(from) : undefined, what);
    out(`${stamp()}  == ${line}`);
    return line;
  };

  try {
    if (!ctx.values['election-only']) {
      const mod = await cloud.load();
      if (!mod.lab) throw new UsageError(`--provider ${cloud.cloud}: this cloud has no lab yet (use --election-only)`);
      eip = await mod.lab({ nodes, dir: cluster.dir, operationDelayMs });
      const lab = eip;
      stopApiLines = lab.onHolderChange((e) => {
        out(`${stamp()}    API: ${lab.address} ${e.type === 'attach' ? 'attached to' : 'detached from'} ${lab.name(e.target)} (holders: ${e.holders.map((h) => lab.name(h)).join(', ') || 'none'})`);
      });
    }
    await cluster.prepare();
    const masterDown = 3 * intervalMs;
    out(`ipwarden lab: ${nodes} daemons on ${cluster.nodes.map((n) => `${n.address}:${cluster.port}`).join(', ')}`);
    out(`  interval ${formatDuration(intervalMs)}, deadRatio 3 -> master-down ${formatDuration(masterDown)}; priorities ${cluster.nodes.map((n) => `${n.id}=${n.priority}`).join(' ')}`);
    out(`  files in ${cluster.dir}`);
    if (eip) {
      out(`  ${eip.banner}, ${cluster.nodes.map((n) => `${n.id}=${eip!.name(instanceOf(n))}`).join(' ')}`);
    }
    out('');
    await cluster.startAll();
    // every node must have finished its hold-off (the first one up may win, then the best preempts)
    await sleep(masterDown + 2 * intervalMs);
    const first = await waitSingleMaster(cluster, masterDown * 3 + 3000);
    out(`${stamp()}  == ${first.id} is MASTER`);
    await reportMove(t0, first, undefined, 'the start');
    await sleep(intervalMs * 3);

    // 1. crash
    out(`${stamp()}  == killing ${first.id} with SIGKILL (daemon crash, host alive)`);
    const killedAt = Date.now();
    await cluster.kill(first, 'SIGKILL');
    const second = await waitSingleMaster(cluster, masterDown * 3 + 3000, first);
    const took = (await transitionAt(cluster, second)) - killedAt;
    out(`${stamp()}  == takeover: ${second.id} became MASTER ${took} ms after the kill (master-down budget ${formatDuration(masterDown)}; the crash fast path answers sooner)`);
    const crashEip = await reportMove(killedAt, second, first, 'the kill');
    await sleep(intervalMs * 3);

    // 2. restart -> preemption
    out(`${stamp()}  == restarting ${first.id} (priority ${first.priority}, preempt on)`);
    const restartedAt = Date.now();
    await cluster.start(first);
    await cluster.waitFor(`${first.id} to preempt`, masterDown * 4 + 3000, async () => ((await cluster.masters()).join() === first.id ? true : undefined));
    const back = (await transitionAt(cluster, first)) - restartedAt;
    out(`${stamp()}  == preemption: ${first.id} took the IP back ${back} ms after its restart (hold-off ${formatDuration(masterDown)})`);
    await reportMove(restartedAt, first, second, 'the restart');
    await sleep(intervalMs * 3);

    // 3. graceful hand-over
    out(`${stamp()}  == stopping ${first.id} with SIGTERM (goodbye advert)`);
    const stoppedAt = Date.now();
    await cluster.kill(first, 'SIGTERM');
    const third = await waitSingleMaster(cluster, masterDown * 3 + 3000, first);
    const handover = (await transitionAt(cluster, third)) - stoppedAt;
    out(`${stamp()}  == hand-over: ${third.id} became MASTER ${handover} ms after SIGTERM`);
    await reportMove(stoppedAt, third, first, 'SIGTERM');
    out('');
    out(`summary: crash takeover ${took} ms, preemption ${back} ms after restart, graceful hand-over ${handover} ms (interval ${formatDuration(intervalMs)})`);
    if (crashEip) out(`after the crash: ${crashEip}`);

    if (ctx.values.keep) {
      out('--keep: cluster left running; Ctrl-C ends it');
      await new Promise(() => undefined);
    }
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }
}

async function waitSingleMaster(cluster: LocalCluster, timeoutMs: number, not?: LabNode): Promise<LabNode> {
  const id = await cluster.waitFor('a single MASTER', timeoutMs, async () => {
    const m = await cluster.masters();
    return m.length === 1 && m[0] !== not?.id ? m[0] : undefined;
  });
  return cluster.nodes.find((n) => n.id === id)!;
}

/** Wall-clock time of the node's last transition (as the daemon itself recorded it). */
async function transitionAt(cluster: LocalCluster, n: LabNode): Promise<number> {
  const s = await cluster.status(n);
  return s?.instances[0]?.lastTransition?.at ?? Date.now();
}
