/**
 * The controller's scheduling on a fake clock with an in-memory provider (no I/O, no real waits):
 * startup grace, the confirming pass after a MASTER transition, retries with backoff, reconcile, and
 * the single-holder rules (one attach moves it; a yielding MASTER never detaches itself).
 */
import t from 'tap';
import { createLogger } from '../../src/log.js';
import { FloatingIpController, type FloatingIpControllerSettings } from '../../src/cloud/controller.js';
import { FakeTimerClock } from '../lib/fake-timer-clock.js';
import { CloudApiError, type FloatingIpProvider, type HolderMode } from '../../src/cloud/provider.js';

class MemoryProvider implements FloatingIpProvider {
  readonly cloud = 'memory';
  readonly address = '203.0.113.7';
  held: string[] = [];
  calls: string[] = [];
  failNext = 0;
  constructor(
    readonly holderMode: HolderMode,
    readonly me: string,
  ) {}
  describe() {
    return `memory IP ${this.address}`;
  }
  #maybeFail(call: string) {
    this.calls.push(call);
    if (this.failNext > 0) {
      this.failNext--;
      throw new CloudApiError('memory', 'retryable', `${call}: 503`);
    }
  }
  async holders() {
    this.#maybeFail('holders');
    return [...this.held];
  }
  async attach(target: string) {
    this.#maybeFail(`attach ${target}`);
    if (this.holderMode === 'single') this.held = [target];
    else if (!this.held.includes(target)) this.held.push(target);
  }
  async detach(target: string) {
    this.#maybeFail(`detach ${target}`);
    this.held = this.held.filter((h) => h !== target);
  }
  async self() {
    return this.me;
  }
}

function setup(mode: HolderMode, settings: Partial<FloatingIpControllerSettings> = {}) {
  const clock = new FakeTimerClock();
  const p = new MemoryProvider(mode, 'me');
  const c = new FloatingIpController(p, { strategy: 'move', release: true, onApiUnreachable: 'hold', reconcileMs: 0, startupGraceMs: 0, settleMs: 1_000, retryMinMs: 100, retryMaxMs: 400, clock, ...settings }, createLogger({ level: 'silent' }));
  return { clock, p, c };
}
const never = () => new AbortController().signal;

t.test('startup grace: released only when the grace is over (fake time)', async (t) => {
  const { clock, p, c } = setup('multi', { startupGraceMs: 10_000 });
  p.held = ['me'];
  await c.transition('INIT', 'BACKUP', never());
  await clock.advance(0);
  t.same(p.calls, ['holders'], 'one read at startup (this node learns it holds it), no change during the grace');
  await clock.advance(9_999);
  t.same(p.held, ['me']);
  await clock.advance(2);
  t.same(p.held, [], 'released after 10 s');
  await c.close();
});

t.test('one confirming pass one settle time after a MASTER transition, then nothing (reconcile off)', async (t) => {
  const { clock, p, c } = setup('multi');
  await c.transition('BACKUP', 'MASTER', never());
  t.same(p.held, ['me']);
  t.same(clock.pending, [1_000], 'the confirming pass is scheduled');
  p.held = []; // another node's change lands after our read
  await clock.advance(1_000);
  t.same(p.held, ['me'], 'repaired by the confirming pass');
  t.same(clock.pending, [], 'then no timer: zero calls in steady state');
  await c.close();
});

t.test('retries with backoff after API faults; hold keeps MASTER', async (t) => {
  const { clock, p, c } = setup('multi');
  p.failNext = 3;
  await c.transition('BACKUP', 'MASTER', never());
  t.same(p.held, [], 'the API failed: nothing done, the hook resolved (hold)');
  const first = clock.pending[0]!;
  t.ok(first >= 80 && first <= 120, `first retry after ~100 ms (${first})`);
  await clock.advance(first);
  const second = clock.pending[0]!;
  t.ok(second >= 160 && second <= 240, `then ~200 ms (${second})`);
  await clock.advance(second);
  await clock.advance(clock.pending[0]!);
  t.same(p.held, ['me'], 'converged once the API answered');
  await c.close();
});

t.test('reconcile repairs drift every reconcile interval while MASTER', async (t) => {
  const { clock, p, c } = setup('multi', { reconcileMs: 5_000, settleMs: 5_000 });
  await c.transition('BACKUP', 'MASTER', never());
  await clock.advance(5_000); // the confirming pass
  p.held = ['other'];
  await clock.advance(5_000);
  t.same(p.held, ['me'], 'attached here and the other fenced');
  await c.close();
});

t.test('the confirming pass comes no later than a reconcile pass, however long the settle time grew', async (t) => {
  // chaos, Hetzner seed 1194138843 (episodes 96, 101, 102): after 10 s lock waits the settle time was ~20 s,
  // and the confirming pass (which takes precedence over reconcile) repaired an in-flight assign of a
  // briefly-MASTER peer 11 s after it landed instead of within reconcile (5 s)
  const { clock, p, c } = setup('single', { reconcileMs: 5_000, settleMs: 20_000 });
  await c.transition('BACKUP', 'MASTER', never());
  t.same(clock.pending, [5_000], 'the confirming pass is due after the reconcile interval');
  p.held = ['other']; // a peer's change lands after our read
  await clock.advance(5_000);
  t.same(p.held, ['me'], 'repaired within one reconcile interval');
  await c.close();
});

t.test('single-holder: one attach moves it; a yielding MASTER never detaches itself', async (t) => {
  const { clock, p, c } = setup('single');
  p.held = ['other'];
  await c.transition('BACKUP', 'MASTER', never());
  t.same(p.calls, ['holders', 'attach me', 'holders'], 'read, one attach (moves it), read back');
  t.same(p.held, ['me']);
  p.calls = [];
  await c.transition('MASTER', 'BACKUP', never());
  t.same(p.calls, [], 'hand-over: no call at the transition, the new MASTER\'s attach moves it');
  await clock.advance(1_000);
  t.same(p.calls, ['holders'], 'one read a settle time later (the confirming pass), nothing detached');
  t.same(p.held, ['me']);
  await c.transition('BACKUP', 'FAULT', never());
  t.same(p.held, [], 'FAULT releases');
  t.throws(() => new FloatingIpController(p, { strategy: 'all-healthy', release: true, onApiUnreachable: 'hold', reconcileMs: 0, startupGraceMs: 0 }, createLogger({ level: 'silent' })), /strategy all-healthy needs a cloud whose address can sit on several targets/);
  await c.close();
});

t.test('a node that read itself unheld, and attached nothing since, attaches without reading first', async (t) => {
  for (const mode of ['single', 'multi'] as const) {
    const { p, c } = setup(mode);
    p.held = ['other'];
    await c.transition('INIT', 'BACKUP', never());
    t.same(p.calls, ['holders'], `${mode}: the BACKUP's release pass reads: not held here`);
    p.calls = [];
    await c.transition('BACKUP', 'MASTER', never());
    t.same(p.calls, mode === 'single' ? ['attach me', 'holders'] : ['attach me', 'holders', 'detach other', 'holders'], `${mode}: MASTER: attach first, then the read-back (one round trip less)`);
    t.same(p.held, ['me']);
    p.calls = [];
    await c.transition('MASTER', 'MASTER', never());
    t.same(p.calls, ['holders'], `${mode}: once it attached, a pass reads first again`);
    await c.close();
  }
  // nothing known (a fresh node, or the last read listed it): read first
  const { p, c } = setup('multi');
  p.held = ['other'];
  await c.transition('BACKUP', 'MASTER', never());
  t.same(p.calls, ['holders', 'attach me', 'holders', 'detach other', 'holders'], 'a node that never read reads first');
  await c.close();
});

t.test('a failed attach forgets "unheld": the retry reads first (the attach may have landed)', async (t) => {
  const { clock, p, c } = setup('multi');
  await c.transition('INIT', 'BACKUP', never());
  p.calls = [];
  p.failNext = 1;
  await c.transition('BACKUP', 'MASTER', never());
  t.same(p.calls, ['attach me'], 'the attach failed (held: the hook resolves, a retry is scheduled)');
  p.held = ['me']; // its answer was lost, but it landed
  p.calls = [];
  await clock.advance(clock.pending[0]!);
  t.same(p.calls, ['holders'], 'the retry reads first, sees it held, and sends nothing');
  await c.close();
});

t.test('hand-over: the confirming read learns the successor took it, so the next MASTER pass attaches at once', async (t) => {
  const { clock, p, c } = setup('multi');
  await c.transition('BACKUP', 'MASTER', never());
  await clock.advance(1_000); // its confirming pass
  t.same(p.held, ['me']);
  p.calls = [];
  await c.transition('MASTER', 'BACKUP', never()); // a better peer preempts
  t.same(p.calls, [], 'no call at the transition');
  t.same(clock.pending, [1_000], 'one read due a settle time later');
  p.held = ['other']; // the new MASTER attached and fenced us
  await clock.advance(1_000);
  t.same(p.calls, ['holders'], 'the confirming read');
  t.same(clock.pending, [], 'then nothing (a BACKUP does not reconcile)');
  p.calls = [];
  await c.transition('BACKUP', 'MASTER', never()); // the better peer dies
  t.same(p.calls.slice(0, 2), ['attach me', 'holders'], 'attach first');
  t.same(p.held, ['me']);
  t.same(clock.pending, [1_000], 'only the confirming pass: the fencing left no watch timer behind');
  // a MASTER stopping while a live peer takes over makes no call at all
  p.calls = [];
  await c.transition('MASTER', 'STOP', never(), 'handover');
  t.same(p.calls, [], 'STOP (hand-over): no call');
  t.same(clock.pending, [], 'and none scheduled');
  t.same(p.held, ['me'], 'the successor\'s fencing moves it');
  await c.close();
});
