/**
 * What the daemons' etcd connections carry on the wire, from the kernel's TCP counters
 * (`ss -tinp`: bytes_sent, bytes_received, segs_out, segs_in of each socket). This is TCP payload:
 * HTTP/2 frames, gRPC framing and protobuf, i.e. more than etcd's own byte counters; add the
 * TCP/IP headers (about 52 bytes a segment, 66 with Ethernet) for link bandwidth.
 *
 * Only sockets of the given processes towards the given etcd ports count. A connection closed
 * during a window is lost from it (counted in `closed`); a new one counts from zero.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface SocketCounters {
  /** "local peer" */
  key: string;
  pids: number[];
  peerPort: number;
  bytesSent: number;
  bytesReceived: number;
  segsOut: number;
  segsIn: number;
}

const num = (info: string, field: string): number => Number(new RegExp(`\\b${field}:(\\d+)`).exec(info)?.[1] ?? NaN);

/** Parses `ss -tinpH state established` output (pure). */
export function parseSs(text: string): SocketCounters[] {
  const out: SocketCounters[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '' || /^\s/.test(line)) continue;
    const cols = line.trim().split(/\s+/);
    // Recv-Q Send-Q Local Peer [users:(...)]
    if (cols.length < 4) continue;
    const local = cols[2]!;
    const peer = cols[3]!;
    const peerPort = Number(peer.slice(peer.lastIndexOf(':') + 1));
    const pids = [...line.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1]));
    let info = '';
    while (i + 1 < lines.length && /^\s/.test(lines[i + 1]!)) info += ` ${lines[++i]!.trim()}`;
    const sent = num(info, 'bytes_sent');
    out.push({
      key: `${local} ${peer}`,
      pids,
      peerPort,
      bytesSent: Number.isNaN(sent) ? num(info, 'bytes_acked') : sent,
      bytesReceived: num(info, 'bytes_received'),
      segsOut: num(info, 'segs_out'),
      segsIn: num(info, 'segs_in'),
    });
  }
  return out;
}

/** The processes' established TCP connections to the given ports, by socket. */
export async function socketSnapshot(pids: number[], ports: number[]): Promise<Map<string, SocketCounters>> {
  const { stdout } = await run('ss', ['-tinpH', 'state', 'established'], { maxBuffer: 64 * 2 ** 20, env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` } });
  const want = new Set(pids);
  const portSet = new Set(ports);
  const out = new Map<string, SocketCounters>();
  for (const s of parseSs(stdout)) if (portSet.has(s.peerPort) && s.pids.some((p) => want.has(p))) out.set(s.key, s);
  return out;
}

export interface WireRates {
  /** Daemons -> etcd, TCP payload bytes per second. */
  bytesToEtcdPerS: number;
  /** etcd -> daemons. */
  bytesFromEtcdPerS: number;
  /** TCP segments both ways per second (for header overhead and packet rates). */
  segmentsPerS: number;
  /** Connections at the end of the window. */
  sockets: number;
  /** Connections that closed during the window (their traffic in it is not counted). */
  closed: number;
}

/** Rates between two snapshots (pure). */
export function wireRates(before: Map<string, SocketCounters>, after: Map<string, SocketCounters>, seconds: number): WireRates {
  let toEtcd = 0;
  let fromEtcd = 0;
  let segs = 0;
  for (const [key, a] of after) {
    const b = before.get(key);
    toEtcd += a.bytesSent - (b?.bytesSent ?? 0);
    fromEtcd += a.bytesReceived - (b?.bytesReceived ?? 0);
    segs += a.segsOut - (b?.segsOut ?? 0) + a.segsIn - (b?.segsIn ?? 0);
  }
  let closed = 0;
  for (const key of before.keys()) if (!after.has(key)) closed++;
  return { bytesToEtcdPerS: toEtcd / seconds, bytesFromEtcdPerS: fromEtcd / seconds, segmentsPerS: segs / seconds, sockets: after.size, closed };
}
