/** `ipwarden maintenance on|off` and `ipwarden switchover --to NODE`: operator controls over the control socket. */
import type { Command } from '../command.js';
import { EXIT, UsageError } from '../command.js';
import { DAEMON_FLAGS, askDaemon, controlPathFrom } from '../daemon-client.js';
import { requireDuration } from '../../util/duration.js';

export const maintenanceCommand: Command = {
  name: 'maintenance',
  summary: 'drain this node (on) or put it back (off): advertise unfit so a peer takes the IP over',
  usage: 'on|off [--instance NAME] [--force] [--config FILE | --control PATH]',
  details: `"on" makes the instance (all instances without --instance) advertise FAULT with the reason
"maintenance mode": the best backup takes over at once. The drain survives restarts (stateFile).
It is refused when this node is MASTER and no healthy peer could take over, unless --force.`,
  positionals: true,
  flags: {
    instance: { type: 'string', arg: 'NAME', description: 'only this instance' },
    force: { type: 'boolean', description: 'drain even when no healthy peer can take over' },
    ...DAEMON_FLAGS,
  },
  async run(ctx) {
    const [mode, ...extra] = ctx.positionals;
    if ((mode !== 'on' && mode !== 'off') || extra.length) throw new UsageError(`expected "on" or "off", got ${JSON.stringify(ctx.positionals.join(' '))}`);
    const path = await controlPathFrom(ctx);
    const r = (await askDaemon(path, {
      cmd: 'maintenance',
      on: mode === 'on',
      force: ctx.values.force === true,
      ...(ctx.values.instance ? { instance: String(ctx.values.instance) } : {}),
    })) as { instances: string[] };
    ctx.stdout.write(`maintenance ${mode}: ${r.instances.join(', ')}\n`);
    return EXIT.OK;
  },
};

export const switchoverCommand: Command = {
  name: 'switchover',
  summary: 'move a MASTER instance to a named backup (planned), wait for it and report the time',
  usage: '--to NODE [--instance NAME] [--timeout DURATION] [--config FILE | --control PATH]',
  details: `Run on the MASTER. Refused unless NODE is a live, healthy BACKUP that ranks first among the
backups (the one that takes over). This node is drained (as maintenance on) and stays drained:
\`ipwarden maintenance off\` gives it back its place (with preempt it then takes the IP back).`,
  flags: {
    to: { type: 'string', arg: 'NODE', description: 'node id of the new MASTER' },
    instance: { type: 'string', arg: 'NAME', description: 'the instance (required when there are several)' },
    timeout: { type: 'string', arg: 'DURATION', description: 'how long to wait for NODE to become MASTER', default: '10s' },
    ...DAEMON_FLAGS,
  },
  async run(ctx) {
    if (!ctx.values.to) throw new UsageError('--to NODE is required');
    const timeoutMs = requireDuration(String(ctx.values.timeout ?? '10s'), '--timeout');
    const path = await controlPathFrom(ctx);
    const r = (await askDaemon(
      path,
      { cmd: 'switchover', to: String(ctx.values.to), timeoutMs, ...(ctx.values.instance ? { instance: String(ctx.values.instance) } : {}) },
      timeoutMs + 5000,
    )) as { instance: string; to: string; tookMs: number };
    ctx.stdout.write(`switchover: ${r.to} is MASTER of ${r.instance} after ${r.tookMs} ms; this node stays drained (ipwarden maintenance off to undo)\n`);
    return EXIT.OK;
  },
};
