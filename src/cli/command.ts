/**
 * One CLI command: its flags (util.parseArgs), help text and run function.
 * The command table in commands.ts is the single source for --help, the man page and the
 * man-page/code consistency test.
 */
export interface FlagSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** Placeholder shown in help, e.g. "FILE". */
  arg?: string;
  description: string;
  default?: string | boolean;
}

export interface CommandIO {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

export interface CommandContext extends CommandIO {
  values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  positionals: string[];
}

export interface Command {
  /** Words after `ipwarden`, e.g. "config check". */
  name: string;
  summary: string;
  /** Usage line after "ipwarden <name> ", e.g. "[NAME...] [--json]". */
  usage: string;
  flags: Record<string, FlagSpec>;
  /** Positional arguments allowed (default false). */
  positionals?: boolean;
  /** The command parses its own arguments (e.g. exoip's Go-style -xi flags): they arrive as `positionals`. */
  rawArgs?: boolean;
  /** With rawArgs: the command answers --help itself (e.g. `simulate CLOUD --help` shows that cloud's flags). */
  ownHelp?: boolean;
  /** Extra help paragraphs. */
  details?: string;
  /** Returns the exit code. Throw UsageError for bad input (exit 2) or CliError (exit 1). */
  run(ctx: CommandContext): Promise<number>;
}

/** Bad usage: unknown flag, missing argument (exit code 2). */
export class UsageError extends Error {
  override name = 'UsageError';
}
/** A clear one-line failure (exit code 1). */
export class CliError extends Error {
  override name = 'CliError';
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

/** Exit codes, documented in ipwarden(8). */
export const EXIT = {
  OK: 0,
  FAILURE: 1,
  USAGE: 2,
  CONFIG: 3,
  UNAVAILABLE: 4,
} as const;
