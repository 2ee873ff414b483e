/**
 * `haproxy` check: asks HAProxy's stats socket for `show stat` and judges one backend.
 *
 *   socket    stats socket: unix path (default /run/haproxy/admin.sock, Debian's) or host:port
 *   backend   the backend to judge (required)
 *   minUp     usable servers needed (act + bck of the BACKEND row; default 1)
 *   frontend  optional: this frontend must also be OPEN
 *
 * Passes when the BACKEND row is UP with at least minUp usable servers (HAProxy says UP for a
 * backend without servers, hence the count). The detail names the servers that are DOWN, in
 * MAINT, DRAIN or NOLB. An unreachable socket (HAProxy stopped, reloading, permissions), an unknown
 * backend or an unreadable answer fail with the reason. A `level user` socket is enough.
 */
import { z } from 'zod';
import { defineCheck } from '../../src/index.js';
import { zodConfig } from '../../src/kit.js';
import { evaluateBackend, parseShowStat, StatParseError } from './stat.js';
import { formatTarget, parseStatsSocket, queryStatsSocket, StatsSocketError, type StatsSocketTarget } from './stats-socket.js';

export const DEFAULT_SOCKET = '/run/haproxy/admin.sock';

export const haproxySchema = z
  .object({
    socket: z.string().min(1).default(DEFAULT_SOCKET),
    backend: z.string().min(1),
    minUp: z.number().int().min(0).default(1),
    frontend: z.string().min(1).optional(),
  })
  .strict();

export interface HaproxyConfig {
  socket: StatsSocketTarget;
  backend: string;
  minUp: number;
  frontend?: string;
}

const parseRaw = zodConfig(haproxySchema);

export default defineCheck<HaproxyConfig>({
  kind: 'check',
  name: 'haproxy',
  description: 'A HAProxy backend has enough servers UP (stats socket, show stat)',
  flags: [
    { name: 'socket', key: 'socket', arg: 'PATH|HOST:PORT', description: `stats socket (default ${DEFAULT_SOCKET})` },
    { name: 'backend', key: 'backend', arg: 'NAME', description: 'backend to judge' },
    { name: 'min-up', key: 'minUp', type: 'integer', arg: 'N', description: 'usable servers needed (default 1)' },
    { name: 'frontend', key: 'frontend', arg: 'NAME', description: 'frontend that must be OPEN' },
  ],
  parseConfig(raw, env) {
    const r = parseRaw(raw);
    if (!r.ok) return r;
    const socket = parseStatsSocket(r.config.socket, env?.baseDir);
    if (!socket) return { ok: false, issues: [{ path: ['socket'], message: `expected a unix socket path or host:port, got ${JSON.stringify(r.config.socket)}` }] };
    const config: HaproxyConfig = { socket, backend: r.config.backend, minUp: r.config.minUp };
    if (r.config.frontend !== undefined) config.frontend = r.config.frontend;
    return { ok: true, config };
  },
  async run({ config, signal }) {
    let text: string;
    try {
      text = await queryStatsSocket(config.socket, 'show stat', signal);
    } catch (err) {
      if (err instanceof StatsSocketError) return { ok: false, detail: err.message };
      throw err;
    }
    try {
      return evaluateBackend(parseShowStat(text), config);
    } catch (err) {
      if (err instanceof StatParseError) return { ok: false, detail: `stats socket ${formatTarget(config.socket)}: ${err.message}` };
      throw err;
    }
  },
});
