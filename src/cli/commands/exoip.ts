/**
 * `ipwarden exoip -W|-A|-D ...`: exoip's command line and ifupdown environment, unchanged
 * (see src/cli/exoip-compat.ts for the mapping). Replacing `exoip -W` by `ipwarden exoip -W`
 * in the `up` line of the interfaces stanza is the whole migration.
 */
import type { Command } from '../command.js';
import { CliError, EXIT, UsageError } from '../command.js';
import { createLogger } from '../../log.js';
import { Daemon } from '../../daemon/daemon.js';
import { toDaemonSettings } from '../runtime.js';
import { VERSION } from '../version.js';
import { ConfigError } from '../../config/issues.js';
import { parseConfigData } from '../../config/schema.js';
import { resolveConfig } from '../../config/resolve.js';
import type { LoadedConfig } from '../../config/load.js';
import { printConfig } from '../../config/print.js';
import { loadPlugins, PluginError } from '../../plugins/loader.js';
import { SecretError } from '../../config/secret.js';
import {
  EXOIP_KEY_ENV,
  EXOIP_SECRET_ENV,
  ExoipUsageError,
  exoipConfig,
  parseExoipArgs,
  v2Endpoint,
  type ExoipSettings,
} from '../exoip-compat.js';
import { apiStep, cliClient, cliInstance, cliZone } from './eip.js';

/** Where the generated config says it came from (errors, `-n` output). */
export const EXOIP_CONFIG_SOURCE = '(exoip command line and IF_* environment)';

export const exoipCommand: Command = {
  name: 'exoip',
  summary: 'exoip drop-in: exoip\'s flags and IF_* variables, run as ipwarden (speaks exoip\'s protocol)',
  usage: '-W|-A|-D -xi EIP -xk KEY -xs SECRET [-P PRIO] [-t SEC] [-r RATIO] [-l [IP]:PORT] [-p IP,...] [-G GROUP] [-i ID] [-v] [-n]',
  rawArgs: true,
  details: `Accepts exoip's flags (Go syntax: -xi VALUE or -xi=VALUE) and, like exoip, reads the ifupdown
variables IF_ADDRESS, IF_EXOSCALE_API_KEY, IF_EXOSCALE_API_SECRET, IF_EXOSCALE_API_ENDPOINT,
IF_EXOSCALE_PEERS, IF_EXOSCALE_PEER_GROUP, IF_HOST_PRIORITY, IF_DEAD_RATIO, IF_ADVERTISEMENT_INTERVAL,
IF_BIND_TO and IF_EXOSCALE_INSTANCE_ID (flags win). -W runs the daemon with protocol exoip, so remaining
exoip nodes keep working during a migration; -A / -D attach / detach the Elastic IP for this instance
and exit. Priority is inverted: exoip's lowest -P wins, ipwarden's highest priority does, so
priority = 255 - P. Equal -P values no longer make every node master (the node id breaks the tie):
give each node its own -P while exoip nodes remain. -G discovers peers from the security group every
5 minutes; -p and -G may be combined. The instance id (-i) and the zone come from the metadata server
when not given (ipwarden additions: -zone ZONE, -metadata-url URL, -control PATH, -state-file PATH).
exoip's -xe v1 endpoint is ignored (ipwarden uses API v2; a …/v2 URL is used). -n checks and prints
the equivalent rc config; -O is accepted (ipwarden always logs to stdout); -v logs at debug level.`,
  flags: {},
  async run(ctx) {
    let parsed;
    try {
      parsed = parseExoipArgs(ctx.positionals, ctx.env);
    } catch (err) {
      if (err instanceof ExoipUsageError) throw new UsageError(err.message);
      throw err;
    }
    if ('version' in parsed) {
      ctx.stdout.write(`ipwarden ${VERSION} (exoip compatible)\n`);
      return EXIT.OK;
    }
    const s: ExoipSettings = parsed;
    const input = { ...(s.zone ? { zone: s.zone } : {}), ...(s.metadataUrl ? { metadataUrl: s.metadataUrl } : {}) };
    const instanceId = await cliInstance(s.instanceId, input, ctx.env);
    const zone = await cliZone(input, ctx.env);
    const endpoint = v2Endpoint(s.endpoint) ?? (ctx.env.EXOSCALE_API_ENDPOINT || undefined);
    if (s.endpoint !== undefined && v2Endpoint(s.endpoint) === undefined) {
      ctx.stderr.write(`ipwarden exoip: warning: -xe ${s.endpoint} is not an API v2 endpoint (exoip used API v1); using ${endpoint ?? `https://api-${zone}.exoscale.com/v2`}\n`);
    }

    if (s.mode === 'A' || s.mode === 'D') {
      const client = cliClient({ zone, ...(endpoint ? { endpoint } : {}), apiKey: s.apiKey, apiSecret: s.apiSecret });
      try {
        if (s.mode === 'A') {
          const r = await apiStep(() => client.ensureAttached(s.address, instanceId));
          ctx.stdout.write(`${r.changed ? 'attached' : 'already attached:'} ${s.address} ${r.changed ? 'to' : 'on'} ${instanceId}\n`);
        } else {
          const r = await apiStep(() => client.ensureDetached(s.address, instanceId));
          ctx.stdout.write(`${r.changed ? 'detached' : 'not attached:'} ${s.address} ${r.changed ? 'from' : 'on'} ${instanceId}\n`);
        }
      } finally {
        client.close();
      }
      return EXIT.OK;
    }

    const metadataUrl = s.metadataUrl ?? (ctx.env.EXOSCALE_METADATA_URL || undefined);
    const raw = exoipConfig(s, { instanceId, zone, ...(endpoint ? { endpoint } : {}), ...(metadataUrl ? { metadataUrl } : {}) });
    const env = { ...ctx.env, [EXOIP_KEY_ENV]: s.apiKey, [EXOIP_SECRET_ENV]: s.apiSecret };
    let resolved;
    let loaded: LoadedConfig;
    try {
      loaded = { file: EXOIP_CONFIG_SOURCE, baseDir: process.cwd(), raw, config: parseConfigData(raw, EXOIP_CONFIG_SOURCE) };
      const registry = await loadPlugins([], process.cwd());
      resolved = resolveConfig(loaded, { registry, env });
    } catch (err) {
      if (err instanceof ConfigError || err instanceof PluginError || err instanceof SecretError) throw new UsageError(err.message.replace(/\n\s*/g, '; '));
      throw err;
    }
    if (s.checkOnly) {
      for (const w of resolved.warnings) ctx.stderr.write(`warning: ${w}\n`);
      ctx.stdout.write(printConfig(loaded, 'yaml'));
      return EXIT.OK;
    }

    const log = createLogger({ level: resolved.log.level, format: resolved.log.format, base: { node: resolved.node.id } });
    for (const w of resolved.warnings) log.warn({ event: 'config-warning' }, w);
    log.info(
      { event: 'exoip-mode', address: s.address, exoipPriority: s.priority, priority: resolved.instances[0]?.priority, peers: s.peers, peerGroup: s.peerGroup },
      `exoip drop-in: ${s.address}, exoip priority ${s.priority} -> ipwarden priority ${resolved.instances[0]?.priority} (255 - P), protocol exoip`,
    );
    const daemon = new Daemon(toDaemonSettings(resolved), log, { version: VERSION, configFile: EXOIP_CONFIG_SOURCE });
    try {
      await daemon.start();
    } catch (err) {
      throw new CliError((err as Error).message, EXIT.FAILURE);
    }
    // exoip's signals: USR1 lowers its priority value (more preferred) = ipwarden +1; USR2 the reverse
    const onUsr1 = () => daemon.nudge(+1);
    const onUsr2 = () => daemon.nudge(-1);
    const onHup = () => log.info({ event: 'reload' }, 'SIGHUP ignored: exoip mode has no config file to reload');
    process.on('SIGUSR1', onUsr1);
    process.on('SIGUSR2', onUsr2);
    process.on('SIGHUP', onHup);
    await new Promise<void>((resolve) => {
      const stop = (sig: string) => {
        log.info({ event: 'signal', signal: sig }, `${sig}: stopping (releasing the Elastic IP if MASTER)`);
        void daemon.stop().then(resolve);
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
    process.off('SIGUSR1', onUsr1);
    process.off('SIGUSR2', onUsr2);
    process.off('SIGHUP', onHup);
    return EXIT.OK;
  },
};
