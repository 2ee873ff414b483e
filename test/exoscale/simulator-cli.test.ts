/**
 * The simulator runner (`ipwarden simulate exoscale`): banner with endpoint and test
 * credentials, attach/detach lines, --verbose request lines, flags, --state files,
 * fault specs, usage errors and a clean stop.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { ExoscaleClient } from '../../src/exoscale/client.js';
import { parseFaultSpec } from '../../src/exoscale/simulator/faults.js';
import { parseSimulatorArgs, runSimulatorCli, type RunningSimulator } from '../../src/exoscale/simulator/index.js';
import { EIP, KEY, LB1, SECRET, until } from './lib/sim.js';

function capture() {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (c: Buffer) => (text += c.toString()));
  return { stream, text: () => text };
}

t.test('runs, prints where and how to connect, logs attaches, stops on abort', async (t) => {
  const out = capture();
  const err = capture();
  const ac = new AbortController();
  let sim: RunningSimulator | undefined;
  const done = runSimulatorCli(['--port', '0', '--operation-delay', '10ms', '--verbose'], {
    stdout: out.stream,
    stderr: err.stream,
    signal: ac.signal,
    onReady: (s) => (sim = s),
  });
  t.teardown(() => ac.abort());
  await until(() => out.text().includes('elastic IPs:'));
  const banner = out.text();
  const endpoint = /EXOSCALE_API_ENDPOINT=(\S+)/.exec(banner)?.[1];
  t.match(endpoint, /^http:\/\/127\.0\.0\.1:\d+\/v2$/);
  t.match(banner, `EXOSCALE_API_KEY=${KEY}`);
  t.match(banner, `EXOSCALE_API_SECRET=${SECRET}`);
  t.match(banner, /lb1\s+10000000-0000-4000-8000-000000000001\s+198\.51\.100\.11/);
  t.match(banner, /198\.51\.100\.50\s+e1a571c0-\S+\s+manual\s+holders: -/);

  const client = new ExoscaleClient({ apiKey: KEY, apiSecret: SECRET, zone: 'ch-gva-2', endpoint: endpoint!, pollIntervalMs: 10 });
  t.teardown(() => client.close());
  await client.ensureAttached(EIP, LB1);
  await until(() => out.text().includes('attach 198.51.100.50 to lb1 (api); holders: lb1'));
  t.match(out.text(), /PUT \/v2\/elastic-ip\/\S+:attach 200/, '--verbose prints requests');
  ac.abort();
  t.equal(await done, 0);
  t.match(out.text(), /stopped\n$/);
  t.equal(err.text(), '');
  t.equal(sim?.endpoint, endpoint, 'onReady hands over the running simulator');
});

t.test('flags', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ipw-sim-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const world = join(dir, 'world.json');
  writeFileSync(world, JSON.stringify({ instances: [{ name: 'a', publicIp: '203.0.113.5', securityGroups: ['lb'] }], elasticIps: [{ ip: '203.0.113.50', holders: ['a'] }] }));
  const p = parseSimulatorArgs(['-p', '9999', '--zone', 'de-fra-1', '--api-key', 'EXOk', '--api-secret', 's', '--operation-delay', '2s', '--duplicates', 'succeed', '--fault', 'latency:ms=20,jitter=5', '--fault', 'error:rate=0.5,status=502,calls=get-instance+list-instances', '--fault-seed', '7', '--state', world]);
  t.match(p.options, {
    port: 9999,
    zone: 'de-fra-1',
    keys: { EXOk: 's' },
    operationDelayMs: 2000,
    duplicates: 'succeed',
    faultSeed: 7,
    faults: [{ kind: 'latency', ms: 20, jitterMs: 5 }, { kind: 'error', rate: 0.5, status: 502, calls: ['get-instance', 'list-instances'] }],
    instances: [{ name: 'a' }],
    elasticIps: [{ ip: '203.0.113.50' }],
  });
  t.same(parseSimulatorArgs(['--empty']).options.instances, []);
  t.equal(parseSimulatorArgs([]).options.port, 8580, 'default port');

  const usage = async (args: string[], re: RegExp) => {
    const err = capture();
    t.equal(await runSimulatorCli(args, { stdout: capture().stream, stderr: err.stream }), 2, args.join(' '));
    t.match(err.text(), re);
  };
  await usage(['--port', 'x'], /--port: expected 0\.\.65535/);
  await usage(['--operation-delay', 'soon'], /--operation-delay: expected a duration/);
  await usage(['--duplicates', 'maybe'], /--duplicates: expected one of/);
  await usage(['--fault', 'explode'], /--fault: fault kind: /);
  await usage(['--fault', 'error:status=404'], /--fault: fault status: .*in "error:status=404"/);
  await usage(['--fault', 'latency:wait=3'], /unknown key "wait"/);
  await usage(['--zone', 'Geneva'], /--zone: "Geneva" is not a zone name/);
  await usage(['--state', join(dir, 'missing.json')], /--state: cannot read .*ENOENT/);
  writeFileSync(join(dir, 'bad.json'), JSON.stringify({ instances: [{ nam: 'x' }] }));
  await usage(['--state', join(dir, 'bad.json')], /--state: .*bad\.json: state instances\.0/);
  await usage(['--state', world, '--empty'], /exclude each other/);
  await usage(['--bogus'], /Unknown option/);
  await usage(['extra'], /unexpected argument "extra"/);

  const help = capture();
  t.equal(await runSimulatorCli(['--help'], { stdout: help.stream, stderr: capture().stream }), 0);
  t.match(help.text(), /usage: ipwarden simulate exoscale/);
  t.match(help.text(), /--fault SPEC/);
});

t.test('fault specs', async (t) => {
  t.same(parseFaultSpec('hang'), { kind: 'hang' });
  t.same(parseFaultSpec('rate-limit:count=3,retry-after=2'), { kind: 'rate-limit', count: 3, retryAfterSeconds: 2 });
  t.same(parseFaultSpec('fail-operation:reason=busy,state=timeout,message=nope'), { kind: 'fail-change', reason: 'busy', state: 'timeout', message: 'nope' });
  t.throws(() => parseFaultSpec('fail-operation:reason=why'), /reason/);
  t.throws(() => parseFaultSpec('error:rate=2'), /rate/);
  t.throws(() => parseFaultSpec('error:count=x'), /count must be a number/);
  t.throws(() => parseFaultSpec('hang:calls=nothing'), /calls/);
  // Exoscale's spellings are aliases of the kit's change faults; the kit's own names work too
  t.same(parseFaultSpec('stall-operation:calls=detach-instance-from-elastic-ip'), { kind: 'stall-change', calls: ['detach-instance-from-elastic-ip'] });
  t.same(parseFaultSpec('fail-change:count=1,reason=busy'), { kind: 'fail-change', count: 1, reason: 'busy' });
  t.same(parseFaultSpec('lose-answer:count=1'), { kind: 'lose-answer', count: 1 });
  t.throws(() => parseFaultSpec('hang:state=timeout'), /fault state: only for fail-change .*\(in "hang:state=timeout"\)/);
  t.throws(() => parseFaultSpec('explode'), /kind.*\(in "explode"\)/);
});

t.test('a port in use is a clear error', async (t) => {
  const first = capture();
  const ac = new AbortController();
  t.teardown(() => ac.abort());
  const running = runSimulatorCli(['--port', '0'], { stdout: first.stream, stderr: capture().stream, signal: ac.signal });
  await until(() => first.text().includes('listening on'));
  const port = /127\.0\.0\.1:(\d+)/.exec(first.text())![1]!;
  const err = capture();
  t.equal(await runSimulatorCli(['--port', port], { stdout: capture().stream, stderr: err.stream }), 1);
  t.match(err.text(), `cannot listen on 127.0.0.1:${port}: port ${port} is already in use`);
  ac.abort();
  t.equal(await running, 0);
});
