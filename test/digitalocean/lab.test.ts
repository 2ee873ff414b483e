/**
 * `ipwarden lab --provider digitalocean`: three daemons with the DigitalOcean simulator; every move of
 * the reserved IP is one assign (on the new MASTER and off the old one at the same instant), never unheld.
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { CLI, STRICT } from '../lib/env.js';
import { cleanEnv, runCli } from '../exoscale-integration/lib/cli.js';
import { reservedIpMove } from '../../src/digitalocean/lab.js';

const built = existsSync(CLI);
if (!built && STRICT) throw new Error(`IPWARDEN_TEST_STRICT=1 but ${CLI} is missing (npm run build)`);

t.test('ipwarden lab --provider digitalocean moves the reserved IP with every failover', { skip: built ? false : `skipped: needs the built CLI (${CLI})` }, async (t) => {
  const r = await runCli(['lab', '--provider', 'digitalocean', '--interval', '100ms', '--operation-delay', '300ms'], cleanEnv({}), 120_000);
  t.equal(r.code, 0, r.stderr);
  const out = r.stdout;
  t.match(out, /DigitalOcean API simulator on http:\/\/127\.0\.0\.1:\d+ \(action delay 300ms\): reserved IP 203\.0\.113\.100, lab1=lb1 lab2=lb2 lab3=lb3/);
  t.match(out, /API: 203\.0\.113\.100 attached to lb1 \(holders: lb1\)/);
  const crash = /== reserved IP 203\.0\.113\.100: assigned to lb2 (\d+) ms after the kill, off lb1 after (\d+) ms \(the same action\), never unheld; holders now: lb2/.exec(out);
  t.ok(crash, 'the crash moved it with one assign, never unheld');
  t.ok(crash && Number(crash[1]) >= 300, 'not before the action completed');
  t.match(out, /== reserved IP 203\.0\.113\.100: assigned to lb1 \d+ ms after the restart, off lb2 after \d+ ms \(the same action\), never unheld/, 'preemption moves it back');
  // graceful stop: lab1's STOP releases (unassign) while the new MASTER assigns; whichever lands first,
  // the IP ends on the new MASTER (under load the STOP's unassign may land first: a short unheld stretch)
  t.match(out, /== reserved IP 203\.0\.113\.100: assigned to lb[23] \d+ ms after SIGTERM, off lb1 after \d+ ms/, 'graceful hand-over');
  if (!/assigned to lb[23] \d+ ms after SIGTERM.*never unheld/.test(out)) t.comment(out.split('\n').filter((l) => l.includes('==')).join('\n'));
});

t.test('reservedIpMove: from the holder history', async (t) => {
  const ev = (t: number, holders: string[]) => ({ t, resource: '203.0.113.100', holders, cause: 'x' });
  t.same(reservedIpMove([ev(5, ['1']), ev(20, ['2']), ev(30, [])], 10, '2', '1'), { attachedAfterMs: 10, detachedAfterMs: 10 });
  t.same(reservedIpMove([ev(20, []), ev(40, ['2'])], 10, '2', '1'), { attachedAfterMs: 30, detachedAfterMs: 10 });
  t.same(reservedIpMove([ev(5, ['1'])], 10, '2', undefined), {});
});
