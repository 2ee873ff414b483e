/**
 * `ipwarden keepalived-fifo PATH`: reads keepalived's notify FIFO and runs the actions of
 * `keepalived.instances.<name>` for each state line, in order, coalescing bursts
 * (src/keepalived/fifo-consumer.ts). Runs until SIGTERM/SIGINT.
 */
import { isAbsolute, resolve } from 'node:path';
import { CliError, EXIT, UsageError, type Command, type CommandContext } from '../command.js';
import { loadScriptsModeConfig, scriptsModeLogger, ScriptsModeConfigError } from '../../keepalived/config.js';
import { FifoConsumer } from '../../keepalived/fifo-consumer.js';
import { FifoError } from '../../keepalived/fifo.js';

export const keepalivedFifoCommand: Command = {
  name: 'keepalived-fifo',
  summary: "keepalived scripts mode: follow keepalived's notify FIFO and run each instance's actions",
  usage: 'PATH [--config FILE] [--log-file FILE]',
  positionals: true,
  details: `Reads the FIFO keepalived writes with notify_fifo PATH (global_defs), e.g.
  ipwarden keepalived-fifo /run/keepalived/notify.fifo --config /etc/ipwarden/config.yaml
and runs the actions configured under keepalived.instances.NAME for every INSTANCE or GROUP line,
in the order keepalived wrote them. Of lines read together only the last state per instance runs;
a new line supersedes actions still running for an older one. MASTER_RX_LOWER_PRI runs the MASTER
actions again (re-claim after a partition); DELETED runs the STOP actions; priority-change, VS/RS
and unknown lines are ignored (logged at debug level).

The FIFO is created when missing (keepalived then keeps it when it exits) and kept open
read-write, so keepalived restarting does not end the stream; a FIFO that is removed or replaced
is reopened. This is the reliable path: keepalived writes FIFO lines in transition order, where
notify scripts can start in any order. Run it as a service next to keepalived (contrib/systemd).

SIGTERM/SIGINT: stop reading, let the running actions finish, exit 0.`,
  flags: {
    config: { type: 'string', short: 'c', arg: 'FILE', description: 'rc file with a keepalived: section' },
    'log-file': { type: 'string', arg: 'FILE', description: 'append log lines to FILE instead of standard output' },
  },
  run: runKeepalivedFifo,
};

async function runKeepalivedFifo(ctx: CommandContext): Promise<number> {
  if (ctx.positionals.length !== 1) throw new UsageError(`expected the FIFO path (the notify_fifo of keepalived.conf), got ${ctx.positionals.length} arguments`);
  const path = isAbsolute(ctx.positionals[0]!) ? ctx.positionals[0]! : resolve(ctx.positionals[0]!);
  let resolved;
  try {
    resolved = await loadScriptsModeConfig({ ...(ctx.values.config !== undefined ? { file: String(ctx.values.config) } : {}), env: ctx.env });
  } catch (err) {
    if (err instanceof ScriptsModeConfigError) throw new CliError(err.message, EXIT.CONFIG);
    throw err;
  }
  const logFile = ctx.values['log-file'] === undefined ? undefined : String(ctx.values['log-file']);
  let log;
  try {
    log = scriptsModeLogger(resolved, { node: resolved.node.id }, logFile, ctx.stdout);
  } catch (err) {
    if (err instanceof ScriptsModeConfigError) throw new CliError(err.message);
    throw err;
  }
  for (const w of resolved.warnings) log.warn({ event: 'config-warning' }, w);
  const consumer = new FifoConsumer({ path, instances: resolved.keepalived.instances, node: { id: resolved.node.id }, log });
  try {
    try {
      await consumer.start();
    } catch (err) {
      if (err instanceof FifoError) throw new CliError(err.message);
      throw err;
    }
    await new Promise<void>((resolveStop) => {
      const stop = (sig: NodeJS.Signals) => {
        process.off('SIGTERM', stop);
        process.off('SIGINT', stop);
        log.info({ event: 'signal', signal: sig }, `${sig}: stopping`);
        // A second signal while the running actions finish ends the process at once.
        process.once('SIGTERM', () => process.exit(EXIT.FAILURE));
        process.once('SIGINT', () => process.exit(EXIT.FAILURE));
        void consumer.stop().then(() => resolveStop());
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    });
    return EXIT.OK;
  } finally {
    await consumer.stop();
  }
}
