/**
 * Secret references, one syntax for every secret in the rc file:
 *   "env:NAME"         the environment variable NAME
 *   "file:PATH"        the contents of PATH (relative to the config file), trailing newline trimmed
 *   "credential:NAME"  systemd's $CREDENTIALS_DIRECTORY/NAME (LoadCredential=)
 *   anything else      the literal value (discouraged: it shows up in the file)
 * Resolved values are never logged; `redactSecretRef` is what `config print` and `status` show.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';

export interface SecretContext {
  /** Directory relative file: paths are resolved against (the config file's). */
  baseDir: string;
  env?: NodeJS.ProcessEnv;
}

export class SecretError extends Error {
  override name = 'SecretError';
}

export function resolveSecret(ref: string, where: string, ctx: SecretContext): string {
  const env = ctx.env ?? process.env;
  if (ref.startsWith('env:')) {
    const name = ref.slice(4);
    if (name === '') throw new SecretError(`${where}: "env:" needs a variable name (env:NAME)`);
    const value = env[name];
    if (value === undefined || value === '') throw new SecretError(`${where}: environment variable ${name} is not set`);
    return value;
  }
  if (ref.startsWith('file:')) {
    const path = ref.slice(5);
    if (path === '') throw new SecretError(`${where}: "file:" needs a path (file:PATH)`);
    const full = isAbsolute(path) ? path : resolve(ctx.baseDir, path);
    return readSecretFile(full, where);
  }
  if (ref.startsWith('credential:')) {
    const dir = env.CREDENTIALS_DIRECTORY;
    const name = ref.slice('credential:'.length);
    if (!/^[^/\0]+$/.test(name) || name === '.' || name === '..') {
      throw new SecretError(`${where}: "credential:" needs a credential name without "/" (credential:NAME)`);
    }
    if (!dir) throw new SecretError(`${where}: ${ref} needs $CREDENTIALS_DIRECTORY (systemd LoadCredential=)`);
    return readSecretFile(resolve(dir, name), where);
  }
  if (ref === '') throw new SecretError(`${where}: empty secret`);
  return ref;
}

function readSecretFile(path: string, where: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : String(code ?? err);
    throw new SecretError(`${where}: cannot read secret file ${path}: ${why}`);
  }
  const value = text.replace(/\r?\n$/, '');
  if (value === '') throw new SecretError(`${where}: secret file ${path} is empty`);
  return value;
}

/** What may be shown of a secret reference: the reference itself, never a literal value. */
export function redactSecretRef(ref: string): string {
  return /^(env|file|credential):/.test(ref) ? ref : '[redacted]';
}

/**
 * Config and plugin keys whose values are secrets: never echoed in errors, redacted by
 * `config print`. Matches `secret`, `key`, `apiKey`, `apiSecret`, `password`, `token`,
 * `authorization` and names ending in one of those (`clientSecret`, `bearerToken`), any case.
 */
export function isSecretKeyName(name: string): boolean {
  return /^key$/i.test(name) || /(secret|password|passwd|passphrase|token|api-?key|private-?key|secret-?access-?key|authorization)$/i.test(name);
}
