/** --help text, generated from the command table (the same table the man page is checked against). */
import type { Command } from './command.js';
import { VERSION } from './version.js';

export function flagLabel(name: string, f: Command['flags'][string]): string {
  return `${f.short ? `-${f.short}, ` : ''}--${name}${f.type === 'string' ? ` ${f.arg ?? 'VALUE'}` : ''}`;
}

export function formatHelp(c: Command): string {
  const lines = [`Usage: ipwarden ${c.name} ${c.usage}`.trimEnd(), '', c.summary];
  if (c.details) lines.push('', c.details.trim());
  const flags = Object.entries(c.flags);
  if (flags.length) {
    lines.push('', 'Flags:');
    const labels = flags.map(([n, f]) => flagLabel(n, f));
    const w = Math.max(...labels.map((l) => l.length), 10);
    flags.forEach(([, f], i) => {
      const def = f.default !== undefined ? ` (default ${String(f.default)})` : '';
      lines.push(`  ${labels[i]!.padEnd(w)}  ${f.description}${def}`);
    });
  }
  lines.push(`  ${'-h, --help'.padEnd(Math.max(10, ...flags.map(([n, f]) => flagLabel(n, f).length)))}  show this help`);
  return `${lines.join('\n')}\n`;
}

export function formatOverview(commands: readonly Command[]): string {
  const w = Math.max(...commands.map((c) => c.name.length));
  return [
    `ipwarden ${VERSION} — keeps a shared IP on a healthy machine`,
    '',
    'Usage: ipwarden <command> [flags]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
    '',
    'Global flags: --help (also after any command), --version',
    'Exit codes: 0 ok, 1 failure, 2 bad usage, 3 invalid config, 4 daemon unreachable',
    'See ipwarden(8), ipwarden.rc(5) and ipwarden-plugins(7).',
    '',
  ].join('\n');
}

/**
 * The commands of a group named alone or with --help (`ipwarden eip`, `ipwarden config --help`):
 * those whose first word is argv[0]; undefined when argv[0] names no group (or argv[1] is a word
 * that is not one of its commands: that stays an unknown command).
 */
export function commandGroup(argv: readonly string[], commands: readonly Command[]): Command[] | undefined {
  const head = argv[0];
  if (head === undefined || head.startsWith('-')) return undefined;
  const next = argv[1];
  if (next !== undefined && !next.startsWith('-')) return undefined;
  const members = commands.filter((c) => c.name.startsWith(`${head} `));
  return members.length ? members : undefined;
}

export function formatGroup(head: string, commands: readonly Command[]): string {
  const w = Math.max(...commands.map((c) => c.name.length));
  return [`Usage: ipwarden ${head} <command> [flags]`, '', 'Commands:', ...commands.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`), '', `See ipwarden ${head} <command> --help.`, ''].join('\n');
}
