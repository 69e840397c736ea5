import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import type { PublicKey, Sha256Hex } from './crypto';
import { computeEntryHash, GENESIS_PREVIOUS_HASH, type LedgerEntry } from './entry';
import { createTreeRoot, leafHash } from './merkle';
import { NoteError, noteSignerIds, openCheckpoint } from './note';

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
  /** Internal to a walk: its last entries, which nothing it passed signs (see settleUnsigned). */
  awaiting_signature?: { first: LedgerEntry; last: LedgerEntry };
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
  /**
   * Whether a validly signed checkpoint holds `entry`'s leaf (an inclusion proof): what signs an
   * entry that carries no signature of its own, and with it, through the hash chain, every entry before it.
   */
  covered(entry: LedgerEntry): Promise<boolean>;
}

export interface CheckpointSource {
  /** Checkpoints of trees bigger than `afterSize`, smallest first; an empty page ends them. */
  readPage(afterSize: number): Promise<CheckpointRow[]>;
  /** Whether the row's note is signed by a trusted key and says what the row says. */
  signed(row: CheckpointRow): Promise<CheckpointCheck>;
}

/**
 * Walks the chain page by page (bounded memory) and stops at the first entry that fails, checking
 * in order: its position and link to the previous entry (chain_break), its own hash
 * (hash_mismatch), that its key is trusted (unknown_key), that it is the entry remembered at that
 * index, then its signature (bad_signature). An entry without a signature of its own (all entries
 * since the Merkle tree) is signed by the first signed thing after it: a later signed entry, whose
 * hash chains to it, or a verified checkpoint holding its leaf or a later one. Entries the walk
 * passed with neither are left to settleUnsigned, once the newest checkpoint is checked.
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
  // The first of the entries walked that nothing signed yet, and the last entry walked.
  let firstUnsigned: LedgerEntry | undefined;
  let last: LedgerEntry | undefined;
  // Instances may remember different entries at one index (a fork): each is checked.
  const remembered = new Map<number, ChainPoint[]>();
  for (const p of points) remembered.set(p.index, [...(remembered.get(p.index) ?? []), p]);
  const highest = points.at(-1);

  let checkpoints = input.checkpoints && !input.after ? checkpointWalk(input.checkpoints, signers) : undefined;
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
    // A root that differs, or a key not trusted, may concern anything after the last checkpoint that verified.
    const index = failed.reason === 'bad_signature' ? failed.row.treeSize - 1 : covered ? covered.index + 1 : 0;
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
        ...(failed.key_id ? { key_id: failed.key_id } : {}),
        checkpoint: { tree_size: failed.row.treeSize },
      },
    };
  };
  /** An unsigned entry counts as signed here; whatever signs it later is checked after the walk. */
  const signedByTrustedKey = (entry: LedgerEntry) =>
    entry.signature === null && entry.key_id === null
      ? Promise.resolve(true)
      : (input.keys
          .get(entry.key_id ?? '')
          ?.verify(entry.entry_hash, entry.signature ?? '')
          .catch(() => false) ?? Promise.resolve(false));
  const untrustedKey = (entry: LedgerEntry) =>
    (entry.signature !== null || entry.key_id !== null) && !input.keys.has(entry.key_id ?? '');
  /** The chain holds another entry where `point` was. */
  const replaced = async (entry: LedgerEntry, point: ChainPoint, signed: boolean): Promise<ChainVerification> => {
    expectedIndex = entry.index;
    if (untrustedKey(entry)) return fail(entry, 'unknown_key', { key_id: entry.key_id });
    const genuine =
      signed &&
      computeEntryHash(entry, input.sha256) === entry.entry_hash &&
      (entry.signature !== null || (await input.covered(entry)));
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
      if (untrustedKey(entry)) return fail(entry, 'unknown_key', { key_id: entry.key_id });
      const signed = await (signatureChecks[i] as Promise<boolean>);
      const point = remembered.get(entry.index)?.find((p) => p.hash !== entry.entry_hash);
      if (point) return replaced(entry, point, signed);
      if (!signed) return fail(entry, 'bad_signature');
      if (entry.key_id === null) firstUnsigned ??= entry;
      else {
        // Its signature covers, through the chain, the unsigned entries before it.
        firstUnsigned = undefined;
        signers[entry.key_id] ??= entry.index;
      }
      last = entry;
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
      if (firstUnsigned && (checkpoints?.covered()?.index ?? -1) >= firstUnsigned.index) firstUnsigned = undefined;
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
    ...(firstUnsigned && last ? { awaiting_signature: { first: firstUnsigned, last } } : {}),
  };
}

/**
 * The end of a valid walk, whose last entries nothing signed yet: a validly signed checkpoint must
 * hold the last one's leaf (`covered`), else the first of them is bad_signature.
 */
export async function settleUnsigned(
  result: ChainVerification,
  covered: (entry: LedgerEntry) => Promise<boolean>,
): Promise<ChainVerification> {
  const { awaiting_signature: awaiting, ...rest } = result;
  if (!awaiting || !rest.valid || (await covered(awaiting.last))) return rest;
  const { first, last } = awaiting;
  return {
    ...rest,
    valid: false,
    entries_checked: rest.entries_checked - (last.index - first.index),
    head_index: first.index > 0 ? first.index - 1 : null,
    head_hash: first.index > 0 ? first.previous_hash : null,
    first_invalid: { index: first.index, entry_id: first.entry_id, reason: 'bad_signature' },
  };
}

interface FailedCheckpoint {
  row: CheckpointRow;
  reason: 'bad_signature' | 'rewritten' | 'unknown_key';
  key_id?: string;
}

type CheckpointWalk = ReturnType<typeof checkpointWalk>;

/**
 * Follows a walk from genesis with the Merkle tree of the entries it passed, held as its right edge
 * (the roots of its complete subtrees: O(log n) hashes), and checks each stored checkpoint when the
 * tree reaches its size: its signature, then its root. Each signer is recorded in `signers` under its
 * note key id (`<name>+<key hash>`).
 */
function checkpointWalk(source: CheckpointSource, signers: Record<string, number>) {
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
        const signature = await source.signed(row);
        if (!signature.ok) return { row, ...signature };
        const rootHash = bytesToHex(tree.root());
        if (bytesToHex(row.rootHash) !== rootHash) return { row, reason: 'rewritten' };
        checked++;
        // A checkpoint's signer signs the entries it adds to the tree: the first of them is its first.
        for (const id of noteSignerIds(row.note)) signers[id] ??= covered ? covered.index + 1 : 0;
        last = { tree_size: row.treeSize, root_hash: rootHash };
        covered = { index: entry.index, hash: entry.entry_hash };
      }
      return undefined;
    },
  };
}

/**
 * Whether a checkpoint row's note is signed by one of `keys` under its origin (the key name) and says
 * what the row says: a row edited after signing fails here (bad_signature). A note that none of them
 * signed is unknown_key, naming its signer as `<name>+<key hash>`.
 */
export async function checkCheckpoint(row: CheckpointRow, keys: Iterable<PublicKey>): Promise<CheckpointCheck> {
  try {
    const signed = await openCheckpoint(
      row.note,
      Array.from(keys, (key) => key.raw),
    );
    const same = signed.size === row.treeSize && bytesToHex(signed.rootHash) === bytesToHex(row.rootHash);
    return same ? { ok: true } : { ok: false, reason: 'bad_signature' };
  } catch (err) {
    const signer = noteSignerIds(row.note)[0];
    return err instanceof NoteError && err.reason === 'unknown_key' && signer
      ? { ok: false, reason: 'unknown_key', key_id: signer }
      : { ok: false, reason: 'bad_signature' };
  }
}

export type CheckpointCheck =
  | { ok: true }
  | { ok: false; reason: 'bad_signature' }
  | { ok: false; reason: 'unknown_key'; key_id: string };

export const checkpointSigned = async (row: CheckpointRow, keys: Iterable<PublicKey>) =>
  (await checkCheckpoint(row, keys)).ok;

/** The starting point and the watermarks, without repeats, lowest first. */
function knownPoints(input: VerifyChainInput): ChainPoint[] {
  const points = new Map<string, ChainPoint>();
  for (const point of [input.after, ...(input.known ?? [])]) {
    if (point) points.set(`${point.index}:${point.hash}`, point);
  }
  return [...points.values()].sort((a, b) => a.index - b.index);
}
