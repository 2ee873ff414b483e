/**
 * Reload on real daemons, each kind of change on the MASTER (lab1 MASTER, lab2 BACKUP, exoscale-eip
 * on the API simulator): no transition on either node, no attach or detach (see lib/reload-cases.ts).
 */
import t from 'tap';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { RECORDER, eipOf, fileCheck, onMaster, runCase, withCheck, type Case } from './lib/reload-cases.js';

const cases: Case[] = [];
for (const [where, on] of [['MASTER', onMaster]] as const) {
  cases.push(
    { name: `${where}: a check's timeout (the reported flap)`, ...withCheck, edits: on((cfg) => (cfg.instances.lab.checks[0].timeout = '150ms')) },
    { name: `${where}: a check's fall and weight`, ...withCheck, edits: on((cfg) => Object.assign(cfg.instances.lab.checks[0], { fall: 5, weight: 0, rise: 1 })) },
    { name: `${where}: a check added (initialState fail: it still counts as passing)`, edits: on((cfg, dir) => (cfg.instances.lab.checks = [fileCheck(dir, { initialState: 'fail' })])) },
    { name: `${where}: a check removed`, ...withCheck, edits: on((cfg) => (cfg.instances.lab.checks = [])) },
    { name: `${where}: the exoscale-eip action's parameters`, edits: on((cfg) => Object.assign(eipOf(cfg), { reconcile: '5s', retries: 2 })) },
    { name: `${where}: an action added`, edits: on((cfg, dir) => cfg.instances.lab.actions.push({ plugin: 'recorder', file: join(dir, 'rec'), name: 'rec' })), nodeExtras: () => ({ plugins: [RECORDER] }) },
    { name: `${where}: the exoscale-eip action removed (closed, not released)`, edits: on((cfg) => (cfg.instances.lab.actions = [])) },
    { name: `${where}: a peer added, then removed`, edits: [...on((cfg) => cfg.instances.lab.peers.push('127.0.0.79:7999')), ...on((cfg) => cfg.instances.lab.peers.pop())] },
    { name: `${where}: priority changed without crossing the peer's`, edits: on((cfg) => (cfg.instances.lab.priority += 20)) },
  );
}

for (const k of cases) t.test(k.name, (t) => runCase(t, k));
