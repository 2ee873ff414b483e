/**
 * Splits a command string into argv the way keepalived splits `script "..."`: no shell. Words are
 * separated by unquoted blanks; '...' groups literally; "..." groups, with \" and \\ escapes
 * inside; a backslash outside quotes takes the next character literally. A command that needs
 * pipes, globs or variables runs a shell itself: `sh -c 'curl -fs http://x | grep ok'`.
 */
export class ArgvError extends Error {
  override name = 'ArgvError';
}

export function splitCommand(command: string): string[] {
  const argv: string[] = [];
  let cur = '';
  let inWord = false;
  let i = 0;
  const n = command.length;
  while (i < n) {
    const ch = command[i]!;
    if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r') {
      if (inWord) argv.push(cur);
      cur = '';
      inWord = false;
      i++;
      continue;
    }
    inWord = true;
    if (ch === "'") {
      const end = command.indexOf("'", i + 1);
      if (end < 0) throw new ArgvError(`unterminated ' quote at character ${i + 1}`);
      cur += command.slice(i + 1, end);
      i = end + 1;
    } else if (ch === '"') {
      let j = i + 1;
      for (;;) {
        if (j >= n) throw new ArgvError(`unterminated " quote at character ${i + 1}`);
        const c = command[j]!;
        if (c === '"') break;
        if (c === '\\' && (command[j + 1] === '"' || command[j + 1] === '\\')) {
          cur += command[j + 1];
          j += 2;
          continue;
        }
        cur += c;
        j++;
      }
      i = j + 1;
    } else if (ch === '\\') {
      if (i + 1 >= n) throw new ArgvError('trailing backslash');
      cur += command[i + 1];
      i += 2;
    } else {
      cur += ch;
      i++;
    }
  }
  if (inWord) argv.push(cur);
  if (argv.length === 0) throw new ArgvError('empty command');
  return argv;
}
