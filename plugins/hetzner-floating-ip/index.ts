/**
 * `hetzner-floating-ip` action: keeps the instance's `address` on the MASTER through the Hetzner
 * Cloud API, on the shared floating-IP controller (src/cloud/controller.ts).
 *
 *   token             secret reference; default env:HCLOUD_TOKEN (a Read & Write API token)
 *   endpoint          API URL; default $HCLOUD_ENDPOINT, else https://api.hetzner.cloud/v1
 *   serverId          this server's id; default from the metadata service
 *                     (http://169.254.169.254/hetzner/v1/metadata/instance-id)
 *   metadataUrl       metadata base URL override (default http://169.254.169.254/hetzner/v1/metadata/)
 *   mode              floating-ip (default): the address is a Floating IP of the project (found with
 *                     GET /floating_ips); one assign moves it (POST /floating_ips/{id}/actions/assign),
 *                     release unassigns it | alias-ip: the address is a private-network alias IP of
 *                     the MASTER on `network` (POST /servers/{id}/actions/change_alias_ips, keeping
 *                     the server's other alias IPs), for internal VIPs
 *   network           alias-ip: the private network, by id or name (required there, refused otherwise)
 *   release           detach from this node on BACKUP, FAULT and STOP (default true; false keeps it)
 *   onApiUnreachable  hold (default): a MASTER whose API calls keep failing stays MASTER and retries
 *                     in the background; release: the action fails, so with `required: true` the
 *                     node gives the instance up (FAULT) for a peer whose API access works
 *   reconcile         while MASTER, re-read the holder this often and repair drift (default 30s; 0s = off)
 *   startupGrace      a state entered at daemon start releases only after this long (default 10s)
 *   required          (ipwarden's action key) a failed move puts the instance in FAULT
 *
 * The address must also be configured on the node (the ip-alias action, or netplan/ifupdown; see
 * contrib/hetzner). Actions run `running` -> `success`: every move is polled to its end; `locked`
 * answers (another action on the IP or server) are waited out; 429 waits for RateLimit-Reset; 401/403
 * fail at once with one error naming the token reference (never its value).
 */
import { z } from 'zod';
import { defineAction, type ActionHandlers, type ConfigIssue, type DoctorFinding } from '../../src/index.js';
import { zodConfig, floatingIpHandlers, controllerKeysShape, FloatingIpController, type OnApiUnreachable, type FloatingIpProvider } from '../../src/kit.js';
import { HetznerClient } from '../../src/hetzner/client.js';
import { daemonHetznerClientOptions, hetznerConnectionShape, serverIdSchema, isHttpUrl, resolveHetznerConnection, type HetznerConnection } from '../../src/hetzner/connection.js';
import { HetznerAliasIpProvider, HetznerFloatingIpProvider, type HetznerTargetSettings } from '../../src/hetzner/provider.js';

export type HetznerMode = 'floating-ip' | 'alias-ip';


export const hetznerFloatingIpSchema = z
  .strictObject({
    ...hetznerConnectionShape,
    serverId: serverIdSchema.optional(),
    metadataUrl: z.string({ error: 'expected an http:// URL' }).refine(isHttpUrl, { error: 'expected an http:// URL' }).optional(),
    mode: z.enum(['floating-ip', 'alias-ip'], { error: 'expected floating-ip or alias-ip' }).default('floating-ip'),
    network: z.union([z.int().positive(), z.string().min(1)], { error: 'expected a network id or name' }).transform(String).optional(),
    ...controllerKeysShape,
  })
  .superRefine((c, ctx) => {
    if (c.mode === 'alias-ip' && c.network === undefined) ctx.addIssue({ code: 'custom', path: ['network'], message: 'required with mode: alias-ip (the private network, by id or name)' });
    if (c.mode === 'floating-ip' && c.network !== undefined) ctx.addIssue({ code: 'custom', path: ['network'], message: 'only with mode: alias-ip' });
  });

export interface HetznerFloatingIpConfig {
  connection: HetznerConnection;
  serverId?: string;
  metadataUrl?: string;
  mode: HetznerMode;
  network?: string;
  release: boolean;
  onApiUnreachable: OnApiUnreachable;
  reconcileMs: number;
  startupGraceMs: number;
}

/** The provider of a config (the CLI and tests build the same one). */
export function hetznerProvider(client: HetznerClient, address: string, config: Pick<HetznerFloatingIpConfig, 'serverId' | 'metadataUrl' | 'mode' | 'network'>): HetznerFloatingIpProvider | HetznerAliasIpProvider {
  const target: HetznerTargetSettings = { ...(config.serverId ? { serverId: config.serverId } : {}), ...(config.metadataUrl ? { metadataUrl: config.metadataUrl } : {}) };
  return config.mode === 'alias-ip' ? new HetznerAliasIpProvider(client, address, target, config.network!) : new HetznerFloatingIpProvider(client, address, target);
}

const parseShape = zodConfig(hetznerFloatingIpSchema);

export default defineAction<HetznerFloatingIpConfig>({
  kind: 'action',
  name: 'hetzner-floating-ip',
  description: 'keep the instance address (a Hetzner Cloud floating IP, or a private-network alias IP) on the MASTER through the Hetzner API',
  parseConfig(raw, env) {
    const shape = parseShape(raw);
    if (!shape.ok) return shape;
    const c = shape.config;
    const conn = resolveHetznerConnection(c, (ref, at) => env.resolveSecret(ref, at));
    if (!conn.ok) return { ok: false, issues: conn.issues as ConfigIssue[] };
    return {
      ok: true,
      config: {
        connection: conn.connection,
        ...(c.serverId ? { serverId: c.serverId } : {}),
        ...(c.metadataUrl ? { metadataUrl: c.metadataUrl } : {}),
        mode: c.mode,
        ...(c.network !== undefined ? { network: c.network } : {}),
        release: c.release,
        onApiUnreachable: c.onApiUnreachable,
        reconcileMs: c.reconcile,
        startupGraceMs: c.startupGrace,
      },
    };
  },
  /** `ipwarden doctor`: the token and the address (read calls only), this server, who holds the address now. */
  async doctor(ctx): Promise<DoctorFinding[]> {
    const { config } = ctx;
    const out: DoctorFinding[] = [];
    const client = new HetznerClient({ ...daemonHetznerClientOptions(config.connection, ctx.log), retry: { retries: 2, deadlineMs: 8_000 } });
    const provider = hetznerProvider(client, ctx.instance.address, config);
    const where = `at ${config.connection.endpoint}`;
    try {
      try {
        await client.listFloatingIps();
        out.push({ ok: true, item: 'Hetzner API token', detail: `accepted (${config.connection.tokenRef}, ${where})` });
      } catch (err) {
        out.push({ ok: false, item: 'Hetzner API token', detail: oneLine(err), fix: `check ${config.connection.tokenRef} (a Read & Write token of the project) and endpoint` });
        return out;
      }
      let holders: string[] | undefined;
      try {
        holders = await provider.holders();
        out.push({ ok: true, item: provider.describe(), detail: `held by ${holders.length ? holders.map((h) => `server ${h}`).join(', ') : 'nobody'}` });
      } catch (err) {
        out.push({ ok: false, item: provider.describe(), detail: oneLine(err), fix: config.mode === 'alias-ip' ? 'check network: (id or name) and the address (in the network range)' : 'create the floating IP (hcloud floating-ip create) or fix the instance address' });
      }
      try {
        const self = await provider.self();
        const server = await client.getServer(Number(self));
        const running = server.status === 'running';
        out.push({ ok: running, item: 'this server', detail: `${self} (${server.name}) from ${config.serverId ? 'serverId' : 'the metadata service'}: ${server.status}`, ...(running ? {} : { fix: 'the server must be running to hold the address' }) });
      } catch (err) {
        out.push({ ok: false, item: 'this server', detail: oneLine(err), fix: 'set serverId: to this server\'s id, or metadataUrl:' });
      }
      return out;
    } finally {
      client.close();
    }
  },
  create(ctx): ActionHandlers & { controller: FloatingIpController; provider: FloatingIpProvider } {
    const { config, log } = ctx;
    const client = new HetznerClient(daemonHetznerClientOptions(config.connection, log, ctx.onApiCall));
    const provider = hetznerProvider(client, ctx.instance.address, config);
    const controller = new FloatingIpController(
      provider,
      { strategy: 'move', release: config.release, onApiUnreachable: config.onApiUnreachable, reconcileMs: config.reconcileMs, startupGraceMs: config.startupGraceMs },
      log,
    );
    const { fencing: _fencing, ...handlers } = floatingIpHandlers(controller, provider, log);
    return { controller, provider, ...handlers };
  },
});

function oneLine(err: unknown): string {
  return ((err as Error)?.message ?? String(err)).split('\n')[0]!;
}
