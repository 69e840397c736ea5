import type { PublicKey, Sha256Hex } from './crypto';
import { computeEntryHash, GENESIS_PREVIOUS_HASH, type LedgerEntry } from './entry';

/** Why verification stopped at an entry (see verifyChain). */
export const INVALID_REASONS = [
  'chain_break',
  'hash_mismatch',
  'unknown_key',
  'rewritten',
  'bad_signature',
  'truncated',
] as const;
export type InvalidReason = (typeof INVALID_REASONS)[number];

/** An entry identified by its position and hash: a cursor, or a watermark (see watermark.ts). */
export interface ChainPoint {
  index: number;
  hash: string;
}

export interface FirstInvalid {
  index: number;
  entry_id: string | null;
  reason: InvalidReason;
  /** unknown_key: the key id this instance does not trust. */
  key_id?: string;
  /** truncated, rewritten: the entry this service had verified or committed, which the chain no longer holds. */
  watermark?: ChainPoint;
}

export interface ChainVerification {
  valid: boolean;
  entries_checked: number;
  /** Hash of the last entry that verified: the head of the trustworthy prefix. */
  head_hash: string | null;
  /** Index of that entry. */
  head_index: number | null;
  /** Key id → index of the first checked entry it signed. */
  signers: Record<string, number>;
  first_invalid?: FirstInvalid;
}

export interface VerifyChainInput {
  /** Index of the head when verification started; entries appended later are left for next time. */
  headIndex: number;
  keys: ReadonlyMap<string, PublicKey>;
  sha256: Sha256Hex;
  /** Entries with index greater than `afterIndex`, ascending; an empty page ends the walk. */
  readPage(afterIndex: number): Promise<LedgerEntry[]>;
  /** One entry, for the points the walk does not pass. */
  entryAt(index: number): Promise<LedgerEntry | undefined>;
  /** Start after an entry already verified (an incremental pass) instead of at genesis. */
  after?: ChainPoint;
  /**
   * Entries known to have been in the chain (watermarks), read before `headIndex`: the chain must
   * still reach each with the same hash, or it was truncated or rewritten.
   */
  known?: readonly (ChainPoint | undefined)[];
  /** Called between pages, e.g. to yield the event loop during a long walk. */
  betweenPages?(): Promise<void>;
}

/**
 * Walks the chain page by page (bounded memory) and stops at the first entry that fails, checking
 * in order: its position and link to the previous entry (chain_break), its own hash
 * (hash_mismatch), that its key is trusted (unknown_key), that it is the entry remembered at that
 * index, then its signature (bad_signature).
 *
 * Remembered entries (the starting point, the watermarks) were in the chain, and an append-only
 * chain keeps them. A chain that ends before one was cut off (truncated, at the first index it
 * lacks). Another entry at a remembered index was either written in its place (rewritten: it does
 * not carry a valid signature) or, validly signed, appended by a legitimate writer after the tail
 * was cut off (truncated, at that index: the first one known to be missing). An incremental pass
 * checks its starting point before it walks, so it never blames the entries appended after a cut.
 */
export async function verifyChain(input: VerifyChainInput): Promise<ChainVerification> {
  let expectedIndex = input.after ? input.after.index + 1 : 0;
  let previousHash = input.after?.hash ?? GENESIS_PREVIOUS_HASH;
  let checked = 0;
  let headHash: string | null = input.after?.hash ?? null;
  let headIndex: number | null = input.after?.index ?? null;
  const signers: Record<string, number> = {};
  const points = knownPoints(input);
  const remembered = new Map(points.map((p) => [p.index, p]));
  const highest = points.at(-1);

  const fail = (entry: LedgerEntry | undefined, reason: InvalidReason, extra = {}): ChainVerification => ({
    valid: false,
    entries_checked: checked + (entry ? 1 : 0),
    head_hash: headHash,
    head_index: headIndex,
    signers,
    first_invalid: { index: entry?.index ?? expectedIndex, entry_id: entry?.entry_id ?? null, reason, ...extra },
  });
  const signedByTrustedKey = (entry: LedgerEntry) =>
    input.keys
      .get(entry.key_id)
      ?.verify(entry.entry_hash, entry.signature)
      .catch(() => false) ?? Promise.resolve(false);
  /** The chain holds another entry where `point` was. */
  const replaced = (entry: LedgerEntry, point: ChainPoint, signed: boolean): ChainVerification => {
    expectedIndex = entry.index;
    if (!input.keys.has(entry.key_id)) return fail(entry, 'unknown_key', { key_id: entry.key_id });
    const genuine = signed && computeEntryHash(entry, input.sha256) === entry.entry_hash;
    return genuine
      ? fail(undefined, 'truncated', { watermark: point })
      : fail(entry, 'rewritten', { watermark: point });
  };

  // An incremental walk starts past these, so each is read on its own; if one no longer stands,
  // neither does the starting point, and nothing after it can be judged.
  for (const point of points.filter((p) => input.after && p.index <= input.after.index)) {
    const entry = point.index <= input.headIndex ? await input.entryAt(point.index) : undefined;
    if (entry?.entry_hash === point.hash) continue;
    headHash = null;
    headIndex = null;
    if (entry) return replaced(entry, point, await signedByTrustedKey(entry));
    expectedIndex = Math.min(point.index, input.headIndex + 1);
    return point.index > input.headIndex
      ? fail(undefined, 'truncated', { watermark: highest })
      : fail(undefined, 'chain_break');
  }

  if (input.headIndex < 0 && !input.after && !highest) return fail(undefined, 'chain_break');

  while (expectedIndex <= input.headIndex) {
    const page = (await input.readPage(expectedIndex - 1)).filter((e) => e.index <= input.headIndex);
    if (page.length === 0) break;
    const signatureChecks = page.map(signedByTrustedKey);
    for (const [i, entry] of page.entries()) {
      if (entry.index !== expectedIndex || entry.previous_hash !== previousHash) return fail(entry, 'chain_break');
      if (computeEntryHash(entry, input.sha256) !== entry.entry_hash) return fail(entry, 'hash_mismatch');
      if (!input.keys.has(entry.key_id)) return fail(entry, 'unknown_key', { key_id: entry.key_id });
      const signed = await (signatureChecks[i] as Promise<boolean>);
      const point = remembered.get(entry.index);
      if (point && point.hash !== entry.entry_hash) return replaced(entry, point, signed);
      if (!signed) return fail(entry, 'bad_signature');
      signers[entry.key_id] ??= entry.index;
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
  if (highest && highest.index > input.headIndex) return fail(undefined, 'truncated', { watermark: highest });
  return { valid: true, entries_checked: checked, head_hash: headHash, head_index: headIndex, signers };
}

/** The starting point and the watermarks, without repeats, lowest first. */
function knownPoints(input: VerifyChainInput): ChainPoint[] {
  const points = new Map<string, ChainPoint>();
  for (const point of [input.after, ...(input.known ?? [])]) {
    if (point) points.set(`${point.index}:${point.hash}`, point);
  }
  return [...points.values()].sort((a, b) => a.index - b.index);
}
