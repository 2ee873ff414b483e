/**
 * Prometheus metrics (prom-client, a private registry) served on `metrics.listen`: GET /metrics and
 * GET /healthz. Gauges are read from the daemon's status at scrape time; counters and histograms
 * are fed by events (transitions, check results, action runs, API calls).
 */
import http from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Logger } from '../log.js';
import type { Endpoint } from '../config/endpoint.js';
import type { DaemonStatus } from './daemon.js';
import type { TransitionRecord } from './instance-runner.js';
import type { CheckSnapshot } from '../plugins/check-runner.js';
import type { ActionOutcome } from '../plugins/action-runner.js';
import type { ApiCallSample } from '../plugins/api.js';

const STATES = ['INIT', 'BACKUP', 'MASTER', 'FAULT', 'STOP'] as const;


export class Metrics {
  readonly registry = new Registry();
  private server: http.Server | undefined;
  private readonly transitions: Counter<'instance' | 'from' | 'to' | 'reason'>;
  private readonly checkFailures: Counter<'instance' | 'check'>;
  private readonly checkLatency: Histogram<'instance' | 'check'>;
  private readonly actionRuns: Counter<'instance' | 'action' | 'hook' | 'outcome'>;
  private readonly actionLatency: Histogram<'instance' | 'action' | 'hook'>;
  private readonly apiCalls: Counter<'call' | 'status'>;
  private readonly apiErrors: Counter<'call'>;
  private readonly apiLatency: Histogram<'call'>;

  constructor(status: () => DaemonStatus) {
    const r = this.registry;
    const snapshot = () => status();
    new Gauge({
      name: 'ipwarden_instance_state',
      help: 'Current state of each instance (1 for the current state, 0 for the others)',
      labelNames: ['instance', 'state'],
      registers: [r],
      collect() {
        this.reset();
        for (const i of snapshot().instances) for (const s of STATES) this.set({ instance: i.instance, state: s }, i.state === s ? 1 : 0);
      },
    });
    new Gauge({
      name: 'ipwarden_effective_priority',
      help: 'Effective priority (base priority adjusted by check weights and nudges)',
      labelNames: ['instance'],
      registers: [r],
      collect() {
        this.reset();
        for (const i of snapshot().instances) this.set({ instance: i.instance }, i.effectivePriority);
      },
    });
    new Gauge({
      name: 'ipwarden_last_transition_timestamp_seconds',
      help: 'Unix time of the last state transition',
      labelNames: ['instance'],
      registers: [r],
      collect() {
        this.reset();
        for (const i of snapshot().instances) if (i.lastTransition) this.set({ instance: i.instance }, i.lastTransition.at / 1000);
      },
    });
    new Gauge({
      name: 'ipwarden_peers_alive',
      help: 'Peers currently heard (adverts within the dead time)',
      labelNames: ['instance'],
      registers: [r],
      collect() {
        this.reset();
        for (const i of snapshot().instances) this.set({ instance: i.instance }, i.peers.filter((p) => p.alive).length);
      },
    });
    new Gauge({
      name: 'ipwarden_peer_last_advert_age_seconds',
      help: 'Seconds since the last heartbeat from each peer',
      labelNames: ['instance', 'peer'],
      registers: [r],
      collect() {
        this.reset();
        for (const i of snapshot().instances) for (const p of i.peers) this.set({ instance: i.instance, peer: p.id }, p.lastSeenAgoMs / 1000);
      },
    });
    new Gauge({
      name: 'ipwarden_check_up',
      help: 'Settled state of each check (1 ok, 0 failing)',
      labelNames: ['instance', 'check'],
      registers: [r],
      collect() {
        this.reset();
        for (const i of snapshot().instances) for (const c of i.checks) this.set({ instance: i.instance, check: c.name }, c.state === 'ok' ? 1 : 0);
      },
    });
    // election backend (etcd: lease and renewals); one gauge per fact, read at scrape time
    const electionGauge = (name: string, help: string, value: (e: NonNullable<DaemonStatus['instances'][number]['election']>) => number | undefined) =>
      new Gauge({
        name,
        help,
        labelNames: ['instance'],
        registers: [r],
        collect() {
          this.reset();
          for (const i of snapshot().instances) {
            const v = i.election ? value(i.election) : undefined;
            if (v !== undefined) this.set({ instance: i.instance }, v);
          }
        },
      });
    new Gauge({
      name: 'ipwarden_election_backend',
      help: 'Election backend of each instance (1 for the backend in use)',
      labelNames: ['instance', 'backend'],
      registers: [r],
      collect() {
        this.reset();
        for (const i of snapshot().instances) this.set({ instance: i.instance, backend: i.election?.backend ?? 'heartbeat' }, 1);
      },
    });
    electionGauge('ipwarden_election_connected', 'etcd backend: 1 while the lease is held and etcd calls succeed', (e) => (e.connected ? 1 : 0));
    electionGauge('ipwarden_election_lease_remaining_seconds', 'etcd backend: lower bound of the lease\'s remaining life on the server', (e) =>
      e.leaseRemainingMs === undefined ? undefined : e.leaseRemainingMs / 1000,
    );
    electionGauge('ipwarden_election_last_renewal_age_seconds', 'etcd backend: seconds since the last acknowledged lease renewal was sent', (e) =>
      e.lastRenewalAgoMs === undefined ? undefined : e.lastRenewalAgoMs / 1000,
    );
    electionGauge('ipwarden_election_renewal_latency_seconds', 'etcd backend: round trip of the last acknowledged lease renewal', (e) =>
      e.lastRenewalLatencyMs === undefined ? undefined : e.lastRenewalLatencyMs / 1000,
    );
    const counter = (name: string, help: string, labelNames: string[], get: (s: DaemonStatus) => [Record<string, string>, number][]) =>
      new Counter({
        name,
        help,
        labelNames,
        registers: [r],
        collect() {
          this.reset();
          for (const [labels, v] of get(snapshot())) this.inc(labels, v);
        },
      });
    counter('ipwarden_heartbeats_sent_total', 'Heartbeat datagrams sent', [], (s) => [[{}, s.counters.sent]]);
    // the daemon's own event loop (src/daemon/loop-lag.ts): adverts are sent from it
    new Gauge({
      name: 'ipwarden_event_loop_delay_seconds',
      help: 'Event-loop delay of the daemon over the last window (stat: p50, p99, max)',
      labelNames: ['stat'],
      registers: [r],
      collect() {
        this.reset();
        const e = snapshot().eventLoop;
        if (e) for (const [stat, v] of [['p50', e.p50Ms], ['p99', e.p99Ms], ['max', e.maxMs]] as const) this.set({ stat }, v / 1000);
      },
    });
    counter('ipwarden_event_loop_blocks_total', 'Event-loop stalls long enough to delay adverts (a warning names the in-process checks running then)', [], (s) => [[{}, s.eventLoop?.blocks ?? 0]]);
    counter('ipwarden_heartbeats_received_total', 'Heartbeat datagrams accepted', [], (s) => [[{}, s.counters.received]]);
    counter('ipwarden_heartbeats_rejected_total', 'Heartbeat datagrams dropped, by reason', ['reason'], (s) =>
      Object.entries(s.counters.rejected).map(([reason, v]) => [{ reason }, v ?? 0]),
    );
    counter('ipwarden_heartbeat_send_errors_total', 'Heartbeat sends that failed', [], (s) => [[{}, s.counters.sendErrors]]);

    this.transitions = new Counter({
      name: 'ipwarden_transitions_total',
      help: 'State transitions by from/to state and cause',
      labelNames: ['instance', 'from', 'to', 'reason'],
      registers: [r],
    });
    this.checkFailures = new Counter({ name: 'ipwarden_check_failures_total', help: 'Failed check runs', labelNames: ['instance', 'check'], registers: [r] });
    this.checkLatency = new Histogram({
      name: 'ipwarden_check_duration_seconds',
      help: 'Check run latency',
      labelNames: ['instance', 'check'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [r],
    });
    this.actionRuns = new Counter({
      name: 'ipwarden_action_runs_total',
      help: 'Action runs by hook and outcome (ok/failed)',
      labelNames: ['instance', 'action', 'hook', 'outcome'],
      registers: [r],
    });
    this.actionLatency = new Histogram({
      name: 'ipwarden_action_duration_seconds',
      help: 'Action run duration, retries included',
      labelNames: ['instance', 'action', 'hook'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [r],
    });
    this.apiCalls = new Counter({ name: 'ipwarden_api_calls_total', help: 'Cloud API requests by call and HTTP status', labelNames: ['call', 'status'], registers: [r] });
    this.apiErrors = new Counter({ name: 'ipwarden_api_errors_total', help: 'Cloud API requests that failed', labelNames: ['call'], registers: [r] });
    this.apiLatency = new Histogram({
      name: 'ipwarden_api_call_duration_seconds',
      help: 'Cloud API request latency',
      labelNames: ['call'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [r],
    });
  }

  onTransition(instance: string, t: TransitionRecord): void {
    this.transitions.inc({ instance, from: t.from, to: t.to, reason: t.cause });
  }

  onCheckResult(instance: string, c: CheckSnapshot): void {
    if (!c.lastResult) return;
    this.checkLatency.observe({ instance, check: c.name }, c.lastResult.latencyMs / 1000);
    if (!c.lastResult.ok) this.checkFailures.inc({ instance, check: c.name });
  }

  onActionOutcome(instance: string, o: ActionOutcome): void {
    this.actionRuns.inc({ instance, action: o.action, hook: o.hook, outcome: o.ok ? 'ok' : 'failed' });
    this.actionLatency.observe({ instance, action: o.action, hook: o.hook }, o.durationMs / 1000);
  }

  onApiCall(s: ApiCallSample): void {
    this.apiCalls.inc({ call: s.call, status: s.status === undefined ? 'none' : String(s.status) });
    if (s.error) this.apiErrors.inc({ call: s.call });
    this.apiLatency.observe({ call: s.call }, s.durationMs / 1000);
  }

  async listen(at: Endpoint, log: Logger): Promise<void> {
    const server = http.createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET') {
        res.writeHead(405).end();
      } else if (path === '/metrics') {
        this.registry.metrics().then(
          (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
          (err: Error) => res.writeHead(500).end(err.message),
        );
      } else if (path === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new Error(`metrics.listen ${at.host}:${at.port}: ${err.code === 'EADDRINUSE' ? 'TCP port already in use' : (err.code ?? err.message)}`)),
      );
      server.listen(at.port, at.host, () => resolve());
    });
    server.on('error', (err) => log.warn({ err: err.message }, 'metrics server error'));
    this.server = server;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}
