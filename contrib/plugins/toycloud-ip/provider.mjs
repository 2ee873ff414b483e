// @ts-check
/**
 * The cloud's side of the example cloud plugin: a FloatingIpProvider over "toycloud"'s API, built on
 * the kit's cloud HTTP layer (keep-alive, a timeout per request, retries with backoff, Retry-After,
 * the token redacted from every error). A real cloud plugin has this same shape: its client and
 * provider in its own folder, the controller and the handlers from the kit.
 *
 * The toy API (served by the test in this folder):
 *   GET  /addresses/<ip>          -> { "holder": "vm-1" | null }
 *   POST /addresses/<ip>/attach   { "target": "vm-1" }   (moves the address: single holder)
 *   POST /addresses/<ip>/detach   { "target": "vm-1" }
 * with "authorization: Bearer <token>".
 */
import { CloudHttpClient, FAILOVER_FIRST_TIMEOUT_MS } from 'ipwarden/kit';

/** @typedef {import('ipwarden/kit').FloatingIpProvider} FloatingIpProvider */
/** @typedef {import('ipwarden/kit').CallOptions} CallOptions */

/** @implements {FloatingIpProvider} */
export class ToyCloudProvider {
  cloud = 'toycloud';
  /** @type {'single'} */
  holderMode = 'single';

  /**
   * @param {{ endpoint: string, token: string, tokenRef: string, target: string, address: string,
   *   onCall?: (sample: import('ipwarden').ApiCallSample) => void }} settings
   */
  constructor(settings) {
    this.address = settings.address;
    this.target = settings.target;
    this.http = new CloudHttpClient({
      cloud: 'toycloud',
      baseUrl: settings.endpoint,
      timeoutMs: 5000,
      // a request lost on the way (or sent while the API hung) is re-sent after 2 s, then 4 s, then 5 s
      firstTimeoutMs: FAILOVER_FIRST_TIMEOUT_MS,
      retry: { retries: 3, minDelayMs: 200, maxDelayMs: 2000, deadlineMs: 15_000 },
      authorize: () => ({ authorization: `Bearer ${settings.token}` }),
      secrets: () => [settings.token],
      ...(settings.onCall ? { onCall: settings.onCall } : {}),
    });
    this.path = `addresses/${encodeURIComponent(settings.address)}`;
  }

  describe() {
    return `toycloud address ${this.address}`;
  }

  /** @param {CallOptions} [opts] */
  async holders(opts = {}) {
    /** @type {{ holder: string | null }} */
    const r = await this.http.getJson(this.path, { call: 'get-address', ...(opts.signal ? { signal: opts.signal } : {}) });
    return r.holder ? [r.holder] : [];
  }

  /** @param {string} target @param {CallOptions} [opts] */
  async attach(target, opts = {}) {
    await this.http.request('POST', `${this.path}/attach`, { json: { target }, call: 'attach-address', idempotent: true, ...(opts.signal ? { signal: opts.signal } : {}) });
  }

  /** @param {string} target @param {CallOptions} [opts] */
  async detach(target, opts = {}) {
    await this.http.request('POST', `${this.path}/detach`, { json: { target }, call: 'detach-address', idempotent: true, ...(opts.signal ? { signal: opts.signal } : {}) });
  }

  async self() {
    return this.target;
  }

  close() {
    this.http.close();
  }
}
