/**
 * A peer whose socket cannot connect (no route from node.bind's address: Node answers connect()'s
 * callback with an error) must not crash the daemon: its heartbeats are dropped and counted. Before
 * the fix the socket was marked connected and the next send threw ERR_SOCKET_BAD_PORT, killing the
 * daemon as soon as discovery listed a peer it could not reach.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { HeartbeatTransport } from '../../src/daemon/transport.js';
import { createLogger } from '../../src/log.js';

t.test('an unconnectable peer: sends are dropped and counted, nothing throws', async (t) => {
  const transport = new HeartbeatTransport({
    bind: { host: '127.0.0.97', port: 0 },
    keys: [{ id: 1, key: randomBytes(32) }],
    protocol: 'ipwarden',
    replayWindowMs: 5_000,
    log: createLogger({ level: 'silent' }),
    instances: () => new Map([[1, '198.51.100.50']]),
    nodeId: 'n1',
  });
  await transport.open();
  t.teardown(() => transport.close());
  const crashes: unknown[] = [];
  const onCrash = (err: unknown) => crashes.push(err);
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);
  t.teardown(() => {
    process.off('uncaughtException', onCrash);
    process.off('unhandledRejection', onCrash);
  });
  // from a loopback source address, a documentation-range peer cannot be connected to (EINVAL)
  transport.setPeers([{ host: '198.51.100.11', port: 12345 }]);
  const peer = transport.peerKeys()[0]!;
  const advert = { kind: 'advert' as const, instanceKey: 1, nodeId: 'n1', priority: 100, state: 'MASTER' as const, intervalMs: 1000, nonce: 0 };
  transport.send(peer, advert, '198.51.100.50');
  const deadline = Date.now() + 5_000;
  while (transport.counters.sendErrors === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  transport.send(peer, advert, '198.51.100.50');
  await new Promise((r) => setImmediate(r));
  t.same(crashes, [], 'no uncaught ERR_SOCKET_BAD_PORT');
  t.ok(transport.counters.sendErrors >= 1, `the failed connect is counted (${transport.counters.sendErrors})`);
});
