/**
 * Concurrent passes of several exoscale-eip controllers on one simulator, each interleaving forced
 * deterministically by holding chosen attach/detach operations pending (SimulatorState.holdOperations)
 * and completing them in a chosen order: whatever the order, the address ends held by the MASTER,
 * and is never unheld longer than one change + verify after the last interfering change (issue 22).
 */
import t from 'tap';
import { EIP, EIP_ID, LB1, LB2, LB3, clientFor, until, withSim } from '../exoscale/lib/sim.js';
import type { RunningSimulator } from '../../src/exoscale/simulator/index.js';
import { captureLog, controllerFor, lastSeq, never, requestsSince } from './lib/eip.js';

/** Holds every operation `match` selects; returns a function waiting for the next such pending operation. */
function gate(t: { teardown(fn: () => unknown): void }, sim: RunningSimulator, match: (kind: string, instance: string) => boolean) {
  const off = sim.state.holdOperations((op) => match(op.kind, op.instance));
  t.teardown(off);
  return {
    off,
    /** The id of the held operation kind/instance, once it is pending. */
    async pending(kind: 'attach' | 'detach', instance: string): Promise<string> {
      let id: string | undefined;
      await until(() => {
        id = sim.state.pendingOperations().find((o) => o.held && o.kind === kind && o.instance === instance)?.id;
        return id !== undefined;
      }, 3_000);
      return id!;
    },
  };
}

const unheldSince = (sim: RunningSimulator, since: number) => sim.state.history(EIP, since).maxUnheldMs;
const detachesOf = (sim: RunningSimulator, since: number, id: string) => sim.state.events().filter((e) => e.t >= since && e.type === 'detach' && e.instance === id).length;

t.test('old master resumes while its successor\'s fencing detach of it is in flight: it re-attaches at once, the yielding node keeps it meanwhile', async (t) => {
  const sim = await withSim(t);
  const a = controllerFor(t, sim, { instanceId: LB1 });
  const b = controllerFor(t, sim, { instanceId: LB2 });
  const c = controllerFor(t, sim, { instanceId: LB3 }); // a third node, BACKUP throughout
  await a.transition('BACKUP', 'MASTER', never());
  await c.transition('INIT', 'BACKUP', never());
  t.same(sim.state.holdersOf(EIP), [LB1]);

  // a freezes; b takes over: attach b (lands), fencing detach of a (held: "in flight")
  const g = gate(t, sim, (kind, inst) => (kind === 'detach' && (inst === LB1 || inst === LB2)) || (kind === 'attach' && inst === LB1));
  const bMaster = b.transition('BACKUP', 'MASTER', never()).catch((e: unknown) => e);
  const bFencesA = await g.pending('detach', LB1);
  t.same(sim.state.holdersOf(EIP).sort(), [LB1, LB2], 'make-before-break: b attached before fencing');

  // a resumes: it is the better node, re-asserts MASTER; b yields
  const resumed = Date.now();
  const aPass = a.transition('MASTER', 'MASTER', never());
  const aFencesB = await g.pending('detach', LB2);
  const bBackup = b.transition('MASTER', 'BACKUP', never());

  // b's detach of a lands while a's detach of b is still in flight
  sim.state.completeOperation(bFencesA);
  t.match(await bMaster, { message: /superseded/ }, 'b\'s MASTER pass stopped after its in-flight detach');
  await bBackup;
  t.same(sim.state.holdersOf(EIP), [LB2], 'b, now BACKUP and the only holder, keeps it for the new MASTER (handover)');
  const reattach = await g.pending('attach', LB1);
  t.pass('a saw its attachment vanish while its own fencing was in flight and re-attached at once');
  g.off();
  sim.state.completeOperation(reattach);
  t.same(sim.state.holdersOf(EIP).sort(), [LB1, LB2]);
  sim.state.completeOperation(aFencesB);
  await aPass;
  t.same(sim.state.holdersOf(EIP), [LB1], 'held by the MASTER alone');
  t.equal(unheldSince(sim, resumed), 0, 'never unheld');
  t.notOk(sim.state.events().some((e) => e.type === 'attach' && e.instance === LB3), 'the third node never attached it');
});

t.test('both fencing detaches land together: the MASTER\'s read-back finds itself gone and attaches again', async (t) => {
  const sim = await withSim(t, { operationDelayMs: 60 });
  const a = controllerFor(t, sim, { instanceId: LB1 });
  const b = controllerFor(t, sim, { instanceId: LB2 });
  sim.state.setHolders(EIP, [LB1, LB2]);
  await a.transition('BACKUP', 'MASTER', never()).catch(() => undefined); // a fences b ...
  sim.state.setHolders(EIP, [LB1, LB2]);
  const g = gate(t, sim, (kind) => kind === 'detach');
  // split brain: both MASTER, each fencing the other
  const aPass = a.transition('MASTER', 'MASTER', never());
  const bPass = b.transition('BACKUP', 'MASTER', never()).catch(() => undefined);
  const aFencesB = await g.pending('detach', LB2);
  const bFencesA = await g.pending('detach', LB1);
  g.off();
  const bBackup = b.transition('MASTER', 'BACKUP', never()); // the split heals: b yields
  const landed = Date.now();
  sim.state.completeOperation(bFencesA);
  sim.state.completeOperation(aFencesB); // same tick: nobody holds it
  t.same(sim.state.holdersOf(EIP), [], 'both detaches landed: unheld');
  await aPass;
  await bPass;
  await bBackup;
  t.same(sim.state.holdersOf(EIP), [LB1], 'a\'s pass ended only once the API listed it (and nobody else)');
  const unheld = unheldSince(sim, landed);
  t.ok(unheld > 0 && unheld < 60 + 250, `unheld ${unheld} ms: one attach (60 ms) + verify after the last interfering change`);
});

t.test('a MASTER that yields hands over: it detaches itself only once the API lists the new holder', async (t) => {
  const sim = await withSim(t);
  const a = controllerFor(t, sim, { instanceId: LB1 });
  const b = controllerFor(t, sim, { instanceId: LB2 });
  await b.transition('BACKUP', 'MASTER', never());
  const since = Date.now();
  const g = gate(t, sim, (kind, inst) => kind === 'attach' && inst === LB1);
  const aMaster = a.transition('BACKUP', 'MASTER', never());
  const aAttach = await g.pending('attach', LB1);
  const { log, text } = captureLog();
  const b2 = controllerFor(t, sim, { instanceId: LB2 }, {}, log);
  const yielded = lastSeq(sim);
  await b2.transition('MASTER', 'BACKUP', never());
  t.same(sim.state.holdersOf(EIP), [LB2], 'the new MASTER\'s attach is in flight: the yielding node keeps it');
  t.equal(requestsSince(sim, yielded), 0, 'and makes no API call at the transition: the new MASTER holds nothing yet');
  t.match(text(), /stays where it is until the new MASTER holds it: its fencing detaches it/);
  sim.state.completeOperation(aAttach);
  await aMaster;
  t.same(sim.state.holdersOf(EIP), [LB1], 'the new MASTER\'s fencing moved it');
  t.equal(unheldSince(sim, since), 0, 'never unheld');

  // the API lists the new holder by the confirming read (one settle time later): the yielding node detaches itself.
  // a's and b's confirming passes (due 1 s after their passes) are retired first: only b3 may act
  await a.close();
  await b.close();
  await b2.close();
  const b3 = controllerFor(t, sim, { instanceId: LB2, settleMs: 100 });
  sim.state.setHolders(EIP, [LB1, LB2]);
  await b3.transition('MASTER', 'BACKUP', never());
  t.same(sim.state.holdersOf(EIP), [LB1, LB2], 'not at the transition');
  await until(() => sim.state.holdersOf(EIP).length === 1);
  t.same(sim.state.holdersOf(EIP), [LB1], 'at the confirming read');
});

t.test('an interfering change that lands after the MASTER\'s pass ended is repaired by the confirming pass', async (t) => {
  const sim = await withSim(t);
  const { log, text } = captureLog();
  const a = controllerFor(t, sim, { instanceId: LB1, settleMs: 150 }, {}, log);
  sim.state.setHolders(EIP, [LB1]);
  const g = gate(t, sim, (kind, inst) => kind === 'detach' && inst === LB1);
  // someone else's detach of a, sent before a's pass reads the holders
  const other = clientFor(t, sim);
  await other.detachElasticIp(EIP_ID, LB1);
  const op = await g.pending('detach', LB1);
  g.off();
  await a.transition('BACKUP', 'MASTER', never());
  t.same(sim.state.holdersOf(EIP), [LB1], 'a\'s pass saw itself holding it');
  const landed = Date.now();
  sim.state.completeOperation(op);
  await until(() => /drift repaired/.test(text()), 3_000);
  t.same(sim.state.holdersOf(EIP), [LB1]);
  const unheld = unheldSince(sim, landed);
  t.ok(unheld > 0 && unheld < 150 + 40 + 250, `re-attached ${unheld} ms after the stray detach landed (settle 150 ms + one attach + verify)`);
});

t.test('retries after API faults: a fencing step that failed is redone by the next pass, from the holders', async (t) => {
  const sim = await withSim(t);
  const a = controllerFor(t, sim, { instanceId: LB1 }, { deadlineMs: 200, retries: 1 });
  sim.state.setHolders(EIP, [LB2]);
  const fault = sim.state.faults.add({ kind: 'error', status: 503, calls: ['detach-instance-from-elastic-ip'] });
  await a.transition('BACKUP', 'MASTER', never()); // hold: resolves, retries in the background
  t.same(sim.state.holdersOf(EIP).sort(), [LB1, LB2], 'attached here, the fencing failed');
  // meanwhile b (a former MASTER still in flight) detaches a: the retry must see it
  sim.state.detachNow(EIP_ID, LB1, 'admin');
  sim.state.faults.remove(fault.id);
  await until(() => sim.state.holdersOf(EIP).join() === LB1, 5_000);
  t.pass('the retry re-attached here and fenced the other');
  t.ok(detachesOf(sim, 0, LB2) >= 1);
});
