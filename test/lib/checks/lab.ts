/**
 * Real components for the check tests: nginx and HAProxy started on free loopback ports with their
 * configs, pid and logs in a temp dir, plus small helpers (free ports, polling).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, readFileSync, existsSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const SBIN_PATH = `${process.env.PATH ?? ''}:/usr/sbin:/sbin`;

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `ipwarden-${prefix}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** A port that was free a moment ago (bind port 0, read it, close). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `fn` until it returns true (bounded); throws naming `what` on timeout, or what `fn` throws. */
export async function waitFor(what: string, fn: () => boolean | Promise<boolean>, timeoutMs = 10_000, everyMs = 50): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await fn()) return;
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
}

export function canConnect(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** True while a pid exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** A child process we started, stopped at teardown. */
export class Proc {
  private exited: Promise<void>;
  private stderr = '';
  constructor(readonly name: string, readonly child: ChildProcess) {
    child.stderr?.on('data', (d: Buffer) => {
      if (this.stderr.length < 20_000) this.stderr += d.toString();
    });
    child.stdout?.resume();
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }
  get log(): string {
    return this.stderr;
  }
  /** Sends `signal` and waits for the exit (SIGKILL after 5 s). */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (!this.running) return;
    this.child.kill(signal);
    const t = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(t);
  }
}

export interface NginxOptions {
  /** Extra `location` blocks etc. inside the server block. */
  serverBlock?: string;
}

/** Starts one nginx (single process, foreground) serving `/` and `/health` on a free port. */
export async function startNginx(dir: string, name: string, opts: NginxOptions = {}): Promise<{ proc: Proc; port: number }> {
  const port = await freePort();
  const prefix = join(dir, name);
  mkdirSync(prefix, { recursive: true });
  const conf = join(prefix, 'nginx.conf');
  writeFileSync(
    conf,
    `daemon off;
master_process off;
${process.getuid?.() === 0 ? 'user root;' : ''}
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  server {
    listen 127.0.0.1:${port};
    location = /health { default_type text/plain; return 200 "healthy ${name}\\n"; }
    location = /missing { return 404; }
    location / { default_type text/plain; return 200 "hello from ${name}\\n"; }
    ${opts.serverBlock ?? ''}
  }
}
`,
  );
  const child = spawn('nginx', ['-p', prefix, '-c', conf, '-e', join(prefix, 'error.log')], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PATH: SBIN_PATH },
  });
  const proc = new Proc(`nginx ${name}`, child);
  await waitFor(`nginx ${name} on port ${port}`, async () => {
    if (!proc.running) throw new Error(`nginx ${name} exited: ${proc.log}`);
    return canConnect(port);
  }).catch((err: Error) => {
    const log = existsSync(join(prefix, 'error.log')) ? readFileSync(join(prefix, 'error.log'), 'utf8') : '';
    throw new Error(`${err.message}\n${proc.log}\n${log}`);
  });
  return { proc, port };
}

/** Starts HAProxy in the foreground (-db) with `config` (the global section's stats socket included by the caller). */
export async function startHaproxy(dir: string, config: string, ready: () => Promise<boolean>): Promise<Proc> {
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(file, config);
  const child = spawn('haproxy', ['-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PATH: SBIN_PATH } });
  const proc = new Proc('haproxy', child);
  await waitFor('haproxy ready', async () => {
    if (!proc.running) throw new Error(`haproxy exited: ${proc.log}`);
    return ready();
  }).catch((err: Error) => {
    throw new Error(`${err.message}\n${proc.log}`);
  });
  return proc;
}
