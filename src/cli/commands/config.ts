/** `ipwarden config check|print|schema`. */
import type { Command } from '../command.js';
import { CliError, EXIT, UsageError } from '../command.js';
import { validateConfigFile } from '../../config/resolve.js';
import { loadConfig } from '../../config/load.js';
import { printConfig } from '../../config/print.js';
import { configJsonSchemaText } from '../../config/schema.js';

const configFlag = { type: 'string' as const, short: 'c', arg: 'FILE', description: 'rc file (default: search, see ipwarden.rc(5))' };

export const configCheckCommand: Command = {
  name: 'config check',
  summary: 'validate the config (schema, secrets, plugins); exit 0 when valid, 1 when not',
  usage: '[--config FILE]',
  flags: { config: configFlag },
  async run(ctx) {
    const report = await validateConfigFile({ ...(ctx.values.config ? { file: String(ctx.values.config) } : {}), env: ctx.env });
    for (const w of report.warnings) ctx.stderr.write(`warning: ${w}\n`);
    if (!report.ok) {
      ctx.stderr.write(`${report.file ? `${report.file}: ` : ''}invalid config\n${report.problems.map((p) => `  ${p}\n`).join('')}`);
      return EXIT.FAILURE;
    }
    ctx.stdout.write(`${report.file}: ok\n`);
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
