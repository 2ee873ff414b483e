/**
 * Everything an AWS action, discovery source or CLI command needs, built from the common rc-file keys
 * with the documented defaults:
 *   region       $AWS_REGION / $AWS_DEFAULT_REGION, else the shared config file's profile `region`
 *                (what the SDKs and the CLI do), else IMDSv2 placement/region;
 *   endpoint     $AWS_ENDPOINT_URL_EC2 / $AWS_ENDPOINT_URL, else https://ec2.<region>.amazonaws.com;
 *   metadataUrl  $AWS_EC2_METADATA_SERVICE_ENDPOINT, else http://169.254.169.254;
 *   credentials  explicit accessKeyId/secretAccessKey(/sessionToken), else the standard chain.
 * The region (hence the endpoint) is resolved lazily: a config naming neither makes no network call
 * until the first API call.
 */
import type { RetryPolicy } from '../cloud/http.js';
import type { CallOptions } from '../cloud/provider.js';
import { CredentialChain, readSharedProfile, type CredentialProvider, type ExplicitCredentials } from './credentials.js';
import { Ec2Client, type Ec2ClientOptions } from './ec2.js';
import { DEFAULT_METADATA_URL, ImdsClient } from './imds.js';

export interface AwsConnectionSettings {
  region?: string;
  endpoint?: string;
  metadataUrl?: string;
  explicit?: ExplicitCredentials;
  /** Per-attempt API timeout, ms. */
  timeoutMs?: number;
  /** The first attempt's timeout, doubled per retry up to timeoutMs (CloudHttpOptions.firstTimeoutMs). */
  firstTimeoutMs?: number;
  /** Retry policy of API calls (default the HTTP layer's). */
  retry?: RetryPolicy;
  /** Every API attempt, for ipwarden_api_* metrics. */
  onCall?: Ec2ClientOptions['onCall'];
}

export function defaultMetadataUrl(env: NodeJS.ProcessEnv): string {
  return env.AWS_EC2_METADATA_SERVICE_ENDPOINT || DEFAULT_METADATA_URL;
}

/** The region from the settings, environment or shared config file (undefined: ask IMDS). */
export function staticRegion(settings: AwsConnectionSettings, env: NodeJS.ProcessEnv): string | undefined {
  if (settings.region) return settings.region;
  if (env.AWS_REGION) return env.AWS_REGION;
  if (env.AWS_DEFAULT_REGION) return env.AWS_DEFAULT_REGION;
  try {
    return readSharedProfile(env).config?.get('region') || undefined;
  } catch {
    return undefined;
  }
}

export function endpointFor(region: string, settings: AwsConnectionSettings, env: NodeJS.ProcessEnv): string {
  return settings.endpoint || env.AWS_ENDPOINT_URL_EC2 || env.AWS_ENDPOINT_URL || `https://ec2.${region}.amazonaws.com`;
}

const REGION_RE = /^[a-z]{2}(-[a-z]+)+-\d+$/;

export class AwsConnection {
  readonly imds: ImdsClient;
  readonly credentials: CredentialProvider;
  readonly #settings: AwsConnectionSettings;
  readonly #env: NodeJS.ProcessEnv;
  #ec2: Promise<Ec2Client> | undefined;
  #client: Ec2Client | undefined;

  constructor(settings: AwsConnectionSettings, env: NodeJS.ProcessEnv = process.env, credentials?: CredentialProvider) {
    this.#settings = settings;
    this.#env = env;
    this.imds = new ImdsClient({ baseUrl: settings.metadataUrl || defaultMetadataUrl(env) });
    this.credentials = credentials ?? new CredentialChain({ env, imds: this.imds, ...(settings.explicit ? { explicit: settings.explicit } : {}) });
  }

  /** The EC2 client, its region resolved (IMDSv2 when nothing else names it). */
  ec2(opts: CallOptions = {}): Promise<Ec2Client> {
    this.#ec2 ??= (async () => {
      let region = staticRegion(this.#settings, this.#env);
      if (!region) region = await this.imds.region(opts);
      if (!REGION_RE.test(region)) throw new Error(`aws region: ${JSON.stringify(region)} is not a region name (e.g. eu-west-1)`);
      this.#client = new Ec2Client({
        region,
        endpoint: endpointFor(region, this.#settings, this.#env),
        credentials: this.credentials,
        ...(this.#settings.timeoutMs !== undefined ? { timeoutMs: this.#settings.timeoutMs } : {}),
        ...(this.#settings.firstTimeoutMs !== undefined ? { firstTimeoutMs: this.#settings.firstTimeoutMs } : {}),
        ...(this.#settings.retry ? { retry: this.#settings.retry } : {}),
        ...(this.#settings.onCall ? { onCall: this.#settings.onCall } : {}),
      });
      return this.#client;
    })().catch((err: unknown) => {
      this.#ec2 = undefined;
      throw err;
    });
    return this.#ec2;
  }

  close(): void {
    this.#client?.close();
    this.imds.close();
  }
}
