import type { PublicKey, Sha256Hex } from './crypto';
import { computeEntryHash, GENESIS_PREVIOUS_HASH, type LedgerEntry } from './entry';

export type InvalidReason = 'hash_mismatch' | 'chain_break' | 'bad_signature';

export interface ChainVerification {
  valid: boolean;
  entries_checked: number;
  /** Hash of the last entry that verified: the head of the trustworthy prefix. */
  head_hash: string | null;
  /** Index of that entry. */
  head_index: number | null;
  first_invalid?: { index: number; entry_id: string | null; reason: InvalidReason };
}

export interface VerifyChainInput {
  /** Index of the head when verification started; entries appended later are left for next time. */
  headIndex: number;
  keys: ReadonlyMap<string, PublicKey>;
  sha256: Sha256Hex;
  /** Entries with index greater than `afterIndex`, ascending; an empty page ends the walk. */
  readPage(afterIndex: number): Promise<LedgerEntry[]>;
  /** Start after an entry already verified (an incremental pass) instead of at genesis. */
  after?: { index: number; hash: string };
  /** Called between pages, e.g. to yield the event loop during a long walk. */
  betweenPages?(): Promise<void>;
}

/**
 * Walks the chain page by page (bounded memory) and stops at the first entry that fails, checking
 * in order: its position and link to the previous entry (chain_break), its own hash
 * (hash_mismatch), then its signature (bad_signature).
 */
export async function verifyChain(input: VerifyChainInput): Promise<ChainVerification> {
  let expectedIndex = input.after ? input.after.index + 1 : 0;
  let previousHash = input.after?.hash ?? GENESIS_PREVIOUS_HASH;
  let checked = 0;
  let headHash: string | null = input.after?.hash ?? null;
  let headIndex: number | null = input.after?.index ?? null;

  const fail = (entry: LedgerEntry | undefined, reason: InvalidReason): ChainVerification => ({
    valid: false,
    entries_checked: checked + (entry ? 1 : 0),
    head_hash: headHash,
    head_index: headIndex,
    first_invalid: { index: entry?.index ?? expectedIndex, entry_id: entry?.entry_id ?? null, reason },
  });

  if (input.headIndex < 0 && !input.after) return fail(undefined, 'chain_break');

  while (expectedIndex <= input.headIndex) {
    const page = (await input.readPage(expectedIndex - 1)).filter((e) => e.index <= input.headIndex);
    if (page.length === 0) break;
    const signatureChecks = page.map((entry) => {
      const key = input.keys.get(entry.key_id);
      return key ? key.verify(entry.entry_hash, entry.signature).catch(() => false) : Promise.resolve(false);
    });
    for (const [i, entry] of page.entries()) {
      if (entry.index !== expectedIndex || entry.previous_hash !== previousHash) return fail(entry, 'chain_break');
      if (computeEntryHash(entry, input.sha256) !== entry.entry_hash) return fail(entry, 'hash_mismatch');
      if (!(await signatureChecks[i])) return fail(entry, 'bad_signature');
      previousHash = entry.entry_hash;
      headHash = entry.entry_hash;
      headIndex = entry.index;
      expectedIndex++;
      checked++;
    }
    await input.betweenPages?.();
  }
  // Rows missing at the end (or a missing genesis) show up as an index we never reached.
  if (expectedIndex <= input.headIndex) return fail(undefined, 'chain_break');
  return { valid: true, entries_checked: checked, head_hash: headHash, head_index: headIndex };
}
