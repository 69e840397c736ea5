import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { asc, desc, gte, inArray, sql } from 'drizzle-orm';
import type { Db, Tx } from '../db/client';
import { ledgerCheckpoints, ledgerEntries, ledgerTreeHashes } from '../db/schema';
import {
  type HashReader,
  leafHash,
  proveConsistency,
  proveInclusion,
  storedHashesForRecord,
  storedHashIndex,
  treeHash,
} from './merkle';
import { formatCheckpoint, signNote } from './note';

/**
 * The ledger's Merkle tree in the database: the hashes of its complete subtrees, stored as Go's
 * golang.org/x/mod/sumdb/tlog stores them (src/ledger/merkle.ts), and a signed checkpoint for each
 * group commit. Leaf data is the 32 raw bytes of an entry's entry_hash (docs/ledger.md).
 */

type Q = Db | Tx;

/**
 * What extending or proving a tree of `size` leaves needs without a database read: the stored hashes
 * of the complete subtrees it splits into (its right edge, O(log size) hashes).
 */
export interface TreeEdge {
  size: number;
  hashes: ReadonlyMap<number, Uint8Array>;
}

/** One leaf's proof of inclusion in a checkpointed tree, as a decision's caller receives it. */
export interface Receipt {
  index: number;
  tree_size: number;
  /** Hex of the RFC 9162 leaf hash: SHA-256(0x00 ‖ the 32 bytes of entry_hash). */
  leaf_hash: string;
  /** Hex hashes, RFC 9162 §2.1.3 order. */
  inclusion_proof: string[];
  /** The C2SP signed note of the tree containing the entry. */
  checkpoint: string;
}

export interface StoredCheckpoint {
  treeSize: number;
  rootHash: Uint8Array;
  note: string;
}

/** A group's leaves added to a tree: the rows to store, the checkpoint, and each leaf's receipt. */
export interface TreeGrowth {
  /** The new stored hashes, from storedHashIndex(0, first leaf) on, consecutive. */
  firstStoredIndex: number;
  storedHashes: Uint8Array[];
  checkpoint: StoredCheckpoint;
  receipts: Receipt[];
  edge: TreeEdge;
}

/** Signs checkpoint bodies: the ledger's key under the log's origin (the note's key name). */
export interface CheckpointSigner {
  origin: string;
  publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array | Promise<Uint8Array>;
}

export const EMPTY_EDGE: TreeEdge = { size: 0, hashes: new Map() };

/** A leaf's data is its entry's entry_hash as 32 bytes. */
const leafHashOfEntry = (entryHash: string) => leafHash(hexToBytes(entryHash));

/** Stored-hash indexes of the complete subtrees a tree of `size` leaves splits into, left to right. */
function edgeIndexes(size: number): number[] {
  const indexes: number[] = [];
  let start = 0;
  for (let level = Math.floor(Math.log2(size || 1)); start < size; level--) {
    const width = 2 ** level;
    if (start + width > size) continue;
    indexes.push(storedHashIndex(level, start / width));
    start += width;
  }
  return indexes;
}

/** Reads stored hashes from `known` first, then (all misses in one query) from the database. */
function readerOver(known: Map<number, Uint8Array>, q?: Q): HashReader {
  return async (indexes) => {
    const missing = indexes.filter((i) => !known.has(i));
    if (missing.length > 0) {
      if (!q) throw new Error(`stored tree hashes ${missing.join(', ')} are not in memory`);
      for (const [index, hash] of await readStoredHashes(q, missing)) known.set(index, hash);
    }
    return indexes.map((i) => known.get(i) as Uint8Array);
  };
}

async function readStoredHashes(q: Q, indexes: readonly number[]): Promise<Map<number, Uint8Array>> {
  const rows = await q
    .select({ index: ledgerTreeHashes.storedIndex, hash: ledgerTreeHashes.hash })
    .from(ledgerTreeHashes)
    .where(inArray(ledgerTreeHashes.storedIndex, [...new Set(indexes)]));
  const found = new Map(rows.map((r) => [r.index, new Uint8Array(r.hash)]));
  const absent = indexes.find((i) => !found.has(i));
  if (absent !== undefined) throw new Error(`the ledger tree has no stored hash ${absent}`);
  return found;
}

/** Reads only the database: for proofs and roots of any stored size. */
const databaseReader = (q: Q) => readerOver(new Map(), q);

/** Leaves the stored tree holds: every leaf's hashes are written together, so the count decides it. */
async function readTreeSize(q: Q): Promise<number> {
  const [row] = await q
    .select({ last: ledgerTreeHashes.storedIndex })
    .from(ledgerTreeHashes)
    .orderBy(desc(ledgerTreeHashes.storedIndex))
    .limit(1);
  const count = row ? row.last + 1 : 0;
  // storedHashIndex(0, n) — the hashes stored for n leaves — grows with n: search for the n giving count.
  let low = 0;
  let high = count;
  while (low < high) {
    const mid = Math.floor((low + high) / 2);
    if (storedHashIndex(0, mid) < count) low = mid + 1;
    else high = mid;
  }
  return low;
}

async function readEdge(q: Q, size: number): Promise<TreeEdge> {
  const indexes = edgeIndexes(size);
  return { size, hashes: indexes.length === 0 ? new Map() : await readStoredHashes(q, indexes) };
}

/** Adds leaves to a tree known by its edge; reads the database only for hashes the edge lacks. */
async function addLeaves(edge: TreeEdge, leafHashes: readonly Uint8Array[], q?: Q) {
  const known = new Map(edge.hashes);
  const read = readerOver(known, q);
  const storedHashes: Uint8Array[] = [];
  let next = storedHashIndex(0, edge.size);
  for (const [i, leaf] of leafHashes.entries()) {
    for (const hash of await storedHashesForRecord(edge.size + i, leaf, read)) {
      known.set(next++, hash);
      storedHashes.push(hash);
    }
  }
  const size = edge.size + leafHashes.length;
  const hashes = new Map(edgeIndexes(size).map((i) => [i, known.get(i) as Uint8Array]));
  return { storedHashes, known, read, edge: { size, hashes } };
}

/**
 * Grows the tree by a group's entries and signs the checkpoint of the result, with every leaf's
 * receipt: all from the edge and the new hashes, so the database is read only if the edge lacks one.
 */
export async function growTree(
  edge: TreeEdge,
  entryHashes: readonly string[],
  signer: CheckpointSigner,
  q?: Q,
): Promise<TreeGrowth> {
  const leaves = entryHashes.map(leafHashOfEntry);
  const grown = await addLeaves(edge, leaves, q);
  const size = grown.edge.size;
  const rootHash = await treeHash(size, grown.read);
  const note = await signCheckpoint(signer, size, rootHash);
  const receipts: Receipt[] = [];
  for (const [i, leaf] of leaves.entries()) {
    const index = edge.size + i;
    const proof = await proveInclusion(size, index, grown.read);
    receipts.push({
      index,
      tree_size: size,
      leaf_hash: bytesToHex(leaf),
      inclusion_proof: proof.map(bytesToHex),
      checkpoint: note,
    });
  }
  return {
    firstStoredIndex: storedHashIndex(0, edge.size),
    storedHashes: grown.storedHashes,
    checkpoint: { treeSize: size, rootHash, note },
    receipts,
    edge: grown.edge,
  };
}

function signCheckpoint(signer: CheckpointSigner, size: number, rootHash: Uint8Array): Promise<string> {
  const body = formatCheckpoint({ origin: signer.origin, size, rootHash });
  return signNote(body, { name: signer.origin, publicKey: signer.publicKey, sign: signer.sign });
}

/** The rows of a tree growth, as JSON for jsonb_to_recordset (hashes in hex). */
export function growthRows(growth: Pick<TreeGrowth, 'firstStoredIndex' | 'storedHashes'>) {
  return JSON.stringify(
    growth.storedHashes.map((hash, i) => ({ i: growth.firstStoredIndex + i, h: bytesToHex(hash) })),
  );
}

/** Inserts stored hashes (no checkpoint): for a tree catching up with entries written without it. */
async function insertStoredHashes(q: Q, growth: Pick<TreeGrowth, 'firstStoredIndex' | 'storedHashes'>) {
  if (growth.storedHashes.length === 0) return;
  await q.execute(sql`
    insert into ledger_tree_hashes (stored_index, hash)
    select r.i, decode(r.h, 'hex') from jsonb_to_recordset(${growthRows(growth)}::jsonb) as r(i bigint, h text)`);
}

/**
 * Adds the entries the stored tree lacks (written by an older build, or before the tree existed) up
 * to `headIndex`, reading `pageLeaves` entry hashes at a time (at most `pages` pages), and returns the
 * edge of the result. Call under the writers' lock.
 */
export async function catchUp(q: Q, headIndex: number, pageLeaves: number, pages = Number.POSITIVE_INFINITY) {
  let edge = await readEdge(q, await readTreeSize(q));
  for (let page = 0; edge.size <= headIndex && page < pages; page++) {
    const limit = Math.min(pageLeaves, headIndex + 1 - edge.size);
    const rows = await q
      .select({ hash: ledgerEntries.entryHash })
      .from(ledgerEntries)
      .where(gte(ledgerEntries.seq, edge.size))
      .orderBy(asc(ledgerEntries.seq))
      .limit(limit);
    const grown = await addLeaves(
      edge,
      rows.map((r) => leafHashOfEntry(r.hash)),
    );
    await insertStoredHashes(q, { firstStoredIndex: storedHashIndex(0, edge.size), storedHashes: grown.storedHashes });
    edge = grown.edge;
  }
  return edge;
}

/** Signs and stores a checkpoint of the stored tree when the newest one is of a smaller tree; says whether it did. */
export async function checkpointEdge(q: Q, edge: TreeEdge, signer: CheckpointSigner): Promise<boolean> {
  const latest = await latestCheckpoint(q);
  if (edge.size === 0 || (latest && latest.treeSize >= edge.size)) return false;
  const rootHash = await treeHash(edge.size, readerOver(new Map(edge.hashes)));
  const note = await signCheckpoint(signer, edge.size, rootHash);
  await q.execute(sql`
    insert into ledger_checkpoints (tree_size, root_hash, note)
    values (${edge.size}, decode(${bytesToHex(rootHash)}, 'hex'), ${note})`);
  return true;
}

export async function latestCheckpoint(q: Q): Promise<StoredCheckpoint | undefined> {
  const [row] = await q
    .select({
      treeSize: ledgerCheckpoints.treeSize,
      rootHash: ledgerCheckpoints.rootHash,
      note: ledgerCheckpoints.note,
    })
    .from(ledgerCheckpoints)
    .orderBy(desc(ledgerCheckpoints.treeSize))
    .limit(1);
  return row && { ...row, rootHash: new Uint8Array(row.rootHash) };
}

export interface InclusionProof {
  index: number;
  tree_size: number;
  leaf_hash: string;
  root_hash: string;
  hashes: string[];
}

/** RFC 9162 §2.1.3 inclusion proof of leaf `index` in the stored tree of `treeSize` leaves. */
export async function inclusionProof(q: Q, index: number, treeSize: number): Promise<InclusionProof> {
  const read = databaseReader(q);
  const [leaf] = await read([storedHashIndex(0, index)]);
  const [root, hashes] = await Promise.all([treeHash(treeSize, read), proveInclusion(treeSize, index, read)]);
  return {
    index,
    tree_size: treeSize,
    leaf_hash: bytesToHex(leaf as Uint8Array),
    root_hash: bytesToHex(root),
    hashes: hashes.map(bytesToHex),
  };
}

/** RFC 9162 §2.1.4 consistency proof between the stored trees of `from` and `to` leaves. */
export async function consistencyProof(q: Q, from: number, to: number) {
  const hashes = await proveConsistency(from, to, databaseReader(q));
  return { from, to, hashes: hashes.map(bytesToHex) };
}
