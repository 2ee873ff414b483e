/** The parameterised controller suite (controller-suite.ts) on DigitalOcean: DigitalOceanReservedIpProvider against the DigitalOcean simulator. */
import t from 'tap';
import { DigitalOceanReservedIpProvider } from '../../src/digitalocean/provider.js';
import { DEFAULT_SIM_TOKEN, LAB_RESERVED_IP, startDigitalOceanSimulator, type RunningDigitalOceanSimulator } from '../../src/digitalocean/simulator/index.js';
import { controllerSuite, type SuiteSim, type Tap } from './controller-suite.js';

const sims = new WeakMap<SuiteSim, RunningDigitalOceanSimulator>();

controllerSuite(t as unknown as Tap, {
  cloud: 'digitalocean',
  holderMode: 'single',
  async startSim(t) {
    const sim = await startDigitalOceanSimulator({ actionDelayMs: 40 });
    t.teardown(() => sim.close());
    const changes: Array<{ t: number; text: string }> = [];
    sim.onChange((e) => changes.push({ t: e.t, text: e.dropletId !== null ? `attach ${e.dropletId}` : `detach ${e.previous}` }));
    const suiteSim: SuiteSim = {
      address: LAB_RESERVED_IP,
      targets: ['3001', '3002', '3003'],
      holders: () => {
        const d = sim.world.reservedIps.get(LAB_RESERVED_IP)!.dropletId;
        return d === null ? [] : [String(d)];
      },
      setHolders: (targets) => {
        if (targets.length > 1) throw new Error('a reserved IP has one holder at most');
        sim.setHolder(LAB_RESERVED_IP, targets.length ? Number(targets[0]) : null);
      },
      failApi() {
        const f = sim.faults.add({ kind: 'error', status: 503 });
        return () => void sim.faults.remove(f.id);
      },
      rateLimit: (count) => void sim.faults.add({ kind: 'rate-limit', count, retryAfterSeconds: 0 }),
      rateLimited: () => sim.requests().filter((r) => r.status === 429).length,
      changes: (since) => changes.filter((c) => c.t >= since).map((c) => c.text),
      maxUnheldMs: (since) => sim.history.timeline(LAB_RESERVED_IP, since).maxUnheldMs,
    };
    sims.set(suiteSim, sim);
    return suiteSim;
  },
  provider(t, suiteSim, target) {
    const sim = sims.get(suiteSim)!;
    const p = new DigitalOceanReservedIpProvider({
      connection: { endpoint: sim.url, token: DEFAULT_SIM_TOKEN, tokenRef: 'env:DIGITALOCEAN_TOKEN' },
      address: LAB_RESERVED_IP,
      dropletId: target,
      timeoutMs: 1_000,
      retry: { retries: 3, minDelayMs: 20, maxDelayMs: 1_000, deadlineMs: 2_000 },
      poll: { fastIntervalMs: 20, slowIntervalMs: 50, timeoutMs: 5_000 },
    });
    t.teardown(() => p.close());
    return p;
  },
});
