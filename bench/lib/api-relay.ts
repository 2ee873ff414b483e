/**
 * Makes an API simulator that listens on the root namespace's loopback reachable from a lab's hosts
 * without an address on the root bridge (createLab allows a bridge address only on 198.51.100.0/24,
 * which other engineers' labs share; on 203.0.113.0/24 a root route would shadow real hosts):
 *
 *   lab host (netns)  ── TCP ──►  relay process in the API host's netns (ADDR:PORT)
 *                                   └─ Unix socket (the file system is shared across namespaces) ─►
 *   this process: Unix server, whose connections the simulator's HTTP server serves (accept)
 *
 * The relay is a few lines of Node run with `node -e` inside the API host's namespace; the lab kills
 * it with the namespace. Every hop is local; the simulator sees an empty caller address. The Unix
 * side hands each connection to the simulator itself rather than opening a second TCP connection
 * to its port: one copy through this process less for every call of both tools.
 */
import net from 'node:net';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Lab } from '../../test/lib/netns.js';

/** Runs inside the namespace: argv = socket path, listen address. Prints the port once listening. */
const RELAY_SCRIPT = `
const net = require('node:net');
const [sock, host] = process.argv.slice(1);
const server = net.createServer((c) => {
  const u = net.connect(sock);
  c.pipe(u).pipe(c);
  const end = () => { c.destroy(); u.destroy(); };
  c.on('error', end); u.on('error', end); c.on('close', end); u.on('close', end);
});
server.listen(0, host, () => console.log(String(server.address().port)));
`;

export interface ApiRelay {
  /** http://ADDR:PORT: the simulator's origin as the lab hosts reach it. */
  origin: string;
  close(): Promise<void>;
}

/** A simulator's HTTP server, taking connections accepted elsewhere (RunningCloudSimulator.accept). */
export interface RelayTarget {
  /** Its listening port (names the socket file). */
  port: number;
  accept(socket: net.Socket): void;
}

/** Makes ADDR:(a free port) in host `apiHost`'s namespace reach simulator `target` here. */
export async function startApiRelay(lab: Lab, apiHost: number, target: RelayTarget, dir: string): Promise<ApiRelay> {
  const sock = join(dir, `api-relay-${target.port}.sock`);
  rmSync(sock, { force: true });
  const sockets = new Set<net.Socket>();
  const unix = net.createServer((c) => {
    sockets.add(c);
    c.on('close', () => sockets.delete(c));
    target.accept(c);
  });
  await new Promise<void>((resolve, reject) => {
    unix.once('error', reject);
    unix.listen(sock, () => resolve());
  });
  const host = lab.hosts[apiHost]!;
  const child = lab.spawn(apiHost, [process.execPath, '-e', RELAY_SCRIPT, sock, host.address], { stdio: ['ignore', 'pipe', 'inherit'] });
  const close = async (): Promise<void> => {
    child.kill('SIGKILL');
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => unix.close(() => r()));
    rmSync(sock, { force: true });
  };
  try {
    const relayPort = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`API relay in ${host.name}: not listening within 10 s`)), 10_000);
      child.once('exit', (code) => reject(new Error(`API relay in ${host.name} exited with code ${code}`)));
      createInterface({ input: child.stdout! }).once('line', (line) => {
        clearTimeout(timer);
        resolve(line.trim());
      });
    });
    if (!/^\d+$/.test(relayPort)) throw new Error(`API relay in ${host.name}: expected its port, got ${JSON.stringify(relayPort)}`);
    return { origin: `http://${host.address}:${relayPort}`, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** The URL `url` with its scheme, host and port replaced by `origin` (path and query kept). */
export function withOrigin(url: string, origin: string): string {
  const u = new URL(url);
  return `${origin}${u.pathname === '/' && !url.endsWith('/') ? '' : u.pathname}${u.search}`;
}
