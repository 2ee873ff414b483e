/**
 * protocol: exoip — a daemon speaking exoip's 24-byte heartbeat to an exoip peer (played here by a
 * UDP socket sending exactly what exoip sends), for node-by-node migration.
 */
import t from 'tap';
import dgram from 'node:dgram';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from '../lib/env.js';
import { controlRequest } from '../../src/daemon/control.js';
import type { DaemonStatus } from '../../src/daemon/daemon.js';
import { decodeExoip, encodeExoip } from '../../src/protocol/exoip.js';
import { freeUdpPort, sleep } from '../../src/lab/local-cluster.js';

t.test('exoip peer with a better (lower) exoip priority holds; when it stops, we take over', async (t) => {
  const d = mkdtempSync(join(tmpdir(), 'ipwarden-exoip-'));
  const port = await freeUdpPort(['127.0.0.51', '127.0.0.52']);
  const control = join(d, 'c.sock');
  const file = join(d, 'rc.json');
  writeFileSync(
    file,
    JSON.stringify({
      node: { id: 'lb-new', bind: `127.0.0.51:${port}`, control },
      protocol: 'exoip',
      stateFile: join(d, 's.json'),
      instances: { eip: { address: '198.51.100.50', priority: 245, interval: '200ms', deadRatio: 3, peers: [`127.0.0.52:${port}`] } },
    }),
  );
  const peer = dgram.createSocket('udp4');
  await new Promise<void>((r) => peer.bind(port, '127.0.0.52', () => r()));
  const got: Buffer[] = [];
  peer.on('message', (m) => got.push(m));
  const nic = '1128bd56-b4d9-4ac6-a7b9-c715b187ce11';
  // exoip priority 5 (better than our 255 - 245 = 10)
  const advert = encodeExoip({ priority: 5, address: '198.51.100.50', nicId: nic });
  let sending = true;
  const sender = (async () => {
    while (sending) {
      peer.send(advert, port, '127.0.0.51');
      await sleep(200);
    }
  })();
  const child = spawn(process.execPath, [CLI, 'run', '-c', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (b) => (log += b));
  child.stderr.on('data', (b) => (log += b));
  t.teardown(async () => {
    sending = false;
    await sender;
    child.kill('SIGKILL');
    peer.close();
  });
  const status = async () => (await controlRequest(control, { cmd: 'status' }).catch(() => undefined)) as DaemonStatus | undefined;
  for (let i = 0; i < 100 && !(await status()); i++) await sleep(50);
  await sleep(1500);
  const s1 = (await status())!;
  t.ok(s1, `daemon answers (log: ${log.slice(0, 300)})`);
  t.equal(s1.instances[0]!.state, 'BACKUP', 'the exoip node with the lower exoip priority is master');
  t.equal(s1.instances[0]!.master, nic, 'the exoip peer is known by its NIC id');
  t.equal(s1.instances[0]!.peers[0]!.priority, 250, 'exoip 5 maps to ipwarden 250');

  const ours = got.map((b) => decodeExoip(b));
  t.ok(ours.length >= 3, `we send exoip heartbeats (${ours.length})`);
  t.ok(ours.every((r) => r.ok && r.advert.priority === 10 && r.advert.address === '198.51.100.50'), 'exactly exoip format, priority 255 - 245 = 10');
  t.ok(got.every((b) => b.length === 24), '24 bytes each');

  sending = false;
  await sender;
  const stoppedAt = Date.now();
  for (let i = 0; i < 100; i++) {
    if ((await status())?.instances[0]?.state === 'MASTER') break;
    await sleep(20);
  }
  const s2 = (await status())!;
  t.equal(s2.instances[0]!.state, 'MASTER', 'takes over when the exoip peer goes silent');
  t.ok(s2.instances[0]!.lastTransition!.at - stoppedAt < 1500, 'within the dead timer (no probes with exoip)');
});
