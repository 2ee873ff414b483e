/**
 * The local control socket: a Unix socket speaking one JSON object per line.
 *   request  {"cmd":"status"}            -> {"ok":true,"result":{...}}
 *   failure                              -> {"ok":false,"error":"..."}
 * The socket is created mode 0660 in a 0750 directory: local root/group only.
 */
import net from 'node:net';
import { chmodSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '../log.js';

export type ControlHandler = (request: Record<string, unknown>) => Promise<unknown>;

export class ControlServer {
  private server: net.Server | undefined;

  constructor(
    readonly path: string,
    private readonly handler: ControlHandler,
    private readonly log: Logger,
  ) {}

  async open(): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o750 });
    if (existsSync(this.path)) {
      // a live daemon answers; a stale socket from a crash does not
      if (await isAlive(this.path)) throw new Error(`node.control ${this.path}: another ipwarden is running (its control socket answers)`);
      rmSync(this.path, { force: true });
    }
    const server = net.createServer((conn) => this.serve(conn));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new Error(`node.control ${this.path}: cannot listen: ${err.code ?? err.message}`)),
      );
      server.listen(this.path, () => resolve());
    });
    chmodSync(this.path, 0o660);
    server.on('error', (err) => this.log.warn({ err: err.message }, 'control socket error'));
    this.server = server;
  }

  private serve(conn: net.Socket): void {
    let buf = '';
    conn.setEncoding('utf8');
    conn.on('error', () => undefined);
    conn.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > 65536) return void conn.destroy();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        void this.answer(conn, line);
      }
    });
  }

  private async answer(conn: net.Socket, line: string): Promise<void> {
    let reply: unknown;
    try {
      const req = JSON.parse(line) as unknown;
      if (!req || typeof req !== 'object' || typeof (req as { cmd?: unknown }).cmd !== 'string') throw new Error('expected {"cmd": "..."}');
      reply = { ok: true, result: await this.handler(req as Record<string, unknown>) };
    } catch (err) {
      reply = { ok: false, error: (err as Error).message };
    }
    if (!conn.destroyed) conn.write(`${JSON.stringify(reply)}\n`);
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    rmSync(this.path, { force: true });
  }
}

/** Sends one request to a daemon's control socket and returns its result (throws its error). */
export function controlRequest(path: string, request: Record<string, unknown>, timeoutMs = 5000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const conn = net.createConnection(path);
    let buf = '';
    const timer = setTimeout(() => {
      conn.destroy();
      reject(new Error(`control socket ${path}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    conn.setEncoding('utf8');
    conn.on('connect', () => conn.write(`${JSON.stringify(request)}\n`));
    conn.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      conn.end();
      try {
        const reply = JSON.parse(buf.slice(0, nl)) as { ok: boolean; result?: unknown; error?: string };
        if (reply.ok) resolve(reply.result);
        else reject(new Error(reply.error ?? 'request failed'));
      } catch {
        reject(new Error(`control socket ${path}: unreadable answer`));
      }
    });
    conn.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why =
        err.code === 'ENOENT' ? 'no such socket (is the daemon running? is node.control the same?)'
        : err.code === 'ECONNREFUSED' ? 'nothing listens (stale socket: the daemon is not running)'
        : err.code === 'EACCES' ? 'permission denied (run as root or a member of the socket group)'
        : (err.code ?? err.message);
      reject(new Error(`control socket ${path}: ${why}`));
    });
  });
}

async function isAlive(path: string): Promise<boolean> {
  try {
    await controlRequest(path, { cmd: 'ping' }, 1000);
    return true;
  } catch {
    return false;
  }
}
