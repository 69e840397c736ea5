import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import type { PublicKey, Sha256Hex } from './crypto';
import { computeEntryHash, GENESIS_PREVIOUS_HASH, type LedgerEntry } from './entry';
import { createTreeRoot, leafHash } from './merkle';
import { openCheckpoint } from './note';

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
  /** The stored checkpoint that failed or that the chain no longer reaches. */
  checkpoint?: { tree_size: number };
}

/** A stored checkpoint row: the size and root it claims, and the signed note they must come from. */
export interface CheckpointRow {
  treeSize: number;
  rootHash: Uint8Array;
  note: string;
}

/** A checkpoint whose signature and root verified: a cursor for the next incremental pass. */
export interface CheckpointPoint {
  tree_size: number;
  /** Hex. */
  root_hash: string;
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
  /** Stored checkpoints whose signature and root verified. */
  checkpoints_checked: number;
  /** The newest of them. */
  checkpoint?: CheckpointPoint;
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
  /** Stored checkpoints to check against the tree of the entries walked (a walk from genesis only). */
  checkpoints?: CheckpointSource;
}

export interface CheckpointSource {
  /** Checkpoints of trees bigger than `afterSize`, smallest first; an empty page ends them. */
  readPage(afterSize: number): Promise<CheckpointRow[]>;
  /** Whether the row's note is signed by a trusted key and says what the row says. */
  signed(row: CheckpointRow): Promise<boolean>;
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
 *
 * A walk from genesis also checks each stored checkpoint as the tree of the entries passed reaches
 * its size: a note not validly signed is bad_signature at its last index; a root unlike the tree's is
 * rewritten at the first index the previous matching checkpoint does not cover. A remembered entry
 * further on still names a cut tail (truncated) before a checkpoint's range does.
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

  let checkpoints = input.checkpoints && !input.after ? checkpointWalk(input.checkpoints) : undefined;
  // A checkpoint that fails does not stop the walk: an entry this instance remembers, further on,
  // names a cut tail better than the checkpoint's range can.
  let checkpointFailure: ChainVerification | undefined;

  const fail = (entry: LedgerEntry | undefined, reason: InvalidReason, extra = {}): ChainVerification => {
    const failure: ChainVerification = {
      valid: false,
      entries_checked: checked + (entry ? 1 : 0),
      head_hash: headHash,
      head_index: headIndex,
      signers,
      checkpoints_checked: checkpoints?.checked() ?? 0,
      first_invalid: { index: entry?.index ?? expectedIndex, entry_id: entry?.entry_id ?? null, reason, ...extra },
    };
    return checkpointFailure && !failure.first_invalid?.watermark ? checkpointFailure : failure;
  };
  /** What the first failing checkpoint says, the tree being verified up to the previous checkpoint. */
  const checkpointFailed = async (walk: CheckpointWalk, failed: FailedCheckpoint): Promise<ChainVerification> => {
    const covered = walk.covered();
    // A root that differs could differ anywhere after the last checkpoint that matched.
    const index = failed.reason === 'rewritten' ? (covered ? covered.index + 1 : 0) : failed.row.treeSize - 1;
    const entry = await input.entryAt(index);
    return {
      valid: false,
      entries_checked: checked,
      head_hash: covered?.hash ?? null,
      head_index: covered?.index ?? null,
      signers,
      checkpoints_checked: walk.checked(),
      first_invalid: {
        index,
        entry_id: entry?.entry_id ?? null,
        reason: failed.reason,
        checkpoint: { tree_size: failed.row.treeSize },
      },
    };
  };
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
      const failed = await checkpoints?.add(entry);
      if (checkpoints && failed) {
        checkpointFailure = await checkpointFailed(checkpoints, failed);
        checkpoints = undefined;
      }
    }
    await input.betweenPages?.();
  }
  // Rows missing at the end (or a missing genesis) show up as an index we never reached.
  if (expectedIndex <= input.headIndex) return fail(undefined, 'chain_break');
  if (highest && highest.index > input.headIndex) return fail(undefined, 'truncated', { watermark: highest });
  if (checkpointFailure) return checkpointFailure;
  return {
    valid: true,
    entries_checked: checked,
    head_hash: headHash,
    head_index: headIndex,
    signers,
    checkpoints_checked: checkpoints?.checked() ?? 0,
    ...(checkpoints?.last() ? { checkpoint: checkpoints.last() } : {}),
  };
}

interface FailedCheckpoint {
  row: CheckpointRow;
  reason: 'bad_signature' | 'rewritten';
}

type CheckpointWalk = ReturnType<typeof checkpointWalk>;

/**
 * Follows a walk from genesis with the Merkle tree of the entries it passed, held as its right edge
 * (the roots of its complete subtrees: O(log n) hashes), and checks each stored checkpoint when the
 * tree reaches its size: its signature, then its root.
 */
function checkpointWalk(source: CheckpointSource) {
  const tree = createTreeRoot();
  let pending: CheckpointRow[] = [];
  let readAfter = 0;
  let ended = false;
  let checked = 0;
  let last: CheckpointPoint | undefined;
  let covered: ChainPoint | undefined;

  const next = async (): Promise<CheckpointRow | undefined> => {
    if (pending.length === 0 && !ended) {
      pending = await source.readPage(readAfter);
      ended = pending.length === 0;
      readAfter = pending.at(-1)?.treeSize ?? readAfter;
    }
    return pending[0];
  };
  return {
    checked: () => checked,
    last: () => last,
    /** The newest entry a verified checkpoint covers. */
    covered: () => covered,
    /** Adds the entry's leaf (entries come in index order); the first checkpoint of this size that fails. */
    async add(entry: LedgerEntry): Promise<FailedCheckpoint | undefined> {
      tree.add(leafHash(hexToBytes(entry.entry_hash)));
      for (let row = await next(); row && row.treeSize <= tree.size; row = await next()) {
        pending.shift();
        if (!(await source.signed(row))) return { row, reason: 'bad_signature' };
        const rootHash = bytesToHex(tree.root());
        if (bytesToHex(row.rootHash) !== rootHash) return { row, reason: 'rewritten' };
        checked++;
        last = { tree_size: row.treeSize, root_hash: rootHash };
        covered = { index: entry.index, hash: entry.entry_hash };
      }
      return undefined;
    },
  };
}

/**
 * Whether a checkpoint row's note is signed by one of `keys` under its origin (the key name) and says
 * what the row says: a row edited after signing fails here.
 */
export async function checkpointSigned(row: CheckpointRow, keys: Iterable<PublicKey>): Promise<boolean> {
  try {
    const signed = await openCheckpoint(
      row.note,
      Array.from(keys, (key) => key.raw),
    );
    return signed.size === row.treeSize && bytesToHex(signed.rootHash) === bytesToHex(row.rootHash);
  } catch {
    return false;
  }
}

/** The starting point and the watermarks, without repeats, lowest first. */
function knownPoints(input: VerifyChainInput): ChainPoint[] {
  const points = new Map<string, ChainPoint>();
  for (const point of [input.after, ...(input.known ?? [])]) {
    if (point) points.set(`${point.index}:${point.hash}`, point);
  }
  return [...points.values()].sort((a, b) => a.index - b.index);
}
