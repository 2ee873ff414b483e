// @ts-check
/**
 * toycloud-ip: an example cloud provider plugin for ipwarden. It moves a floating address of the
 * (imaginary) "toycloud" to the MASTER, the way the built-in exoscale-eip, hetzner-floating-ip,
 * aws-eip and digitalocean-reserved-ip do: this folder brings the cloud's API (provider.mjs), the
 * kit brings the rest: the controller (level-triggered passes that read the holders back,
 * reconcile, release on BACKUP/FAULT/STOP, startup grace, what to do when the API is down), the
 * action handlers, and the shared config keys (release, onApiUnreachable, reconcile, startupGrace).
 *
 *   plugins: [./plugins/toycloud-ip/index.mjs]
 *   instances:
 *     web:
 *       address: 203.0.113.10
 *       actions:
 *         - plugin: toycloud-ip
 *           endpoint: https://api.toycloud.example/v1/
 *           token: env:TOYCLOUD_TOKEN
 *           target: vm-1            # this machine, as the cloud names it
 */
import { z } from 'zod';
import { defineAction } from 'ipwarden';
import { FloatingIpController, controllerKeysShape, floatingIpHandlers, httpUrlKey, zodConfig } from 'ipwarden/kit';
import { ToyCloudProvider } from './provider.mjs';

// The cloud's own keys, plus the controller's shared keys (the kit's zod: zodConfig, not schemaConfig).
const schema = z
  .object({
    endpoint: httpUrlKey,
    token: z.string().min(1, 'expected a secret reference like "env:TOYCLOUD_TOKEN"'),
    target: z.string().regex(/^[a-z0-9-]+$/, 'expected the cloud\'s machine name, like "vm-1"'),
    ...controllerKeysShape,
  })
  .strict();
const parseRaw = zodConfig(schema);

export default defineAction({
  kind: 'action',
  name: 'toycloud-ip',
  description: 'Moves a toycloud floating address to the MASTER',

  parseConfig(raw, env) {
    const r = parseRaw(raw);
    if (!r.ok) return r;
    // the reference stays for messages; the value is only handed to the HTTP layer, which redacts it
    return { ok: true, config: { ...r.config, tokenRef: r.config.token, token: env.resolveSecret(r.config.token, 'token') } };
  },

  create({ config, log, instance, onApiCall }) {
    const provider = new ToyCloudProvider({ ...config, address: instance.address, ...(onApiCall ? { onCall: onApiCall } : {}) });
    const controller = new FloatingIpController(
      provider,
      { strategy: 'move', release: config.release, onApiUnreachable: config.onApiUnreachable, reconcileMs: config.reconcile, startupGraceMs: config.startupGrace },
      log,
    );
    const { fencing: _fencing, ...handlers } = floatingIpHandlers(controller, provider, log);
    return handlers;
  },

  /** `ipwarden doctor`: the token and the address, with one read call. */
  async doctor({ config, instance, signal }) {
    const provider = new ToyCloudProvider({ ...config, address: instance.address });
    try {
      const holders = await provider.holders({ signal });
      return [{ ok: true, item: `toycloud ${instance.address}`, detail: holders.length ? `held by ${holders.join(', ')}` : 'not attached' }];
    } catch (err) {
      return [{ ok: false, item: `toycloud ${instance.address}`, detail: /** @type {Error} */ (err).message, fix: `check token: (${config.tokenRef}) and endpoint:` }];
    } finally {
      provider.close();
    }
  },
});
