/**
 * From rc file to running settings: load (cosmiconfig), load plugins, resolve secrets and plugin
 * configs, and map the result to what the daemon runs. Used by `run` (start and SIGHUP reload).
 */
import { loadConfig, type LoadConfigOptions } from '../config/load.js';
import { resolveConfig, type ResolvedConfig } from '../config/resolve.js';
import { builtinPluginNames, loadPlugins, pluginNamesIn } from '../plugins/loader.js';
import type { DaemonSettings } from '../daemon/daemon.js';
import type { InstanceSettings } from '../daemon/instance-runner.js';

export interface Runtime {
  resolved: ResolvedConfig;
  settings: DaemonSettings;
}

export async function loadRuntime(opts: LoadConfigOptions): Promise<Runtime> {
  const loaded = await loadConfig(opts);
  // only the built-ins the config uses, when it names nothing else (otherwise all, for the errors)
  const used = pluginNamesIn(loaded.config);
  const builtins = new Set(builtinPluginNames());
  const onlyBuiltins = loaded.config.plugins.length === 0 && [...used].every((n) => builtins.has(n));
  const registry = await loadPlugins(loaded.config.plugins, loaded.baseDir, onlyBuiltins ? used : undefined);
  const resolved = resolveConfig(loaded, { registry, ...(opts.env ? { env: opts.env } : {}) });
  return { resolved, settings: toDaemonSettings(resolved) };
}

export function toDaemonSettings(r: ResolvedConfig): DaemonSettings {
  return {
    nodeId: r.node.id,
    bind: r.node.bind,
    control: r.node.control,
    keys: r.secrets,
    protocol: r.protocol,
    replayWindowMs: r.clockSkew,
    stateFile: r.stateFile,
    ...(r.metrics ? { metrics: r.metrics.listen } : {}),
    instances: r.instances.map(
      (i): InstanceSettings => ({
        name: i.name,
        address: i.address,
        priority: i.priority,
        intervalMs: i.interval,
        deadRatio: i.deadRatio,
        preempt: i.preempt,
        preemptDelayMs: i.preemptDelay,
        peers: i.peers,
        checks: i.checks.map((c) => ({ ...c, instance: i.name })),
        actions: i.actions,
        ...(i.discovery ? { discovery: i.discovery } : {}),
        ...(i.election ? { election: i.election } : {}),
      }),
    ),
  };
}
