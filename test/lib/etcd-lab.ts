/**
 * Reading the transitions the recorder action (test/lib/recorder-action.mjs) wrote for a cluster
 * of daemons, and judging "two MASTERs at once" from them: each daemon's own transition
 * timestamps, not polls of the control sockets one after another (which miss short overlaps).
 */
import { existsSync, readFileSync } from 'node:fs';
import type { Test } from 'tap';
import { TcpProxy } from './tcp-proxy.js';
import type { EtcdCluster } from './etcd-cluster.js';

/**
 * One TCP proxy per daemon (index) and etcd member, closed at teardown: a daemon's etcd traffic
 * goes through its own proxies, so it alone can be cut off from etcd (blackhole()).
 */
export async function etcdProxies(t: Test, etcd: EtcdCluster, nodes: number): Promise<TcpProxy[][]> {
  const proxies: TcpProxy[][] = [];
  t.teardown(async () => {
    for (const list of proxies) for (const p of list) await p.close();
  });
  for (let i = 0; i < nodes; i++) {
    const list: TcpProxy[] = [];
    for (const m of etcd.members) {
      const p = new TcpProxy(m.clientPort);
      await p.listen();
      list.push(p);
    }
    proxies.push(list);
  }
  return proxies;
}

export interface Recorded {
  node: string;
  from: string;
  to: string;
  token: string | null;
  /** Wall clock ms (all daemons run on this machine). */
  at: number;
}

export function recorded(file: string): Recorded[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Recorded);
}

/**
 * Instants at which two nodes had both run MASTER actions without a later transition out, from
 * `since` on; `killed` maps a node to the time it died (SIGKILL: no transition recorded).
 */
export function masterOverlaps(records: Recorded[], since: number, killed: Map<string, number> = new Map()): string[] {
  const open = new Map<string, number>();
  const out: string[] = [];
  const events = [...records].sort((a, b) => a.at - b.at);
  const kills = [...killed].map(([node, at]) => ({ node, at, kill: true }));
  const all = [...events.map((e) => ({ ...e, kill: false })), ...kills].sort((a, b) => a.at - b.at);
  for (const e of all) {
    if (e.kill) {
      open.delete(e.node);
      continue;
    }
    const r = e as Recorded & { kill: boolean };
    if (r.to === 'MASTER') {
      for (const [other, from] of open) if (other !== r.node && r.at >= since) out.push(`${r.node} MASTER at ${r.at} while ${other} MASTER since ${from}`);
      open.set(r.node, r.at);
    } else if (r.from === 'MASTER') {
      open.delete(r.node);
    }
  }
  return out;
}
