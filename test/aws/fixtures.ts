/**
 * The AWS simulator seen through the shape the parameterised controller suite wants (SuiteSim in
 * test/cloud/controller-suite.ts, kept structural here), once per AWS mode, and the matching
 * providers. test/aws/controller.test.ts uses them; the suite's aws file calls the same factories.
 */
/** The part of a tap Test the fixtures use (the suite passes its own structural type). */
interface Teardown {
  teardown(fn: () => unknown): void;
}
import { AwsConnection } from '../../src/aws/connection.js';
import { AwsEipProvider, AwsPrivateIpProvider, AwsRouteProvider } from '../../src/aws/providers.js';
import { startAwsSimulator, type RunningAwsSimulator } from '../../src/aws/simulator/server.js';
import { instanceIdOf, interfaceIdOf, SIM_ACCESS_KEY_ID, SIM_SECRET_ACCESS_KEY } from '../../src/aws/simulator/world.js';
import type { FloatingIpProvider } from '../../src/cloud/provider.js';

export type AwsMode = 'eip' | 'private-ip' | 'route';
export const EIP = '203.0.113.10';
export const PRIVATE_VIP = '10.0.1.100';
export const ROUTE_VIP = '192.168.100.10';

export interface AwsSuiteSim {
  mode: AwsMode;
  sim: RunningAwsSimulator;
  address: string;
  targets: [string, string, string];
  holders(): string[];
  setHolders(targets: string[]): void;
  failApi(): () => void;
  rateLimit(count: number): void;
  rateLimited(): number;
  changes(sinceMs: number): string[];
  maxUnheldMs(sinceMs: number): number;
}

/** The history resources of the mode (route: one per table). */
function resources(s: RunningAwsSimulator, mode: AwsMode): string[] {
  if (mode === 'eip') return [EIP];
  if (mode === 'private-ip') return [PRIVATE_VIP];
  return s.world().routeTables.map((t) => `${t.routeTableId}:${ROUTE_VIP}/32`);
}

export async function startAwsSuiteSim(t: Teardown, mode: AwsMode): Promise<AwsSuiteSim> {
  const sim = await startAwsSimulator({ rateLimit: { limit: 10_000, refillPerSecond: 10_000 } });
  t.teardown(() => sim.close());
  const w = () => sim.world();
  let limited = 0;
  const targets: [string, string, string] = mode === 'eip' ? [instanceIdOf(1), instanceIdOf(2), instanceIdOf(3)] : [interfaceIdOf(1), interfaceIdOf(2), interfaceIdOf(3)];
  const holders = (): string[] => {
    if (mode === 'eip') {
      const a = w().addresses.find((x) => x.publicIp === EIP)!;
      if (!a.association) return [];
      return [w().interfaces.find((e) => e.networkInterfaceId === a.association!.networkInterfaceId)?.instanceId ?? a.association.networkInterfaceId];
    }
    if (mode === 'private-ip') return w().interfaces.filter((e) => e.privateIps.includes(PRIVATE_VIP)).map((e) => e.networkInterfaceId).sort();
    return [...new Set(w().routeTables.flatMap((tb) => tb.routes.filter((r) => r.destinationCidrBlock === `${ROUTE_VIP}/32` && r.networkInterfaceId).map((r) => r.networkInterfaceId!)))].sort();
  };
  const setHolders = (ts: string[]): void => {
    if (ts.length > 1 && mode !== 'route') throw new Error(`aws ${mode}: at most one holder`);
    if (mode === 'eip') {
      const a = w().addresses.find((x) => x.publicIp === EIP)!;
      if (ts.length === 0) delete a.association;
      else {
        const eni = w().interfaces.find((e) => e.instanceId === ts[0])!;
        a.association = { associationId: `eipassoc-0${Date.now().toString(16).padStart(16, '0')}`, networkInterfaceId: eni.networkInterfaceId, privateIpAddress: eni.privateIps[0]! };
      }
    } else if (mode === 'private-ip') {
      for (const e of w().interfaces) e.privateIps = e.privateIps.filter((ip) => ip !== PRIVATE_VIP);
      for (const id of ts) w().interfaces.find((e) => e.networkInterfaceId === id)!.privateIps.push(PRIVATE_VIP);
    } else {
      w().routeTables.forEach((tb, i) => {
        tb.routes = tb.routes.filter((r) => r.destinationCidrBlock !== `${ROUTE_VIP}/32`);
        const id = ts[i % Math.max(1, ts.length)];
        if (id) tb.routes.push({ destinationCidrBlock: `${ROUTE_VIP}/32`, networkInterfaceId: id });
      });
    }
    for (const r of resources(sim, mode)) {
      const h = mode === 'route' ? w().routeTables.find((tb) => r.startsWith(tb.routeTableId))!.routes.filter((x) => x.destinationCidrBlock === `${ROUTE_VIP}/32`).map((x) => x.networkInterfaceId!) : holders();
      sim.history.record(r, h, 'admin');
    }
  };
  return {
    mode,
    sim,
    address: mode === 'eip' ? EIP : mode === 'private-ip' ? PRIVATE_VIP : ROUTE_VIP,
    targets,
    holders,
    setHolders,
    failApi() {
      const f = sim.faults.add({ kind: 'error', status: 503 });
      return () => void sim.faults.remove(f.id);
    },
    rateLimit(count) {
      limited += count;
      sim.faults.add({ kind: 'rate-limit', count, retryAfterSeconds: 0 });
    },
    rateLimited: () => Math.min(limited, sim.requests().filter((r) => r.status === 503).length),
    changes(since) {
      // Per address, as provider.holders() sees it: for routes, the union over the tables (a move is
      // one attach, whatever the number of tables it rewrites).
      const events = resources(sim, mode).flatMap((r) => sim.history.events(0, r)).sort((x, y) => x.t - y.t);
      const perResource = new Map<string, string[]>();
      const union = (): Set<string> => new Set([...perResource.values()].flat());
      const out: string[] = [];
      for (const e of events) {
        const before = union();
        perResource.set(e.resource, e.holders);
        const after = union();
        if (e.t < since) continue;
        for (const h of after) if (!before.has(h)) out.push(`attach ${h}`);
        for (const h of before) if (!after.has(h)) out.push(`detach ${h}`);
      }
      return out;
    },
    maxUnheldMs: (since) => Math.max(...resources(sim, mode).map((r) => sim.history.timeline(r, since).maxUnheldMs)),
  };
}

/** The mode's provider acting as `target`, fast timings, closed with the test. */
export function awsProvider(t: Teardown, s: AwsSuiteSim, target: string, creds = { accessKeyId: SIM_ACCESS_KEY_ID, secretAccessKey: SIM_SECRET_ACCESS_KEY, source: 'test keys' }): FloatingIpProvider {
  const conn = new AwsConnection({ region: s.sim.region, endpoint: s.sim.url, metadataUrl: s.sim.metadataUrl(target), explicit: creds, timeoutMs: 500, retry: { retries: 3, minDelayMs: 10, maxDelayMs: 100, deadlineMs: 1500 } }, {});
  const p =
    s.mode === 'eip'
      ? new AwsEipProvider(conn, { address: s.address, instanceId: target })
      : s.mode === 'private-ip'
        ? new AwsPrivateIpProvider(conn, { address: s.address, networkInterfaceId: target })
        : new AwsRouteProvider(conn, { address: s.address, networkInterfaceId: target, routeTableIds: s.sim.world().routeTables.map((tb) => tb.routeTableId) });
  t.teardown(() => p.close());
  return p;
}
