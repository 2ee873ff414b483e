import t from 'tap';
import { ReplayGuard, DEFAULT_REPLAY_WINDOW_MS } from '../../src/protocol/replay.js';
import { decodePacket, encodePacket, type HeartbeatKey } from '../../src/protocol/advert.js';
import type { Packet } from '../../src/protocol/types.js';

const NOW = 1_790_000_000_000;

function stamp(over: Partial<Packet> = {}): Packet {
  return {
    kind: 'advert',
    instanceKey: 7,
    nodeId: 'lb1',
    priority: 100,
    state: 'BACKUP',
    incarnation: 1000,
    sequence: 1,
    timestamp: NOW,
    intervalMs: 1000,
    nonce: 0,
    ...over,
  };
}

const verdict = (g: ReplayGuard, over: Partial<Packet>, now = NOW) => {
  const v = g.accept(stamp(over), now);
  return v.ok ? 'ok' : v.reason;
};

t.test('sequence must grow within an incarnation', async (t) => {
  const g = new ReplayGuard();
  t.equal(verdict(g, { sequence: 5 }), 'ok', 'first packet from a sender');
  t.equal(verdict(g, { sequence: 5 }), 'replay', 'same packet again');
  t.equal(verdict(g, { sequence: 4 }), 'replay', 'older sequence');
  t.equal(verdict(g, { sequence: 6 }), 'ok');
  t.equal(verdict(g, { sequence: 100 }), 'ok', 'gaps are fine (lost packets)');
  t.equal(verdict(g, { sequence: 99 }), 'replay', 'reordered late packet is dropped');
  t.same(g.get(7, 'lb1'), { incarnation: 1000, sequence: 100 });
});

t.test('incarnation: higher accepted (restart), lower rejected', async (t) => {
  const g = new ReplayGuard();
  t.equal(verdict(g, { incarnation: 1000, sequence: 500 }), 'ok');
  t.equal(verdict(g, { incarnation: 1001, sequence: 1 }), 'ok', 'restart resets the sequence');
  t.equal(verdict(g, { incarnation: 1000, sequence: 501 }), 'replay', 'old incarnation');
  t.equal(verdict(g, { incarnation: 1001, sequence: 1 }), 'replay');
  t.equal(verdict(g, { incarnation: 1001, sequence: 2 }), 'ok');
});

t.test('timestamps outside the window are stale and not recorded', async (t) => {
  const g = new ReplayGuard();
  t.equal(g.windowMs, DEFAULT_REPLAY_WINDOW_MS);
  t.equal(verdict(g, { timestamp: NOW - 60_000, sequence: 1 }), 'ok', 'exactly at the window edge (past)');
  t.equal(verdict(g, { timestamp: NOW + 60_000, sequence: 2 }), 'ok', 'exactly at the window edge (future)');
  t.equal(verdict(g, { timestamp: NOW - 60_001, sequence: 3 }), 'stale-timestamp', 'old timestamp');
  t.equal(verdict(g, { timestamp: NOW + 60_001, sequence: 4 }), 'stale-timestamp', 'future timestamp');
  t.same(g.get(7, 'lb1'), { incarnation: 1000, sequence: 2 }, 'stale packets left no mark');
  t.equal(verdict(g, { timestamp: NOW - 60_001, sequence: 1 }), 'stale-timestamp', 'a stale replay reports staleness first');

  const narrow = new ReplayGuard({ windowMs: 500 });
  t.equal(verdict(narrow, { timestamp: NOW - 501 }), 'stale-timestamp');
  t.equal(verdict(narrow, { timestamp: NOW - 499 }), 'ok');
  t.equal(verdict(narrow, { timestamp: NaN, sequence: 2 }), 'stale-timestamp', 'NaN is never fresh');
});

t.test('senders are tracked per instance key and node id', async (t) => {
  const g = new ReplayGuard();
  t.equal(verdict(g, { nodeId: 'lb1', sequence: 10 }), 'ok');
  t.equal(verdict(g, { nodeId: 'lb2', sequence: 1 }), 'ok', 'another sender has its own record');
  t.equal(verdict(g, { nodeId: 'lb1', instanceKey: 8, sequence: 1 }), 'ok', 'another instance of the same node');
  t.equal(g.size, 3);
  g.forget(7, 'lb1');
  t.equal(g.get(7, 'lb1'), undefined);
  t.equal(verdict(g, { nodeId: 'lb1', sequence: 1 }), 'ok', 'forgotten sender starts over');
});

t.test('bounded memory evicts the least recently accepted sender', async (t) => {
  const g = new ReplayGuard({ maxSenders: 3 });
  for (const id of ['a', 'b', 'c']) t.equal(verdict(g, { nodeId: id, sequence: 1 }), 'ok');
  t.equal(verdict(g, { nodeId: 'a', sequence: 2 }), 'ok', 'a is now the most recent');
  t.equal(verdict(g, { nodeId: 'd', sequence: 1 }), 'ok', 'a fourth sender');
  t.equal(g.size, 3);
  t.equal(g.get(7, 'b'), undefined, 'b (least recently accepted) was evicted');
  t.ok(g.get(7, 'a') && g.get(7, 'c') && g.get(7, 'd'));
  t.equal(verdict(g, { nodeId: 'a', sequence: 2 }), 'replay', 'kept senders keep their marks');

  const big = new ReplayGuard({ maxSenders: 100 });
  for (let i = 0; i < 5000; i++) big.accept(stamp({ nodeId: `n${i}` }), NOW);
  t.equal(big.size, 100, 'never more than maxSenders');
});

t.test('options are validated', async (t) => {
  t.throws(() => new ReplayGuard({ windowMs: 0 }), /windowMs/);
  t.throws(() => new ReplayGuard({ windowMs: -1 }), /windowMs/);
  t.throws(() => new ReplayGuard({ maxSenders: 0 }), /maxSenders/);
  t.throws(() => new ReplayGuard({ maxSenders: 1.5 }), /maxSenders/);
});

t.test('end to end: a captured datagram replayed is rejected after decoding', async (t) => {
  const key: HeartbeatKey = { id: 1, key: Buffer.alloc(32, 7) };
  const g = new ReplayGuard();
  const wire = encodePacket(stamp({ sequence: 9 }), key);
  const receive = (buf: Buffer, now: number) => {
    const d = decodePacket(buf, [key]);
    if (!d.ok) return d.reason;
    const v = g.accept(d.packet, now);
    return v.ok ? 'ok' : v.reason;
  };
  t.equal(receive(wire, NOW), 'ok');
  t.equal(receive(wire, NOW + 1000), 'replay', 'same datagram again');
  t.equal(receive(wire, NOW + 120_000), 'stale-timestamp', 'replayed much later');
  const forgedRestart = Buffer.from(encodePacket(stamp({ incarnation: 9999, sequence: 1 }), key));
  forgedRestart[forgedRestart.length - 1]! ^= 0x80;
  t.equal(receive(forgedRestart, NOW), 'bad-tag', 'forged higher incarnation never reaches the guard');
  t.same(g.get(7, 'lb1'), { incarnation: 1000, sequence: 9 }, 'guard not poisoned');
});
