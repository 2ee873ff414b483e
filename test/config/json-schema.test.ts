/**
 * The published JSON Schema is generated from the zod schema: the committed file must match
 * (regenerate with `npm run schema`), and every key is documented.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { configJsonSchema, configJsonSchemaText } from '../../src/config/schema.js';
import { ROOT } from '../lib/env.js';

const COMMITTED = join(ROOT, 'schema', 'ipwardenrc.schema.json');

t.test('schema/ipwardenrc.schema.json is the generated schema', async (t) => {
  t.equal(readFileSync(COMMITTED, 'utf8'), configJsonSchemaText(), 'regenerate with: npm run schema');
});

type Node = Record<string, unknown>;

/** Every object property (and record value) in the schema, with its path. */
function properties(schema: Node, path: string, out: [string, Node][] = []): [string, Node][] {
  const props = schema.properties as Record<string, Node> | undefined;
  for (const [k, v] of Object.entries(props ?? {})) {
    out.push([`${path}.${k}`, v]);
    properties(v, `${path}.${k}`, out);
  }
  const extra = schema.additionalProperties;
  if (extra && typeof extra === 'object' && Object.keys(extra).length) {
    out.push([`${path}.*`, extra as Node]);
    properties(extra as Node, `${path}.*`, out);
  }
  if (schema.items && typeof schema.items === 'object') properties(schema.items as Node, `${path}[]`, out);
  for (const k of ['anyOf', 'oneOf', 'allOf'] as const) {
    for (const branch of (schema[k] as Node[] | undefined) ?? []) properties(branch, path, out);
  }
  return out;
}

t.test('every key has a description', async (t) => {
  const schema = configJsonSchema();
  t.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
  t.equal(schema.additionalProperties, false, 'strict at the top');
  const props = properties(schema, '(root)');
  t.ok(props.length > 40, `found ${props.length} keys`);
  for (const [path, node] of props) t.ok(typeof node.description === 'string' && node.description.length > 3, `${path} is described`);
});

t.test('the schema says what the rc file accepts', async (t) => {
  const schema = configJsonSchema() as any;
  const inst = schema.properties.instances.additionalProperties;
  t.same(inst.required, ['address']);
  t.equal(inst.additionalProperties, false);
  t.same([inst.properties.priority.minimum, inst.properties.priority.maximum, inst.properties.priority.default], [1, 254, 100]);
  t.equal(inst.properties.interval.default, '1s', 'durations are documented as strings');
  t.equal(inst.properties.interval.type, 'string');
  t.same(inst.properties.address.anyOf, [{ format: 'ipv4' }, { format: 'ipv6' }]);
  t.same(schema.properties.instances.propertyNames.pattern, '^[A-Za-z0-9_.-]{1,32}$');
  t.same(inst.properties.checks.items.additionalProperties, {}, 'plugin keys pass through');
  t.equal(schema.properties.secret.writeOnly, true);
});
