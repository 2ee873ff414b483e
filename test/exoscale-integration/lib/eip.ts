/** Helpers for the exoscale-eip tests: a controller on the simulator with fast timings, a log capture. */
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../../src/log.js';
import type { RunningSimulator } from '../../../src/exoscale/simulator/index.js';
import type { ExoscaleClientOptions } from '../../../src/exoscale/client.js';
import { EipController, type EipControllerSettings } from '../../../plugins/exoscale-eip/controller.js';
import { clientFor, EIP, LB2 } from '../../exoscale/lib/sim.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

/** A JSON logger whose lines are kept in memory. */
export function captureLog(): { log: Logger; lines: () => Record<string, unknown>[]; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString('utf8'));
      cb();
    },
  });
  const log = createLogger({ level: 'debug', destination: stream });
  const text = () => chunks.join('');
  return {
    log,
    text,
    lines: () =>
      text()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/** A controller for `instanceId` (default lb2) with short polls and retries, closed at the end. */
export function controllerFor(
  t: Teardown,
  sim: RunningSimulator,
  settings: Partial<EipControllerSettings> = {},
  clientOpts: Partial<ExoscaleClientOptions> = {},
  log?: Logger,
): EipController {
  const client = clientFor(t, sim, clientOpts);
  const c = new EipController(
    client,
    {
      address: EIP,
      nodeId: 'node-b',
      instanceId: LB2,
      strategy: 'move',
      release: true,
      onApiUnreachable: 'hold',
      reconcileMs: 0,
      startupGraceMs: 0,
      pollIntervalMs: 20,
      fastPollMs: 2_000,
      retryMinMs: 50,
      retryMaxMs: 200,
      ...settings,
    },
    log ?? createLogger({ level: 'silent' }),
  );
  t.teardown(() => c.close());
  return c;
}

export const never = (): AbortSignal => new AbortController().signal;

/** API requests the simulator received since `seq` (0 = all). */
export function requestsSince(sim: RunningSimulator, seq: number): number {
  return sim.state.requests(seq).length;
}

export function lastSeq(sim: RunningSimulator): number {
  const r = sim.state.requests(0);
  return r.length ? r[r.length - 1]!.seq : 0;
}
