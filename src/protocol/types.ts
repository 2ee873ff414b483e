/**
 * What travels between ipwarden nodes, as the engine sees it (decoded, verified).
 * The wire format lives in advert.ts; the engine never touches bytes.
 */
import type { InstanceState } from '../plugins/api.js';

export type PacketKind = 'advert' | 'probe' | 'probe-reply';

/** Who a sender believes is MASTER of the instance, and how long ago it last heard it (vouching). */
export interface MasterVouch {
  id: string;
  /** ms since the sender last accepted an advert from that master. */
  heardAgoMs: number;
}

/**
 * What an etcd-elected node with heartbeats on (election.heartbeat) says about etcd in its adverts:
 * whether it can renew its lease, and the leader key as it last read it. The MASTER holds through
 * an etcd outage (onEtcdLoss hold-if-peers-agree) only while every peer reports ok false and names
 * it with the same token.
 */
export interface EtcdReport {
  /** The sender's lease renewals are acknowledged (within its step-down deadline). */
  ok: boolean;
  /** Node id the leader key named when last read; undefined: no leader known. */
  leader?: string;
  /** That key's mod revision (the term's fencing token); 0n: no leader known. */
  token: bigint;
}

export interface Packet {
  kind: PacketKind;
  /** 32-bit key derived from the instance's shared address (see instanceKey()). */
  instanceKey: number;
  /** Sender's node id (UTF-8, 1..64 bytes). */
  nodeId: string;
  /** Effective priority 0..255; 0 in an advert = goodbye (resigning). */
  priority: number;
  state: InstanceState;
  /** Sender incarnation: grows across restarts (start time in seconds). */
  incarnation: number;
  /** Per-sender sequence number, strictly increasing within an incarnation (uint32). */
  sequence: number;
  /** Sender's wall clock, ms since the epoch. */
  timestamp: number;
  /** Sender's advert interval in ms (so peers and `doctor` can see disagreements). */
  intervalMs: number;
  /** Probe id: set on probes, echoed on their replies; 0 on adverts. */
  nonce: number;
  /** Vouch, on adverts from non-masters; undefined when the sender knows no master. */
  master?: MasterVouch;
  /** etcd report, on adverts of etcd-elected instances with heartbeats; undefined otherwise. */
  etcd?: EtcdReport;
  /** The sender yielded MASTER to a better master lately (it may have moved the address meanwhile). */
  leftMaster?: true;
}

/** Why a datagram was dropped; every reason is counted. */
export type RejectReason =
  | 'truncated'
  | 'oversized'
  | 'bad-magic'
  | 'bad-version'
  | 'malformed'
  | 'unknown-key-id'
  | 'bad-tag'
  | 'replay'
  | 'stale-timestamp'
  | 'unknown-peer'
  | 'unknown-instance';
