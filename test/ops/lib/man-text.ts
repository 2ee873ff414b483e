/** Reading a rendered man page back: sections, keys and example blocks, as plain text. */

/** Undoes the roff escapes the man page templates use (enough for example code and key names). */
export function deroff(text: string): string {
  return text
    .replace(/\\-/g, '-')
    .replace(/\\\(aq/g, "'")
    .replace(/\\\(ga/g, '`')
    .replace(/\\\(dq/g, '"')
    .replace(/\\&/g, '')
    .replace(/\\\[u([0-9A-F]{4})\]/g, (_, hex: string) => String.fromCodePoint(parseInt(hex, 16)))
    .replace(/\\e/g, '\\');
}

/** The text of one `.SH` section (up to the next `.SH`), or undefined. */
export function section(page: string, title: string): string | undefined {
  const parts = page.split(/^(?=\.SH )/m);
  return parts.find((p) => p.startsWith(`.SH ${title}\n`) || p.startsWith(`.SH "${title}"\n`));
}

/** The `.SS` subsections of a text, by their (de-roffed) heading. */
export function subsections(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of text.split(/^(?=\.SS )/m)) {
    const m = /^\.SS (.+)\n/.exec(part);
    if (m) out.set(deroff(m[1]!).replace(/^"|"$/g, ''), part);
  }
  return out;
}

/** Keys documented as `.TP` / `.B key` items, de-roffed. */
export function documentedKeys(text: string): string[] {
  return [...text.matchAll(/^\.TP\n\.B ([^\s"]+)\n/gm)].map((m) => deroff(m[1]!));
}

/** The contents of the `.EX` ... `.EE` blocks of a text, de-roffed. */
export function exampleBlocks(text: string): string[] {
  return [...text.matchAll(/^\.EX\n([\s\S]*?)^\.EE$/gm)].map((m) => deroff(m[1]!));
}
