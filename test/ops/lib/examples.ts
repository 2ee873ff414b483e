/**
 * Finding the rc file examples shipped under contrib/ and preparing each to be validated as-is:
 * the secrets it references get dummy values (environment variables, systemd credentials,
 * files relative to the example), nothing else about it is changed.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, extname, join, relative } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseYaml } from '../../../src/config/yaml.js';

const CONFIG_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

/** Every file under `dir` (skipping node_modules and dot directories), sorted. */
export function walkFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) {
      if (name === 'node_modules' || name.startsWith('.')) continue;
      out.push(...walkFiles(full));
    } else out.push(full);
  }
  return out;
}

/** The data of a YAML or JSON file, or undefined when it is neither (or does not parse). */
export function readData(file: string): unknown {
  const text = readFileSync(file, 'utf8');
  try {
    return extname(file) === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch {
    return undefined;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * A YAML/JSON file (or .ipwardenrc*) whose top level has `instances` or `keepalived`: an rc example.
 * A file that does not parse counts when its text has such a key, so a broken example is not skipped.
 */
export function isRcExample(file: string): boolean {
  const name = basename(file);
  if (!CONFIG_EXTENSIONS.has(extname(name)) && !name.startsWith('.ipwardenrc')) return false;
  const data = readData(file);
  if (data === undefined) return /^(instances|keepalived):|"(instances|keepalived)"\s*:/m.test(readFileSync(file, 'utf8'));
  return isRecord(data) && ('instances' in data || 'keepalived' in data);
}

/** The rc examples under `dir`, as paths relative to it. */
export function findRcExamples(dir: string): string[] {
  return walkFiles(dir)
    .filter(isRcExample)
    .map((f) => relative(dir, f));
}

/** Secret references found in the example's string values. */
export interface SecretRefs {
  env: string[];
  credentials: string[];
  files: string[];
}

/** Collects every `env:`, `credential:` and `file:` reference among the string values of `data`. */
export function secretRefs(data: unknown): SecretRefs {
  const refs: SecretRefs = { env: [], credentials: [], files: [] };
  const walk = (v: unknown): void => {
    if (typeof v === 'string') {
      const m = /^(env|credential|file):(.+)$/.exec(v);
      if (!m) return;
      const list = m[1] === 'env' ? refs.env : m[1] === 'credential' ? refs.credentials : refs.files;
      if (!list.includes(m[2]!)) list.push(m[2]!);
    } else if (Array.isArray(v)) v.forEach(walk);
    else if (isRecord(v)) Object.values(v).forEach(walk);
  };
  walk(data);
  return refs;
}

/**
 * A dummy secret of at least 16 bytes. Names that look like an API key id get the Exoscale key
 * format (EXO + 24 hex digits), which the API plugins check.
 */
export function dummySecret(name: string): string {
  if (/api_?key|key_?id|access_?key/i.test(name) && !/secret/i.test(name)) return `EXO${randomBytes(12).toString('hex')}`;
  return randomBytes(24).toString('hex');
}
