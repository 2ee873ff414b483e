/**
 * Two real keepalived 2.2 nodes in two network namespaces (VRRPv3, unicast peers) driving ipwarden's
 * scripts mode, whose action gives 198.51.100.50 to the MASTER: the Exoscale Elastic IP in the API
 * simulator (listening on the lab bridge, 198.51.100.1), or an ip-alias on lo of the MASTER's
 * namespace. Used by scripts-mode-*.test.ts.
 */
import type { Test } from 'tap';
import { mkdtempSync, rmSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from '../../lib/env.js';
import { createLab, type Lab, type LabHost } from '../../lib/netns.js';
import { startKeepalived, waitFor, type RunningKeepalived, type VrrpInstanceSpec } from './keepalived.js';
import { DEFAULT_SIM_API_KEY, DEFAULT_SIM_API_SECRET, startSimulator, type RunningSimulator } from '../../../src/exoscale/simulator/index.js';

/** The simulator's seeded instances (node ids) and Elastic IP. */
const INSTANCE_IDS = ['10000000-0000-4000-8000-000000000001', '10000000-0000-4000-8000-000000000002'];

const VIP = '198.51.100.50/32';

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
}

export async function cluster(t: Test, mode: Mode, action: Action): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), 'ipw-kafail-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const lab = await createLab({ hosts: 2, bridgeAddress: action === 'exoscale-eip' });
  t.teardown(() => lab.destroy());
  const hosts = [lab.hosts[0]!, lab.hosts[1]!] as [LabHost, LabHost];
  let sim: RunningSimulator | undefined;
  if (action === 'exoscale-eip') {
    sim = await startSimulator({ host: lab.bridgeAddress!, port: 0, operationDelayMs: 40 });
    t.teardown(() => sim!.close());
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
  const ipw = (i: number) => `${process.execPath} ${CLI}`;
  const common = (i: number) => `--config ${rc(i)} --state-dir ${join(dir, `state-h${i}`)} --log-file ${join(dir, `h${i}.log`)}`;
  const instance = (i: number): VrrpInstanceSpec => {
    const base: VrrpInstanceSpec = { name: 'VI_1', priority: i === 0 ? 200 : 100, routerId: 52, vip: '198.51.100.100/32' };
    if (mode === 'notify_*') {
      const line = (state: string) => `${ipw(i)} notify --instance VI_1 --state ${state} ${common(i)} --detach`;
      return { ...base, notifyMaster: line('MASTER'), notifyBackup: line('BACKUP'), notifyFault: line('FAULT'), notifyStop: line('STOP') };
    }
    if (mode === 'notify') return { ...base, notify: `${ipw(i)} notify ${common(i)} --detach` };
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
      if (sim) return sim.state.holdersOf('198.51.100.50').map((id) => `h${INSTANCE_IDS.indexOf(id)}`).sort();
      const out: string[] = [];
      for (const h of hosts) {
        const { stdout } = await lab.exec(h, ['ip', '-j', 'addr', 'show', 'dev', 'lo']);
        const addrs = (JSON.parse(stdout) as { addr_info: { local: string; prefixlen: number }[] }[]).flatMap((l) => l.addr_info.map((a) => `${a.local}/${a.prefixlen}`));
        if (addrs.includes(VIP)) out.push(h.name);
      }
      return out;
    },
    logs: (i) => (existsSync(join(dir, `h${i}.log`)) ? readFileSync(join(dir, `h${i}.log`), 'utf8') : ''),
  };
  return c;
}

/** Waits until exactly `expected` hold the address, then checks it stays so for `stableMs`. */
export async function expectHolders(t: Test, c: Cluster, expected: string[], what: string, stableMs = 1000): Promise<void> {
  const reached = await waitFor(async () => (await c.holders()).join() === expected.join(), 15_000);
  if (!t.ok(reached, `${what}: ${expected.join(', ')} holds 198.51.100.50, got ${(await c.holders()).join(', ') || 'nobody'}`)) {
    t.comment(`h0 log:\n${c.logs(0)}\nh1 log:\n${c.logs(1)}\nkeepalived h0:\n${c.keepalived[0]?.output()}\nkeepalived h1:\n${c.keepalived[1]?.output()}`);
    return;
  }
  await new Promise((r) => setTimeout(r, stableMs));
  t.same(await c.holders(), expected, `${what}: still only ${expected.join(', ')} after ${stableMs} ms`);
}

