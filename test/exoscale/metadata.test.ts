/**
 * The metadata reader against the simulator's per-instance metadata endpoint, URL
 * forms, and the failures: unreachable, 404, hung, 5xx once, garbage values.
 */
import t from 'tap';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import {
  DEFAULT_INSTANCE_ID_URL,
  MetadataError,
  fetchInstanceId,
  fetchMetadata,
  fetchPublicIpv4,
  metadataUrlFor,
} from '../../src/exoscale/metadata.js';
import { LB1, LB2, withSim } from './lib/sim.js';

t.test('metadataUrlFor: key URLs, bases, validation', async (t) => {
  t.equal(DEFAULT_INSTANCE_ID_URL, 'http://169.254.169.254/latest/meta-data/instance-id');
  t.equal(metadataUrlFor('http://169.254.169.254/latest/meta-data/instance-id', 'public-ipv4'), 'http://169.254.169.254/latest/meta-data/public-ipv4');
  t.equal(metadataUrlFor('http://169.254.169.254/latest/meta-data/', 'instance-id'), 'http://169.254.169.254/latest/meta-data/instance-id');
  t.equal(metadataUrlFor('http://127.0.0.1:9/_meta/x/latest/meta-data', 'vm-id'), 'http://127.0.0.1:9/_meta/x/latest/meta-data/vm-id');
  t.throws(() => metadataUrlFor('nope', 'instance-id'), MetadataError);
  t.throws(() => metadataUrlFor('file:///etc/passwd', 'instance-id'), { message: /must be http/ });
});

t.test('values from the simulator', async (t) => {
  const sim = await withSim(t);
  t.equal(await fetchInstanceId({ url: sim.metadataUrl('lb1') }), LB1);
  t.equal(await fetchPublicIpv4({ url: sim.metadataUrl('lb1') }), '198.51.100.11', 'the instance-id URL also serves the other keys');
  t.equal(await fetchInstanceId({ url: `${sim.url}/_meta/${LB2}/latest/meta-data/` }), LB2, 'base URL form');
  t.equal(await fetchMetadata('availability-zone', { url: `${sim.url}/_meta/${LB2}/latest/meta-data` }), 'ch-gva-2');
});

t.test('failures are clear one-line errors', async (t) => {
  const sim = await withSim(t);
  // unreachable: a port nobody listens on
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((r) => probe.close(() => r()));
  let since = Date.now();
  const unreachable = await fetchInstanceId({ url: `http://127.0.0.1:${port}/latest/meta-data/instance-id` }).catch((e: unknown) => e);
  t.type(unreachable, MetadataError);
  t.equal(
    (unreachable as Error).message,
    `exoscale metadata: cannot read http://127.0.0.1:${port}/latest/meta-data/instance-id: ECONNREFUSED (is this an Exoscale instance? set --metadata-url or EXOSCALE_METADATA_URL to override)`,
  );
  t.ok(Date.now() - since < 3_000, 'fails within a few seconds');

  // unknown instance: 404, not retried
  await t.rejects(fetchInstanceId({ url: sim.metadataUrl('99999999-0000-4000-8000-000000000000') }), {
    message: /answered HTTP 404$/,
  });

  // a hung metadata server: per-attempt timeout
  sim.state.faults.add({ kind: 'hang', calls: ['metadata'] });
  since = Date.now();
  await t.rejects(fetchInstanceId({ url: sim.metadataUrl('lb1'), timeoutMs: 100, retries: 1 }), { message: /no answer within 100ms/ });
  t.ok(Date.now() - since < 2_000);
  sim.state.faults.clear();

  // a 5xx once is retried
  sim.state.faults.add({ kind: 'error', status: 500, count: 1, calls: ['metadata'] });
  t.equal(await fetchInstanceId({ url: sim.metadataUrl('lb1') }), LB1);

  // API faults do not touch metadata unless asked
  sim.state.faults.add({ kind: 'error', status: 503 });
  t.equal(await fetchInstanceId({ url: sim.metadataUrl('lb1') }), LB1);
});

t.test('garbage values are refused', async (t) => {
  const server = createHttpServer((req, res) => {
    res.end(req.url?.endsWith('instance-id') ? 'i-12345\n' : req.url?.endsWith('public-ipv4') ? 'not-an-ip' : '');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}/latest/meta-data/`;
  await t.rejects(fetchInstanceId({ url: base }), { message: 'exoscale metadata: instance-id "i-12345" is not a UUID' });
  await t.rejects(fetchPublicIpv4({ url: base }), { message: /public-ipv4 "not-an-ip" is not an IPv4 address/ });
  await t.rejects(fetchMetadata('vm-id', { url: base }), { message: /returned an empty value/ });
});
