/**
 * The Hetzner Cloud API v1 shapes ipwarden reads (https://docs.hetzner.cloud), the fields it uses only.
 * The simulator renders the full objects; the client reads these.
 */

export const DEFAULT_HETZNER_ENDPOINT = 'https://api.hetzner.cloud/v1';
export const DEFAULT_HETZNER_METADATA_URL = 'http://169.254.169.254/hetzner/v1/metadata/';
export const DEFAULT_TOKEN_REF = 'env:HCLOUD_TOKEN';

export interface Pagination {
  page: number;
  per_page: number;
  previous_page: number | null;
  next_page: number | null;
  last_page: number | null;
  total_entries: number | null;
}

export interface ListMeta {
  pagination: Pagination;
}

export interface FloatingIp {
  id: number;
  name: string;
  description: string | null;
  ip: string;
  type: 'ipv4' | 'ipv6';
  /** The server it is assigned to, or null. */
  server: number | null;
  labels: Record<string, string>;
  blocked: boolean;
}

export interface PrivateNet {
  network: number;
  ip: string;
  alias_ips: string[];
}

export interface Server {
  id: number;
  name: string;
  status: 'running' | 'initializing' | 'starting' | 'stopping' | 'off' | 'deleting' | 'migrating' | 'rebuilding' | 'unknown';
  public_net: { ipv4: { ip: string } | null; floating_ips: number[] };
  private_net: PrivateNet[];
  labels: Record<string, string>;
}

export interface Network {
  id: number;
  name: string;
  ip_range: string;
  servers: number[];
}

export type ActionStatus = 'running' | 'success' | 'error';

export interface Action {
  id: number;
  command: string;
  status: ActionStatus;
  progress: number;
  started: string;
  finished: string | null;
  resources: Array<{ id: number; type: string }>;
  error: { code: string; message: string } | null;
}

/** Hetzner ids are positive integers; ipwarden keeps them as decimal strings. */
export const HETZNER_ID_RE = /^[1-9]\d{0,17}$/;

export function isHetznerId(text: string): boolean {
  return HETZNER_ID_RE.test(text);
}
