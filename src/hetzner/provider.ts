/**
 * Hetzner Cloud as a FloatingIpProvider (src/cloud/provider.ts), in two modes:
 *
 * - floating IP (default): the address is a Floating IP of the project, found once with
 *   GET /floating_ips. A floating IP has at most one server, so `attach` (POST .../actions/assign)
 *   moves it: holder mode `single`. `detach(target)` unassigns only when the API lists `target` as
 *   the holder (unassign takes no server: it would take the address from whoever holds it).
 *
 * - alias IP (`mode: alias-ip`): the address is a private-network alias IP on `network`.
 *   POST /servers/{id}/actions/change_alias_ips replaces a server's whole alias list, so every change
 *   reads the server first and keeps its other alias IPs. An alias IP can be on one server of a
 *   network only: `attach` first removes it from any other holder, then adds it to the target, so it
 *   too behaves as a single-holder move.
 *
 * Every call is awaited to the end of its action (polled). Targets are server ids as decimal strings.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { CloudApiError, type CallOptions, type FloatingIpProvider } from '../cloud/provider.js';
import type { HetznerClient } from './client.js';
import { fetchServerId } from './metadata.js';
import type { FloatingIp, Network, Server } from './types.js';
import { isHetznerId } from './types.js';

export interface HetznerTargetSettings {
  /** This server's id; default from the metadata service. */
  serverId?: string;
  /** Metadata base URL override. */
  metadataUrl?: string;
}

/** Attempts of one unassign (each after a fresh read of the holder). */
const DETACH_ATTEMPTS = 6;
/**
 * A `locked` answer: how long another action on the IP is waited out. It is re-checked at the client's
 * action polling interval (250 ms by default).
 */
const LOCK_WAIT_MS = 10_000;

function serverNumber(target: string): number {
  if (!isHetznerId(target)) throw new CloudApiError('hetzner', 'invalid', `hetzner: ${JSON.stringify(target)} is not a server id`);
  return Number(target);
}

/** The part both modes share: this server's id, configured or from the metadata service (cached). */
abstract class HetznerProviderBase {
  readonly cloud = 'hetzner';
  readonly holderMode = 'single' as const;
  #self: string | undefined;

  constructor(
    protected readonly client: HetznerClient,
    readonly address: string,
    protected readonly target: HetznerTargetSettings,
  ) {
    if (target.serverId !== undefined) this.#self = String(serverNumber(target.serverId));
  }

  async self(opts: CallOptions = {}): Promise<string> {
    this.#self ??= await fetchServerId({ ...(this.target.metadataUrl ? { url: this.target.metadataUrl } : {}), ...(opts.signal ? { signal: opts.signal } : {}) });
    return this.#self;
  }

  /** A server (for labels in `ipwarden ip show`). */
  server(id: string, opts: CallOptions = {}): Promise<Server> {
    return this.client.getServer(serverNumber(id), opts);
  }

  close(): void {
    this.client.close();
  }
}

export class HetznerFloatingIpProvider extends HetznerProviderBase implements FloatingIpProvider {
  #fip: FloatingIp | undefined;

  describe(): string {
    return `Hetzner floating IP ${this.address}`;
  }

  /** The floating IP (resolved once: its id never changes). */
  async floatingIp(opts: CallOptions = {}): Promise<FloatingIp> {
    if (this.#fip) return this.#fip;
    const found = await this.client.floatingIpByAddress(this.address, opts);
    if (!found) throw new CloudApiError('hetzner', 'not-found', `hetzner: no floating IP ${this.address} in this project (GET /floating_ips); create it or fix the instance address`);
    this.#fip = found;
    return found;
  }

  async holders(opts: CallOptions = {}): Promise<string[]> {
    const { id } = await this.floatingIp(opts);
    const fresh = await this.client.getFloatingIp(id, opts);
    return fresh.server === null ? [] : [String(fresh.server)];
  }

  /**
   * Assign moves the address here. A `locked` answer means another action runs on the IP (in practice
   * the old MASTER's unassign): it is waited out by re-trying at the action polling interval, up to LOCK_WAIT_MS,
   * rather than through the HTTP layer's exponential backoff, whose later waits (0.8, 1.6 s…) would
   * all be time the address spends on nobody once that unassign ends. Once `resend` is aborted (the
   * node left MASTER) no further attempt is sent: the lock may be the new MASTER's assign, and ours
   * would land after it.
   */
  async attach(target: string, opts: CallOptions = {}): Promise<void> {
    const { resend, ...call } = opts;
    const fip = await this.floatingIp(call);
    const server = serverNumber(target);
    const wait = (ms: number) => sleep(ms, undefined, call.signal ? { signal: call.signal } : undefined);
    const what = `assign floating IP ${this.address} to server ${target}`;
    const poll = this.client.pollIntervalMs;
    for (let waited = 0; ; waited += poll) {
      try {
        const action = await this.client.assignFloatingIp(fip.id, server, { ...call, once: true });
        await this.client.waitAction(action, what, call);
        return;
      } catch (err) {
        if (!(err instanceof CloudApiError) || !err.retryable) throw err;
        // the node no longer wants it (left MASTER): a refused assign is not sent again
        if (resend?.aborted) throw err;
        if (err.kind !== 'conflict') break; // rate limit, 5xx, connection: the HTTP layer's retries below
        if (waited >= LOCK_WAIT_MS) throw err;
      }
      await wait(poll);
      resend?.throwIfAborted();
    }
    await this.client.waitAction(await this.client.assignFloatingIp(fip.id, server, { ...call, ...(resend ? { resend } : {}) }), what, call);
  }

  /**
   * Unassign takes no server: it takes the address from whoever holds it. So it is sent only while the
   * API lists `target` as the holder, and never retried blindly. A `locked` answer means another action
   * runs on the IP, in practice the new MASTER's assign: then the holder is watched (at the action
   * polling interval, up to LOCK_WAIT_MS) until it is no longer `target`, and only if it stays `target` is
   * the unassign tried again. (Between the read and the unassign an assign can still slip in; the new
   * MASTER's confirming pass re-assigns it then.)
   */
  async detach(target: string, opts: CallOptions = {}): Promise<void> {
    const fip = await this.floatingIp(opts);
    const wait = (ms: number) => sleep(ms, undefined, opts.signal ? { signal: opts.signal } : undefined);
    for (let attempt = 1; ; attempt++) {
      if (!(await this.holders(opts)).includes(target)) return;
      try {
        const action = await this.client.unassignFloatingIp(fip.id, { ...opts, once: true });
        await this.client.waitAction(action, `unassign floating IP ${this.address} (from server ${target})`, opts);
        return;
      } catch (err) {
        if (!(err instanceof CloudApiError) || !err.retryable || attempt >= DETACH_ATTEMPTS) throw err;
        if (err.kind === 'conflict') {
          const poll = this.client.pollIntervalMs;
          for (let waited = 0; waited < LOCK_WAIT_MS; waited += poll) {
            await wait(poll);
            if (!(await this.holders(opts)).includes(target)) return;
          }
        } else await wait(err.retryAfterMs !== undefined ? Math.min(err.retryAfterMs, 5_000) : Math.min(2_000, 250 * 2 ** (attempt - 1)));
      }
    }
  }
}

export class HetznerAliasIpProvider extends HetznerProviderBase implements FloatingIpProvider {
  #network: Network | undefined;

  constructor(
    client: HetznerClient,
    address: string,
    target: HetznerTargetSettings,
    /** Network id or name. */
    private readonly networkRef: string,
  ) {
    super(client, address, target);
  }

  describe(): string {
    return `Hetzner alias IP ${this.address} on network ${this.networkRef}`;
  }

  async network(opts: CallOptions = {}): Promise<Network> {
    this.#network ??= await this.client.findNetwork(this.networkRef, opts);
    return this.#network;
  }

  async holders(opts: CallOptions = {}): Promise<string[]> {
    const net = await this.network(opts);
    const servers = await this.client.listServers(undefined, opts);
    return servers.filter((s) => this.#aliasesOn(s, net.id)?.includes(this.address)).map((s) => String(s.id)).sort();
  }

  async attach(target: string, opts: CallOptions = {}): Promise<void> {
    const net = await this.network(opts);
    // the target must be able to take it before anyone else gives it up
    this.#aliasesOrThrow(await this.client.getServer(serverNumber(target), opts), net);
    for (const other of await this.holders(opts)) if (other !== target) await this.#change(other, net, (list) => list.filter((a) => a !== this.address), opts);
    await this.#change(target, net, (list) => (list.includes(this.address) ? list : [...list, this.address]), opts);
  }

  async detach(target: string, opts: CallOptions = {}): Promise<void> {
    const net = await this.network(opts);
    await this.#change(target, net, (list) => list.filter((a) => a !== this.address), opts);
  }

  #aliasesOn(server: Server, network: number): string[] | undefined {
    return server.private_net.find((p) => p.network === network)?.alias_ips;
  }

  #aliasesOrThrow(server: Server, net: Network): string[] {
    const list = this.#aliasesOn(server, net.id);
    if (list === undefined) throw new CloudApiError('hetzner', 'invalid', `hetzner: server ${server.id} is not attached to network ${net.name} (${net.id})`);
    return list;
  }

  /** Reads the server's alias list on the network, applies `edit`, writes it back when it changed. */
  async #change(target: string, net: Network, edit: (list: string[]) => string[], opts: CallOptions): Promise<void> {
    const server = await this.client.getServer(serverNumber(target), opts);
    const current = this.#aliasesOrThrow(server, net);
    const wanted = edit(current);
    if (wanted.length === current.length && wanted.every((a, i) => a === current[i])) return;
    const action = await this.client.changeAliasIps(server.id, net.id, wanted, opts);
    await this.client.waitAction(action, `change alias IPs of server ${target} on network ${net.id} to [${wanted.join(', ')}]`, opts);
  }
}
