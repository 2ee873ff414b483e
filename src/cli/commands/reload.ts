/** `ipwarden reload`: asks the running daemon to read its config again (what SIGHUP does), and says how it went. */
import type { Command } from '../command.js';
import { EXIT } from '../command.js';
import { DAEMON_FLAGS, askDaemon, controlPathFrom } from '../daemon-client.js';
import type { ReloadOutcome } from '../../daemon/daemon.js';

/** Long enough for new plugin instances to be created and STOP actions of removed instances to run. */
const RELOAD_TIMEOUT_MS = 120_000;

export const reloadCommand: Command = {
  name: 'reload',
  summary: 'make the running daemon read its config again; exit non-zero with its error when it refuses the file',
  usage: '[--config FILE | --control PATH]',
  details: `The daemon validates the new file and creates every new plugin instance before it changes
anything: a refused file leaves the running config untouched (exit 1, the daemon's error on stderr).
Accepted changes apply in place; an instance changes state only when the new values demand it (see
ipwarden(8), RELOAD). The systemd unit's ExecReload runs this, so \`systemctl reload\` reports failures.`,
  flags: { ...DAEMON_FLAGS },
  async run(ctx) {
    const path = await controlPathFrom(ctx);
    const r = (await askDaemon(path, { cmd: 'reload' }, RELOAD_TIMEOUT_MS)) as ReloadOutcome;
    ctx.stdout.write(`reloaded${r.configHash ? ` (config ${r.configHash})` : ''}: ${r.changes ?? 'done'}\n`);
    return EXIT.OK;
  },
};
