/**
 * YAML for the rc file: the js-yaml that cosmiconfig ships (no extra dependency).
 * It is resolved from cosmiconfig's own location so a nested install still finds it.
 */
import { createRequire } from 'node:module';

interface YamlMark {
  line: number;
  column: number;
}
interface JsYaml {
  load(text: string, opts?: { filename?: string }): unknown;
  dump(value: unknown, opts?: { lineWidth?: number; noRefs?: boolean; quotingType?: '"' | "'" }): string;
}

const requireHere = createRequire(import.meta.url);
const jsYaml = createRequire(requireHere.resolve('cosmiconfig'))('js-yaml') as JsYaml;

/** A YAML syntax error with its 1-based position. */
export class YamlSyntaxError extends Error {
  override name = 'YamlSyntaxError';
  constructor(
    readonly reason: string,
    readonly line?: number,
    readonly column?: number,
  ) {
    super(line === undefined ? reason : `line ${line}, column ${column}: ${reason}`);
  }
}

/** Parses YAML 1.2 (js-yaml's default schema). Throws YamlSyntaxError without echoing the source. */
export function parseYaml(text: string): unknown {
  try {
    return jsYaml.load(text);
  } catch (err) {
    const e = err as { reason?: string; mark?: YamlMark; message?: string };
    const reason = e.reason ?? String(e.message ?? err).split('\n')[0]!;
    throw new YamlSyntaxError(reason, e.mark ? e.mark.line + 1 : undefined, e.mark ? e.mark.column + 1 : undefined);
  }
}

/** Block-style YAML, long lines unwrapped. */
export function dumpYaml(value: unknown): string {
  return jsYaml.dump(value, { lineWidth: -1, noRefs: true, quotingType: '"' });
}
