/**
 * The heartbeat transport: one listening UDP socket on node.bind, and one connected UDP socket
 * per peer for sending. A connected socket surfaces the peer host's ICMP "port unreachable" as
 * ECONNREFUSED: that is the crash fast path (the peer's host is up, its daemon is not).
 *
 * Inbound datagrams are matched to a configured peer by source IP (peers must have distinct IPs),
 * decoded, authenticated and replay-checked; every drop is counted by reason, none throws.
 */
import dgram from 'node:dgram';
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { isIPv6 } from 'node:net';
import type { Logger } from '../log.js';
import { decodePacket, encodePacket, type HeartbeatKey } from '../protocol/advert.js';
import { decodeExoip, encodeExoip, fromExoipPriority, toExoipPriority } from '../protocol/exoip.js';
import { instanceKey } from '../protocol/instance-key.js';
import { ReplayGuard } from '../protocol/replay.js';
import type { Packet, RejectReason } from '../protocol/types.js';
import { formatEndpoint, type Endpoint } from '../config/endpoint.js';

export type WireProtocol = 'ipwarden' | 'exoip';

export interface TransportOptions {
  bind: Endpoint;
  /** The first key signs; every key verifies. Unused in exoip mode. */
  keys: HeartbeatKey[];
  protocol: WireProtocol;
  replayWindowMs: number;
  log: Logger;
  /** Instance keys this daemon serves (others are 'unknown-instance'). exoip: instance addresses. */
  instances: () => Map<number, string>;
  /** exoip mode: the 16-byte NIC UUID this node sends (default: derived from the node id). */
  nicId?: string;
  nodeId: string;
}

export interface Inbound {
  packet: Packet;
  /** The configured peer it came from ("host:port"). */
  peer: string;
  /** exoip peer: no state, no probes. */
  stateless: boolean;
}

export interface TransportCounters {
  sent: number;
  received: number;
  sendErrors: number;
  rejected: Partial<Record<RejectReason, number>>;
}

interface TransportEvents {
  packet: [Inbound];
  unreachable: [peer: string];
  rejected: [reason: RejectReason, from: string];
}


/** A stable UUID-shaped id for exoip mode, derived from the node id. */
export function nicIdFor(nodeId: string): string {
  const h = createHash('sha256').update(nodeId).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

interface PeerSocket {
  endpoint: Endpoint;
  socket: dgram.Socket;
  /** Connected: datagrams go out at once; before that they wait on `ready`. */
  connected: boolean;
  ready: Promise<void>;
  /** One completion callback per peer, not per datagram (a send error, e.g. ECONNREFUSED, lands here). */
  afterSend: (err: Error | null) => void;
}

export class PortInUseError extends Error {
  override name = 'PortInUseError';
}

export class HeartbeatTransport extends EventEmitter<TransportEvents> {
  readonly counters: TransportCounters = { sent: 0, received: 0, sendErrors: 0, rejected: {} };
  private listener: dgram.Socket | undefined;
  private readonly peers = new Map<string, PeerSocket>();
  /** Bumped whenever the peer set changes (callers cache their target lists against it). */
  peersVersion = 0;
  private readonly byIp = new Map<string, string[]>();
  private readonly replay: ReplayGuard;
  private incarnation = Math.floor(Date.now() / 1000);
  /** Starts high within the second so a restart in the same second still outnumbers the old run. */
  private sequence = (Date.now() % 1000) * 2 ** 22;
  private readonly nicId: string;

  constructor(private readonly opts: TransportOptions) {
    super();
    this.replay = new ReplayGuard({ windowMs: opts.replayWindowMs });
    this.nicId = opts.nicId ?? nicIdFor(opts.nodeId);
  }

  get boundAddress(): Endpoint {
    const a = this.listener?.address();
    return a ? { host: a.address, port: a.port } : this.opts.bind;
  }

  async open(): Promise<void> {
    const sock = dgram.createSocket({ type: isIPv6(this.opts.bind.host) ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      sock.once('error', (err: NodeJS.ErrnoException) => {
        const where = formatEndpoint(this.opts.bind);
        if (err.code === 'EADDRINUSE') reject(new PortInUseError(`node.bind ${where}: UDP port already in use (another ipwarden or exoip running?)`));
        else if (err.code === 'EADDRNOTAVAIL') reject(new PortInUseError(`node.bind ${where}: address not available on this host`));
        else if (err.code === 'EACCES') reject(new PortInUseError(`node.bind ${where}: permission denied`));
        else reject(err);
      });
      sock.bind({ address: this.opts.bind.host, port: this.opts.bind.port, exclusive: true }, () => resolve());
    });
    sock.removeAllListeners('error');
    sock.on('error', (err) => this.opts.log.warn({ err: err.message }, 'heartbeat socket error'));
    sock.on('message', (buf, rinfo) => this.onDatagram(buf, rinfo.address));
    this.listener = sock;
  }

  /** Replaces the peer list (creates/closes connected sockets as needed). */
  setPeers(endpoints: readonly Endpoint[]): void {
    const wanted = new Map(endpoints.map((e) => [formatEndpoint(e), e]));
    for (const [key, p] of this.peers) {
      if (!wanted.has(key)) {
        p.socket.close();
        this.peers.delete(key);
      }
    }
    for (const [key, endpoint] of wanted) {
      if (this.peers.has(key)) continue;
      const socket = dgram.createSocket({ type: isIPv6(endpoint.host) ? 'udp6' : 'udp4' });
      // the kernel reports a peer's ICMP error once, to the next send or receive on the socket
      const onError = (err: NodeJS.ErrnoException) => {
        this.counters.sendErrors++;
        if (err.code === 'ECONNREFUSED') this.emit('unreachable', key);
        else if (err.code !== 'EHOSTUNREACH' && err.code !== 'ENETUNREACH') this.opts.log.debug({ peer: key, err: err.message }, 'peer socket error');
      };
      socket.on('error', onError);
      const bindHost = this.opts.bind.host === '0.0.0.0' || this.opts.bind.host === '::' ? undefined : this.opts.bind.host;
      const peer: PeerSocket = { endpoint, socket, connected: false, ready: Promise.resolve(), afterSend: (err) => err && onError(err) };
      peer.ready = new Promise<void>((resolve) => {
        socket.bind({ port: 0, ...(bindHost ? { address: bindHost } : {}) }, () =>
          // Node calls back with an error when connect fails (e.g. EINVAL: no route from the bind
          // address): the socket stays unconnected and heartbeats to this peer are dropped
          socket.connect(endpoint.port, endpoint.host, (err?: Error) => {
            if (err) onError(err as NodeJS.ErrnoException);
            else peer.connected = true;
            resolve();
          }),
        );
      });
      this.peers.set(key, peer);
    }
    this.peersVersion++;
    this.byIp.clear();
    for (const [key, p] of this.peers) this.byIp.set(p.endpoint.host, [...(this.byIp.get(p.endpoint.host) ?? []), key]);
    for (const [ip, keys] of this.byIp) {
      if (keys.length > 1) this.opts.log.warn({ peers: keys }, `several peers share the address ${ip}: their heartbeats cannot be told apart and are dropped`);
    }
  }

  /** Key rotation on reload: the first key signs from now on, every key verifies. */
  updateKeys(keys: HeartbeatKey[]): void {
    this.opts.keys = keys;
  }

  peerKeys(): string[] {
    return [...this.peers.keys()];
  }

  /** Sends a packet (sequence, incarnation, timestamp filled in here) to one peer. */
  send(peer: string, p: Omit<Packet, 'incarnation' | 'sequence' | 'timestamp'>, instanceAddress: string): void {
    this.sendToAll([peer], p, instanceAddress);
  }

  /**
   * Sends one packet to several peers: encoded and signed once (one sequence number: replay
   * protection is per sender, so every receiver still sees it increase), the same bytes to each.
   */
  sendToAll(peers: readonly string[], p: Omit<Packet, 'incarnation' | 'sequence' | 'timestamp'>, instanceAddress: string): void {
    if (peers.length === 0) return;
    let buf: Buffer;
    try {
      buf = this.encode(p, instanceAddress);
    } catch (err) {
      this.counters.sendErrors++;
      this.opts.log.error({ peers, err: (err as Error).message }, 'cannot encode heartbeat');
      return;
    }
    if (buf.length === 0) return;
    for (const peer of peers) {
      const target = this.peers.get(peer);
      if (!target) continue;
      this.counters.sent++;
      if (target.connected) target.socket.send(buf, target.afterSend);
      // only to a peer still listed and connected: an unconnected socket's send takes the callback
      // for a port and throws (it crashed the daemon when a discovered peer was unreachable)
      else target.ready.then(() => this.peers.get(peer) === target && target.connected && target.socket.send(buf, target.afterSend), () => undefined);
    }
  }

  private encode(p: Omit<Packet, 'incarnation' | 'sequence' | 'timestamp'>, instanceAddress: string): Buffer {
    let buf: Buffer;
    if (this.opts.protocol === 'exoip') {
      if (p.kind !== 'advert') return Buffer.alloc(0); // exoip has no probes
      buf = encodeExoip({ priority: toExoipPriority(Math.min(255, p.priority)), address: instanceAddress, nicId: this.nicId });
    } else {
      if (++this.sequence > 0xffffffff) {
        this.incarnation = Math.max(this.incarnation + 1, Math.floor(Date.now() / 1000));
        this.sequence = 1;
      }
      buf = encodePacket({ ...p, incarnation: this.incarnation, sequence: this.sequence, timestamp: Date.now() }, this.opts.keys[0]!);
    }
    return buf;
  }

  close(): void {
    for (const p of this.peers.values()) {
      try {
        p.socket.close();
      } catch {
        /* already closed */
      }
    }
    this.peers.clear();
    try {
      this.listener?.close();
    } catch {
      /* already closed */
    }
    this.listener = undefined;
  }

  private reject(reason: RejectReason, from: string): void {
    this.counters.rejected[reason] = (this.counters.rejected[reason] ?? 0) + 1;
    this.emit('rejected', reason, from);
  }

  private onDatagram(buf: Buffer, fromIp: string): void {
    try {
      const ip = fromIp.startsWith('::ffff:') ? fromIp.slice(7) : fromIp;
      const keys = this.byIp.get(ip);
      if (!keys || keys.length !== 1) return this.reject('unknown-peer', ip);
      const peer = keys[0]!;
      const instances = this.opts.instances();
      if (this.opts.protocol === 'exoip') {
        const r = decodeExoip(buf);
        if (!r.ok) return this.reject(r.reason, ip);
        const key = instanceKey(r.advert.address);
        if (!instances.has(key)) return this.reject('unknown-instance', ip);
        this.counters.received++;
        this.emit('packet', {
          peer,
          stateless: true,
          packet: {
            kind: 'advert',
            instanceKey: key,
            nodeId: r.advert.nicId,
            priority: fromExoipPriority(r.advert.priority),
            state: 'BACKUP',
            incarnation: 0,
            sequence: 0,
            timestamp: Date.now(),
            intervalMs: 0,
            nonce: 0,
          },
        });
        return;
      }
      const r = decodePacket(buf, this.opts.keys);
      if (!r.ok) return this.reject(r.reason, ip);
      if (!instances.has(r.packet.instanceKey)) return this.reject('unknown-instance', ip);
      const v = this.replay.accept(r.packet, Date.now());
      if (!v.ok) return this.reject(v.reason, ip);
      this.counters.received++;
      this.emit('packet', { peer, stateless: false, packet: r.packet });
    } catch (err) {
      // a listener bug must never take the receive loop down
      this.opts.log.error({ err: (err as Error).message }, 'error while handling a heartbeat');
    }
  }
}
