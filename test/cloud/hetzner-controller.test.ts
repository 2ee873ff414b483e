/**
 * The parameterised controller suite (controller-suite.ts) on Hetzner: the floating-IP provider
 * against the Hetzner simulator. Not the alias-IP provider: the suite's "never unheld" cannot hold
 * there (an alias IP may sit on one server of a network only, so a move removes it from the old
 * holder before adding it to the new one: unheld for one change_alias_ips action);
 * test/hetzner/action.test.ts and provider.test.ts cover alias IPs.
 */
import t from 'tap';
import { HetznerClient } from '../../src/hetzner/client.js';
import { HetznerFloatingIpProvider } from '../../src/hetzner/provider.js';
import { DEFAULT_SIM_TOKEN, LAB_FLOATING_IP, LAB_FLOATING_IP_ID, startHetznerSimulator, type RunningHetznerSimulator } from '../../src/hetzner/simulator/index.js';
import { controllerSuite, type SuiteSim, type Tap } from './controller-suite.js';

const sims = new WeakMap<SuiteSim, RunningHetznerSimulator>();

function client(t: Tap, sim: RunningHetznerSimulator): HetznerClient {
  const c = new HetznerClient({ token: DEFAULT_SIM_TOKEN, endpoint: sim.endpoint, pollIntervalMs: 20, retry: { retries: 3, minDelayMs: 20, maxDelayMs: 200, deadlineMs: 600 } });
  t.teardown(() => c.close());
  return c;
}

/** The simulator as the suite sees it. */
async function start(t: Tap): Promise<SuiteSim> {
  const sim = await startHetznerSimulator({ port: 0, actionDelayMs: 40 });
  t.teardown(() => sim.close());
  const address = LAB_FLOATING_IP;
  const holders = () => sim.history.timeline(address).holders;
  const suiteSim: SuiteSim = {
    address,
    targets: ['1001', '1002', '1003'],
    holders,
    setHolders: (targets) => {
      sim.world.floatingIps.get(LAB_FLOATING_IP_ID)!.server = targets.length ? Number(targets[0]) : null;
      sim.history.record(address, targets.slice(0, 1), 'admin');
    },
    failApi() {
      const f = sim.faults.add({ kind: 'error', status: 503 });
      return () => void sim.faults.remove(f.id);
    },
    rateLimit: (count) => void sim.faults.add({ kind: 'rate-limit', count, retryAfterSeconds: 0 }),
    rateLimited: () => sim.requests().filter((r) => r.status === 429).length,
    changes: (since) => {
      const out: string[] = [];
      let before = sim.history.timeline(address, since).intervals[0]?.holders ?? [];
      for (const e of sim.history.events(since, address)) {
        for (const h of e.holders) if (!before.includes(h)) out.push(`attach ${h}`);
        for (const h of before) if (!e.holders.includes(h)) out.push(`detach ${h}`);
        before = e.holders;
      }
      return out;
    },
    maxUnheldMs: (since) => sim.history.timeline(address, since).maxUnheldMs,
  };
  sims.set(suiteSim, sim);
  return suiteSim;
}

controllerSuite(t as unknown as Tap, {
  cloud: 'hetzner',
  holderMode: 'single',
  startSim: (t) => start(t),
  provider: (t, suiteSim, target) => new HetznerFloatingIpProvider(client(t, sims.get(suiteSim)!), LAB_FLOATING_IP, { serverId: target }),
});
