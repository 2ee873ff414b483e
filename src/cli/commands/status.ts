/** `ipwarden status`: asks the running daemon over its control socket. */
import type { Command } from '../command.js';
import { EXIT } from '../command.js';
import type { DaemonStatus } from '../../daemon/daemon.js';
import { DAEMON_FLAGS, askDaemon, controlPathFrom } from '../daemon-client.js';
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
    ...DAEMON_FLAGS,
  },
  async run(ctx) {
    const path = await controlPathFrom(ctx);
    const everyMs = requireDuration(String(ctx.values.every ?? '1s'), '--every');
    for (let i = 0; ; i++) {
      const status = (await askDaemon(path, { cmd: 'status' })) as DaemonStatus;
      const text = ctx.values.json ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status);
      if (ctx.values.watch && (ctx.stdout as NodeJS.WriteStream).isTTY) ctx.stdout.write('\x1b[2J\x1b[H');
      ctx.stdout.write(text);
      if (!ctx.values.watch) return EXIT.OK;
      if (i > 1_000_000) return EXIT.OK;
      await new Promise((r) => setTimeout(r, everyMs));
    }
  },
};
