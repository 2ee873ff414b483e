/**
 * Runs one CLI Command the way src/cli/cli.ts does (util.parseArgs over its flags unless it takes raw args, UsageError = 2,
 * CliError = its code), capturing stdout and stderr.
 */
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { CliError, EXIT, UsageError, type Command } from '../../../src/cli/command.js';

export interface CommandOutput {
  code: number;
  stdout: string;
  stderr: string;
}

function sink(): { stream: Writable; text: () => string } {
  let text = '';
  return { stream: new Writable({ write: (c, _e, cb) => ((text += String(c)), cb()) }), text: () => text };
}

export async function runCommand(command: Command, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CommandOutput> {
  const out = sink();
  const err = sink();
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const [name, f] of Object.entries(command.flags)) options[name] = { type: f.type, ...(f.short ? { short: f.short } : {}), ...(f.multiple ? { multiple: true } : {}) };
  let code: number;
  try {
    // a rawArgs command (check: its plugins declare flags) parses its own arguments
    const parsed = command.rawArgs ? { values: {}, positionals: args } : parseArgs({ args, options, allowPositionals: command.positionals ?? false, strict: true });
    code = await command.run({
      stdout: out.stream,
      stderr: err.stream,
      env,
      values: parsed.values as Record<string, string | boolean | string[] | boolean[] | undefined>,
      positionals: parsed.positionals,
    });
  } catch (e) {
    if (e instanceof UsageError) code = EXIT.USAGE;
    else if (e instanceof CliError) code = e.exitCode;
    else throw e;
    err.stream.write(`${(e as Error).message}\n`);
  }
  return { code, stdout: out.text(), stderr: err.text() };
}
