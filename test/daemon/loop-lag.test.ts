/**
 * The daemon's event-loop lag monitor: a stall is noticed when it happens and the warning names
 * the in-process check whose code ran during it; the percentiles feed `status` and the metrics.
 * Real event loop, a real synchronous block.
 */
import t from 'tap';
import { LoopLagMonitor, stallOf, BLOCK_WARN_MS } from '../../src/daemon/loop-lag.js';
import { CheckRunner, scheduleCheck } from '../../src/plugins/check-runner.js';
import { defineCheck } from '../../src/plugins/api.js';
import { formatEventLoop } from '../../src/cli/status-format.js';
import type { Logger } from '../../src/log.js';

t.test('stallOf: a tick later than the threshold is a stall', async (t) => {
  t.equal(stallOf(1000, 1100, 100), undefined, 'on time');
  t.equal(stallOf(1000, 1100 + BLOCK_WARN_MS, 100), undefined, 'late by exactly the threshold');
  t.equal(stallOf(1000, 1100 + BLOCK_WARN_MS + 1, 100), BLOCK_WARN_MS + 1);
});

t.test('a synchronous in-process check that blocks 600 ms is named in the warning and in status', async (t) => {
  const warnings: { obj: Record<string, unknown>; msg: string }[] = [];
  const log = { warn: (obj: Record<string, unknown>, msg: string) => warnings.push({ obj, msg }) } as unknown as Logger;
  const blocker = defineCheck<{ ms: number }>({
    kind: 'check',
    name: 'blocker',
    parseConfig: () => ({ ok: true, config: { ms: 600 } }),
    async run({ config }) {
      const until = performance.now() + config.ms;
      while (performance.now() < until) {
        /* blocks the event loop */
      }
      return { ok: true, detail: 'done' };
    },
  });
  const quiet = defineCheck<null>({ kind: 'check', name: 'quiet', parseConfig: () => ({ ok: true, config: null }), run: async () => ({ ok: true, detail: 'ok' }) });
  const runner = new CheckRunner([scheduleCheck(blocker, { ms: 600 }, { name: 'app', instance: 'web', timeoutMs: 5000 })]);
  const idle = new CheckRunner([scheduleCheck(quiet, null, { name: 'other', instance: 'db' })]);
  t.teardown(() => Promise.all([runner.stop(), idle.stop()]));
  const monitor = new LoopLagMonitor(log, (since) => [...runner.inProcessActiveSince(since), ...idle.inProcessActiveSince(since)]);
  monitor.start();
  t.teardown(() => monitor.stop());
  t.same(monitor.status().blocks, 0);
  // the delay histogram has samples (it records from its first timer callback on)
  for (const until = Date.now() + 5000; monitor.status().p50Ms === 0 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 10));
  t.ok(monitor.status().p50Ms > 0, 'sampling');

  await runner.runOnce();
  const deadline = Date.now() + 5000;
  while (warnings.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.equal(warnings.length, 1, 'one warning');
  t.match(warnings[0]?.msg, /^event loop blocked for \d+ms \(adverts were delayed\); in-process check\(s\) running then: web\/app \(plugin blocker\)$/);
  t.match(warnings[0]?.obj, { event: 'event-loop-blocked', running: ['web/app (plugin blocker)'] });
  t.ok(Number(warnings[0]?.obj.blockedMs) >= 400, `blocked ${String(warnings[0]?.obj.blockedMs)} ms`);
  const st = monitor.status();
  t.match(st, { blocks: 1, lastBlock: { running: ['web/app (plugin blocker)'] } });
  t.ok(st.maxMs >= 400, `max delay ${st.maxMs} ms in the window so far`);
  t.match(formatEventLoop(st, Date.parse(st.lastBlock!.at)), /^event loop: delay p50 \d+ms p99 \S+ max \S+ \(last \S+\); WARNING blocked 1 time\(s\), last 0ms ago for \S+ during web\/app \(plugin blocker\)$/);
});
