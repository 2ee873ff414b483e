/** A running daemon fed garbage, forgeries, replays and strangers: it drops and counts them, and keeps going. */
import t from 'tap';
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { LocalCluster, sleep } from '../../src/lab/local-cluster.js';
import { encodePacket } from '../../src/protocol/advert.js';
import { instanceKey } from '../../src/protocol/instance-key.js';
import type { Packet } from '../../src/protocol/types.js';
import { readFileSync } from 'node:fs';

t.test('bad packets are dropped by reason; the daemon stays up and MASTER', async (t) => {
  const c = new LocalCluster({ nodes: 2, intervalMs: 100, firstHost: 61 });
  t.teardown(() => c.destroy());
  await c.prepare();
  await c.startAll();
  await c.waitFor('lab1 MASTER', 10_000, async () => ((await c.masters()).join() === 'lab1' ? true : undefined));
  const target = c.nodes[0]!;
  const secret = Buffer.from(readFileSync(c.secretFile, 'utf8'), 'utf8');
  const base: Packet = {
    kind: 'advert', instanceKey: instanceKey('198.51.100.50'), nodeId: 'lab2', priority: 254, state: 'MASTER',
    incarnation: Math.floor(Date.now() / 1000) + 1000, sequence: 1, timestamp: Date.now(), intervalMs: 100, nonce: 0,
  };
  // from lab2's address (a configured peer) ...
  const fromPeer = dgram.createSocket('udp4');
  await new Promise<void>((r) => fromPeer.bind(0, c.nodes[1]!.address, () => r()));
  // ... and from an address nobody configured
  const stranger = dgram.createSocket('udp4');
  await new Promise<void>((r) => stranger.bind(0, '127.0.0.99', () => r()));
  t.teardown(() => { fromPeer.close(); stranger.close(); });
  const send = (s: dgram.Socket, b: Buffer) => new Promise<void>((r) => s.send(b, c.port, target.address, () => r()));

  for (let i = 0; i < 200; i++) await send(fromPeer, randomBytes(1 + (i % 300)));
  await send(fromPeer, encodePacket(base, { id: 1, key: Buffer.from('a-wrong-secret-of-enough-bytes!!') }));
  await send(fromPeer, encodePacket(base, { id: 7, key: secret }));
  const forged = encodePacket(base, { id: 1, key: secret });
  forged[forged.length - 1]! ^= 1;
  await send(fromPeer, forged);
  await send(fromPeer, encodePacket({ ...base, timestamp: Date.now() - 3_600_000 }, { id: 1, key: secret }));
  await send(fromPeer, encodePacket({ ...base, instanceKey: instanceKey('198.51.100.99') }, { id: 1, key: secret }));
  await send(stranger, encodePacket(base, { id: 1, key: secret }));
  await send(fromPeer, Buffer.alloc(4000, 1));
  await sleep(300);

  const s = (await c.status(target))!;
  t.equal(s.instances[0]!.state, 'MASTER', 'still MASTER: none of it was believed');
  const r = s.counters.rejected;
  t.ok((r['bad-magic'] ?? 0) + (r.truncated ?? 0) + (r.malformed ?? 0) >= 150, `random bytes dropped: ${JSON.stringify(r)}`);
  t.ok((r['bad-tag'] ?? 0) >= 2, 'wrong secret and a flipped bit: bad-tag');
  t.ok((r['unknown-key-id'] ?? 0) >= 1, 'unknown key id');
  t.ok((r['stale-timestamp'] ?? 0) >= 1, 'an hour-old timestamp');
  t.ok((r['unknown-instance'] ?? 0) >= 1, 'an instance we do not serve');
  t.ok((r['unknown-peer'] ?? 0) >= 1, 'a stranger');
  t.ok((r.oversized ?? 0) >= 1, 'oversized');

  // a replay: capture nothing, just resend one valid packet twice; the second is a replay
  const valid = encodePacket({ ...base, priority: 1, state: 'BACKUP', sequence: 5 }, { id: 1, key: secret });
  await send(fromPeer, valid);
  await send(fromPeer, valid);
  await sleep(100);
  const s2 = (await c.status(target))!;
  t.ok((s2.counters.rejected.replay ?? 0) >= 1, 'replayed packet rejected');
  t.equal(s2.instances[0]!.state, 'MASTER');
  t.ok(target.process && target.process.exitCode === null, 'daemon alive');
});
