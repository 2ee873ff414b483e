/**
 * `tcp` check: a TCP connection can be opened (and optionally answers as expected).
 *
 *   host    host name or address (required)
 *   port    1..65535 (required)
 *   send    a string written after connecting (e.g. "PING\r\n")
 *   expect  a regular expression the data read back must match (read until it matches, the peer
 *           closes, or 64 KiB were read)
 *
 * Passes on connect when there is no `expect`; fails on refusal, unreachable hosts, a peer that
 * closes or never answers (the run's timeout aborts it), or data that does not match.
 */
import { connect, type Socket } from 'node:net';
import { z } from 'zod';
import { defineCheck, type CheckResult } from '../../src/index.js';
import { formatEndpoint, zodConfig } from '../../src/kit.js';
import { describeSocketError } from './socket-errors.js';

export const MAX_READ = 64 * 1024;

export const tcpSchema = z
  .object({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535),
    send: z.string().optional(),
    expect: z.string().optional(),
  })
  .strict();

export interface TcpConfig {
  host: string;
  port: number;
  send?: string;
  expect?: RegExp;
}

const parseRaw = zodConfig(tcpSchema);

function preview(text: string): string {
  const s = JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text);
  return s;
}

export default defineCheck<TcpConfig>({
  kind: 'check',
  name: 'tcp',
  description: 'A TCP port accepts connections (optionally: send a string, expect a reply)',
  flags: [
    { name: 'host', key: 'host', arg: 'HOST', description: 'host to connect to' },
    { name: 'port', key: 'port', type: 'integer', arg: 'PORT', description: 'port to connect to' },
    { name: 'send', key: 'send', arg: 'TEXT', description: 'text to send after connecting' },
    { name: 'expect', key: 'expect', arg: 'REGEX', description: 'regex the answer must match' },
  ],
  parseConfig(raw) {
    const r = parseRaw(raw);
    if (!r.ok) return r;
    const config: TcpConfig = { host: r.config.host, port: r.config.port };
    if (r.config.send !== undefined) config.send = r.config.send;
    if (r.config.expect !== undefined) {
      try {
        config.expect = new RegExp(r.config.expect);
      } catch (err) {
        return { ok: false, issues: [{ path: ['expect'], message: `invalid regular expression: ${(err as Error).message}` }] };
      }
    }
    return { ok: true, config };
  },
  run({ config, signal }) {
    const where = formatEndpoint(config);
    return new Promise<CheckResult>((resolve) => {
      let socket: Socket;
      let received = '';
      let connected = false;
      const finish = (result: CheckResult) => {
        signal.removeEventListener('abort', onAbort);
        socket.destroy();
        resolve(result);
      };
      const onAbort = () => {
        const phase = !connected ? 'connecting' : config.expect ? `waiting for ${config.expect}` : 'sending';
        const got = connected && config.expect ? `; got ${preview(received)}` : '';
        finish({ ok: false, detail: `${where}: ${describeSocketError(undefined, signal)} while ${phase}${got}` });
      };
      socket = connect({ host: config.host, port: config.port });
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      socket.setEncoding('utf8');
      socket.once('connect', () => {
        connected = true;
        if (config.send !== undefined) socket.write(config.send);
        if (!config.expect) {
          if (config.send === undefined) return finish({ ok: true, detail: `${where}: connected` });
          socket.end(() => finish({ ok: true, detail: `${where}: connected, sent ${config.send!.length} bytes` }));
        }
      });
      socket.on('data', (chunk: string) => {
        if (!config.expect) return;
        received += chunk;
        if (config.expect.test(received)) return finish({ ok: true, detail: `${where}: answer matches ${config.expect}` });
        if (received.length >= MAX_READ) finish({ ok: false, detail: `${where}: no match for ${config.expect} in the first ${MAX_READ} bytes` });
      });
      socket.once('end', () => {
        if (config.expect) finish({ ok: false, detail: `${where}: closed without an answer matching ${config.expect}; got ${preview(received)}` });
      });
      socket.once('error', (err) => finish({ ok: false, detail: `${where}: ${describeSocketError(err, signal)}` }));
    });
  },
});
