/**
 * `ipwarden lab` with the API simulator: the demo prints, for each move, when the Elastic IP was
 * attached to the new MASTER and detached from the old one, and ends with it on one instance.
 */
import t from 'tap';
import { cleanEnv, runCli } from './lib/cli.js';

t.test('ipwarden lab moves the Elastic IP with every failover and reports it', async (t) => {
  const r = await runCli(['lab', '--interval', '100ms', '--operation-delay', '30ms'], cleanEnv({}), 90_000);
  t.equal(r.code, 0, r.stderr);
  const out = r.stdout;
  t.match(out, /Exoscale API simulator on http:\/\/127\.0\.0\.1:\d+\/v2 \(operation delay 30ms\): EIP 198\.51\.100\.50, lab1=lb1 lab2=lb2 lab3=lb3/);
  // the daemons start together: a node that answers first may be MASTER for a moment before lab1 preempts it
  t.match(out, /== lab1 is MASTER/);
  t.match(out, /== EIP 198\.51\.100\.50: attached to lb1 \d+ ms after the start/, 'lab1, the best node, holds it once the cluster settled');
  t.match(out, /== EIP 198\.51\.100\.50: attached to lb2 \d+ ms after the kill, detached from lb1 after \d+ ms, on two instances for \d+ ms at most, never unheld; holders now: lb2/);
  t.match(out, /== EIP 198\.51\.100\.50: attached to lb1 \d+ ms after the restart, detached from lb2 after \d+ ms/, 'preemption moves it back');
  t.match(out, /== EIP 198\.51\.100\.50: attached to lb2 \d+ ms after SIGTERM, detached from lb1 after \d+ ms/, 'graceful hand-over');
  t.match(out, /after the crash: EIP 198\.51\.100\.50: attached to lb2/);
  const crash = /attached to lb2 (\d+) ms after the kill, detached from lb1 after (\d+) ms/.exec(out)!;
  t.ok(Number(crash[1]) <= Number(crash[2]), 'make-before-break');

  const plain = await runCli(['lab', '--interval', '100ms', '--election-only'], cleanEnv({}), 90_000);
  t.equal(plain.code, 0, plain.stderr);
  t.notMatch(plain.stdout, /simulator|EIP 198/, '--election-only: no API, no Elastic IP lines');
  t.match(plain.stdout, /summary: crash takeover \d+ ms/);
});
