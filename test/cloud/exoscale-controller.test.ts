/** The parameterised controller suite (controller-suite.ts) on Exoscale: ExoscaleEipProvider against the Exoscale simulator. */
import t from 'tap';
import { ExoscaleEipProvider } from '../../src/exoscale/provider.js';
import type { RunningSimulator } from '../../src/exoscale/simulator/index.js';
import { clientFor, EIP, LB1, LB2, LB3, withSim } from '../exoscale/lib/sim.js';
import { controllerSuite, type SuiteSim, type Tap } from './controller-suite.js';

const sims = new WeakMap<SuiteSim, RunningSimulator>();

controllerSuite(t as unknown as Tap, {
  cloud: 'exoscale',
  holderMode: 'multi',
  async startSim(t) {
    const sim = await withSim(t, { operationDelayMs: 40 });
    const s = sim.state;
    const suiteSim: SuiteSim = {
      address: EIP,
      targets: [LB1, LB2, LB3],
      holders: () => s.holdersOf(EIP).sort(),
      setHolders: (targets) => void s.setHolders(EIP, targets),
      failApi() {
        const f = s.faults.add({ kind: 'error', status: 503 });
        return () => void s.faults.remove(f.id);
      },
      rateLimit: (count) => void s.faults.add({ kind: 'rate-limit', count, retryAfterSeconds: 0 }),
      rateLimited: () => s.requests().filter((r) => r.status === 429).length,
      changes: (since) => s.events().filter((e) => e.t >= since && (e.type === 'attach' || e.type === 'detach')).map((e) => `${e.type} ${e.instance}`),
      maxUnheldMs: (since) => s.history(EIP, since).maxUnheldMs,
    };
    sims.set(suiteSim, sim);
    return suiteSim;
  },
  provider(t, suiteSim, target) {
    const sim = sims.get(suiteSim)!;
    return new ExoscaleEipProvider(clientFor(t, sim, { deadlineMs: 600, retries: 3 }), { address: EIP, nodeId: 'node', instanceId: target, pollIntervalMs: 20, fastPollMs: 2_000 });
  },
});
