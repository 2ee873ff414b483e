/**
 * The XML subset EC2's Query API answers with (and the simulator writes): elements, attributes
 * (read, then ignored: the only ones EC2 sends are xmlns), text with the five predefined entities and
 * numeric character references, self-closing tags, an optional <?xml …?> prolog, comments and CDATA.
 * No DTDs, no namespaces resolution: EC2 answers use one default namespace. ~100 lines instead of a
 * dependency; malformed input throws an XmlError naming the offset.
 */

export interface XmlElement {
  name: string;
  children: XmlElement[];
  /** Concatenated text directly inside this element (entities decoded). */
  text: string;
}

export class XmlError extends Error {
  override name = 'XmlError';
}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (whole, ent: string) => {
    if (ent.startsWith('#x')) return String.fromCodePoint(parseInt(ent.slice(2), 16));
    if (ent.startsWith('#')) return String.fromCodePoint(parseInt(ent.slice(1), 10));
    return ENTITIES[ent] ?? whole;
  });
}

export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&${Object.keys(ENTITIES).find((k) => ENTITIES[k] === c)};`);
}

/** Parses a document; returns its root element. */
export function parseXml(input: string): XmlElement {
  let pos = 0;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  const fail = (msg: string): never => {
    throw new XmlError(`XML: ${msg} at offset ${pos}`);
  };
  while (pos < input.length) {
    const lt = input.indexOf('<', pos);
    const textEnd = lt < 0 ? input.length : lt;
    if (textEnd > pos) {
      const text = input.slice(pos, textEnd);
      if (stack.length > 0) stack[stack.length - 1]!.text += decodeEntities(text);
      else if (text.trim() !== '') fail('text outside the root element');
      pos = textEnd;
      continue;
    }
    if (input.startsWith('<?', pos)) {
      const end = input.indexOf('?>', pos);
      if (end < 0) fail('unterminated processing instruction');
      pos = end + 2;
    } else if (input.startsWith('<!--', pos)) {
      const end = input.indexOf('-->', pos);
      if (end < 0) fail('unterminated comment');
      pos = end + 3;
    } else if (input.startsWith('<![CDATA[', pos)) {
      const end = input.indexOf(']]>', pos);
      if (end < 0) fail('unterminated CDATA');
      if (stack.length === 0) fail('CDATA outside the root element');
      stack[stack.length - 1]!.text += input.slice(pos + 9, end);
      pos = end + 3;
    } else if (input.startsWith('<!', pos)) {
      fail('DTDs are not supported');
    } else if (input.startsWith('</', pos)) {
      const end = input.indexOf('>', pos);
      if (end < 0) fail('unterminated end tag');
      const name = input.slice(pos + 2, end).trim();
      const open = stack.pop();
      if (!open) fail(`end tag </${name}> without a start tag`);
      if (open!.name !== name) fail(`end tag </${name}> does not match <${open!.name}>`);
      pos = end + 1;
    } else {
      const m = /^<([A-Za-z_][\w.:-]*)((?:\s+[\w.:-]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>/.exec(input.slice(pos, pos + 4096));
      if (!m) fail('malformed start tag');
      const el: XmlElement = { name: m![1]!, children: [], text: '' };
      if (stack.length > 0) stack[stack.length - 1]!.children.push(el);
      else if (root) fail('a second root element');
      else root = el;
      if (m![3] !== '/') stack.push(el);
      pos += m![0].length;
    }
  }
  if (stack.length > 0) fail(`<${stack[stack.length - 1]!.name}> is not closed`);
  if (!root) fail('no root element');
  return root!;
}

/** The first child element called `name`. */
export function child(el: XmlElement | undefined, name: string): XmlElement | undefined {
  return el?.children.find((c) => c.name === name);
}

/** The trimmed text of the child `name` (undefined when absent). */
export function childText(el: XmlElement | undefined, name: string): string | undefined {
  const c = child(el, name);
  return c === undefined ? undefined : c.text.trim();
}

/** The `item` elements of the list child `name` ("addressesSet" → its items). */
export function items(el: XmlElement | undefined, name: string): XmlElement[] {
  return child(el, name)?.children.filter((c) => c.name === 'item') ?? [];
}

/** Follows a path of child names. */
export function path(el: XmlElement | undefined, ...names: string[]): XmlElement | undefined {
  let cur = el;
  for (const n of names) cur = child(cur, n);
  return cur;
}
