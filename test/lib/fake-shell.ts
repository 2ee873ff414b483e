/**
 * A fake clock and timers for the real daemon shell (InstanceRunner, CheckRunner): time moves only
 * when the test advances it, timers fire in order. And a transport that records what the shell
 * sends instead of opening sockets.
 */
import type { ShellClock } from '../../src/daemon/instance-runner.js';
import type { HeartbeatTransport } from '../../src/daemon/transport.js';
import type { Endpoint } from '../../src/config/endpoint.js';

interface Pending {
  id: number;
  at: number;
  fn: () => void;
}

export class FakeClock implements ShellClock {
  /** Monotonic ms. */
  t = 0;
  /** Wall clock ms at t = 0. */
  readonly epoch = Date.UTC(2026, 0, 1);
  private seq = 0;
  private queue: Pending[] = [];

  readonly clock = { now: () => this.epoch + this.t, monotonic: () => this.t };
  readonly timers = {
    setTimeout: (fn: () => void, ms: number): unknown => {
      const p = { id: ++this.seq, at: this.t + Math.max(0, ms), fn };
      this.queue.push(p);
      return p.id;
    },
    clearTimeout: (h: unknown): void => {
      this.queue = this.queue.filter((p) => p.id !== h);
    },
  };

  /** Timers still pending. */
  get pending(): number {
    return this.queue.length;
  }

  /** Moves time forward by ms, firing due timers in order (and the ones they set, when due). */
  advance(ms: number): void {
    const until = this.t + ms;
    for (let guard = 0; guard < 1_000_000; guard++) {
      this.queue.sort((a, b) => a.at - b.at || a.id - b.id);
      const next = this.queue[0];
      if (!next || next.at > until) break;
      this.queue.shift();
      this.t = Math.max(this.t, next.at);
      next.fn();
    }
    this.t = until;
  }
}

/** A transport that records datagrams (kind, state, priority) instead of sending them. */
export function recordingTransport(bind: Endpoint = { host: '127.0.0.1', port: 1 }): HeartbeatTransport & { sent: { to: string[]; kind: string; state: string }[] } {
  const sent: { to: string[]; kind: string; state: string }[] = [];
  const t = {
    sent,
    boundAddress: bind,
    peersVersion: 0,
    peerKeys: () => [] as string[],
    send: (peer: string, p: { kind: string; state: string }) => sent.push({ to: [peer], kind: p.kind, state: p.state }),
    sendToAll: (peers: readonly string[], p: { kind: string; state: string }) => sent.push({ to: [...peers], kind: p.kind, state: p.state }),
  };
  return t as unknown as HeartbeatTransport & { sent: typeof sent };
}
