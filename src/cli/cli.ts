/**
 * ipwarden's command line: finds the command in the table (commands.ts), parses its flags with
 * util.parseArgs, runs it and exits with its code. Errors are one line, never a stack trace.
 */
import { parseArgs } from 'node:util';
import { COMMAND_LOADERS, matchCommand } from './dispatch.js';
import { CliError, EXIT, UsageError, type Command, type CommandIO } from './command.js';
import { VERSION } from './version.js';
import { commandGroup, formatGroup, formatHelp, formatOverview } from './help.js';

export async function main(argv: string[], io: CommandIO): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    if (argv[0] === 'help' && argv.length > 1) return main([...argv.slice(1), '--help'], io);
    io.stdout.write(formatOverview((await import('./commands.js')).COMMANDS));
    return argv.length === 0 ? EXIT.USAGE : EXIT.OK;
  }
  if (argv[0] === '--version' || argv[0] === '-V') {
    io.stdout.write(`ipwarden ${VERSION}\n`);
    return EXIT.OK;
  }
  const match = matchCommand(argv);
  const found = match && { command: await COMMAND_LOADERS[match.name]!(), rest: match.rest };
  if (!found) {
    const group = commandGroup(argv, (await import('./commands.js')).COMMANDS);
    if (group) {
      io.stdout.write(formatGroup(argv[0]!, group));
      return argv.includes('--help') || argv.includes('-h') ? EXIT.OK : EXIT.USAGE;
    }
    io.stderr.write(`ipwarden: unknown command "${argv.filter((a) => !a.startsWith('-')).slice(0, 2).join(' ')}" (see ipwarden --help)\n`);
    return EXIT.USAGE;
  }
  const { command, rest } = found;
  if (!command.ownHelp && (rest.includes('--help') || rest.includes('-h'))) {
    io.stdout.write(formatHelp(command));
    return EXIT.OK;
  }
  try {
    const { values, positionals } = command.rawArgs ? { values: {}, positionals: rest } : parse(command, rest);
    return await command.run({ ...io, values, positionals });
  } catch (err) {
    const e = err as Error;
    if (err instanceof UsageError) {
      io.stderr.write(`ipwarden ${command.name}: ${e.message} (see ipwarden ${command.name} --help)\n`);
      return EXIT.USAGE;
    }
    if (err instanceof CliError) {
      io.stderr.write(`ipwarden ${command.name}: ${e.message}\n`);
      return err.exitCode;
    }
    io.stderr.write(`ipwarden ${command.name}: ${(e?.message ?? String(err)).split('\n').join('\n  ')}\n`);
    if (process.env.IPWARDEN_DEBUG) io.stderr.write(`${e?.stack}\n`);
    return EXIT.FAILURE;
  }
}

function parse(command: Command, args: string[]) {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const [name, f] of Object.entries(command.flags)) {
    options[name] = { type: f.type, ...(f.short ? { short: f.short } : {}), ...(f.multiple ? { multiple: true } : {}) };
  }
  try {
    const r = parseArgs({ args, options, allowPositionals: command.positionals ?? false, strict: true });
    return { values: r.values as Record<string, string | boolean | string[] | boolean[] | undefined>, positionals: r.positionals };
  } catch (err) {
    const code = (err as { code?: string }).code;
    const msg = (err as Error).message;
    const flag = /'([^']+)'/.exec(msg)?.[1];
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`unknown flag ${flag ?? ''}`.trim());
    if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') throw new UsageError(`unexpected argument ${flag ? `"${flag}"` : ''}`.trim());
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') throw new UsageError(msg.replace(/^Option /, 'flag ').split('.')[0]!);
    throw new UsageError(msg);
  }
}
