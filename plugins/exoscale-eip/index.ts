/**
 * `exoscale-eip` action: keeps the instance's `address` (an Exoscale Elastic IP) attached to
 * the MASTER through the Exoscale API v2: the shared floating-IP controller (src/cloud/controller.ts)
 * on the Exoscale provider (src/exoscale/provider.ts).
 *
 *   zone              zone of the EIP and instances ("ch-gva-2"); default $EXOSCALE_ZONE
 *   apiKey            secret reference; default env:EXOSCALE_API_KEY
 *   apiSecret         secret reference; default env:EXOSCALE_API_SECRET
 *   endpoint          API URL; default $EXOSCALE_API_ENDPOINT or https://api-<zone>.exoscale.com/v2
 *   instanceId        this node's instance UUID; default: node.id when it is a UUID, else read from
 *                     the metadata server ($EXOSCALE_METADATA_URL or http://169.254.169.254/...)
 *   metadataUrl       metadata URL override (instead of $EXOSCALE_METADATA_URL)
 *   strategy          move (default): one holder, make-before-break (attach here, verify, detach
 *                     every other holder: fencing) | all-healthy: every healthy node (MASTER and
 *                     BACKUP) holds it, the MASTER revokes dead peers (exoip's style; for managed
 *                     EIPs, whose health check steers traffic among holders)
 *   release           detach from this node on BACKUP (move), FAULT and STOP (default true; false
 *                     keeps it, exoip's shared style). A MASTER yielding to a better peer hands
 *                     over: it detaches itself only once the API lists the new holder, never
 *                     leaving the address on nobody (the new MASTER's fencing does it otherwise)
 *   onApiUnreachable  hold (default): a MASTER whose API calls keep failing (network, 5xx, 429)
 *                     stays MASTER and retries in the background; release: the action fails, so
 *                     with `required: true` the node gives the instance up (FAULT) for a peer
 *                     whose API access works. A BACKUP never attaches (move) in either case.
 *   reconcile         while MASTER (all-healthy: also BACKUP), re-read the holders this often and
 *                     repair drift: re-attach if missing, detach strays (default 30s; 0s = off:
 *                     zero API calls in steady state)
 *   startupGrace      a state entered at daemon start releases the address only after this long
 *                     (default 10s; 0s = at once), so restarting the master's daemon does not drop
 *                     the address during the hold-off; keep it above deadRatio × interval
 *
 * Peers: on a peer declared dead, a MASTER revokes that peer's attachment. A peer's instance is its
 * node id when that is an instance UUID, else the instance whose public IP it heartbeats from.
 * node.id is not read from the metadata server: it stays what the rc file says (default the
 * hostname), so `config check` never needs the network.
 */
import { z } from 'zod';
import { defineAction, type ActionHandlers, type ConfigIssue, type DoctorFinding } from '../../src/index.js';
import { zodConfig, floatingIpHandlers, controllerKeysShape, httpUrlKey } from '../../src/kit.js';
import { ExoscaleClient } from '../../src/exoscale/client.js';
import { connectionShape, daemonClientOptions, resolveConnection, type ConnectionSettings } from '../../src/exoscale/connection.js';
import { UUID_RE, isUuid } from '../../src/exoscale/types.js';
import { ExoscaleError } from '../../src/exoscale/errors.js';
import { fetchInstanceId, MetadataError } from '../../src/exoscale/metadata.js';
import { EipController, type OnApiUnreachable, type Strategy } from './controller.js';

export { FencingGuard } from './fencing.js';
export { EipController, desiredFor, reconcilesIn, isUnreachable, hostOf } from './controller.js';
export type { EipControllerSettings, Desired, PassResult, ControllerStats, Strategy, OnApiUnreachable } from './controller.js';


export const exoscaleEipSchema = z.strictObject({
  ...connectionShape,
  instanceId: z.string({ error: 'expected an instance UUID' }).regex(UUID_RE, { error: 'expected an instance UUID' }).optional(),
  metadataUrl: httpUrlKey.optional(),
  strategy: z.enum(['move', 'all-healthy']).default('move'),
  ...controllerKeysShape,
});

export interface ExoscaleEipConfig {
  connection: ConnectionSettings;
  instanceId?: string;
  metadataUrl?: string;
  strategy: Strategy;
  release: boolean;
  onApiUnreachable: OnApiUnreachable;
  reconcileMs: number;
  startupGraceMs: number;
}

const parseShape = zodConfig(exoscaleEipSchema);

export default defineAction<ExoscaleEipConfig>({
  kind: 'action',
  name: 'exoscale-eip',
  description: 'attach the instance address (an Exoscale Elastic IP) to the MASTER through the Exoscale API',
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
        ...(c.instanceId ? { instanceId: c.instanceId.toLowerCase() } : {}),
        ...(c.metadataUrl ? { metadataUrl: c.metadataUrl } : {}),
        strategy: c.strategy,
        release: c.release,
        onApiUnreachable: c.onApiUnreachable,
        reconcileMs: c.reconcile,
        startupGraceMs: c.startupGrace,
      },
    };
  },
  /**
   * `ipwarden doctor`: credentials and the Elastic IP (one list call), this node's instance id,
   * that instance in the zone, and who holds the address now. Read calls only.
   */
  async doctor(ctx): Promise<DoctorFinding[]> {
    const { config } = ctx;
    const out: DoctorFinding[] = [];
    const client = new ExoscaleClient({ ...daemonClientOptions(config.connection, ctx.log, () => undefined), deadlineMs: 8_000, retries: 2 });
    const where = `zone ${config.connection.zone} at ${config.connection.endpoint}`;
    try {
      let eipOk = false;
      try {
        const eip = await client.findElasticIpByAddress(ctx.instance.address);
        out.push({ ok: true, item: 'Exoscale API credentials', detail: `accepted (${where})` });
        eipOk = eip !== undefined;
        out.push(
          eip
            ? { ok: true, item: `Elastic IP ${ctx.instance.address}`, detail: `exists (id ${eip.id}, ${eip.healthcheck ? 'managed' : 'manual'})` }
            : { ok: false, item: `Elastic IP ${ctx.instance.address}`, detail: `not found in ${where}`, fix: 'create it (exo compute elastic-ip create) or fix the instance address / zone' },
        );
      } catch (err) {
        out.push({ ok: false, item: 'Exoscale API credentials', detail: oneLine(err), fix: 'check apiKey/apiSecret (an IAM key allowed the elastic-ip, instance and operation calls), zone and endpoint' });
        return out;
      }
      let self: string | undefined = config.instanceId ?? (isUuid(ctx.node.id) ? ctx.node.id.toLowerCase() : undefined);
      let source = config.instanceId ? 'instanceId' : 'node.id';
      if (!self) {
        try {
          const url = config.metadataUrl ?? process.env.EXOSCALE_METADATA_URL;
          self = await fetchInstanceId({ ...(url ? { url } : {}), retries: 1 });
          source = 'the metadata server';
        } catch (err) {
          out.push({ ok: false, item: 'instance id', detail: oneLine(err), fix: 'set instanceId: (or node.id) to this instance\'s UUID, or metadataUrl:' });
          return out;
        }
      }
      try {
        const inst = await client.getInstance(self);
        const running = inst.state === 'running';
        out.push({ ok: running, item: 'this instance', detail: `${self}${inst.name ? ` (${inst.name})` : ''} from ${source}: ${inst.state ?? 'unknown state'}`, ...(running ? {} : { fix: 'the instance must be running to hold the Elastic IP' }) });
      } catch (err) {
        out.push({ ok: false, item: 'this instance', detail: `${self} from ${source}: ${oneLine(err)}`, fix: `the instance must exist in ${config.connection.zone}` });
      }
      if (eipOk) {
        try {
          const holders = await client.instancesHolding(ctx.instance.address);
          const names = holders.map((h) => `${h.id}${h.name ? ` (${h.name})` : ''}`);
          out.push({
            ok: holders.length <= 1 || config.strategy === 'all-healthy',
            item: `holders of ${ctx.instance.address}`,
            detail: names.length ? names.join(', ') : 'none',
            ...(holders.length > 1 && config.strategy === 'move' ? { fix: 'several holders with strategy move: the MASTER fences the others; check that every node runs ipwarden' } : {}),
          });
        } catch (err) {
          out.push({ ok: false, item: `holders of ${ctx.instance.address}`, detail: oneLine(err) });
        }
      }
      return out;
    } finally {
      client.close();
    }
  },
  create(ctx): ActionHandlers & { controller: EipController } {
    const { config, log } = ctx;
    const client = new ExoscaleClient(
      daemonClientOptions(config.connection, log, (e) =>
        ctx.onApiCall?.({ call: e.call, ...(e.status !== undefined ? { status: e.status } : {}), durationMs: e.durationMs, ...(e.error ? { error: true } : {}) }),
      ),
    );
    const controller = new EipController(
      client,
      {
        address: ctx.instance.address,
        nodeId: ctx.node.id,
        ...(config.instanceId ? { instanceId: config.instanceId } : {}),
        ...(config.metadataUrl ? { metadataUrl: config.metadataUrl } : {}),
        strategy: config.strategy,
        release: config.release,
        onApiUnreachable: config.onApiUnreachable,
        reconcileMs: config.reconcileMs,
        startupGraceMs: config.startupGraceMs,
      },
      log,
    );
    // etcd backend: act only on transitions whose fencing token is not older than the newest seen
    const { fencing: _fencing, ...handlers } = floatingIpHandlers(controller, controller.provider, log);
    return { controller, ...handlers };
  },
});

function oneLine(err: unknown): string {
  if (err instanceof ExoscaleError || err instanceof MetadataError) return err.message;
  return ((err as Error)?.message ?? String(err)).split('\n')[0]!;
}
