/**
 * A simulator serves connections accepted elsewhere (`accept`): the benchmark's API relay hands it
 * the connections of its Unix socket instead of opening a second TCP connection to its port. Real
 * HTTP over a real Unix socket, against the Exoscale simulator and one on the simulator kit.
 */
import t, { type Test } from 'tap';
import http from 'node:http';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimulator } from '../../src/exoscale/simulator/index.js';
import { DEFAULT_SIM_TOKEN, startDigitalOceanSimulator } from '../../src/digitalocean/simulator/index.js';

/** A Unix socket whose connections go to `accept`; returns its path. */
async function unixFront(t: Test, accept: (s: net.Socket) => void): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'ipw-accept-'));
  const path = join(dir, 'api.sock');
  const server = net.createServer(accept);
  await new Promise<void>((resolve) => server.listen(path, resolve));
  t.teardown(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });
  return path;
}

function get(socketPath: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath, path, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

t.test('Exoscale simulator: a request over an accepted Unix connection is served and recorded', async (t) => {
  const sim = await startSimulator();
  t.teardown(() => sim.close());
  const sock = await unixFront(t, (c) => sim.accept(c));
  const res = await get(sock, '/v2/zone');
  t.equal(res.status, 200, 'list-zones answered');
  t.match(JSON.parse(res.body), { zones: Array }, 'with the API\'s shape');
  const rec = sim.state.requests(0).at(-1)!;
  t.equal(rec.call, 'list-zones', 'recorded like a request on the port');
});

t.test('DigitalOcean simulator (simulator kit): the same, authenticated', async (t) => {
  const sim = await startDigitalOceanSimulator({ actionDelayMs: 0 });
  t.teardown(() => sim.close());
  const sock = await unixFront(t, (c) => sim.accept(c));
  const ok = await get(sock, '/v2/reserved_ips', { authorization: `Bearer ${DEFAULT_SIM_TOKEN}` });
  t.equal(ok.status, 200);
  t.match(JSON.parse(ok.body), { reserved_ips: Array });
  const denied = await get(sock, '/v2/reserved_ips', { authorization: 'Bearer wrong' });
  t.equal(denied.status, 401, 'authentication applies as on the port');
  t.same(sim.requests().map((r) => r.status), [200, 401], 'both recorded');
});
