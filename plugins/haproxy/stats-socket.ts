/**
 * Talking to HAProxy's stats socket (the "runtime API"): one command per connection, the answer is
 * read until HAProxy closes the connection.
 */
import { createConnection, type Socket } from 'node:net';
import { isAbsolute, resolve } from 'node:path';
import { describeSocketError } from '../tcp/socket-errors.js';
import { formatEndpoint } from '../../src/kit.js';

export type StatsSocketTarget = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

const HOST_PORT = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:/\s]+)):(\d{1,5})$/;

/**
 * Reads a `stats socket` address as HAProxy writes it: a unix path ("/run/haproxy/admin.sock",
 * "unix@/path"), or "host:port" / "ipv4@host:port" / "[::1]:port" for a TCP socket.
 * Relative unix paths are resolved against `baseDir`.
 */
export function parseStatsSocket(text: string, baseDir = process.cwd()): StatsSocketTarget | undefined {
  let s = text.trim();
  if (s === '') return undefined;
  if (s.startsWith('unix@')) s = s.slice(5);
  else if (s.startsWith('ipv4@') || s.startsWith('ipv6@')) {
    const m = HOST_PORT.exec(s.slice(5));
    return m ? tcp(m) : undefined;
  }
  if (!s.startsWith('/') && !s.startsWith('.')) {
    const m = HOST_PORT.exec(s);
    if (m) return tcp(m);
  }
  return { kind: 'unix', path: isAbsolute(s) ? s : resolve(baseDir, s) };
}

function tcp(m: RegExpExecArray): StatsSocketTarget | undefined {
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  return { kind: 'tcp', host: (m[1] ?? m[2])!, port };
}

export function formatTarget(t: StatsSocketTarget): string {
  return t.kind === 'unix' ? t.path : formatEndpoint(t);
}

export class StatsSocketError extends Error {
  override name = 'StatsSocketError';
}

const MAX_ANSWER = 64 * 1024 * 1024;

/** Sends `command` and resolves with the whole answer; rejects with a StatsSocketError saying why. */
export function queryStatsSocket(target: StatsSocketTarget, command: string, signal: AbortSignal): Promise<string> {
  const where = `stats socket ${formatTarget(target)}`;
  return new Promise<string>((resolvePromise, reject) => {
    if (signal.aborted) return reject(new StatsSocketError(`${where}: ${describeSocketError(undefined, signal)}`));
    const chunks: Buffer[] = [];
    let size = 0;
    let socket: Socket;
    const fail = (why: string) => {
      cleanup();
      socket.destroy();
      reject(new StatsSocketError(`${where}: ${why}`));
    };
    const onAbort = () => fail(describeSocketError(undefined, signal));
    const cleanup = () => signal.removeEventListener('abort', onAbort);
    socket = target.kind === 'unix' ? createConnection({ path: target.path }) : createConnection({ host: target.host, port: target.port });
    signal.addEventListener('abort', onAbort, { once: true });
    socket.on('connect', () => socket.write(`${command}\n`));
    socket.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_ANSWER) return fail(`answer larger than ${MAX_ANSWER} bytes`);
      chunks.push(chunk);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      const hint =
        err.code === 'ENOENT'
          ? ' (is HAProxy running with this `stats socket`?)'
          : err.code === 'ECONNREFUSED'
            ? ' (HAProxy stopped or reloading)'
            : err.code === 'EACCES'
              ? ' (check the mode/user/group of `stats socket`)'
              : '';
      fail(`${describeSocketError(err)}${hint}`);
    });
    socket.on('end', () => {
      cleanup();
      resolvePromise(Buffer.concat(chunks).toString('utf8'));
    });
  });
}
