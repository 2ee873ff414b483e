/**
 * The Elastic IP controller behind the `exoscale-eip` action: the shared floating-IP controller
 * (src/cloud/controller.ts: desired attachment per state, level-triggered passes, make-before-break,
 * verify, reconcile, startup grace, onApiUnreachable, and the argument why concurrent passes converge)
 * on the Exoscale provider (src/exoscale/provider.ts). This class only keeps the exoscale-eip API
 * stable: its settings, and verify failures reported as ExoscaleVerifyError.
 */
import type { Logger, InstanceState } from '../../src/index.js';
import type { ExoscaleClient } from '../../src/exoscale/client.js';
import { ExoscaleVerifyError } from '../../src/exoscale/errors.js';
import { ExoscaleEipProvider, type ExoscaleProviderSettings } from '../../src/exoscale/provider.js';
import { CloudVerifyError, FloatingIpController, type ControllerStats, type Desired, type FloatingIpControllerSettings, type PassResult } from '../../src/kit.js';

export { desiredFor, reconcilesIn, isUnreachable, type Desired, type PassResult, type ControllerStats, type Strategy, type OnApiUnreachable } from '../../src/kit.js';
export { hostOf } from '../../src/exoscale/provider.js';

export type EipControllerSettings = ExoscaleProviderSettings & Omit<FloatingIpControllerSettings, 'watchIntervalMs'>;

/** Verify failures keep their Exoscale type (callers and tests match ExoscaleVerifyError). */
function asExoscale(err: unknown): unknown {
  return err instanceof CloudVerifyError ? new ExoscaleVerifyError('list-instances', err.what, err.detail) : err;
}

export class EipController {
  readonly provider: ExoscaleEipProvider;
  readonly controller: FloatingIpController;

  constructor(client: ExoscaleClient, settings: EipControllerSettings, log: Logger) {
    this.provider = new ExoscaleEipProvider(client, settings, log);
    this.controller = new FloatingIpController(this.provider, { ...settings, ...(settings.pollIntervalMs !== undefined ? { watchIntervalMs: settings.pollIntervalMs } : {}) }, log);
  }

  get stats(): ControllerStats {
    return this.controller.stats;
  }

  get state(): InstanceState {
    return this.controller.state;
  }

  get pendingRevocations(): string[] {
    return this.controller.pendingRevocations;
  }

  desired(): Desired {
    return this.controller.desired();
  }

  transition(from: InstanceState, to: InstanceState, signal: AbortSignal, cause?: string): Promise<void> {
    return this.controller.transition(from, to, signal, cause).catch((err: unknown) => Promise.reject(asExoscale(err)));
  }

  peerDead(peer: { id: string; address: string }, engineState: InstanceState, signal: AbortSignal): Promise<void> {
    return this.controller.peerDead(peer, engineState, signal).catch((err: unknown) => Promise.reject(asExoscale(err)));
  }

  converge(reason: string, signal?: AbortSignal): Promise<PassResult> {
    return this.controller.converge(reason, signal).catch((err: unknown) => Promise.reject(asExoscale(err)));
  }

  close(): Promise<void> {
    return this.controller.close();
  }
}
