/**
 * The three AWS providers on the shared floating-IP controller, against the simulator over HTTP:
 * failover (one call moves the address, the old MASTER's release does not undo it), API down during
 * the failover (hold, then converge when it returns), throttling absorbed, a stray change repaired by a
 * pass, release on STOP, and an auth failure reported with the credential source, never the secret.
 */
import t from 'tap';
import { Writable } from 'node:stream';
import { FloatingIpController, type FloatingIpControllerSettings } from '../../src/cloud/controller.js';
import { createLogger } from '../../src/log.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EC2_CALLS } from '../../src/aws/simulator/ec2.js';
import { ROOT } from '../lib/env.js';
import { awsProvider, startAwsSuiteSim, type AwsMode } from './fixtures.js';

/** The EC2 actions a least-privilege policy in contrib/aws allows. */
function policyActions(file: string): Set<string> {
  const doc = JSON.parse(readFileSync(join(ROOT, 'contrib', 'aws', file), 'utf8')) as { Statement: Array<{ Action: string[] }> };
  return new Set(doc.Statement.flatMap((st) => st.Action.map((a) => a.replace(/^ec2:/, ''))));
}

const FAST: FloatingIpControllerSettings = {
  strategy: 'move',
  release: true,
  onApiUnreachable: 'hold',
  reconcileMs: 0,
  startupGraceMs: 0,
  watchIntervalMs: 20,
  retryMinMs: 50,
  retryMaxMs: 200,
  settleMs: 100,
};
const never = (): AbortSignal => new AbortController().signal;

function logger() {
  const chunks: string[] = [];
  const stream = new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c.toString()), cb()) });
  return { log: createLogger({ level: 'debug', destination: stream }), text: () => chunks.join('') };
}

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

for (const mode of ['eip', 'private-ip', 'route'] as AwsMode[]) {
  t.test(`aws ${mode}`, async (t) => {
    t.test('failover: one call moves it; the old MASTER\'s release leaves the new holder alone', async (t) => {
      const s = await startAwsSuiteSim(t, mode);
      const [a, b] = s.targets;
      const { log } = logger();
      const ca = new FloatingIpController(awsProvider(t, s, a), FAST, log);
      const cb = new FloatingIpController(awsProvider(t, s, b), FAST, log);
      t.teardown(() => Promise.all([ca.close(), cb.close()]));
      await ca.transition('INIT', 'MASTER', never());
      t.same(s.holders(), [a]);
      const since = Date.now();
      await cb.transition('BACKUP', 'MASTER', never());
      await ca.transition('MASTER', 'BACKUP', never());
      t.same(s.holders(), [b], 'held by the new MASTER');
      t.notOk(s.changes(since).includes(`detach ${b}`), 'the new holder was never detached');
      if (mode !== 'route') t.equal(s.maxUnheldMs(since), 0, 'never unheld: the move is atomic');
      await cb.transition('MASTER', 'STOP', never());
      t.same(s.holders(), [], 'released on STOP');
      const byCall = new Map(Object.entries(EC2_CALLS).map(([action, call]) => [call as string, action]));
      const used = new Set(s.sim.requests().filter((r) => r.call !== 'metadata').map((r) => byCall.get(r.call) ?? r.call));
      const allowed = policyActions(`iam-policy-aws-${mode}.json`);
      t.same([...used].filter((a) => !allowed.has(a)), [], `contrib/aws/iam-policy-aws-${mode}.json allows every call made (${[...used].sort().join(', ')})`);
    });

    t.test('API down during failover: hold, converge when it returns; throttling absorbed; drift repaired', async (t) => {
      const s = await startAwsSuiteSim(t, mode);
      const [a, b, c] = s.targets;
      s.setHolders([a]);
      const { log } = logger();
      const cb = new FloatingIpController(awsProvider(t, s, b), FAST, log);
      t.teardown(() => cb.close());
      const restore = s.failApi();
      await cb.transition('BACKUP', 'MASTER', never());
      t.same(s.holders(), [a], 'nothing changed while the API is down');
      restore();
      await until('the MASTER holds it after the API came back', () => s.holders().join() === b);
      s.rateLimit(2);
      s.setHolders([c]);
      await cb.converge('test');
      t.same(s.holders(), [b], 'a stray change repaired by the next pass');
      t.ok(s.rateLimited() >= 1, 'RequestLimitExceeded answers were retried');
    });

    t.test('a wrong secret: one clear error naming the credential source', async (t) => {
      const s = await startAwsSuiteSim(t, mode);
      const { log } = logger();
      const p = awsProvider(t, s, s.targets[0], { accessKeyId: 'AKIAIPWARDENSIMULATOR', secretAccessKey: 'wrong-secret-value-123', source: 'secretAccessKey env:LB_AWS_SECRET' });
      const c = new FloatingIpController(p, { ...FAST, onApiUnreachable: 'release' }, log);
      t.teardown(() => c.close());
      const err = await c.transition('INIT', 'MASTER', never()).then(() => undefined, (e: unknown) => e as Error);
      t.ok(err, 'the transition fails');
      t.match(err!.message, /AuthFailure.*credentials from secretAccessKey env:LB_AWS_SECRET/);
      t.notMatch(err!.message, 'wrong-secret-value');
    });
  });
}
