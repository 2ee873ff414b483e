/** Helpers for the Exoscale tests: a simulator per test, a fast-retrying client, raw signed requests. */
import { request } from 'node:http';
import { ExoscaleClient, type ExoscaleClientOptions } from '../../../src/exoscale/client.js';
import { signRequest } from '../../../src/exoscale/signature.js';
import {
  DEFAULT_SIM_API_KEY,
  DEFAULT_SIM_API_SECRET,
  startSimulator,
  type RunningSimulator,
  type SimulatorOptions,
} from '../../../src/exoscale/simulator/index.js';

export const KEY = DEFAULT_SIM_API_KEY;
export const SECRET = DEFAULT_SIM_API_SECRET;
export const LB1 = '10000000-0000-4000-8000-000000000001';
export const LB2 = '10000000-0000-4000-8000-000000000002';
export const LB3 = '10000000-0000-4000-8000-000000000003';
export const WEB1 = '10000000-0000-4000-8000-000000000004';
export const EIP_ID = 'e1a571c0-0000-4000-8000-000000000050';
export const EIP = '198.51.100.50';
export const MISSING = '99999999-0000-4000-8000-000000000000';

interface Teardown {
  teardown(fn: () => unknown): void;
}

/** Starts a simulator (default lab seed, short operations) closed at the end of the test. */
export async function withSim(t: Teardown, opts: SimulatorOptions = {}): Promise<RunningSimulator> {
  const sim = await startSimulator({ operationDelayMs: 40, ...opts });
  t.teardown(() => sim.close());
  return sim;
}

/** A client for the simulator with fast retries and polls, closed at the end of the test. */
export function clientFor(t: Teardown, sim: RunningSimulator, opts: Partial<ExoscaleClientOptions> = {}): ExoscaleClient {
  const client = new ExoscaleClient({
    apiKey: KEY,
    apiSecret: SECRET,
    zone: sim.zone,
    endpoint: sim.endpoint,
    timeoutMs: 2_000,
    deadlineMs: 8_000,
    retryMinDelayMs: 10,
    retryMaxDelayMs: 100,
    pollIntervalMs: 20,
    waitTimeoutMs: 5_000,
    ...opts,
  });
  t.teardown(() => client.close());
  return client;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

export interface RawOptions {
  method?: string;
  /** Path with query, e.g. "/v2/instance?ip-address=…". */
  path: string;
  body?: string;
  key?: string;
  secret?: string;
  /** UNIX seconds (default now + 600). */
  expires?: number;
  /** false: send no Authorization header; a string: send exactly that. */
  authorization?: string | false;
}

/** One HTTP request to the simulator, signed like the real clients unless told otherwise. */
export function raw(sim: RunningSimulator, o: RawOptions): Promise<RawResponse> {
  const method = o.method ?? 'GET';
  const url = new URL(sim.url + o.path);
  const headers: Record<string, string> = {};
  if (o.authorization !== false) {
    headers.authorization =
      o.authorization ??
      signRequest({
        apiKey: o.key ?? KEY,
        apiSecret: o.secret ?? SECRET,
        method,
        url,
        body: o.body ?? '',
        expires: o.expires ?? Math.floor(Date.now() / 1000) + 600,
      });
  }
  if (o.body !== undefined) headers['content-type'] = 'application/json';
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

/** Plain admin call (/_sim/...). */
export async function admin(sim: RunningSimulator, method: string, path: string, body?: unknown): Promise<RawResponse> {
  return raw(sim, { method, path: `/_sim${path}`, ...(body !== undefined ? { body: JSON.stringify(body) } : {}), authorization: false });
}

/** Polls until fn returns true (bounded). */
export async function until(fn: () => boolean | Promise<boolean>, timeoutMs = 3_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
