/** `ipwarden config check|print|schema`. */
import type { Command } from '../command.js';
import { CliError, EXIT, UsageError } from '../command.js';
import { validateConfigFile } from '../../config/resolve.js';
import { checkCluster, nodeWarnings } from '../../config/cluster-check.js';
import { loadConfig } from '../../config/load.js';
import { printConfig } from '../../config/print.js';
import { configJsonSchemaText } from '../../config/schema.js';

const configFlag = { type: 'string' as const, short: 'c', arg: 'FILE', description: 'rc file (default: search, see ipwarden.rc(5))' };

export const configCheckCommand: Command = {
  name: 'config check',
  summary: 'validate the config (schema, secrets, plugins); exit 0 when valid, 1 when not',
  usage: '[--config FILE]...',
  details: `Warnings do not change the exit status: a check whose timeout is longer than its interval, a
literal secret, an instance without peers. Give every node's file (-c lb1.yaml -c lb2.yaml) to
also cross-check the cluster: distinct node ids, the same instances, addresses, intervals,
deadRatio, protocol and heartbeat keys, peers that list each other, equal priorities, and
check weights that can never change who is MASTER given the priorities, weights and
preemption of every node.`,
  flags: {
    config: { ...configFlag, multiple: true, description: "rc file (default: search, see ipwarden.rc(5)); repeat with every node's file to cross-check the cluster" },
  },
  async run(ctx) {
    const given = ctx.values.config;
    const files = (Array.isArray(given) ? given : given === undefined ? [] : [given]).map(String);
    const single = files.length <= 1;
    const reports = await Promise.all(
      (single ? [files[0]] : files).map((file) => validateConfigFile({ ...(file !== undefined ? { file } : {}), env: ctx.env })),
    );
    const valid = reports.every((r) => r.ok && r.resolved);
    const cluster = valid && !single ? checkCluster(reports.map((r) => ({ file: r.file!, config: r.resolved! }))) : undefined;
    const warn = (where: string | undefined, w: string) => ctx.stderr.write(`warning: ${where ? `${where}: ` : ''}${w}
`);

    reports.forEach((report, i) => {
      const where = single ? undefined : report.file ?? files[i];
      for (const w of report.warnings) warn(where, w);
      if (!report.ok || !report.resolved) {
        ctx.stderr.write(`${report.file ? `${report.file}: ` : ''}invalid config\n${report.problems.map((p) => `  ${p}\n`).join('')}`);
        return;
      }
      for (const w of cluster ? cluster.nodeWarnings[i]! : nodeWarnings(report.resolved)) warn(where, w);
      ctx.stdout.write(`${report.file}: ok\n`);
    });
    if (!valid) return EXIT.FAILURE;
    if (!cluster) return EXIT.OK;
    for (const w of cluster.warnings) warn('cluster', w);
    const ids = reports.map((r) => r.resolved!.node.id).join(', ');
    if (cluster.problems.length) {
      ctx.stderr.write(`cluster of ${reports.length} nodes (${ids}): invalid\n${cluster.problems.map((p) => `  ${p}\n`).join('')}`);
      return EXIT.FAILURE;
    }
    ctx.stdout.write(`cluster of ${reports.length} nodes (${ids}): ok\n`);
    return EXIT.OK;
  },
};

export const configPrintCommand: Command = {
  name: 'config print',
  summary: 'print the effective config (defaults applied, every secret redacted)',
  usage: '[--config FILE] [--json]',
  flags: { config: configFlag, json: { type: 'boolean', description: 'print JSON instead of YAML' } },
  async run(ctx) {
    const loaded = await loadConfig({ ...(ctx.values.config ? { file: String(ctx.values.config) } : {}), env: ctx.env }).catch((err: Error) => {
      throw new CliError(err.message, EXIT.CONFIG);
    });
    ctx.stdout.write(printConfig(loaded, ctx.values.json ? 'json' : 'yaml'));
    return EXIT.OK;
  },
};

export const configSchemaCommand: Command = {
  name: 'config schema',
  summary: 'print the JSON Schema of the rc file (for editors)',
  usage: '',
  flags: {},
  async run(ctx) {
    if (ctx.positionals.length) throw new UsageError('no arguments expected');
    ctx.stdout.write(configJsonSchemaText());
    return EXIT.OK;
  },
};
