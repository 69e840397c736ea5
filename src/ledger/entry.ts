import { canonicalJson } from './canonical-json';
import type { Sha256Hex } from './crypto';

export const GENESIS_PREVIOUS_HASH = '0'.repeat(64);

export const LEDGER_EVENT_TYPES = [
  'genesis',
  'decision',
  'policy_loaded',
  'api_key_created',
  'api_key_revoked',
  // Security events: who signed in, failed to, enrolled MFA, changed users or flags.
  'user_created',
  'user_disabled',
  'login_succeeded',
  'login_failed',
  'logout',
  'mfa_enrolled',
  'mfa_verified',
  'mfa_failed',
  'feature_flag_updated',
] as const;
export type LedgerEventType = (typeof LEDGER_EVENT_TYPES)[number];

/** One entry of the chain, in its public (API and hashing) shape. */
export interface LedgerEntry {
  index: number;
  entry_id: string;
  event_type: LedgerEventType;
  timestamp: string;
  data: Record<string, unknown>;
  previous_hash: string;
  entry_hash: string;
  /**
   * Ed25519 (base64) over entry_hash, and its key's id, on entries written before the Merkle tree.
   * Null on newer ones: the checkpoint signed for their group commit covers them (docs/ledger.md).
   */
  signature: string | null;
  key_id: string | null;
}

export type UnsignedEntry = Pick<
  LedgerEntry,
  'index' | 'entry_id' | 'event_type' | 'timestamp' | 'data' | 'previous_hash'
>;

/**
 * entry_hash = lowercase hex SHA-256 of the RFC 8785 canonical JSON of
 * {index, entry_id, event_type, timestamp, data, previous_hash}. An older entry's signature is Ed25519
 * over the UTF-8 bytes of that hex string. docs/ledger.md shows how to check both without this service.
 */
export function computeEntryHash(entry: UnsignedEntry, sha256Hex: Sha256Hex): string {
  return sha256Hex(canonicalEntry(entry));
}

/** The canonical JSON an entry's hash is taken over. */
export function canonicalEntry(entry: UnsignedEntry): string {
  return canonicalJson({
    index: entry.index,
    entry_id: entry.entry_id,
    event_type: entry.event_type,
    timestamp: entry.timestamp,
    data: entry.data,
    previous_hash: entry.previous_hash,
  });
}
