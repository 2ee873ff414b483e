/**
 * The action handlers every cloud's floating-IP action shares: the four state hooks go through the
 * fencing guard (etcd backend: a transition whose token is older than the newest seen is refused),
 * then to the controller; peer deaths go to the controller; close closes the controller, then the
 * provider. A cloud's plugin is then its config schema, its provider and `doctor`.
 */
import type { Logger } from '../plugins/api.js';
import type { ActionHandlers, InstanceState, TransitionEvent } from '../plugins/api.js';
import type { FloatingIpProvider } from './provider.js';
import { FencingGuard } from './fencing.js';

/** What the handlers need from a controller (FloatingIpController, or a cloud's wrapper of it). */
export interface ControllerLike {
  transition(from: InstanceState, to: InstanceState, signal: AbortSignal, cause?: string): Promise<void>;
  peerDead(peer: { id: string; address: string }, engineState: InstanceState, signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

export function floatingIpHandlers(controller: ControllerLike, provider: Pick<FloatingIpProvider, 'close'>, log: Logger): ActionHandlers & { fencing: FencingGuard } {
  const fencing = new FencingGuard(log);
  const hook = (to: 'MASTER' | 'BACKUP' | 'FAULT' | 'STOP') => async (e: TransitionEvent) => {
    if (fencing.admit(to, e.fencingToken)) await controller.transition(e.from, to, e.signal, e.cause);
  };
  return {
    fencing,
    onMaster: hook('MASTER'),
    onBackup: hook('BACKUP'),
    onFault: hook('FAULT'),
    onStop: hook('STOP'),
    onPeerDead: (e) => controller.peerDead(e.peer, e.state, e.signal),
    async close() {
      await controller.close();
      await provider.close?.();
    },
  };
}
