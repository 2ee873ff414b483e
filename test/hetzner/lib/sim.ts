/** Helpers of the Hetzner tests: a simulator per test (closed at teardown) and a client for it. */
import type { Test } from 'tap';
import { HetznerClient, type HetznerClientOptions } from '../../../src/hetzner/client.js';
import {
  DEFAULT_SIM_READONLY_TOKEN,
  DEFAULT_SIM_TOKEN,
  startHetznerSimulator,
  type HetznerSimulatorOptions,
  type RunningHetznerSimulator,
} from '../../../src/hetzner/simulator/index.js';

export const TOKEN = DEFAULT_SIM_TOKEN;
export const READONLY_TOKEN = DEFAULT_SIM_READONLY_TOKEN;
export const VIP = '198.51.100.50';
export const FIP_ID = 5150;
export const LB1 = '1001';
export const LB2 = '1002';
export const LB3 = '1003';

export async function hetznerSim(t: Test, opts: HetznerSimulatorOptions = {}): Promise<RunningHetznerSimulator> {
  const sim = await startHetznerSimulator({ port: 0, actionDelayMs: 50, ...opts });
  t.teardown(() => sim.close());
  return sim;
}

export function hetznerClient(t: Test, sim: RunningHetznerSimulator, opts: Partial<HetznerClientOptions> = {}): HetznerClient {
  const c = new HetznerClient({ token: TOKEN, endpoint: sim.endpoint, pollIntervalMs: 20, retry: { retries: 4, minDelayMs: 20, maxDelayMs: 1500 }, ...opts });
  t.teardown(() => c.close());
  return c;
}

/** Waits for a condition, bounded. */
export async function until(what: string, fn: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function admin(sim: RunningHetznerSimulator, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const r = await fetch(`${sim.url}/_sim/${path}`, { method, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  return { status: r.status, json: await r.json() };
}
