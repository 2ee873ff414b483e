// @ts-check
/**
 * peers-file: an example third-party discovery plugin for ipwarden. The peers of an instance are
 * read from a file that something else maintains (a config-management run, a service registry
 * sidecar): one peer per line, "198.51.100.12", "198.51.100.12:12345" or "[2001:db8::2]:12345";
 * blank lines and "# comments" are ignored. ipwarden reads it again every `refresh`; a missing or
 * broken file keeps the last good list.
 *
 *   plugins: [./plugins/peers-file/index.mjs]
 *   instances:
 *     web:
 *       discovery: { plugin: peers-file, file: peers.txt, refresh: 30s }
 *
 * This node's own line (its node.bind address) is left out, so every node can share one file.
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { defineDiscovery } from 'ipwarden';
import { canonicalAddress, parseEndpoint, schemaConfig } from 'ipwarden/kit';

const schema = z.object({ file: z.string({ error: 'expected a file path' }).min(1, 'expected a file path') }).strict();
const parseConfig = schemaConfig(schema, (c, env) => ({ file: isAbsolute(c.file) ? c.file : resolve(env.baseDir, c.file) }));

export default defineDiscovery({
  kind: 'discovery',
  name: 'peers-file',
  description: 'Peers listed in a file, one per line',
  parseConfig,

  create({ config, node }) {
    const self = `${canonicalAddress(node.bind.host)}:${node.bind.port}`;
    return {
      async discover(signal) {
        const text = await readFile(config.file, { encoding: 'utf8', signal });
        /** @type {import('ipwarden').DiscoveredPeer[]} */
        const peers = [];
        for (const [i, raw] of text.split('\n').entries()) {
          const line = raw.replace(/#.*/, '').trim();
          if (!line) continue;
          const e = parseEndpoint(line, node.bind.port);
          // throwing keeps the last good list: a half-written file does not empty the peer set
          if (!e) throw new Error(`${config.file}:${i + 1}: expected an address or address:port, got ${JSON.stringify(line)}`);
          const host = canonicalAddress(e.host);
          if (`${host}:${e.port}` !== self) peers.push({ host, port: e.port, id: `${config.file}:${i + 1}` });
        }
        return peers;
      },
    };
  },

  /** `ipwarden doctor`: the file is there and readable. */
  async doctor({ config, signal }) {
    try {
      await readFile(config.file, { signal });
      return [{ ok: true, item: `peers file ${config.file}`, detail: 'readable' }];
    } catch (err) {
      return [{ ok: false, item: `peers file ${config.file}`, detail: /** @type {Error} */ (err).message, fix: 'create it, or fix file:' }];
    }
  },
});
