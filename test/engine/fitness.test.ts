/** The one fitness core (src/engine/fitness.ts), used by the heartbeat engine and the etcd election. */
import t from 'tap';
import { applyFitnessInput, basePriority, fitnessView, initialFitness, verdict, type Fitness } from '../../src/engine/fitness.js';
import type { EngineInput } from '../../src/engine/types.js';

type Input = EngineInput extends infer I ? (I extends EngineInput ? Omit<I, 'now'> : never) : never;
const apply = (f: Fitness, input: Input): Fitness => applyFitnessInput(f, { ...input, now: 0 } as EngineInput)!;

t.test('base priority: configured plus nudges, within 1..254', async (t) => {
  let f = initialFitness(100);
  t.equal(basePriority(f), 100);
  f = apply(f, { type: 'nudge', delta: -1 });
  f = apply(f, { type: 'nudge', delta: -1 });
  t.equal(basePriority(f), 98);
  t.equal(basePriority({ ...f, nudge: 500 }), 254, 'clamped high');
  t.equal(basePriority({ ...f, nudge: -500 }), 1, 'clamped low');
  t.same(verdict(f), { priority: 98, fault: false, reason: 'priority 98' });
});

t.test('check weights: weight 0 faults, positive adds while ok, negative subtracts while failing', async (t) => {
  const f = apply(initialFitness(100), {
    type: 'checks',
    checks: [
      { name: 'plus', state: 'ok', weight: 10 },
      { name: 'minus', state: 'fail', weight: -30 },
    ],
  });
  t.same(verdict(f), { priority: 80, fault: false, reason: 'priority 100 +10 (plus ok) -30 (minus failing) = 80' });
  const down = apply(f, { type: 'checks', checks: [{ name: 'haproxy', state: 'fail', weight: 0 }] });
  t.same(verdict(down), { priority: 100, fault: true, reason: 'check haproxy failed (weight 0)', cause: 'fault' });
});

t.test('precedence of FAULT reasons: maintenance, then fault causes, then checks', async (t) => {
  let f = apply(initialFitness(100), { type: 'checks', checks: [{ name: 'c', state: 'fail', weight: 0 }] });
  f = apply(f, { type: 'fault', source: 'action', reason: 'action eip failed' });
  t.same(verdict(f), { priority: 100, fault: true, reason: 'action eip failed', cause: 'fault' });
  f = apply(f, { type: 'fault', source: 'engine', reason: 'engine error: x' });
  t.equal(verdict(f).reason, 'action eip failed, engine error: x', 'every cause named');
  f = apply(f, { type: 'maintenance', on: true });
  t.same(verdict(f), { priority: 100, fault: true, reason: 'maintenance mode', cause: 'maintenance' });
  f = apply(f, { type: 'fault', source: 'action', reason: undefined });
  f = apply(f, { type: 'fault', source: 'engine', reason: undefined });
  t.equal(verdict(f).reason, 'maintenance mode', 'clearing the causes leaves maintenance alone');
  f = apply(f, { type: 'maintenance', on: false });
  t.equal(verdict(f).reason, 'check c failed (weight 0)');
  t.same(fitnessView(f), { basePriority: 100, effectivePriority: 100, maintenance: false, fault: 'check c failed (weight 0)' });
});

t.test('inputs that are not about fitness', async (t) => {
  for (const type of ['tick', 'start', 'stop']) t.equal(applyFitnessInput(initialFitness(1), { type, now: 0 } as EngineInput), undefined, type);
});
