/**
 * etcd's own Prometheus metrics (GET /metrics on a member's client URL), scraped from every member
 * at the start and the end of a window and turned into rates. Parsing and arithmetic are pure.
 */

/** One sample of the text exposition format. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text exposition (comments and malformed lines skipped). */
export function parsePrometheus(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    if (m[3]) for (const l of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, '$1');
    const value = Number(m[4]);
    if (!Number.isNaN(value)) out.push({ name: m[1]!, labels, value });
  }
  return out;
}

/** Sum of a metric's samples whose labels match `where` (all samples when omitted). */
export function total(samples: Sample[], name: string, where: Record<string, string> = {}): number {
  let sum = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(where).every(([k, v]) => s.labels[k] === v)) sum += s.value;
  }
  return sum;
}

/** Sums of a metric by the value of one label. */
export function byLabel(samples: Sample[], name: string, label: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of samples) if (s.name === name) out.set(s.labels[label] ?? '', (out.get(s.labels[label] ?? '') ?? 0) + s.value);
  return out;
}

/** One member's metrics at one instant. */
export interface MemberScrape {
  member: string;
  at: number;
  samples: Sample[];
}

export async function scrapeMember(member: string, clientPort: number): Promise<MemberScrape> {
  const res = await fetch(`http://127.0.0.1:${clientPort}/metrics`, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`etcd ${member} /metrics: HTTP ${res.status}`);
  const text = await res.text();
  return { member, at: performance.now(), samples: parsePrometheus(text) };
}

export async function scrapeAll(members: { name: string; clientPort: number }[]): Promise<MemberScrape[]> {
  return Promise.all(members.map((m) => scrapeMember(m.name, m.clientPort)));
}

/** gRPC traffic of one method over a window, summed over members. */
export interface MethodRates {
  /** e.g. "Lease/LeaseKeepAlive". */
  method: string;
  type: string;
  /** RPCs (unary calls or streams) started per second. */
  startedPerS: number;
  /** Messages from clients per second (a stream carries several). */
  msgInPerS: number;
  msgOutPerS: number;
  /** RPCs that ended with a code other than OK, per second. */
  errorsPerS: number;
}

/** Everything a window tells about etcd's load. */
export interface EtcdWindow {
  seconds: number;
  methods: MethodRates[];
  /** Sum over methods of RPCs started (unary calls + streams opened), per second. */
  rpcsPerS: number;
  /** Sum over methods of client messages, per second: "requests" (a unary call is one message). */
  requestsPerS: number;
  responsesPerS: number;
  /** etcd_network_client_grpc_received_bytes_total / sent_bytes_total (what etcd counts), per second. */
  clientBytesInPerS: number;
  clientBytesOutPerS: number;
  /** Raft and forwarding traffic between members (etcd_network_peer_sent_bytes_total), per second. */
  peerBytesPerS: number;
  /** Raft proposals committed per second (writes: puts, txns, deletes, lease grants/revokes). */
  proposalsPerS: number;
  /** Lease renewals per second (etcd_debugging_lease_renewed_total). */
  leaseRenewalsPerS: number;
  /** WAL fsyncs per second, summed over members. */
  fsyncsPerS: number;
  /** CPU of the etcd members (process_cpu_seconds_total), % of one core, per member and summed. */
  cpuPercentByMember: Record<string, number>;
  cpuPercent: number;
  /** Resident memory at the end, MB, per member. */
  rssMbByMember: Record<string, number>;
  /** Database size at the end (largest member), bytes. */
  dbBytes: number;
  /** Keys at the end (etcd_debugging_mvcc_keys_total, largest member). */
  keys: number;
  /** Member that was the raft leader at the end. */
  leader?: string;
}

const GRPC_STARTED = 'grpc_server_started_total';
const GRPC_HANDLED = 'grpc_server_handled_total';
const GRPC_MSG_IN = 'grpc_server_msg_received_total';
const GRPC_MSG_OUT = 'grpc_server_msg_sent_total';

function methodKey(s: Sample): string {
  const service = (s.labels.grpc_service ?? '').replace(/^etcdserverpb\./, '');
  return `${service}/${s.labels.grpc_method ?? ''}`;
}

/** Rates between two scrapes of the same members (pure). */
export function windowRates(before: MemberScrape[], after: MemberScrape[]): EtcdWindow {
  const seconds = Math.max(...after.map((a, i) => (a.at - before[i]!.at) / 1000));
  const d = (name: string, where: Record<string, string> = {}) =>
    after.reduce((sum, a, i) => sum + total(a.samples, name, where) - total(before[i]!.samples, name, where), 0);
  /** A gauge that every member reports for the same cluster (take the largest change). */
  const dMax = (name: string) => Math.max(...after.map((a, i) => total(a.samples, name) - total(before[i]!.samples, name)));
  const keyed = (scrapes: MemberScrape[], name: string, filter: (s: Sample) => boolean = () => true) => {
    const m = new Map<string, { type: string; v: number }>();
    for (const sc of scrapes) {
      for (const s of sc.samples) {
        if (s.name !== name || !filter(s)) continue;
        const k = methodKey(s);
        const e = m.get(k) ?? { type: s.labels.grpc_type ?? '', v: 0 };
        e.v += s.value;
        m.set(k, e);
      }
    }
    return m;
  };
  const diff = (name: string, filter?: (s: Sample) => boolean) => {
    const a = keyed(after, name, filter);
    const b = keyed(before, name, filter);
    const out = new Map<string, { type: string; v: number }>();
    for (const [k, e] of a) out.set(k, { type: e.type, v: e.v - (b.get(k)?.v ?? 0) });
    return out;
  };
  const started = diff(GRPC_STARTED);
  const msgIn = diff(GRPC_MSG_IN);
  const msgOut = diff(GRPC_MSG_OUT);
  const errors = diff(GRPC_HANDLED, (s) => s.labels.grpc_code !== 'OK');
  const methods: MethodRates[] = [];
  for (const [method, e] of started) {
    const r: MethodRates = {
      method,
      type: e.type,
      startedPerS: e.v / seconds,
      msgInPerS: (msgIn.get(method)?.v ?? 0) / seconds,
      msgOutPerS: (msgOut.get(method)?.v ?? 0) / seconds,
      errorsPerS: (errors.get(method)?.v ?? 0) / seconds,
    };
    if (r.startedPerS > 0 || r.msgInPerS > 0 || r.msgOutPerS > 0) methods.push(r);
  }
  methods.sort((a, b) => b.msgInPerS - a.msgInPerS || a.method.localeCompare(b.method));
  const cpuPercentByMember: Record<string, number> = {};
  const rssMbByMember: Record<string, number> = {};
  after.forEach((a, i) => {
    cpuPercentByMember[a.member] = ((total(a.samples, 'process_cpu_seconds_total') - total(before[i]!.samples, 'process_cpu_seconds_total')) / seconds) * 100;
    rssMbByMember[a.member] = total(a.samples, 'process_resident_memory_bytes') / 2 ** 20;
  });
  const leader = after.find((a) => total(a.samples, 'etcd_server_is_leader') === 1)?.member;
  return {
    seconds,
    methods,
    rpcsPerS: methods.reduce((s, m) => s + m.startedPerS, 0),
    requestsPerS: methods.reduce((s, m) => s + m.msgInPerS, 0),
    responsesPerS: methods.reduce((s, m) => s + m.msgOutPerS, 0),
    clientBytesInPerS: d('etcd_network_client_grpc_received_bytes_total') / seconds,
    clientBytesOutPerS: d('etcd_network_client_grpc_sent_bytes_total') / seconds,
    peerBytesPerS: d('etcd_network_peer_sent_bytes_total') / seconds,
    proposalsPerS: dMax('etcd_server_proposals_committed_total') / seconds,
    leaseRenewalsPerS: d('etcd_debugging_lease_renewed_total') / seconds,
    fsyncsPerS: d('etcd_disk_wal_fsync_duration_seconds_count') / seconds,
    cpuPercentByMember,
    cpuPercent: Object.values(cpuPercentByMember).reduce((s, v) => s + v, 0),
    rssMbByMember,
    dbBytes: Math.max(...after.map((a) => total(a.samples, 'etcd_mvcc_db_total_size_in_bytes'))),
    keys: Math.max(...after.map((a) => total(a.samples, 'etcd_debugging_mvcc_keys_total'))),
    ...(leader ? { leader } : {}),
  };
}
