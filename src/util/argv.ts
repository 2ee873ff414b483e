/**
 * Splits a command string into argv exactly the way keepalived 2.2.x splits a script string
 * (`alloc_strvec_quoted_escaped()` in keepalived's lib/parser.c, applied by
 * `set_script_params_array()` in lib/notify.c to `script`, `notify`, `notify_master`, ...). No shell:
 * a command that needs pipes, globs or variables runs one itself: `sh -c 'curl -fs http://x | grep ok'`.
 *
 * - Words are separated by unquoted blanks: space, \t, \f, \n, \r, \v.
 * - '...' and "..." group blanks into a word; quotes can start and end inside a word
 *   (`a"b c"d` is the one word `ab cd`); `""` is an empty word.
 * - A backslash escapes the next character everywhere, inside both kinds of quotes too:
 *   \a \b \E(ESC) \f \n \r \t \v; \xHH... (hex digits, all of them, keeping the low 8 bits);
 *   \0 to \777 (octal, up to 3 digits, low 8 bits); \cX (control character X & 0x1f); any other
 *   character stands for itself (\" \' \\ \  \d -> d).
 * - A word ends at a NUL byte produced by an escape (keepalived copies words as C strings).
 *
 * The input is taken as UTF-8 bytes and every word is decoded back from UTF-8, so escapes
 * such as \xc3\xa9 give "é", as the bytes keepalived would pass.
 *
 * Note the config-file layer in keepalived.conf: there, the whole line is split once with these
 * rules first, so `notify_master "/bin/x 'a b'"` hands the string `/bin/x 'a b'` to this
 * splitter. ipwarden's config holds that inner string (`notifyMaster: /bin/x 'a b'`).
 */
export class ArgvError extends Error {
  override name = 'ArgvError';
}

const BLANKS = new Set([0x20, 0x09, 0x0c, 0x0a, 0x0d, 0x0b]);
const SIMPLE_ESCAPES: Record<string, number> = { a: 0x07, b: 0x08, E: 0x1b, f: 0x0c, n: 0x0a, r: 0x0d, t: 0x09, v: 0x0b };
const QUOTE_DQ = 0x22;
const QUOTE_SQ = 0x27;
const BACKSLASH = 0x5c;

const isHex = (b: number | undefined): b is number => b !== undefined && ((b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66));
const isOctal = (b: number | undefined): b is number => b !== undefined && b >= 0x30 && b <= 0x37;
const hexValue = (b: number): number => (b <= 0x39 ? b - 0x30 : (b | 0x20) - 0x61 + 10);

/** Character position (1-based, in characters of the original string) of byte offset `at`. */
function charPosition(bytes: Buffer, at: number): number {
  return bytes.subarray(0, at).toString('utf8').length + 1;
}

/** Splits `command` like keepalived; throws ArgvError (unterminated quote, trailing backslash, empty). */
export function splitCommand(command: string): string[] {
  const src = Buffer.from(command, 'utf8');
  const n = src.length;
  const words: string[] = [];
  let i = 0;
  while (i < n) {
    while (i < n && BLANKS.has(src[i]!)) i++;
    if (i >= n) break;
    const out: number[] = [];
    let quote = 0;
    let quoteAt = 0;
    while (i < n) {
      const b = src[i]!;
      if (b === BACKSLASH) {
        i++;
        if (i >= n) throw new ArgvError('trailing backslash');
        const e = src[i]!;
        const ch = String.fromCharCode(e);
        if (ch === 'x' && isHex(src[i + 1])) {
          let v = 0;
          i++;
          while (isHex(src[i])) v = ((v << 4) | hexValue(src[i++]!)) & 0xff;
          out.push(v);
        } else if (ch === 'c' && i + 1 < n) {
          out.push(src[i + 1]! & 0x1f);
          i += 2;
        } else if (isOctal(e)) {
          let v = e - 0x30;
          i++;
          for (let k = 0; k < 2 && isOctal(src[i]); k++) v = ((v << 3) + (src[i++]! - 0x30)) & 0xff;
          out.push(v);
        } else {
          out.push(SIMPLE_ESCAPES[ch] ?? e);
          i++;
        }
        continue;
      }
      if (quote) {
        if (b === quote) quote = 0;
        else out.push(b);
        i++;
        continue;
      }
      if (b === QUOTE_DQ || b === QUOTE_SQ) {
        quote = b;
        quoteAt = i;
        i++;
        continue;
      }
      if (BLANKS.has(b)) break;
      out.push(b);
      i++;
    }
    if (quote) throw new ArgvError(`unterminated ${String.fromCharCode(quote)} quote at character ${charPosition(src, quoteAt)}`);
    const nul = out.indexOf(0);
    words.push(Buffer.from(nul < 0 ? out : out.slice(0, nul)).toString('utf8'));
  }
  if (words.length === 0) throw new ArgvError('empty command');
  return words;
}

/**
 * Quotes one string so that keepalived.conf's line parser hands it over unchanged: the result,
 * written after a keyword (`notify_master <result>`), reaches splitCommand() as `text`.
 */
export function quoteForKeepalivedConf(text: string): string {
  const escaped = text.replace(/[\\"\n\r]/g, (c) => (c === '\n' ? '\\n' : c === '\r' ? '\\r' : `\\${c}`));
  return `"${escaped}"`;
}
