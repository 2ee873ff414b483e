/**
 * A TCP proxy on 127.0.0.1 in front of one upstream port, to cut one daemon off from one etcd
 * member without touching anyone else: `blackhole()` stops forwarding (open connections stall,
 * new ones are accepted and never answered: a partition, not a refusal), `heal()` drops the
 * stalled connections and forwards again.
 */
import net from 'node:net';

export class TcpProxy {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  private cut = false;
  port = 0;

  constructor(private readonly upstreamPort: number, private readonly upstreamHost = '127.0.0.1') {}

  async listen(): Promise<number> {
    const server = net.createServer((client) => this.onClient(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as net.AddressInfo).port;
    return this.port;
  }

  private onClient(client: net.Socket): void {
    this.sockets.add(client);
    client.on('close', () => this.sockets.delete(client));
    client.on('error', () => client.destroy());
    if (this.cut) return; // accepted, never answered
    const upstream = net.connect(this.upstreamPort, this.upstreamHost);
    this.sockets.add(upstream);
    upstream.on('close', () => {
      this.sockets.delete(upstream);
      client.destroy();
    });
    upstream.on('error', () => upstream.destroy());
    client.on('close', () => upstream.destroy());
    client.on('data', (d) => {
      if (!this.cut) upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (!this.cut) client.write(d);
    });
  }

  /** Partition: nothing passes any more, in either direction; connections stay open. */
  blackhole(): void {
    this.cut = true;
  }

  /** Ends the partition: stalled connections are dropped (their streams are broken), new ones pass. */
  heal(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    this.cut = false;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}
