/**
 * Hetzner Cloud label selectors (GET /servers?label_selector=...): a comma-separated conjunction of
 *
 *   k=v  k==v  k!=v  k  !k  k in (a,b)  k notin (a,b)
 *
 * Pure: the discovery plugin validates its `selector` with it (a typo fails `config check`, not the
 * first refresh) and the simulator filters with it.
 */

export type LabelRequirement =
  | { key: string; op: 'eq' | 'neq'; value: string }
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: 'exists' | 'absent' };

// Hetzner label keys: optional DNS prefix "/" name; values: up to 63 of [A-Za-z0-9._-], may be empty.
const KEY = /^(?:[a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const VALUE = /^(?:[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

/** Splits on commas outside parentheses. */
function splitTop(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  return parts;
}

function checkKey(key: string, part: string): string {
  if (!KEY.test(key)) throw new Error(`label selector: ${JSON.stringify(key)} is not a label key (in ${JSON.stringify(part)})`);
  return key;
}

function checkValue(value: string, part: string): string {
  if (!VALUE.test(value)) throw new Error(`label selector: ${JSON.stringify(value)} is not a label value (in ${JSON.stringify(part)})`);
  return value;
}

/** Parses a selector; throws a one-line error naming the bad requirement. */
export function parseLabelSelector(selector: string): LabelRequirement[] {
  if (selector.trim() === '') throw new Error('label selector: empty');
  return splitTop(selector).map((raw) => {
    const part = raw.trim();
    if (part === '') throw new Error(`label selector: empty requirement in ${JSON.stringify(selector)}`);
    const set = /^(\S+)\s+(in|notin)\s*\(([^()]*)\)$/.exec(part);
    if (set) {
      const values = set[3]!.split(',').map((v) => checkValue(v.trim(), part));
      return { key: checkKey(set[1]!, part), op: set[2] as 'in' | 'notin', values };
    }
    const cmp = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(part);
    if (cmp) return { key: checkKey(cmp[1]!, part), op: cmp[2] === '!=' ? 'neq' : 'eq', value: checkValue(cmp[3]!, part) };
    if (part.startsWith('!')) return { key: checkKey(part.slice(1).trim(), part), op: 'absent' };
    if (/^\S+$/.test(part)) return { key: checkKey(part, part), op: 'exists' };
    throw new Error(`label selector: cannot parse ${JSON.stringify(part)} (expected k=v, k!=v, k, !k, k in (a,b) or k notin (a,b))`);
  });
}

/** Whether `labels` satisfy every requirement. */
export function matchesLabels(requirements: readonly LabelRequirement[], labels: Readonly<Record<string, string>>): boolean {
  return requirements.every((r) => {
    const has = Object.hasOwn(labels, r.key);
    const v = labels[r.key];
    switch (r.op) {
      case 'eq':
        return has && v === r.value;
      case 'neq':
        return !has || v !== r.value;
      case 'in':
        return has && r.values.includes(v!);
      case 'notin':
        return !has || !r.values.includes(v!);
      case 'exists':
        return has;
      case 'absent':
        return !has;
    }
  });
}
