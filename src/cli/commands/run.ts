/** `ipwarden run`: the daemon. Signals: TERM/INT graceful stop, HUP reload, USR1/USR2 priority +1/-1. */
import type { Command } from '../command.js';
import { CliError, EXIT } from '../command.js';
import { createLogger } from '../../log.js';
import { Daemon } from '../../daemon/daemon.js';
import { loadRuntime } from '../runtime.js';
import { VERSION } from '../version.js';
import { ConfigError } from '../../config/issues.js';
import { PluginError } from '../../plugins/loader.js';
import { SecretError } from '../../config/secret.js';
import { execFile } from 'node:child_process';
import type { Logger } from '../../log.js';

/**
 * Type=notify readiness without a native addon: systemd-notify, accepted with NotifyAccess=all.
 * Nothing happens outside systemd (no NOTIFY_SOCKET).
 */
async function notifySystemd(env: NodeJS.ProcessEnv, log: Logger): Promise<void> {
  if (!env.NOTIFY_SOCKET) return;
  // node:child_process, not execa: a one-shot command does not need execa's module graph in the daemon.
  const failure = await new Promise<string | undefined>((resolve) => {
    execFile('systemd-notify', ['--ready', `--pid=${process.pid}`, '--status=heartbeat up'], { env, timeout: 5000 }, (err, _stdout, stderr) =>
      resolve(err ? String(stderr).trim().split('\n')[0] || err.message.split('\n')[0] : undefined),
    );
  });
  if (failure) log.warn({ err: failure }, 'could not signal readiness to systemd (systemd-notify)');
}

export const runCommand: Command = {
  name: 'run',
  summary: 'run the failover daemon (foreground; logs JSON to stdout)',
  usage: '[--config FILE]',
  details: `Signals: SIGTERM/SIGINT send a goodbye advert (a backup takes over at once), run the STOP
actions and exit 0. SIGHUP reloads the config as \`ipwarden reload\` does (in place, all or nothing;
a refused file is logged and the running config kept; see ipwarden(8), RELOAD). SIGUSR1/SIGUSR2
raise/lower every instance's priority by one.`,
  flags: {
    config: { type: 'string', short: 'c', arg: 'FILE', description: 'rc file (default: search, see ipwarden.rc(5))' },
  },
  async run(ctx) {
    const loadOpts = { ...(ctx.values.config ? { file: String(ctx.values.config) } : {}), env: ctx.env };
    let runtime;
    try {
      runtime = await loadRuntime(loadOpts);
    } catch (err) {
      if (err instanceof ConfigError || err instanceof PluginError || err instanceof SecretError) throw new CliError(err.message, EXIT.CONFIG);
      throw err;
    }
    const { resolved, settings } = runtime;
    const log = createLogger({ level: resolved.log.level, format: resolved.log.format, base: { node: resolved.node.id } });
    for (const w of resolved.warnings) log.warn({ event: 'config-warning' }, w);
    const loadConfig = async () => {
      const next = await loadRuntime({ ...loadOpts, file: resolved.file });
      return { settings: next.settings, warnings: next.resolved.warnings };
    };
    const daemon = new Daemon(settings, log, { version: VERSION, configFile: resolved.file, loadConfig });

    // Signal handlers first: a reload or stop right after start (or READY=1) must not hit the
    // default action (exit without goodbye). The daemon runs start, reloads and stop one at a time.
    let started: Promise<void> = Promise.resolve();
    const onHup = () => {
      log.info({ event: 'reload' }, `SIGHUP: reloading ${resolved.file}`);
      void daemon.reloadFromFile();
    };
    const onUsr1 = () => void started.then(() => daemon.nudge(+1), () => undefined);
    const onUsr2 = () => void started.then(() => daemon.nudge(-1), () => undefined);
    let stopRequested: (sig: string) => void = () => undefined;
    const stopped = new Promise<void>((resolve) => {
      stopRequested = (sig: string) => {
        log.info({ event: 'signal', signal: sig }, `${sig}: stopping`);
        void started.catch(() => undefined).then(() => daemon.stop()).then(resolve);
      };
    });
    const onTerm = () => stopRequested('SIGTERM');
    const onInt = () => stopRequested('SIGINT');
    process.on('SIGHUP', onHup);
    process.on('SIGUSR1', onUsr1);
    process.on('SIGUSR2', onUsr2);
    process.once('SIGTERM', onTerm);
    process.once('SIGINT', onInt);
    const cleanup = () => {
      process.off('SIGHUP', onHup);
      process.off('SIGUSR1', onUsr1);
      process.off('SIGUSR2', onUsr2);
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
    };

    started = daemon.start();
    try {
      await started;
    } catch (err) {
      cleanup();
      throw new CliError((err as Error).message, EXIT.FAILURE);
    }
    await notifySystemd(ctx.env, log);
    await stopped;
    cleanup();
    return EXIT.OK;
  },
};
