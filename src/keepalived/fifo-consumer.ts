/**
 * `ipwarden keepalived-fifo`: a long-running reader of keepalived's notify FIFO that runs the
 * actions of `keepalived.instances.<name>` for each state line.
 *
 * keepalived writes its lines in transition order into one pipe, so unlike notify scripts this
 * path cannot reorder events. Per instance, lines are handled in order with coalescing: of a
 * burst of lines read together only the last state runs, and a line arriving while actions run
 * supersedes them (ActionRunner: the running transition is aborted, queued older ones dropped).
 *
 *   INSTANCE|GROUP "<name>" MASTER|BACKUP|FAULT|STOP <prio>  -> that state's actions (DELETED -> STOP), whatever
 *                                                               state was handed over last (transition.ts)
 *   ... MASTER_RX_LOWER_PRI <prio>                           -> re-claim (from = to = MASTER) after a MASTER
 *   ... MASTER_PRIORITY / BACKUP_PRIORITY                    -> ignored (priority change only)
 *   VS / RS checker lines, names not configured, other lines -> ignored (debug log)
 *
 * The FIFO is created when missing (then keepalived, finding it, leaves it in place when it exits)
 * and opened read-write, non-blocking (see fifo.ts): keepalived restarting does not end the stream.
 * If the path is replaced (a keepalived that created the FIFO removes it on exit and the next one
 * creates a new one), the consumer notices within `checkMs` and reopens the new FIFO; an
 * unexpected end of the stream also reopens it.
 */
import { Socket } from 'node:net';
import type { Logger } from '../log.js';
import type { InstanceState } from '../plugins/api.js';
import { ActionRunner } from '../plugins/action-runner.js';
import type { ResolvedKeepalivedInstance } from '../config/resolve.js';
import { ensureFifo, openFifo, sameFile } from './fifo.js';
import { parseFifoLine, type NotifyMessage } from './protocol.js';
import { describeTransition, runnerTransition, type KeepalivedEvent } from './transition.js';

export interface FifoConsumerOptions {
  path: string;
  instances: readonly ResolvedKeepalivedInstance[];
  node: { id: string };
  log: Logger;
  /** How often the FIFO path is checked for replacement (ms, default 500). */
  checkMs?: number;
}

/** What a line asks for: a state whose actions run, with the runner's from/to semantics. */
export interface Dispatch {
  name: string;
  to: InstanceState;
  /** What keepalived reported (the line's state). */
  event: KeepalivedEvent;
  /** MASTER_RX_LOWER_PRI: re-claim (from MASTER to MASTER, when MASTER was handed over last). */
  reassert: boolean;
  priority: number;
  line: NotifyMessage;
}

/** A line's action, or undefined for lines that change nothing (priority-change events). */
export function toDispatch(m: NotifyMessage): Dispatch | undefined {
  switch (m.state) {
    case 'MASTER':
    case 'BACKUP':
    case 'FAULT':
    case 'STOP':
      return { name: m.name, event: m.state, to: m.state, reassert: false, priority: m.priority, line: m };
    case 'DELETED':
      return { name: m.name, event: m.state, to: 'STOP', reassert: false, priority: m.priority, line: m };
    case 'MASTER_RX_LOWER_PRI':
      return { name: m.name, event: m.state, to: 'MASTER', reassert: true, priority: m.priority, line: m };
    default:
      return undefined;
  }
}

/** Keeps the last dispatch per instance, in the order of those last lines. Pure. */
export function coalesce(dispatches: readonly Dispatch[]): Dispatch[] {
  const last = new Map<string, Dispatch>();
  for (const d of dispatches) {
    last.delete(d.name);
    last.set(d.name, d);
  }
  return [...last.values()];
}

export interface FifoConsumerStats {
  lines: number;
  /** Transitions handed to the action runners. */
  dispatched: number;
  /** Lines dropped because a later line of the same burst replaced them. */
  coalesced: number;
  /** Lines with nothing to do (checker lines, unknown names, priority changes, unparsable). */
  ignored: number;
  /** Times the FIFO was (re)opened. */
  opens: number;
}

export class FifoConsumer {
  readonly stats: FifoConsumerStats = { lines: 0, dispatched: 0, coalesced: 0, ignored: 0, opens: 0 };
  private readonly instances: Map<string, ResolvedKeepalivedInstance>;
  private readonly runners = new Map<string, ActionRunner>();
  private readonly states = new Map<string, InstanceState>();
  private readonly unknownNamesSeen = new Set<string>();
  private readonly log: Logger;
  private socket: Socket | undefined;
  private fd: number | undefined;
  private partial = Buffer.alloc(0);
  private pending: Dispatch[] = [];
  private flushScheduled = false;
  private checkTimer: NodeJS.Timeout | undefined;
  private reopening: Promise<void> | undefined;
  private stopping = false;

  constructor(private readonly opts: FifoConsumerOptions) {
    this.log = opts.log;
    this.instances = new Map(opts.instances.map((i) => [i.name, i]));
  }

  /** Creates the action runners, then opens the FIFO and starts reading. */
  async start(): Promise<void> {
    for (const inst of this.instances.values()) {
      const runner = new ActionRunner(inst.actions, {
        instance: { name: inst.name, address: inst.address },
        node: this.opts.node,
        log: this.log.child({ instance: inst.name }),
        onRequiredFailure: (reason) =>
          this.log.error({ instance: inst.name, event: 'required-failed' }, `${reason}: keepalived keeps the state (scripts mode cannot fault it; use a vrrp_script or track_file for that)`),
      });
      await runner.init();
      this.runners.set(inst.name, runner);
    }
    await this.open();
    this.checkTimer = setInterval(() => void this.checkPath(), this.opts.checkMs ?? 500);
    this.log.info({ event: 'fifo-start', fifo: this.opts.path, instances: [...this.instances.keys()] }, `reading keepalived notify FIFO ${this.opts.path}`);
  }

  /** Stops reading, hands over lines already read, waits for running actions, closes the runners. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.checkTimer) clearInterval(this.checkTimer);
    await this.reopening;
    this.closeSocket();
    this.flush();
    for (const runner of this.runners.values()) await runner.close();
    this.log.info({ event: 'fifo-stop', ...this.stats }, 'stopped reading the keepalived notify FIFO');
  }

  /** Resolves when every transition handed over so far has run (tests, shutdown). */
  async idle(): Promise<void> {
    for (const runner of this.runners.values()) await runner.idle();
  }

  private async open(): Promise<void> {
    const { created } = await ensureFifo(this.opts.path);
    if (created) this.log.info({ event: 'fifo-created', fifo: this.opts.path }, `created FIFO ${this.opts.path}`);
    const fd = openFifo(this.opts.path);
    const socket = new Socket({ fd, readable: true, writable: false });
    this.partial = Buffer.alloc(0); // a line cut off in the previous FIFO is not continued in this one
    this.fd = fd;
    this.socket = socket;
    this.stats.opens++;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    const ended = (why: string) => {
      if (this.socket !== socket || this.stopping) return;
      this.log.warn({ event: 'fifo-eof', fifo: this.opts.path }, `FIFO ${why}: reopening`);
      this.reopen();
    };
    socket.on('end', () => ended('stream ended'));
    socket.on('error', (err) => ended(`read error (${err.message})`));
  }

  private closeSocket(): void {
    const s = this.socket;
    this.socket = undefined;
    this.fd = undefined;
    s?.destroy();
  }

  private reopen(): void {
    if (this.reopening || this.stopping) return;
    this.reopening = (async () => {
      this.closeSocket();
      for (let delay = 100; !this.stopping; delay = Math.min(delay * 2, 5000)) {
        try {
          await this.open();
          return;
        } catch (err) {
          this.log.error({ event: 'fifo-open-failed', err: (err as Error).message }, `cannot reopen the FIFO, retrying in ${delay} ms`);
          await new Promise((r) => setTimeout(r, delay));
        }
      }
    })().finally(() => (this.reopening = undefined));
  }

  /** keepalived removes a FIFO it created when it exits, and its successor makes a new one. */
  private async checkPath(): Promise<void> {
    if (this.stopping || this.reopening || this.fd === undefined) return;
    if (await sameFile(this.fd, this.opts.path)) return;
    if (this.stopping || this.reopening) return;
    this.log.info({ event: 'fifo-replaced', fifo: this.opts.path }, 'the FIFO was removed or replaced (keepalived restarted?): reopening');
    this.reopen();
  }

  private onData(chunk: Buffer): void {
    let data = this.partial.length ? Buffer.concat([this.partial, chunk]) : chunk;
    for (let nl = data.indexOf(0x0a); nl >= 0; nl = data.indexOf(0x0a)) {
      this.onLine(data.subarray(0, nl).toString('utf8'));
      data = data.subarray(nl + 1);
    }
    this.partial = Buffer.from(data);
    if (this.partial.length > 64 * 1024) {
      this.log.warn({ event: 'fifo-garbage' }, 'dropping 64 KiB without a newline');
      this.partial = Buffer.alloc(0);
    }
    if (this.pending.length && !this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private onLine(line: string): void {
    this.stats.lines++;
    const parsed = parseFifoLine(line);
    if (!parsed.ok) {
      this.stats.ignored++;
      this.log.debug({ event: 'fifo-line-ignored', line, reason: parsed.reason }, `ignored FIFO line: ${parsed.reason}`);
      return;
    }
    const d = toDispatch(parsed.message);
    if (!d) {
      this.stats.ignored++;
      this.log.debug({ event: 'fifo-line-ignored', line }, `ignored FIFO line: ${parsed.message.state} changes nothing`);
      return;
    }
    if (!this.instances.has(d.name)) {
      this.stats.ignored++;
      const msg = `no keepalived.instances.${d.name} in the config: ignoring its lines`;
      if (!this.unknownNamesSeen.has(d.name)) {
        this.unknownNamesSeen.add(d.name);
        this.log.info({ event: 'fifo-unknown-instance', name: d.name }, msg);
      } else this.log.debug({ event: 'fifo-unknown-instance', name: d.name }, msg);
      return;
    }
    this.log.debug({ event: 'fifo-line', line }, 'FIFO line');
    this.pending.push(d);
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.pending;
    this.pending = [];
    const kept = coalesce(batch);
    this.stats.coalesced += batch.length - kept.length;
    if (batch.length > kept.length) {
      this.log.info({ event: 'coalesced', dropped: batch.length - kept.length }, `coalesced ${batch.length} lines into ${kept.length}: only the last state per instance runs`);
    }
    for (const d of kept) this.dispatch(d);
  }

  private dispatch(d: Dispatch): void {
    const runner = this.runners.get(d.name);
    if (!runner) return;
    const remembered = this.states.get(d.name) ?? 'INIT';
    const transition = runnerTransition(remembered, d.event);
    const { from } = transition;
    this.states.set(d.name, d.to);
    this.stats.dispatched++;
    const reason = `${describeTransition(remembered, d.event, transition)} (${d.line.kind} line)`;
    this.log.info({ event: 'transition', instance: d.name, from, to: d.to, priority: d.priority }, `${from} -> ${d.to}: ${reason}`);
    void runner.transition({ from, to: d.to, priority: d.priority, reason });
  }
}
