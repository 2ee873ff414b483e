/**
 * The example discovery plugin through the public entry points: ipwarden/testing asks it for peers
 * as the daemon's refresh does, while the test rewrites the file between asks.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runDiscovery } from 'ipwarden/testing';
import plugin from './index.mjs';

t.test('peers-file: lines to peers, itself left out, a bad file is an error (the last good list stays)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ipwarden-peers-file-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'peers.txt');
  writeFileSync(file, '# the web pair\n198.51.100.11\n198.51.100.12\n[2001:DB8::2]:12400\n\n');
  const lists = await runDiscovery(plugin, { file: 'peers.txt' }, {
    baseDir: dir,
    bind: { host: '198.51.100.11', port: 12345 },
    times: 3,
    every: '30s',
    between: (i) => writeFileSync(file, i === 1 ? '198.51.100.13:12345\n' : '198.51.100.14 oops\n'),
  });
  t.same(lists[0], [
    { host: '198.51.100.12', port: 12345, id: `${file}:3` },
    { host: '2001:db8::2', port: 12400, id: `${file}:4` },
  ], 'this node (198.51.100.11:12345) left out; the IPv6 address canonical');
  t.same(lists[1], [{ host: '198.51.100.13', port: 12345, id: `${file}:1` }], 'the rewritten file, 30 s later');
  t.same(lists[2], { error: `${file}:1: expected an address or address:port, got "198.51.100.14 oops"` });
});

t.test('peers-file: a missing file, a bad config, doctor', async (t) => {
  const [missing] = await runDiscovery(plugin, { file: '/nonexistent/peers.txt' });
  t.match(missing, { error: /ENOENT/ });
  await t.rejects(runDiscovery(plugin, { path: 'x' }), /file: expected a file path/);
  const r = plugin.parseConfig({ file: '/nonexistent/peers.txt' }, { baseDir: '/', resolveSecret: (s: string) => s });
  if (!r.ok) throw new Error('config');
  const found = await plugin.doctor!({ config: r.config, log: console, instance: { name: 'web', address: '198.51.100.10' }, node: { id: 'lb1' }, signal: AbortSignal.timeout(5000) });
  t.match(found, [{ ok: false, item: 'peers file /nonexistent/peers.txt', fix: /create it/ }]);
});
