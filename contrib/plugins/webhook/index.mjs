// @ts-check
/**
 * webhook: an example third-party action plugin for ipwarden. On every transition it POSTs one JSON
 * document to a URL (a chat bridge, an inventory, a load balancer's API), retrying a failed POST with
 * backoff until the action's timeout; a newer transition aborts the older one's retries.
 *
 * Load it from the rc file and list it under an instance's actions:
 *   plugins: [./plugins/webhook/index.mjs]
 *   instances:
 *     web:
 *       actions:
 *         - plugin: webhook
 *           url: http://127.0.0.1:8080/ipwarden
 *           token: env:WEBHOOK_TOKEN     # optional; sent as "authorization: Bearer ..."
 *           states: [MASTER, BACKUP]     # optional; default: every state
 *           timeout: 30s                 # ipwarden's key: the time limit of one transition's POST
 *
 * The body: { instance, address, node, from, to, reason, cause? }.
 */
import { z } from 'zod';
import { defineAction } from 'ipwarden';
import { retry, schemaConfig } from 'ipwarden/kit';

const schema = z
  .object({
    url: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }),
    token: z.string().min(1).optional(),
    states: z.array(z.enum(['MASTER', 'BACKUP', 'FAULT', 'STOP'])).min(1).optional(),
    retries: z.int().min(0).max(20).default(5),
  })
  .strict();

// A secret reference ("env:WEBHOOK_TOKEN", "file:/etc/ipwarden/token") is resolved once, at load.
const parseConfig = schemaConfig(schema, (c, env) => ({ ...c, token: c.token === undefined ? undefined : env.resolveSecret(c.token, 'token') }));

/** Why a POST failed, as one line (never the token). */
class WebhookError extends Error {
  /** @param {string} message @param {boolean} permanent */
  constructor(message, permanent) {
    super(message);
    this.permanent = permanent;
  }
}

export default defineAction({
  kind: 'action',
  name: 'webhook',
  description: 'POSTs every transition to a URL',
  parseConfig,

  create({ config, log, instance, node }) {
    /** @param {import('ipwarden').TransitionEvent} e */
    const post = async (e) => {
      if (config.states && !config.states.includes(/** @type {'MASTER'} */ (e.to))) return;
      const body = JSON.stringify({ instance: instance.name, address: instance.address, node: node.id, from: e.from, to: e.to, reason: e.reason, ...(e.cause ? { cause: e.cause } : {}) });
      await retry(
        async (attempt) => {
          let res;
          try {
            res = await fetch(config.url, {
              method: 'POST',
              headers: { 'content-type': 'application/json', ...(config.token ? { authorization: `Bearer ${config.token}` } : {}) },
              body,
              signal: e.signal,
            });
          } catch (err) {
            throw new WebhookError(`POST ${config.url}: ${/** @type {Error} */ (err).message}`, e.signal.aborted);
          }
          await res.body?.cancel();
          if (!res.ok) throw new WebhookError(`POST ${config.url}: HTTP ${res.status}`, res.status < 500 && res.status !== 429);
          log.info({ url: config.url, state: e.to, attempt }, `webhook: ${e.to} posted`);
        },
        {
          retries: config.retries,
          minDelay: 1000,
          maxDelay: 10_000,
          signal: e.signal,
          shouldRetry: (err) => !(err instanceof WebhookError && err.permanent),
          onRetry: ({ error, attempt }) => log.warn({ attempt }, `webhook: ${/** @type {Error} */ (error).message}; retrying`),
        },
      );
    };
    return { onMaster: post, onBackup: post, onFault: post, onStop: post };
  },

  /** `ipwarden doctor`: the URL answers (any HTTP status: a GET is not what the hook expects). */
  async doctor({ config, signal }) {
    try {
      const res = await fetch(config.url, { method: 'GET', signal });
      await res.body?.cancel();
      return [{ ok: true, item: `webhook ${config.url}`, detail: `answers (HTTP ${res.status} to a GET)` }];
    } catch (err) {
      return [{ ok: false, item: `webhook ${config.url}`, detail: /** @type {Error} */ (err).message, fix: 'check url: and that the receiver runs' }];
    }
  },
});
