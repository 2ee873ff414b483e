/**
 * Issue 22's reproduction with real daemons: a (priority 150) is MASTER holding the Elastic IP and is
 * frozen (SIGSTOP); b takes over (attach b, then its fencing detach of a); a is resumed (SIGCONT) while
 * that detach is still pending at the API; b yields, its detach of a lands. From the simulator's
 * history: after a resumes the EIP is never unheld for longer than one operation + verify, and it ends
 * on a alone. Run with 300 ms and 1 s operations.
 */
import t from 'tap';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { LocalCluster, type LabNode } from '../../src/lab/local-cluster.js';
import { LAB_EIP, startEipLab, type EipLab } from '../../src/lab/exoscale-lab.js';

const INTERVAL = 200;
/** One holders read + one watch interval (150 ms) + scheduling slack on a loaded 2-core machine. */
const VERIFY_MS = 400;

for (const opMs of [300, 1_000]) {
  t.test(`${opMs} ms operations: a master resuming during its successor's fencing ends up holding the EIP`, async (t) => {
    let lab: EipLab | undefined;
    const cluster: LocalCluster = new LocalCluster({
      nodes: 2,
      intervalMs: INTERVAL,
      deadRatio: 3,
      preempt: true,
      firstHost: opMs === 300 ? 81 : 84,
      instanceExtras: (i): Record<string, unknown> => ({ ...lab!.instanceExtras(i), checks: [{ plugin: 'file', name: 'ok', path: join(cluster.dir, 'ok'), interval: `${INTERVAL}ms` }] }),
    });
    t.teardown(async () => {
      for (const n of cluster.nodes) n.process?.kill('SIGCONT');
      await cluster.destroy();
      await lab?.close();
    });
    writeFileSync(join(cluster.dir, 'ok'), '0\n');
    lab = await startEipLab({ nodes: 2, dir: cluster.dir, operationDelayMs: opMs, action: { reconcile: '5s', startupGrace: '0s' } });
    await cluster.prepare();
    const [a, b] = cluster.nodes as [LabNode, LabNode];
    const [idA, idB] = lab.instanceIds as [string, string];
    await cluster.start(a);
    await cluster.start(b);
    const holders = () => lab!.holders().slice().sort().join();
    await cluster.waitFor('a MASTER holding the EIP alone', 15_000, async () => ((await cluster.masters()).join() === 'lab1' && holders() === idA ? true : undefined));

    a.process!.kill('SIGSTOP');
    const sim = lab.sim.state;
    // b's fencing detach of a, pending at the API
    const fencing = await cluster.waitFor('b attached and its detach of a pending', 15_000, async () => {
      const attach = sim.events().find((e) => e.type === 'attach' && e.instance === idB && e.eip?.ip === LAB_EIP);
      const op = sim.pendingOperations().find((o) => o.kind === 'detach' && o.instance === idA);
      return attach && op ? { attachT: attach.t, op: op.id } : undefined;
    }, 5);
    // resume a about 0.7 operation after b's attach, while that detach is still pending
    const resumeAt = fencing.attachT + Math.round(opMs * 0.7);
    await new Promise((r) => setTimeout(r, Math.max(0, resumeAt - Date.now())));
    t.ok(sim.pendingOperations().some((o) => o.id === fencing.op), 'b\'s detach of a is still pending when a resumes');
    const resumedAt = Date.now();
    a.process!.kill('SIGCONT');

    await cluster.waitFor('b\'s detach of a landed', 5_000, async () => (sim.pendingOperations().some((o) => o.id === fencing.op) ? undefined : true));
    await cluster.waitFor('a the only MASTER, holding the EIP alone', 10_000, async () => ((await cluster.masters()).join() === 'lab1' && holders() === idA ? true : undefined));
    const settledAt = Date.now();
    // stays there: nothing else lands afterwards (two operations)
    await new Promise((r) => setTimeout(r, 2 * opMs));
    t.equal(holders(), idA, 'still held by a alone');
    const h = sim.history(LAB_EIP, resumedAt);
    const story = h.intervals.map((iv) => `${iv.from - resumedAt}ms:[${iv.holders.map((x) => lab!.name(x)).join(',')}]`).join(' ');
    t.ok(h.maxUnheldMs <= opMs + VERIFY_MS, `unheld for at most ${h.maxUnheldMs} ms after a resumed (bound: one ${opMs} ms operation + ${VERIFY_MS} ms verify); ${story}; converged ${settledAt - resumedAt} ms after the resume`);
  });
}
