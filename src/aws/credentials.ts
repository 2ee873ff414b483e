/**
 * AWS credentials, the standard chain in the SDKs' order:
 *   1. explicit `accessKeyId` / `secretAccessKey` / `sessionToken` secret references in the rc file
 *      (they override the chain);
 *   2. the environment: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN);
 *   3. the shared files: AWS_SHARED_CREDENTIALS_FILE (default ~/.aws/credentials, `[name]` sections)
 *      then AWS_CONFIG_FILE (default ~/.aws/config, `[profile name]` / `[default]`), profile
 *      AWS_PROFILE (default "default"); a profile named by AWS_PROFILE that neither file has is an error;
 *   4. the instance role from IMDSv2 (iam/security-credentials/<role>), refreshed before `Expiration`.
 * Every credential carries its `source` so that an AuthFailure names where the key came from; no
 * message ever contains a key, secret or token.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { CallOptions } from '../cloud/provider.js';
import { CloudApiError } from '../cloud/provider.js';
import type { ImdsClient } from './imds.js';
import type { AwsCredentials } from './sigv4.js';

export interface ResolvedCredentials extends AwsCredentials {
  /** Where they came from: "env:AWS_ACCESS_KEY_ID", "profile ha in /etc/…/credentials", "instance role r (IMDSv2)". */
  source: string;
  /** Epoch ms after which they are invalid (role credentials). */
  expiresMs?: number;
}

export interface CredentialProvider {
  get(opts?: CallOptions): Promise<ResolvedCredentials>;
  /** The source of the credentials last handed out (or the chain's description before the first). */
  source(): string;
  /** Forget cached refreshable credentials (after an ExpiredToken answer). */
  invalidate(): void;
  /** Secret values to redact. */
  secrets(): Array<string | undefined>;
}

export interface ExplicitCredentials extends AwsCredentials {
  /** The references they were read from, e.g. "accessKeyId env:LB_KEY, secretAccessKey file:/etc/…". */
  source: string;
}

export interface ChainOptions {
  explicit?: ExplicitCredentials;
  env?: NodeJS.ProcessEnv;
  /** Needed for the instance-role link; without it the chain ends at the shared files. */
  imds?: ImdsClient;
  now?: () => number;
  /** Refresh role credentials this long before they expire, ms (default 5 minutes, as the SDKs). */
  refreshBeforeMs?: number;
  /** Home directory for the default file paths (default os.homedir()). */
  homeDir?: string;
}

export type IniSections = Map<string, Map<string, string>>;

/** Parses an AWS shared config/credentials file (INI: `[section]`, `key = value`, `#`/`;` comments). */
export function parseIni(text: string): IniSections {
  const out: IniSections = new Map();
  let cur: Map<string, string> | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[\s*([^\]]+?)\s*\]$/.exec(line);
    if (section) {
      cur = out.get(section[1]!) ?? new Map();
      out.set(section[1]!, cur);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq > 0 && cur && !/^\s/.test(raw)) cur.set(line.slice(0, eq).trim().toLowerCase(), line.slice(eq + 1).trim());
  }
  return out;
}

export interface SharedProfile {
  profile: string;
  /** Whether AWS_PROFILE named it (then it must exist). */
  explicit: boolean;
  credentialsFile: string;
  configFile: string;
  /** The profile's keys from the credentials file. */
  credentials?: Map<string, string>;
  /** The profile's keys from the config file. */
  config?: Map<string, string>;
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CloudApiError('aws', 'auth', `aws shared file ${path}: ${(err as Error).message}`);
  }
}

/** The profile the environment selects, read from both shared files. */
export function readSharedProfile(env: NodeJS.ProcessEnv, home: string = homedir()): SharedProfile {
  const credentialsFile = env.AWS_SHARED_CREDENTIALS_FILE || join(home, '.aws', 'credentials');
  const configFile = env.AWS_CONFIG_FILE || join(home, '.aws', 'config');
  const profile = env.AWS_PROFILE || 'default';
  const creds = readOptional(credentialsFile);
  const config = readOptional(configFile);
  const credSection = creds === undefined ? undefined : parseIni(creds).get(profile);
  const configSections = config === undefined ? undefined : parseIni(config);
  const configSection = configSections?.get(profile === 'default' ? 'default' : `profile ${profile}`) ?? (profile === 'default' ? configSections?.get('profile default') : undefined);
  return {
    profile,
    explicit: Boolean(env.AWS_PROFILE),
    credentialsFile,
    configFile,
    ...(credSection ? { credentials: credSection } : {}),
    ...(configSection ? { config: configSection } : {}),
  };
}

const DEFAULT_REFRESH_BEFORE_MS = 5 * 60_000;

/** The standard chain; the link is chosen at the first `get()` and kept (as the SDKs do). */
export class CredentialChain implements CredentialProvider {
  readonly #opts: ChainOptions;
  readonly #now: () => number;
  #current: ResolvedCredentials | undefined;
  #role: string | undefined;
  #fetching: Promise<ResolvedCredentials> | undefined;
  #usesImds = false;

  constructor(opts: ChainOptions = {}) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
  }

  source(): string {
    return this.#current?.source ?? (this.#opts.explicit ? this.#opts.explicit.source : 'the default credential chain (env, shared files, instance role)');
  }

  secrets(): Array<string | undefined> {
    return [this.#current?.secretAccessKey, this.#current?.sessionToken, this.#opts.explicit?.secretAccessKey, this.#opts.explicit?.sessionToken];
  }

  invalidate(): void {
    if (this.#usesImds) this.#current = undefined;
  }

  async get(opts: CallOptions = {}): Promise<ResolvedCredentials> {
    const cur = this.#current;
    const refreshBefore = this.#opts.refreshBeforeMs ?? DEFAULT_REFRESH_BEFORE_MS;
    if (cur && (cur.expiresMs === undefined || this.#now() < cur.expiresMs - refreshBefore)) return cur;
    this.#fetching ??= this.#resolve(opts).finally(() => (this.#fetching = undefined));
    try {
      this.#current = await this.#fetching;
    } catch (err) {
      // A failed refresh while the old role credentials are still valid: keep using them.
      if (cur?.expiresMs !== undefined && this.#now() < cur.expiresMs) return cur;
      throw err;
    }
    return this.#current;
  }

  async #resolve(opts: CallOptions): Promise<ResolvedCredentials> {
    const { explicit } = this.#opts;
    if (explicit) return { ...explicit };
    if (this.#usesImds) return this.#fromImds(opts);
    const env = this.#opts.env ?? process.env;
    if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
      return {
        accessKeyId: env.AWS_ACCESS_KEY_ID,
        secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
        ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
        source: `env:AWS_ACCESS_KEY_ID${env.AWS_SESSION_TOKEN ? ' (with AWS_SESSION_TOKEN)' : ''}`,
      };
    }
    const shared = readSharedProfile(env, this.#opts.homeDir);
    for (const [keys, file] of [
      [shared.credentials, shared.credentialsFile],
      [shared.config, shared.configFile],
    ] as const) {
      const id = keys?.get('aws_access_key_id');
      const secret = keys?.get('aws_secret_access_key');
      if (id && secret) {
        const token = keys?.get('aws_session_token');
        return { accessKeyId: id, secretAccessKey: secret, ...(token ? { sessionToken: token } : {}), source: `profile ${shared.profile} in ${file}` };
      }
    }
    if (shared.explicit && !shared.credentials && !shared.config) {
      throw new CloudApiError('aws', 'auth', `AWS_PROFILE=${shared.profile}: no such profile in ${shared.credentialsFile} or ${shared.configFile}`);
    }
    if (!this.#opts.imds) {
      throw new CloudApiError('aws', 'auth', 'no AWS credentials: set accessKeyId/secretAccessKey, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a shared credentials profile');
    }
    this.#usesImds = true;
    return this.#fromImds(opts);
  }

  async #fromImds(opts: CallOptions): Promise<ResolvedCredentials> {
    const imds = this.#opts.imds!;
    try {
      this.#role ??= await imds.roleName(opts);
      const c = await imds.roleCredentials(this.#role, opts);
      return {
        accessKeyId: c.AccessKeyId,
        secretAccessKey: c.SecretAccessKey,
        sessionToken: c.Token,
        expiresMs: Date.parse(c.Expiration),
        source: `instance role ${this.#role} (IMDSv2 ${imds.baseUrl})`,
      };
    } catch (err) {
      if (err instanceof CloudApiError) {
        throw new CloudApiError('aws', err.kind === 'not-found' ? 'auth' : err.kind, `no AWS credentials from the instance role: ${err.message}`, {
          ...(err.status !== undefined ? { status: err.status } : {}),
          cause: err,
        });
      }
      throw err;
    }
  }
}
