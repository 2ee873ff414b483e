/**
 * A real keepalived 2.2 restarted while MASTER (issue 24): it reports MASTER again while ipwarden's
 * state directory still remembers MASTER (/run survives a service restart). That MASTER must run the
 * MASTER actions in full, not the MASTER_RX_LOWER_PRI re-claim: the notify action's notifyMaster
 * script runs again and exoscale-eip attaches the Elastic IP again (in the API simulator, taken away
 * from the node while keepalived was down).
 *
 * keepalived runs alone in one namespace (its unicast peer, the simulator's namespace, runs no
 * VRRP, so it becomes MASTER after the master-down timer), the simulator in a second one. Two
 * ways keepalived leaves MASTER without ipwarden hearing of it: a restart with only notify_master
 * configured (SIGTERM: keepalived has no STOP script to run), and a crash (SIGKILL, no STOP) with
 * the generic `notify` script.
 */
import t from 'tap';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, requireEnv } from '../lib/env.js';
import { createLab } from '../lib/netns.js';
import { DEFAULT_SIM_API_KEY, DEFAULT_SIM_API_SECRET } from '../../src/exoscale/simulator/index.js';
import { INSTANCE_IDS, startSimulatorIn } from './lib/cluster.js';
import { readArgvRecords, startKeepalived, waitFor, writeArgvLogger, type RunningKeepalived, type VrrpInstanceSpec } from './lib/keepalived.js';

const skip = requireEnv({ netns: true, bins: ['keepalived'] });
/** Deadline for a condition: generous, so a busy machine only makes the test slower, never red. */
const WAIT = 60_000;

const variants = [
  { how: 'restarted (SIGTERM) with only notify_master configured', scripts: 'notify_master', down: 'stop', priority: 200 },
  // An address owner (priority 255, state MASTER) goes straight to MASTER: no BACKUP in between.
  { how: 'with priority 255 crashed (SIGKILL, no STOP) with the generic notify script', scripts: 'notify', down: 'crash', priority: 255 },
] as const;

for (const v of variants) {
  t.test(`keepalived ${v.how} comes back as MASTER: notifyMaster and the Elastic IP attach run again`, { skip }, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'ipw-karestart-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const lab = await createLab({ hosts: 2 });
    t.teardown(() => lab.destroy());
    const [host, simHost] = [lab.hosts[0]!, lab.hosts[1]!];
    const sim = await startSimulatorIn(lab, simHost);
    writeFileSync(join(dir, 'api-key'), DEFAULT_SIM_API_KEY);
    writeFileSync(join(dir, 'api-secret'), DEFAULT_SIM_API_SECRET);
    const logger = writeArgvLogger(join(dir, 'argv-logger'));
    const masterRuns = join(dir, 'notify-master');
    const rxRuns = join(dir, 'notify-rx');
    mkdirSync(masterRuns);
    mkdirSync(rxRuns);
    const rc = join(dir, 'rc.yaml');
    writeFileSync(
      rc,
      [
        `node: { id: ${INSTANCE_IDS[0]} }`,
        'log: { level: debug, format: json }',
        'keepalived:',
        '  instances:',
        '    VI_1:',
        '      address: 198.51.100.50',
        '      actions:',
        `        - { plugin: notify, retries: 0, notifyMaster: "${logger} ${masterRuns}", notifyMasterRxLowerPri: "${logger} ${rxRuns}" }`,
        `        - { plugin: exoscale-eip, zone: ch-gva-2, endpoint: "${sim.endpoint}", apiKey: file:api-key, apiSecret: file:api-secret, startupGrace: 0s, reconcile: 0s }`,
        '',
      ].join('\n'),
    );
    const stateDir = join(dir, 'state');
    const logFile = join(dir, 'ipwarden.log');
    const ipw = `${process.execPath} ${CLI} notify --config ${rc} --state-dir ${stateDir} --log-file ${logFile} --detach`;
    const instance: VrrpInstanceSpec = {
      name: 'VI_1',
      priority: v.priority,
      ...(v.priority === 255 ? { state: 'MASTER' as const } : {}),
      routerId: 53,
      vip: '198.51.100.100/32',
      advertInt: 0.3,
      ...(v.scripts === 'notify_master' ? { notifyMaster: `${ipw} --instance VI_1 --state MASTER --priority 200` } : { notify: ipw }),
    };
    let keepalived: RunningKeepalived | undefined;
    const start = () => {
      const k = startKeepalived(lab, { host, peers: [simHost], instances: [instance] }, dir);
      t.teardown(() => k.stop('SIGKILL'));
      keepalived = k;
    };
    const logs = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
    const holders = async () => (await sim.holders()).join();
    const settled = () => {
      try {
        return (JSON.parse(readFileSync(join(stateDir, 'VI_1.json'), 'utf8')) as { settled?: { state: string } }).settled?.state;
      } catch {
        return undefined;
      }
    };
    const explain = (): void => void t.comment(`ipwarden log:\n${logs()}\nkeepalived:\n${keepalived?.output()}`);

    start();
    const first = await waitFor(async () => readArgvRecords(masterRuns).length === 1 && (await holders()) === INSTANCE_IDS[0] && settled() === 'MASTER', WAIT);
    if (!t.ok(first, 'MASTER: notifyMaster ran once, the Elastic IP is attached to this node, ipwarden remembers MASTER')) return explain();

    if (v.down === 'stop') await keepalived!.stop('SIGTERM');
    else await keepalived!.crash();
    t.equal(settled(), 'MASTER', 'keepalived is down and ipwarden still remembers MASTER');
    // Meanwhile another node took the address (as a backup becoming MASTER would).
    await sim.setHolders([INSTANCE_IDS[1]!]);
    t.equal(await holders(), INSTANCE_IDS[1], 'the Elastic IP moved to the other instance');

    start();
    const again = await waitFor(async () => readArgvRecords(masterRuns).length === 2 && (await holders()) === INSTANCE_IDS[0], WAIT);
    if (!t.ok(again, 'MASTER again after the restart: notifyMaster ran again and the Elastic IP is attached to this node only')) return explain();
    t.same(readArgvRecords(rxRuns), [], 'no re-claim script: this was a MASTER, not a MASTER_RX_LOWER_PRI');
    const transitions = logs()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event?: string; from?: string; to?: string; msg: string })
      .filter((l) => l.event === 'transition');
    t.same(
      transitions.map((l) => `${l.from}->${l.to}`),
      ['INIT->MASTER', 'INIT->MASTER'],
      'both MASTER runs from INIT (keepalived started)',
    );
    t.match(transitions[1]?.msg, /keepalived MASTER again/);
  });
}
