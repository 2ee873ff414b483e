/**
 * No secret ever reaches a log or an operator's screen. Two real daemons at trace level, with
 * every kind of secret the config takes: the heartbeat key (file:), an HTTP check's bearer token
 * (env:), a literal API key header, a password in a check URL, and Exoscale API credentials
 * (env: on one node, a literal apiSecret on the other) against the local API simulator. They go
 * through check failures whose server echoes the credentials back, a graceful failover, API
 * calls rejected for a revoked key, and a preemption; then `config print`, `config check`,
 * `check`, `status` (table and --json) and the metrics endpoints are read. Every log file, state
 * file and output is searched for each secret value (and the encoded forms that go on the wire).
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI } from '../lib/env.js';
import { LocalCluster, type LabNode } from '../../src/lab/local-cluster.js';
import { startSimulator } from '../../src/exoscale/simulator/index.js';

const EIP = '198.51.100.50';
const TOKEN = `tok-${randomBytes(18).toString('hex')}`;
const LITERAL_API_KEY = `lit-${randomBytes(18).toString('hex')}`;
const URL_PASSWORD = `pw-${randomBytes(18).toString('hex')}`;
const EXO_KEY = `EXO${randomBytes(12).toString('hex')}`;
const EXO_SECRET = `exo-${randomBytes(24).toString('base64url')}`;
const ENV = { IPW_NOSECRET_TOKEN: `Bearer ${TOKEN}`, IPW_NOSECRET_EXO_KEY: EXO_KEY };

async function freeTcpPort(host: string): Promise<number> {
  const srv = createTcpServer();
  await new Promise<void>((r) => srv.listen(0, host, () => r()));
  const { port } = srv.address() as AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

function cli(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...ENV }, timeout: 30_000 }, (err, out, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException).code === 'number' ? Number((err as NodeJS.ErrnoException).code) : null) : 0;
      resolve({ code, out, err: stderr });
    });
  });
}

/** Runs `fn` over `items`, at most `limit` at a time (the machine is shared). */
async function inBatches<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += limit) out.push(...(await Promise.all(items.slice(i, i + limit).map(fn))));
  return out;
}

t.test('secrets stay out of logs, status, config print and metrics', async (t) => {
  // ---------------------------------------------------------------- the services the secrets are for
  let deny = false;
  const seen = { bearer: 0, apiKey: 0, basic: 0 };
  const basicAuth = `Basic ${Buffer.from(`probe:${URL_PASSWORD}`).toString('base64')}`;
  const http = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
    const good = req.url === '/basic' ? req.headers.authorization === basicAuth : req.headers.authorization === `Bearer ${TOKEN}` && req.headers['x-api-key'] === LITERAL_API_KEY;
    if (good) {
      if (req.url === '/basic') seen.basic++;
      else {
        seen.bearer++;
        seen.apiKey++;
      }
    }
    if (good && !deny) return res.writeHead(200).end('ok');
    // a careless server that echoes what it got, in a header and in the body
    const echo = `${req.headers.authorization ?? ''} ${req.headers['x-api-key'] ?? ''}`;
    res.writeHead(401, { 'www-authenticate': `Bearer error="invalid_token" got="${echo}"` }).end(`invalid credentials: ${echo}`);
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise((r) => http.close(r)));
  const httpPort = (http.address() as AddressInfo).port;

  const sim = await startSimulator({ port: 0, operationDelayMs: 50, keys: { [EXO_KEY]: EXO_SECRET } });
  t.teardown(() => sim.close());
  const ids = ['lb1', 'lb2'].map((n) => sim.state.findInstance(n)!.id);
  const holder = () => sim.state.holdersOf(EIP).join(',');

  // ---------------------------------------------------------------- the cluster
  Object.assign(process.env, ENV);
  t.teardown(() => {
    for (const k of Object.keys(ENV)) delete process.env[k];
  });
  let secretFile = '';
  const cluster = new LocalCluster({
    nodes: 2,
    intervalMs: 200,
    logLevel: 'trace',
    instanceExtras: (i) => ({
      checks: [
        {
          plugin: 'http',
          name: 'app',
          url: `http://127.0.0.1:${httpPort}/health`,
          headers: { Authorization: 'env:IPW_NOSECRET_TOKEN', 'X-Api-Key': LITERAL_API_KEY },
          interval: '300ms',
          rise: 1,
          fall: 1,
          weight: -1,
          initialState: 'ok',
        },
        { plugin: 'http', name: 'basic', url: `http://probe:${URL_PASSWORD}@127.0.0.1:${httpPort}/basic`, interval: '300ms', weight: -1, initialState: 'ok' },
      ],
      actions: [
        {
          plugin: 'exoscale-eip',
          zone: sim.zone,
          endpoint: sim.endpoint,
          apiKey: 'env:IPW_NOSECRET_EXO_KEY',
          // lb1 reads the secret from a file, lb2 has it written in the config
          apiSecret: i === 0 ? `file:${secretFile}` : EXO_SECRET,
          instanceId: ids[i],
          reconcile: '1s',
          startupGrace: '0s',
        },
      ],
    }),
  });
  t.teardown(() => cluster.destroy());
  secretFile = join(cluster.dir, 'exoscale-api-secret');
  writeFileSync(secretFile, `${EXO_SECRET}\n`, { mode: 0o600 });
  await cluster.prepare();
  const heartbeatKey = readFileSync(cluster.secretFile, 'utf8').trim();
  const [lb1, lb2] = cluster.nodes as [LabNode, LabNode];
  const metricsUrls: string[] = [];
  for (const n of cluster.nodes) {
    const port = await freeTcpPort(n.address);
    const rc = JSON.parse(readFileSync(n.configFile, 'utf8')) as Record<string, unknown>;
    writeFileSync(n.configFile, JSON.stringify({ ...rc, metrics: { listen: `${n.address}:${port}` } }, null, 2));
    metricsUrls.push(`http://${n.address}:${port}/metrics`);
  }

  const secrets: Record<string, string> = {
    'heartbeat key': heartbeatKey,
    'bearer token': TOKEN,
    'literal X-Api-Key': LITERAL_API_KEY,
    'URL password': URL_PASSWORD,
    'URL basic auth (base64)': basicAuth.slice('Basic '.length),
    'Exoscale API key': EXO_KEY,
    'Exoscale API secret': EXO_SECRET,
  };

  // ---------------------------------------------------------------- a life: checks failing, failover, API errors, preemption
  const masterIs = (id: string, instanceId: string) => async () => ((await cluster.masters()).join() === id && holder() === instanceId ? true : undefined);
  await cluster.startAll();
  await cluster.waitFor('lb1 MASTER holding the EIP', 15_000, masterIs(lb1.id, ids[0]!));
  t.pass('lb1 is MASTER and holds the Elastic IP');

  deny = true; // the check server rejects (and echoes the credentials) for a few runs
  await new Promise((r) => setTimeout(r, 1000));
  deny = false;

  await cluster.kill(lb1, 'SIGTERM');
  await cluster.waitFor('lb2 MASTER holding the EIP', 15_000, masterIs(lb2.id, ids[1]!));
  t.pass('graceful failover: lb2 holds the Elastic IP');

  sim.keys.delete(EXO_KEY); // the key is revoked: lb2's reconcile calls are refused
  await new Promise((r) => setTimeout(r, 2000));
  sim.keys.set(EXO_KEY, EXO_SECRET);

  await cluster.start(lb1);
  await cluster.waitFor('lb1 MASTER again (preempt)', 15_000, masterIs(lb1.id, ids[0]!));
  t.pass('preemption: lb1 holds the Elastic IP again');
  t.ok(seen.bearer > 0 && seen.apiKey > 0 && seen.basic > 0, 'the checks sent the token, the literal key and the URL password');

  // ---------------------------------------------------------------- what operators read
  const outputs: Record<string, string> = {};
  const commands = cluster.nodes.flatMap((n) =>
    [['config', 'print'], ['config', 'print', '--json'], ['config', 'check'], ['check'], ['check', '--json'], ['status'], ['status', '--json']].map((args) => ({ n, args })),
  );
  const results = await inBatches(commands, 4, async ({ n, args }) => ({ n, args, r: await cli([...args, '--config', n.configFile]) }));
  for (const { n, args, r } of results) {
    outputs[`${n.id}: ipwarden ${args.join(' ')}`] = `${r.out}\n${r.err}`;
    if (args[0] === 'config' || args[0] === 'status') t.equal(r.code, 0, `${n.id}: ipwarden ${args.join(' ')} exits 0\n${r.err}`);
    if (args.join(' ') === 'status --json') {
      const status = JSON.parse(r.out) as { instances: { checks: { name: string }[] }[] };
      t.same(status.instances[0]!.checks.map((c) => c.name).sort(), ['app', 'basic'], `${n.id}: status --json shows the checks`);
    }
  }
  t.match(outputs[`${lb2.id}: ipwarden config check`], /apiSecret: a literal secret/, 'the literal apiSecret draws a warning (without its value)');
  for (const url of metricsUrls) {
    const res = await fetch(url).catch((err: Error) => err);
    if (res instanceof Error) t.fail(`metrics ${url}: ${res.message}`);
    else {
      t.equal(res.status, 200, `metrics ${url}`);
      outputs[`metrics ${url}`] = await res.text();
    }
  }
  await cluster.stopAll();

  // ---------------------------------------------------------------- search
  const files = readdirSync(cluster.dir)
    .filter((f) => !/^lab\d+\.json$/.test(f) && f !== 'secret' && f !== 'exoscale-api-secret' && !f.endsWith('.sock'))
    .map((f) => join(cluster.dir, f));
  const logs = files.filter((f) => f.endsWith('.log'));
  t.equal(logs.length, 2, 'two daemon logs');
  const texts: Record<string, string> = { ...outputs };
  for (const f of files) texts[f] = readFileSync(f, 'utf8');

  for (const f of logs) {
    const lines = texts[f]!.split('\n').filter(Boolean);
    t.ok(lines.length > 50, `${f}: ${lines.length} lines`);
    t.ok(lines.some((l) => /"level":"(trace|debug)"/.test(l)), `${f}: trace/debug lines are there`);
  }
  t.match(texts[lb2.logFile]!, /403|401|forbidden|signature|unauthori[sz]ed|credential/i, 'lb2 logged the refused API calls');
  t.match(texts[lb1.logFile]!, /401/, 'lb1 logged the failing checks');

  let leaks = 0;
  for (const [where, text] of Object.entries(texts)) {
    for (const [what, value] of Object.entries(secrets)) {
      if (text.includes(value)) {
        leaks++;
        const line = text.split('\n').find((l) => l.includes(value))!;
        t.fail(`${what} appears in ${where}: ${line.slice(0, 300)}`);
      }
    }
  }
  t.equal(leaks, 0, `no secret in ${Object.keys(texts).length} logs and outputs`);
});
