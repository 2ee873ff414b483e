/** `ipwarden status`: asks the running daemon over its control socket. */
import type { Command } from '../command.js';
import { CliError, EXIT, UsageError } from '../command.js';
import { controlRequest } from '../../daemon/control.js';
import type { DaemonStatus } from '../../daemon/daemon.js';
import { loadConfig } from '../../config/load.js';
import { formatStatus } from '../status-format.js';
import { requireDuration } from '../../util/duration.js';

export const statusCommand: Command = {
  name: 'status',
  summary: "show the running daemon's instances, states, peers, checks and actions",
  usage: '[--json] [--watch [--every DURATION]] [--config FILE | --control PATH]',
  details: `Finds the daemon's control socket from the same config as \`ipwarden run\` (or --control) and
prints a table: each instance's state, effective priority, since when, the MASTER, the reason of
the last transition, then its peers (state, priority, last seen), checks and actions.
--json prints the same as one JSON object (stable fields, see ipwarden(8)).`,
  flags: {
    json: { type: 'boolean', description: 'print JSON instead of the table' },
    watch: { type: 'boolean', description: 'refresh until interrupted' },
    every: { type: 'string', arg: 'DURATION', description: 'refresh period for --watch', default: '1s' },
    config: { type: 'string', short: 'c', arg: 'FILE', description: 'rc file to read node.control from' },
    control: { type: 'string', arg: 'PATH', description: 'control socket path (instead of reading the config)' },
  },
  async run(ctx) {
    if (ctx.values.config && ctx.values.control) throw new UsageError('--config and --control exclude each other');
    let path = ctx.values.control as string | undefined;
    if (!path) {
      const loaded = await loadConfig({ ...(ctx.values.config ? { file: String(ctx.values.config) } : {}), env: ctx.env }).catch((err: Error) => {
        throw new CliError(err.message, EXIT.CONFIG);
      });
      path = loaded.config.node.control;
    }
    const everyMs = requireDuration(String(ctx.values.every ?? '1s'), '--every');
    for (let i = 0; ; i++) {
      let status: DaemonStatus;
      try {
        status = (await controlRequest(path, { cmd: 'status' })) as DaemonStatus;
      } catch (err) {
        throw new CliError((err as Error).message, EXIT.UNAVAILABLE);
      }
      const text = ctx.values.json ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status);
      if (ctx.values.watch && (ctx.stdout as NodeJS.WriteStream).isTTY) ctx.stdout.write('\x1b[2J\x1b[H');
      ctx.stdout.write(text);
      if (!ctx.values.watch) return EXIT.OK;
      if (i > 1_000_000) return EXIT.OK;
      await new Promise((r) => setTimeout(r, everyMs));
    }
  },
};
