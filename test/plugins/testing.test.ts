/**
 * "ipwarden/testing" and the kit's config adapter, through the modules behind the entry points:
 * runCheck/runAction parse the config with the plugin, run it the way the daemon does, and keep time
 * virtual (a plugin that waits 30 s between steps runs in milliseconds of real time, and its clock
 * says 30 s passed); schemaConfig takes any Standard Schema validator, not only ipwarden's zod.
 */
import t, { type Test } from 'tap';
import { z } from 'zod';
import { Agent, createServer, get as httpGet } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { defineAction, defineCheck } from '../../src/index.js';
import { schemaConfig, type StandardSchemaV1 } from '../../src/kit.js';
import { PluginConfigError, runAction, runCheck } from '../../src/testing.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** The real timer, kept before any run replaces the global one. */
const realSetTimeout = setTimeout;

// the parser as a module-level const: TypeScript infers the plugin's config type from it
const parseSlow = schemaConfig(z.object({ waitMs: z.number().int().min(0) }).strict());
const slowCheck = defineCheck({
  kind: 'check',
  name: 'slow',
  parseConfig: parseSlow,
  async run({ config, signal }) {
    const t0 = Date.now();
    await sleep(config.waitMs);
    if (signal.aborted) return { ok: false, detail: `aborted after ${Date.now() - t0} ms` };
    return { ok: true, detail: `waited ${Date.now() - t0} ms` };
  },
});

t.test('runCheck: fake time, the check timeout, a bad config names the key', async (t) => {
  const t0 = performance.now();
  t.same(await runCheck(slowCheck, { waitMs: 3000 }), { ok: true, detail: 'waited 3000 ms' }, 'the plugin saw 3 s pass');
  t.same(await runCheck(slowCheck, { waitMs: 60_000 }, { timeout: '2s' }), { ok: false, detail: 'aborted after 60000 ms' }, 'the signal fired at the 2 s limit');
  t.ok(performance.now() - t0 < 2000, `in ${Math.round(performance.now() - t0)} ms of real time`);
  await t.rejects(runCheck(slowCheck, { waitMs: -1 }), PluginConfigError);
  await t.rejects(runCheck(slowCheck, { wait: 1 }), /invalid plugin config: .*wait/);
  t.equal(setTimeout, globalThis.setTimeout, 'the real timers are back');
  const before = Date.now();
  await sleep(20);
  t.ok(Date.now() - before >= 15, 'and Date.now is real again');
});

t.test('runCheck: a check doing real I/O is not rushed by the fake clock', async (t) => {
  const server = createServer((_req, res) => setImmediate(() => res.end('up')));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const { port } = server.address() as AddressInfo;
  const httpCheck = defineCheck({
    kind: 'check',
    name: 'get',
    parseConfig: (raw) => ({ ok: true, config: raw as { port: number } }),
    async run({ config, signal }) {
      const res = await fetch(`http://127.0.0.1:${config.port}/`, { signal });
      return { ok: res.ok, detail: await res.text() };
    },
  });
  t.same(await runCheck(httpCheck, { port }), { ok: true, detail: 'up' });
  t.same(await runCheck(httpCheck, { port }, { timeout: '100ms' }), { ok: true, detail: 'up' }, 'the short timeout does not fire while the socket is busy');
});

t.test('runAction: transitions in order, `after` is virtual time, errors are reported per step', async (t) => {
  const seen: string[] = [];
  const parseConfig = schemaConfig(z.object({ failOn: z.enum(['MASTER', 'BACKUP']).optional() }).strict());
  const action = defineAction({
    kind: 'action',
    name: 'recorder',
    parseConfig,
    create({ config, instance }) {
      const start = Date.now();
      let timer: NodeJS.Timeout | undefined;
      return {
        async onMaster(e) {
          if (config.failOn === 'MASTER') throw new Error('no API');
          seen.push(`${e.from}->MASTER at ${Date.now() - start} for ${instance.address}`);
          // a reconcile loop of its own: virtual time drives it too
          timer = setInterval(() => seen.push(`reconcile at ${Date.now() - start}`), 10_000);
        },
        async onBackup(e) {
          clearInterval(timer);
          seen.push(`${e.from}->BACKUP at ${Date.now() - start}`);
        },
        async close() {
          clearInterval(timer);
        },
      };
    },
  });
  const t0 = performance.now();
  const steps = await runAction(action, {}, ['MASTER', { to: 'BACKUP', after: '30s' }]);
  t.ok(performance.now() - t0 < 2000, `30 virtual seconds in ${Math.round(performance.now() - t0)} ms`);
  t.same(steps.map((s) => [s.from, s.to, s.atMs, s.ok]), [['INIT', 'MASTER', 0, true], ['MASTER', 'BACKUP', 30_000, true]]);
  t.same(seen, ['INIT->MASTER at 0 for 198.51.100.10', 'reconcile at 10000', 'reconcile at 20000', 'reconcile at 30000', 'MASTER->BACKUP at 30000']);
  const failed = await runAction(action, { failOn: 'MASTER' }, ['MASTER', 'FAULT']);
  t.match(failed, [{ to: 'MASTER', ok: false, error: 'no API' }, { to: 'FAULT', ok: true }]);
  await t.rejects(runAction(action, {}, [{ to: 'MASTER', after: 'soon' }]), /after "soon" is not a duration/);
});

t.test('schemaConfig: any Standard Schema validator, its issues mapped to paths', async (t) => {
  // a validator from "another library": just the ~standard interface
  const port: StandardSchemaV1<unknown, { port: number }> = {
    '~standard': {
      version: 1,
      vendor: 'hand-made',
      validate(value) {
        const v = value as { port?: unknown };
        if (typeof v.port !== 'number') return { issues: [{ message: 'expected a number', path: [{ key: 'port' }] }] };
        return { value: { port: v.port } };
      },
    },
  };
  const parse = schemaConfig(port, (v, env) => ({ ...v, where: env.baseDir }));
  const env = { baseDir: '/etc/ipwarden', resolveSecret: (r: string) => r };
  t.same(parse({ port: 8080 }, env), { ok: true, config: { port: 8080, where: '/etc/ipwarden' } }, 'finish() sees the environment');
  t.same(parse({ port: 'x' }, env), { ok: false, issues: [{ path: ['port'], message: 'expected a number' }] });
  const zodParse = schemaConfig(z.object({ hosts: z.array(z.string()) }));
  t.match(zodParse({ hosts: ['a', 1] }, env), { ok: false, issues: [{ path: ['hosts', 1] }] }, 'zod 4 through ~standard');
  const asyncSchema: StandardSchemaV1 = { '~standard': { version: 1, vendor: 'x', validate: async () => ({ value: 1 }) } };
  t.match(schemaConfig(asyncSchema)({}, env), { ok: false, issues: [{ message: /synchronous/ }] });
});

/** A loopback HTTP server for one test (closed with it, kept-alive connections too); its port. */
async function serve(t: Test, handler: Parameters<typeof createServer>[1]): Promise<number> {
  const server = createServer(handler);
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

/**
 * A slow answer on a connection kept alive from an earlier request: nothing new is opened (no connect,
 * the write ends at once), yet the plugin is waiting on the server, not on its timers. Virtual time
 * must not jump to the request's timeout meanwhile, neither while a handler runs nor during `after`.
 * (CI saw toycloud-ip's STOP detach time out and be sent twice this way.)
 */
t.test('runAction: a request awaiting its answer on a kept-alive connection holds virtual time', async (t) => {
  let requests = 0;
  const port = await serve(t, (req, res) => {
    requests++;
    const slow = req.url === '/slow';
    // real time: the answer comes after the plugin's write has long completed
    realSetTimeout(() => res.end(slow ? 'slow' : 'fast'), slow ? 300 : 0);
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  /** GET with a 5 s timeout on the (fake) global timers, the way the kit's HTTP layer times a request. */
  const get = (path: string, via: 'http' | 'fetch') =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${via} ${path}: timed out at virtual ${Date.now() - start} ms`)), 5000);
      const done = (v: string) => (clearTimeout(timer), resolve(v));
      if (via === 'fetch') {
        fetch(`http://127.0.0.1:${port}${path}`).then((r) => r.text()).then(done, reject);
        return;
      }
      httpGet({ host: '127.0.0.1', port, path, agent }, (res) => {
        let body = '';
        res.on('data', (c) => (body += String(c)));
        res.on('end', () => done(body));
      }).on('error', reject);
    });
  let start = 0;
  const seen: string[] = [];
  const action = defineAction({
    kind: 'action',
    name: 'keepalive',
    parseConfig: (raw) => ({ ok: true, config: raw as { via: 'http' | 'fetch' } }),
    create({ config }) {
      start = Date.now();
      let timer: NodeJS.Timeout | undefined;
      return {
        async onMaster() {
          seen.push(await get('/fast', config.via)); // opens the connection kept alive for the next ones
          // a background pass 1 s later, answered slowly, while the next step's `after` runs
          timer = setTimeout(() => void get('/slow', config.via).then((b) => seen.push(`background ${b}`), (e: Error) => seen.push(e.message)), 1000);
        },
        async onBackup() {
          clearTimeout(timer);
          seen.push(await get('/slow', config.via));
        },
      };
    },
  });
  for (const via of ['http', 'fetch'] as const) {
    seen.length = 0;
    requests = 0;
    const steps = await runAction(action, { via }, ['MASTER', { to: 'BACKUP', after: '10s' }]);
    t.match(steps, [{ to: 'MASTER', ok: true }, { to: 'BACKUP', ok: true }], `${via}: ${JSON.stringify(steps)}`);
    t.same(seen, ['fast', 'background slow', 'slow'], `${via}: no request timed out while its answer was on its way`);
    t.equal(requests, 3, `${via}: each request sent once`);
  }
});

t.test('runCheck: a request the server never answers is taken for hung after 1 s of real silence; the check\'s own timeout fires', async (t) => {
  const port = await serve(t, () => undefined); // accepts, never answers
  const hungCheck = defineCheck({
    kind: 'check',
    name: 'hung',
    parseConfig: (raw) => ({ ok: true, config: raw as { port: number } }),
    async run({ config, signal }) {
      const started = Date.now();
      try {
        await fetch(`http://127.0.0.1:${config.port}/`, { signal });
        return { ok: true, detail: 'answered' };
      } catch {
        return { ok: false, detail: `no answer after ${Date.now() - started} virtual ms` };
      }
    },
  });
  const t0 = performance.now();
  t.same(await runCheck(hungCheck, { port }, { timeout: '30s' }), { ok: false, detail: 'no answer after 30000 virtual ms' }, 'the 30 s limit fired in virtual time');
  const real = performance.now() - t0;
  t.ok(real >= 1000 && real < 8000, `after ${Math.round(real)} ms of real time (1 s of silence, not 30 s, not the run's 10 s limit)`);
});
