/**
 * Just enough of npm's semver range grammar to judge `engines.node` fields: `||`, hyphen ranges,
 * comparators (`>=`, `>`, `<=`, `<`, `=`, with or without a space before the version), `^`, `~`,
 * partial versions and `x`/`*` wildcards. Prerelease tags are not supported (engines fields do
 * not use them); an unreadable range throws.
 */

type Version = [number, number, number];
type Partial = [number | undefined, number | undefined, number | undefined];
type Op = '>=' | '>' | '<=' | '<' | '=';
type Comparator = { op: Op; v: Version };

export function parseVersion(text: string): Version {
  const m = /^v?(\d+)\.(\d+)\.(\d+)$/.exec(text.trim());
  if (!m) throw new Error(`not a version: ${JSON.stringify(text)}`);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

function parsePartial(text: string): Partial {
  const m = /^v?(\d+|[xX*])?(?:\.(\d+|[xX*]))?(?:\.(\d+|[xX*]))?$/.exec(text);
  if (!m) throw new Error(`not a version: ${JSON.stringify(text)}`);
  const num = (s: string | undefined) => (s === undefined || /^[xX*]$/.test(s) ? undefined : Number(s));
  const parts: Partial = [num(m[1]), num(m[2]), num(m[3])];
  // "1.x.3" is read as "1.x"
  if (parts[0] === undefined) return [undefined, undefined, undefined];
  if (parts[1] === undefined) return [parts[0], undefined, undefined];
  return parts;
}

function cmp(a: Version, b: Version): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

function floor(p: Partial): Version {
  return [p[0] ?? 0, p[1] ?? 0, p[2] ?? 0];
}

/** The first version above everything `p` matches ("1.2" -> 1.3.0, "1" -> 2.0.0). */
function ceiling(p: Partial): Version | undefined {
  if (p[0] === undefined) return undefined;
  if (p[1] === undefined) return [p[0] + 1, 0, 0];
  if (p[2] === undefined) return [p[0], p[1] + 1, 0];
  return [p[0], p[1], p[2] + 1];
}

function between(p: Partial): Comparator[] {
  const hi = ceiling(p);
  return hi ? [{ op: '>=', v: floor(p) }, { op: '<', v: hi }] : [];
}

function expand(token: string): Comparator[] {
  if (token.startsWith('^')) {
    const p = parsePartial(token.slice(1));
    if (p[0] === undefined) return [];
    const lo = floor(p);
    const hi: Version = p[0] > 0 || p[1] === undefined ? [p[0] + 1, 0, 0] : p[1] > 0 || p[2] === undefined ? [0, p[1] + 1, 0] : [0, 0, p[2] + 1];
    return [{ op: '>=', v: lo }, { op: '<', v: hi }];
  }
  if (token.startsWith('~')) {
    const p = parsePartial(token.replace(/^~>?/, ''));
    if (p[0] === undefined) return [];
    return [{ op: '>=', v: floor(p) }, { op: '<', v: p[1] === undefined ? [p[0] + 1, 0, 0] : [p[0], p[1] + 1, 0] }];
  }
  const m = /^(>=|<=|>|<|=)?(.*)$/.exec(token)!;
  const op = (m[1] ?? '=') as Op;
  const p = parsePartial(m[2]!);
  if (p[0] === undefined) return op === '<' || op === '>' ? [{ op: '<', v: [0, 0, 0] }] : [];
  const exact = p[2] !== undefined;
  switch (op) {
    case '=':
      return exact ? [{ op: '=', v: floor(p) }] : between(p);
    case '>=':
      return [{ op: '>=', v: floor(p) }];
    case '<':
      return [{ op: '<', v: floor(p) }];
    case '>':
      return exact ? [{ op: '>', v: floor(p) }] : [{ op: '>=', v: ceiling(p)! }];
    case '<=':
      return exact ? [{ op: '<=', v: floor(p) }] : [{ op: '<', v: ceiling(p)! }];
  }
}

function test(v: Version, c: Comparator): boolean {
  const d = cmp(v, c.v);
  return c.op === '>=' ? d >= 0 : c.op === '>' ? d > 0 : c.op === '<=' ? d <= 0 : c.op === '<' ? d < 0 : d === 0;
}

/** Whether `version` ("20.5.0") satisfies `range` (">=18", "^18.19.0 || >=20.5.0", ">= 10.x"). */
export function satisfies(version: string, range: string): boolean {
  const v = parseVersion(version);
  return range.split('||').some((alt) => {
    const text = alt.trim().replace(/([<>=~^]+)\s+/g, '$1');
    const hyphen = /^(\S+)\s+-\s+(\S+)$/.exec(text);
    const comparators = hyphen
      ? [{ op: '>=' as Op, v: floor(parsePartial(hyphen[1]!)) }, ...expand(`<=${hyphen[2]}`)]
      : text === ''
        ? []
        : text.split(/\s+/).flatMap(expand);
    return comparators.every((c) => test(v, c));
  });
}

/** The lowest version a range admits, for ranges of the `>=X` kind (what `engines` declares). */
export function minVersion(range: string): string {
  const m = /^>=\s*(\S+)$/.exec(range.trim());
  if (!m) throw new Error(`expected a ">=X" range, got ${JSON.stringify(range)}`);
  return floor(parsePartial(m[1]!)).join('.');
}
