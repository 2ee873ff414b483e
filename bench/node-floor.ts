/**
 * The CPU floor of Node.js itself for ipwarden's steady-state heartbeat pattern, without ipwarden:
 * 17 processes on loopback, each with one listening UDP socket and one connected socket per peer.
 * Process 0 plays the master (sends to all 16 peers every interval), process 1 the best backup
 * (to the master every interval, to everyone every fan-out round), the others send to everyone once
 * per fan-out round; datagrams are 90 bytes, received and dropped. Prints CPU % of one core per
 * process (utime + stime from /proc over the window): what any Node.js daemon pays for the same
 * datagrams and wakeups on this machine, the line under which ipwarden's own figures cannot go.
 *
 *   npm run bench:floor [-- --interval 100 --seconds 20]
 */
import dgram from 'node:dgram';
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const NODES = 17;
const BASE_PORT = 40_100;

function cpuTicks(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

async function child(index: number, intervalMs: number, seconds: number): Promise<void> {
  const listener = dgram.createSocket('udp4');
  await new Promise<void>((r) => listener.bind(BASE_PORT + index, '127.0.0.1', () => r()));
  listener.on('message', () => undefined);
  const peers: dgram.Socket[] = [];
  for (let j = 0; j < NODES; j++) {
    if (j === index) continue;
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    await new Promise<void>((r) => s.connect(BASE_PORT + j, '127.0.0.1', () => r()));
    s.on('error', () => undefined);
    peers.push(s);
  }
  const fanout = Math.max(1, Math.ceil(1000 / intervalMs));
  const buf = Buffer.alloc(90, 1);
  const done = (): void => undefined;
  let round = 0;
  const timer = setInterval(() => {
    const all = index === 0 || round++ % fanout === 0;
    if (all) for (const s of peers) s.send(buf, done);
    else if (index === 1) peers[0]!.send(buf, done); // the best backup, to the master
  }, intervalMs);
  await new Promise((r) => setTimeout(r, 3000)); // past start-up
  const t0 = cpuTicks();
  const w0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const percent = ((cpuTicks() - t0) / 100 / ((performance.now() - w0) / 1000)) * 100;
  clearInterval(timer);
  process.send!(percent);
  process.exit(0);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { interval: { type: 'string' }, seconds: { type: 'string' }, child: { type: 'string' } } });
  const intervalMs = Number(values.interval ?? 100);
  const seconds = Number(values.seconds ?? 20);
  if (!(intervalMs >= 10 && intervalMs <= 10_000) || !(seconds >= 1 && seconds <= 600)) {
    throw new Error('--interval: 10..10000 (ms); --seconds: 1..600');
  }
  if (values.child !== undefined) return child(Number(values.child), intervalMs, seconds);
  const self = fileURLToPath(import.meta.url);
  const results = await Promise.all(
    Array.from({ length: NODES }, (_, i) =>
      new Promise<number>((resolve, reject) => {
        const c = fork(self, ['--child', String(i), '--interval', String(intervalMs), '--seconds', String(seconds)]);
        c.once('message', (m) => resolve(Number(m)));
        c.once('exit', (code) => (code ? reject(new Error(`process ${i} exited with ${code}`)) : undefined));
      }),
    ),
  );
  const sorted = [...results].sort((a, b) => a - b);
  const f = (n: number) => `${n.toFixed(2)} %`;
  console.log(`Node.js ${process.version} floor, ${NODES} processes, ${intervalMs} ms interval, ${seconds} s window:`);
  console.log(`  master (sends to 16 every interval): ${f(results[0]!)}`);
  console.log(`  best backup: ${f(results[1]!)}; other backups: median ${f(sorted[NODES >> 1]!)}, max ${f(Math.max(...results.slice(2)))}`);
}

main().catch((err: Error) => {
  console.error(`bench:floor: ${err.message}`);
  process.exit(1);
});
