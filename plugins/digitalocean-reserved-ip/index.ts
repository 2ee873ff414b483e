/**
 * `digitalocean-reserved-ip` action: keeps the instance's `address` (a DigitalOcean reserved IP, the
 * former floating IP) on the MASTER droplet through the DigitalOcean API v2.
 *
 *   token             secret reference; default env:DIGITALOCEAN_TOKEN, else env:DIGITALOCEAN_ACCESS_TOKEN
 *   endpoint          API URL; default $DIGITALOCEAN_API_URL, else https://api.digitalocean.com
 *   dropletId         this droplet's id; default read from the metadata service
 *                     (http://169.254.169.254/metadata/v1/id)
 *   metadataUrl       base URL of the metadata service instead of http://169.254.169.254
 *   strategy          move (the only one: a reserved IP is on one droplet at most)
 *   release           unassign it from this droplet on BACKUP, FAULT and STOP (default true; a MASTER
 *                     that yields to a better peer leaves it to the new MASTER's assign)
 *   onApiUnreachable  hold (default) | release: as for exoscale-eip
 *   reconcile         while MASTER, re-read the holder this often and repair drift (default 30s; 0s = off)
 *   startupGrace      a state entered at daemon start releases only after this long (default 10s)
 *
 * Moving is one POST /v2/reserved_ips/{ip}/actions {"type":"assign","droplet_id":N}, polled until the
 * action is completed (an errored action is started again); a MASTER that yields to a better peer does
 * not unassign: the new MASTER's assign moves the IP. Traffic to a reserved IP arrives on the droplet's
 * anchor IP: no local alias (no ip-alias action) is needed, services listen on the anchor IP or 0.0.0.0;
 * `ipwarden doctor` checks both.
 */
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { z } from 'zod';
import { defineAction, type ActionHandlers, type ApiCallSample, type ConfigIssue, type DoctorFinding } from '../../src/index.js';
import { zodConfig, FAILOVER_FIRST_TIMEOUT_MS, FloatingIpController, floatingIpHandlers, controllerKeysShape, httpUrlKey, singleHolderStrategy } from '../../src/kit.js';
import { connectionShape, resolveConnection, type ConnectionSettings } from '../../src/digitalocean/connection.js';
import { DigitalOceanReservedIpProvider } from '../../src/digitalocean/provider.js';
import { fetchAnchorIpv4 } from '../../src/digitalocean/metadata.js';


const DROPLET_ID = 'expected a droplet id (a positive integer)';

export const digitaloceanReservedIpSchema = z.strictObject({
  ...connectionShape,
  dropletId: z
    .union([z.int({ error: DROPLET_ID }).positive({ error: DROPLET_ID }), z.string({ error: DROPLET_ID }).regex(/^[1-9]\d*$/, { error: DROPLET_ID })], { error: DROPLET_ID })
    .transform(String)
    .optional(),
  metadataUrl: httpUrlKey.optional(),
  strategy: singleHolderStrategy('a reserved IP is on one droplet at most'),
  ...controllerKeysShape,
});

export interface ReservedIpConfig {
  connection: ConnectionSettings;
  dropletId?: string;
  metadataUrl?: string;
  release: boolean;
  onApiUnreachable: 'hold' | 'release';
  reconcileMs: number;
  startupGraceMs: number;
}

const parseShape = zodConfig(digitaloceanReservedIpSchema);

/** Pure: the IPv4 addresses of LISTEN sockets in /proc/net/tcp text. */
export function listeningIpv4(procNetTcp: string): Array<{ address: string; port: number }> {
  const out: Array<{ address: string; port: number }> = [];
  for (const line of procNetTcp.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4 || f[3] !== '0A') continue;
    const [hex, portHex] = f[1]!.split(':');
    if (!hex || hex.length !== 8 || !portHex) continue;
    const bytes = [6, 4, 2, 0].map((i) => parseInt(hex.slice(i, i + 2), 16));
    out.push({ address: bytes.join('.'), port: parseInt(portHex, 16) });
  }
  return out;
}

function localIpv4(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4') out.add(a.address);
  return out;
}

function makeProvider(config: ReservedIpConfig, address: string, onCall?: (sample: ApiCallSample) => void): DigitalOceanReservedIpProvider {
  return new DigitalOceanReservedIpProvider({
    connection: config.connection,
    address,
    ...(config.dropletId ? { dropletId: config.dropletId } : {}),
    ...(config.metadataUrl ? { metadataUrl: config.metadataUrl } : {}),
    timeoutMs: 5_000,
    firstTimeoutMs: FAILOVER_FIRST_TIMEOUT_MS,
    retry: { retries: 6, minDelayMs: 200, maxDelayMs: 2_000, deadlineMs: 15_000 },
    ...(onCall ? { onCall } : {}),
  });
}

export default defineAction<ReservedIpConfig>({
  kind: 'action',
  name: 'digitalocean-reserved-ip',
  description: 'assign the instance address (a DigitalOcean reserved IP) to the MASTER droplet through the DigitalOcean API',
  parseConfig(raw, env) {
    const shape = parseShape(raw);
    if (!shape.ok) return shape;
    const c = shape.config;
    const conn = resolveConnection(c, (ref, at) => env.resolveSecret(ref, at));
    if (!conn.ok) return { ok: false, issues: conn.issues as ConfigIssue[] };
    return {
      ok: true,
      config: {
        connection: conn.connection,
        ...(c.dropletId ? { dropletId: c.dropletId } : {}),
        ...(c.metadataUrl ? { metadataUrl: c.metadataUrl } : {}),
        release: c.release,
        onApiUnreachable: c.onApiUnreachable,
        reconcileMs: c.reconcile,
        startupGraceMs: c.startupGrace,
      },
    };
  },
  /**
   * `ipwarden doctor`: the token (one read), the reserved IP, this droplet, the holder, and the anchor
   * IP (from the metadata service) on a local interface, no listener bound to the reserved IP itself.
   */
  async doctor(ctx): Promise<DoctorFinding[]> {
    const { config } = ctx;
    const ip = ctx.instance.address;
    const out: DoctorFinding[] = [];
    const provider = makeProvider(config, ip);
    const meta = config.metadataUrl ? { base: config.metadataUrl, retries: 1 } : { retries: 1 };
    try {
      try {
        const r = await provider.client.reservedIp(ip);
        out.push({ ok: true, item: 'DigitalOcean API token', detail: `accepted (${config.connection.tokenRef} at ${config.connection.endpoint})` });
        out.push({ ok: true, item: `reserved IP ${ip}`, detail: `exists${r.region ? ` in ${r.region}` : ''}, held by ${r.dropletId ? `droplet ${r.dropletId}` : 'nobody'}${r.locked ? ' (an action is running)' : ''}` });
      } catch (err) {
        const notFound = (err as { kind?: string }).kind === 'not-found';
        out.push(
          notFound
            ? { ok: false, item: `reserved IP ${ip}`, detail: `not found at ${config.connection.endpoint}`, fix: 'reserve it (doctl compute reserved-ip create --region REGION) or fix the instance address' }
            : { ok: false, item: 'DigitalOcean API token', detail: (err as Error).message, fix: `check the token in ${config.connection.tokenRef} (read and write scope) and the endpoint` },
        );
        return out;
      }
      let self: string;
      try {
        self = await provider.self();
      } catch (err) {
        out.push({ ok: false, item: 'droplet id', detail: (err as Error).message, fix: 'set dropletId: (or metadataUrl:)' });
        return out;
      }
      try {
        const d = await provider.client.droplet(self);
        out.push({ ok: d.status === 'active', item: 'this droplet', detail: `${self} (${d.name}) from ${config.dropletId ? 'dropletId' : 'the metadata service'}: ${d.status}`, ...(d.status === 'active' ? {} : { fix: 'the droplet must be active to hold the reserved IP' }) });
      } catch (err) {
        out.push({ ok: false, item: 'this droplet', detail: `${self}: ${(err as Error).message}`, fix: 'dropletId must be a droplet of this account' });
      }
      let anchor: string | undefined;
      try {
        anchor = await fetchAnchorIpv4(meta);
      } catch (err) {
        out.push({ ok: false, item: 'anchor IP', detail: (err as Error).message, fix: 'traffic to a reserved IP arrives on the anchor IP: run on a droplet (or set metadataUrl:)' });
      }
      if (anchor) {
        const local = localIpv4().has(anchor);
        out.push({
          ok: local,
          item: 'anchor IP',
          detail: `${anchor} ${local ? 'is on a local interface: traffic to the reserved IP arrives there (no alias needed)' : 'is not on any local interface: traffic to the reserved IP would be dropped'}`,
          ...(local ? {} : { fix: `add it to the public interface (cloud-init does: ip addr add ${anchor}/16 dev eth0)` }),
        });
      }
      let tcp = '';
      try {
        tcp = readFileSync('/proc/net/tcp', 'utf8');
      } catch {
        /* not Linux */
      }
      const bound = listeningIpv4(tcp).filter((l) => l.address === ip);
      if (bound.length) {
        out.push({ ok: false, item: 'listeners', detail: `port(s) ${bound.map((b) => b.port).join(', ')} listen on the reserved IP ${ip} itself, which is never on the droplet`, fix: `bind to the anchor IP${anchor ? ` ${anchor}` : ''} or 0.0.0.0` });
      }
      return out;
    } finally {
      provider.close();
    }
  },
  create(ctx): ActionHandlers & { controller: FloatingIpController; provider: DigitalOceanReservedIpProvider } {
    const { config, log } = ctx;
    const provider = makeProvider(config, ctx.instance.address, ctx.onApiCall);
    const controller = new FloatingIpController(
      provider,
      { strategy: 'move', release: config.release, onApiUnreachable: config.onApiUnreachable, reconcileMs: config.reconcileMs, startupGraceMs: config.startupGraceMs },
      log,
    );
    // etcd backend: act only on transitions whose fencing token is not older than the newest seen
    const { fencing: _fencing, ...handlers } = floatingIpHandlers(controller, provider, log);
    return { controller, provider, ...handlers };
  },
});
