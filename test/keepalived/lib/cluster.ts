/**
 * Two real keepalived 2.2 nodes in two network namespaces (VRRPv3, unicast peers) driving ipwarden's
 * scripts mode, whose action gives 198.51.100.50 to the MASTER: the Exoscale Elastic IP in the API
 * simulator (`ipwarden simulate exoscale` in a third namespace), or an ip-alias on lo of the MASTER's
 * namespace. Used by scripts-mode-*.test.ts.
 */
import type { Test } from 'tap';
import { mkdtempSync, rmSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from '../../lib/env.js';
import { createLab, type Lab, type LabHost } from '../../lib/netns.js';
import { startKeepalived, waitFor, type RunningKeepalived, type VrrpInstanceSpec } from './keepalived.js';
import { DEFAULT_SIM_API_KEY, DEFAULT_SIM_API_SECRET } from '../../../src/exoscale/simulator/index.js';

/** The simulator's seeded instances (node ids) and Elastic IP. */
export const INSTANCE_IDS = ['10000000-0000-4000-8000-000000000001', '10000000-0000-4000-8000-000000000002'];

const VIP = '198.51.100.50/32';

/** `ipwarden simulate exoscale` running in a lab host (the default seed: lb1, lb2, EIP 198.51.100.50). */
export interface Simulator {
  /** http://host:port/v2 */
  endpoint: string;
  /** Instance ids holding 198.51.100.50 (asked through the admin API from inside the namespace). */
  holders(): Promise<string[]>;
  /** Makes exactly these instances hold 198.51.100.50 (admin API), e.g. none. */
  setHolders(ids: string[]): Promise<void>;
}

/** Starts `ipwarden simulate exoscale` in `host` and waits until it answers. */
export async function startSimulatorIn(lab: Lab, host: LabHost): Promise<Simulator> {
  const url = `http://${host.address}:8580`;
  lab.spawn(host, [process.execPath, CLI, 'simulate', 'exoscale', '--host', host.address, '--port', '8580', '--operation-delay', '40ms'], { stdio: 'ignore' });
  const holders = async (): Promise<string[] | undefined> => {
    try {
      const get = `const r = await fetch(${JSON.stringify(`${url}/_sim/elastic-ips/198.51.100.50/holders`)}, { signal: AbortSignal.timeout(2000) }); process.stdout.write(await r.text());`;
      const { stdout } = await lab.exec(host, [process.execPath, '--input-type=module', '-e', get], { timeoutMs: 5000 });
      return (JSON.parse(stdout) as { holders: string[] }).holders;
    } catch {
      return undefined;
    }
  };
  if (!(await waitFor(async () => (await holders()) !== undefined, 15_000))) throw new Error('the simulator did not start');
  const setHolders = async (ids: string[]): Promise<void> => {
    const put = `const r = await fetch(${JSON.stringify(`${url}/_sim/elastic-ips/198.51.100.50/holders`)}, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: ${JSON.stringify(JSON.stringify({ instances: ids }))}, signal: AbortSignal.timeout(5000) }); if (!r.ok) throw new Error(await r.text());`;
    await lab.exec(host, [process.execPath, '--input-type=module', '-e', put], { timeoutMs: 15_000 });
  };
  return { endpoint: `${url}/v2`, holders: async () => (await holders()) ?? [], setHolders };
}

export type Mode = 'notify_*' | 'notify' | 'fifo';
export type Action = 'ip-alias' | 'exoscale-eip';

export interface Cluster {
  lab: Lab;
  dir: string;
  hosts: [LabHost, LabHost];
  keepalived: (RunningKeepalived | undefined)[];
  start(i: number): RunningKeepalived;
  holders(): Promise<string[]>;
  logs(i: number): string;
  /** The Exoscale API simulator (exoscale-eip clusters). */
  sim: Simulator | undefined;
  /** Puts node i in FAULT (keepalived track_file with weight 0) or takes it out. */
  fault(i: number, on: boolean): void;
}

export async function cluster(t: Test, mode: Mode, action: Action): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), 'ipw-kafail-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // The simulator runs in a third namespace (`ipwarden simulate exoscale`): nothing is added to the
  // root namespace, so labs of other tests running alongside cannot clash with this one.
  const lab = await createLab({ hosts: action === 'exoscale-eip' ? 3 : 2 });
  t.teardown(() => lab.destroy());
  const hosts = [lab.hosts[0]!, lab.hosts[1]!] as [LabHost, LabHost];
  let sim: Simulator | undefined;
  if (action === 'exoscale-eip') {
    sim = await startSimulatorIn(lab, lab.hosts[2]!);
    writeFileSync(join(dir, 'api-key'), DEFAULT_SIM_API_KEY);
    writeFileSync(join(dir, 'api-secret'), DEFAULT_SIM_API_SECRET);
  }
  const rc = (i: number) => join(dir, `rc-h${i}.yaml`);
  for (const i of [0, 1]) {
    const actionLine =
      action === 'ip-alias'
        ? '        - { plugin: ip-alias, device: lo }'
        : `        - { plugin: exoscale-eip, zone: ch-gva-2, endpoint: "${sim!.endpoint}", apiKey: file:api-key, apiSecret: file:api-secret, startupGrace: 0s, reconcile: 0s }`;
    writeFileSync(
      rc(i),
      [
        `node: { id: ${action === 'ip-alias' ? `h${i}` : INSTANCE_IDS[i]} }`,
        'log: { level: debug, format: json }',
        'keepalived:',
        '  instances:',
        '    VI_1:',
        '      address: 198.51.100.50',
        '      actions:',
        actionLine,
        '',
      ].join('\n'),
    );
  }
  const ipw = `${process.execPath} ${CLI}`;
  const track = (i: number) => join(dir, `track-h${i}`);
  for (const i of [0, 1]) writeFileSync(track(i), '0\n');
  const common = (i: number) => `--config ${rc(i)} --state-dir ${join(dir, `state-h${i}`)} --log-file ${join(dir, `h${i}.log`)}`;
  const instance = (i: number): VrrpInstanceSpec => {
    // 0.3 s adverts: failover in about a second, without the flapping 0.1 s shows on a loaded machine.
    const base: VrrpInstanceSpec = { name: 'VI_1', priority: i === 0 ? 200 : 100, routerId: 52, vip: '198.51.100.100/32', advertInt: 0.3, trackFile: track(i) };
    if (mode === 'notify_*') {
      const line = (state: string) => `${ipw} notify --instance VI_1 --state ${state} ${common(i)} --detach`;
      return { ...base, notifyMaster: line('MASTER'), notifyBackup: line('BACKUP'), notifyFault: line('FAULT'), notifyStop: line('STOP') };
    }
    if (mode === 'notify') return { ...base, notify: `${ipw} notify ${common(i)} --detach` };
    return base;
  };
  const fifo = (i: number) => join(dir, `h${i}.fifo`);
  if (mode === 'fifo') {
    for (const i of [0, 1]) {
      lab.spawn(hosts[i]!, [process.execPath, CLI, 'keepalived-fifo', fifo(i), '--config', rc(i), '--log-file', join(dir, `h${i}.log`)], { stdio: 'ignore' });
      t.ok(await waitFor(() => existsSync(fifo(i)), 10_000), `h${i}: FIFO consumer started (it creates the FIFO)`);
    }
  }
  const c: Cluster = {
    lab,
    sim,
    dir,
    hosts,
    keepalived: [undefined, undefined],
    start(i) {
      const k = startKeepalived(lab, { host: hosts[i]!, peers: [hosts[1 - i]!], instances: [instance(i)], ...(mode === 'fifo' ? { fifo: fifo(i) } : {}) }, dir);
      c.keepalived[i] = k;
      t.teardown(() => k.stop('SIGKILL'));
      return k;
    },
    async holders() {
      if (sim) return (await sim.holders()).map((id) => `h${INSTANCE_IDS.indexOf(id)}`).sort();
      const out: string[] = [];
      for (const h of hosts) {
        const { stdout } = await lab.exec(h, ['ip', '-j', 'addr', 'show', 'dev', 'lo']);
        const addrs = (JSON.parse(stdout) as { addr_info: { local: string; prefixlen: number }[] }[]).flatMap((l) => l.addr_info.map((a) => `${a.local}/${a.prefixlen}`));
        if (addrs.includes(VIP)) out.push(h.name);
      }
      return out;
    },
    logs: (i) => (existsSync(join(dir, `h${i}.log`)) ? readFileSync(join(dir, `h${i}.log`), 'utf8') : ''),
    fault: (i, on) => writeFileSync(track(i), on ? '1\n' : '0\n'),
  };
  return c;
}

/** Waits until exactly `expected` hold the address, then checks it stays so for `stableMs`. */
export async function expectHolders(t: Test, c: Cluster, expected: string[], what: string, stableMs = 800): Promise<void> {
  const reached = await waitFor(async () => (await c.holders()).join() === expected.join(), 20_000);
  if (!t.ok(reached, `${what}: ${expected.join(', ')} holds 198.51.100.50, got ${(await c.holders()).join(', ') || 'nobody'}`)) {
    t.comment(`h0 log:\n${c.logs(0)}\nh1 log:\n${c.logs(1)}\nkeepalived h0:\n${c.keepalived[0]?.output()}\nkeepalived h1:\n${c.keepalived[1]?.output()}`);
    return;
  }
  await new Promise((r) => setTimeout(r, stableMs));
  t.same(await c.holders(), expected, `${what}: still only ${expected.join(', ')} after ${stableMs} ms`);
}

