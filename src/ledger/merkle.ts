/**
 * The ledger's Merkle tree, exactly as RFC 9162 §2.1 defines it (SHA-256, the RFC 6962 tree), so any
 * Certificate Transparency verifier checks our proofs. Pure: no I/O, no clock.
 *
 * The tree is stored the way Go's golang.org/x/mod/sumdb/tlog stores it: the hash of every complete
 * subtree, about 2n hashes for n leaves, in a dense order (Crosby and Wallach, "Efficient Data Structures
 * for Tamper-Evident Logging", §3.3). A root or a proof then reads O(log n) stored hashes.
 *
 * Indexes and sizes are plain numbers, so the arithmetic below halves with Math.floor rather than with
 * 32-bit bitwise operators.
 */

import { sha256 } from '@noble/hashes/sha2.js';

const HASH_SIZE = 32;
const LEAF_PREFIX = Uint8Array.of(0x00);
const NODE_PREFIX = Uint8Array.of(0x01);

/** Returns the stored hashes at the given stored-hash indexes, in the order asked for. */
export type HashReader = (indexes: readonly number[]) => Promise<Uint8Array[]>;

/** A run of leaves [start, end) whose Merkle Tree Hash a proof carries. */
type LeafRange = readonly [start: number, end: number];

/** SHA-256(0x00 || data): RFC 9162 §2.1.1. */
export function leafHash(data: Uint8Array): Uint8Array {
  return sha256.create().update(LEAF_PREFIX).update(data).digest();
}

/** SHA-256(0x01 || left || right): RFC 9162 §2.1.1. */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256.create().update(NODE_PREFIX).update(left).update(right).digest();
}

/** MTH over leaf hashes, straight from the definition; O(n), for rebuilds and tests. */
export function rootOf(leafHashes: readonly Uint8Array[]): Uint8Array {
  if (leafHashes.length === 0) return sha256(new Uint8Array(0));
  return rangeRoot(leafHashes, 0, leafHashes.length);
}

function rangeRoot(leafHashes: readonly Uint8Array[], start: number, end: number): Uint8Array {
  if (end - start === 1) return leafHashes[start]!;
  const split = start + largestPowerOfTwoBelow(end - start);
  return nodeHash(rangeRoot(leafHashes, start, split), rangeRoot(leafHashes, split, end));
}

/** RFC 9162 §2.1.3.2, step by step. Never throws: anything malformed is simply not a proof. */
export function verifyInclusion(
  index: number,
  size: number,
  leaf: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  if (!isCount(index) || !isCount(size) || index >= size) return false;
  if (!isHash(leaf) || !isHash(root) || !proof.every(isHash)) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      r = nodeHash(p, r);
      while (!isOdd(fn) && fn !== 0) [fn, sn] = [half(fn), half(sn)];
    } else {
      r = nodeHash(r, p);
    }
    [fn, sn] = [half(fn), half(sn)];
  }
  return sn === 0 && bytesEqual(r, root);
}

/**
 * RFC 9162 §2.1.4.2, step by step. The RFC defines proofs for 0 < oldSize < newSize; like Go's tlog and
 * transparency-dev, equal sizes are consistent with an empty proof when the roots are equal, and a
 * proof from the empty tree is refused as meaningless.
 */
export function verifyConsistency(
  oldSize: number,
  newSize: number,
  oldRoot: Uint8Array,
  newRoot: Uint8Array,
  proof: readonly Uint8Array[],
): boolean {
  if (!isCount(oldSize) || !isCount(newSize) || oldSize === 0 || oldSize > newSize) return false;
  if (!isHash(oldRoot) || !isHash(newRoot) || !proof.every(isHash)) return false;
  if (oldSize === newSize) return proof.length === 0 && bytesEqual(oldRoot, newRoot);
  if (proof.length === 0) return false;
  const path = isPowerOfTwo(oldSize) ? [oldRoot, ...proof] : proof;
  let fn = oldSize - 1;
  let sn = newSize - 1;
  while (isOdd(fn)) [fn, sn] = [half(fn), half(sn)];
  let fr = path[0]!;
  let sr = fr;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (isOdd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (!isOdd(fn) && fn !== 0) [fn, sn] = [half(fn), half(sn)];
    } else {
      sr = nodeHash(sr, c);
    }
    [fn, sn] = [half(fn), half(sn)];
  }
  return sn === 0 && bytesEqual(fr, oldRoot) && bytesEqual(sr, newRoot);
}

/**
 * Where the hash of the complete subtree (level, n) — leaves [n·2^level, (n+1)·2^level) — is stored.
 * Leaf n's hash comes right after everything stored before it, and each subtree it completes follows.
 */
export function storedHashIndex(level: number, n: number): number {
  // Level L's n-th hash is stored right after level L-1's (2n+1)-th hash; walk down to level 0.
  let leaf = n;
  for (let l = level; l > 0; l--) leaf = 2 * leaf + 1;
  // Leaf m's hash is stored after m + m/2 + m/4 + … hashes (m leaves and the subtrees they completed).
  let index = 0;
  for (let m = leaf; m > 0; m = half(m)) index += m;
  return index + level;
}

/**
 * The hashes to store, from storedHashIndex(0, n) on, when leaf n is appended: its leaf hash, then one
 * hash per subtree it completes (one per trailing 1 bit of n), each read from its stored left sibling.
 */
export async function storedHashesForRecord(n: number, leaf: Uint8Array, read: HashReader): Promise<Uint8Array[]> {
  requireCount('n', n);
  const completed = trailingOnes(n);
  const siblings: number[] = [];
  for (let level = 0, m = n; level < completed; level++, m = half(m)) siblings.push(storedHashIndex(level, m - 1));
  const stored = await readHashes(read, siblings);
  const hashes = [leaf];
  let hash = leaf;
  for (const index of siblings) {
    hash = nodeHash(stored(index), hash);
    hashes.push(hash);
  }
  return hashes;
}

/** MTH of the first `size` leaves, from at most 1 + log2(size) stored hashes. */
export async function treeHash(size: number, read: HashReader): Promise<Uint8Array> {
  requireCount('size', size);
  if (size === 0) return sha256(new Uint8Array(0));
  const [root] = await hashRanges([[0, size]], read);
  return root!;
}

/** PATH(index, D[size]) of RFC 9162 §2.1.3.1, leaf sibling first. */
export async function proveInclusion(size: number, index: number, read: HashReader): Promise<Uint8Array[]> {
  requireCount('size', size);
  requireCount('index', index);
  if (index >= size) throw new RangeError(`index ${index} is not in a tree of size ${size}`);
  return hashRanges(inclusionRanges(index, 0, size), read);
}

/** PROOF(oldSize, D[newSize]) of RFC 9162 §2.1.4.1; empty when the sizes are equal. */
export async function proveConsistency(oldSize: number, newSize: number, read: HashReader): Promise<Uint8Array[]> {
  requireCount('oldSize', oldSize);
  requireCount('newSize', newSize);
  if (oldSize === 0 || oldSize > newSize) {
    throw new RangeError(`no consistency proof from size ${oldSize} to size ${newSize}`);
  }
  return hashRanges(consistencyRanges(oldSize, 0, newSize, true), read);
}

/** The leaf ranges whose hashes make PATH(index, D[start:end]), in proof order. */
function inclusionRanges(index: number, start: number, end: number): LeafRange[] {
  if (end - start === 1) return [];
  const split = start + largestPowerOfTwoBelow(end - start);
  return index < split
    ? [...inclusionRanges(index, start, split), [split, end]]
    : [...inclusionRanges(index, split, end), [start, split]];
}

/** The leaf ranges whose hashes make SUBPROOF(oldSize, D[start:end], knownRoot), in proof order. */
function consistencyRanges(oldSize: number, start: number, end: number, knownRoot: boolean): LeafRange[] {
  if (oldSize === end) return knownRoot ? [] : [[start, end]];
  const split = start + largestPowerOfTwoBelow(end - start);
  return oldSize <= split
    ? [...consistencyRanges(oldSize, start, split, knownRoot), [split, end]]
    : [...consistencyRanges(oldSize, split, end, false), [start, split]];
}

/** The MTH of each range, from one read of the stored hashes they need. */
async function hashRanges(ranges: readonly LeafRange[], read: HashReader): Promise<Uint8Array[]> {
  const parts = ranges.map(([start, end]) => completeSubtrees(start, end));
  const stored = await readHashes(read, parts.flat());
  return parts.map((indexes) => {
    const hashes = indexes.map(stored);
    // The subtrees shrink left to right, so the range's hash folds them from the right.
    return hashes.reduceRight((right, left) => nodeHash(left, right));
  });
}

/**
 * Stored-hash indexes of the complete subtrees that tile [start, end), largest first. Every range a
 * proof asks for starts on a multiple of its own largest power of two, so each tile is a stored subtree.
 */
function completeSubtrees(start: number, end: number): number[] {
  const indexes: number[] = [];
  for (let at = start; at < end; ) {
    let width = 1;
    let level = 0;
    while (width * 2 <= end - at) [width, level] = [width * 2, level + 1];
    indexes.push(storedHashIndex(level, at / width));
    at += width;
  }
  return indexes;
}

/** Reads each stored hash once, in increasing index order, and looks them up by index. */
async function readHashes(read: HashReader, indexes: readonly number[]): Promise<(index: number) => Uint8Array> {
  const wanted = [...new Set(indexes)].sort((a, b) => a - b);
  const hashes = wanted.length === 0 ? [] : await read(wanted);
  if (hashes.length !== wanted.length) {
    throw new Error(`hash reader returned ${hashes.length} hashes for ${wanted.length} indexes`);
  }
  const byIndex = new Map(wanted.map((index, i) => [index, hashes[i]!]));
  return (index) => byIndex.get(index)!;
}

/** The largest power of two strictly below n (n ≥ 2): the RFC's split point k. */
function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function trailingOnes(n: number): number {
  let count = 0;
  for (let m = n; isOdd(m); m = half(m)) count++;
  return count;
}

function isPowerOfTwo(n: number): boolean {
  let m = n;
  while (m > 1 && !isOdd(m)) m = half(m);
  return m === 1;
}

const isOdd = (n: number): boolean => n % 2 === 1;
const half = (n: number): number => Math.floor(n / 2);
const isCount = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;
const isHash = (bytes: Uint8Array): boolean => bytes instanceof Uint8Array && bytes.length === HASH_SIZE;

function requireCount(name: string, n: number): void {
  if (!isCount(n)) throw new RangeError(`${name} must be a non-negative safe integer, got ${n}`);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

export interface TreeRoot {
  add(leafHash: Uint8Array): void;
  readonly size: number;
  root(): Uint8Array;
}

/**
 * The RFC 9162 §2.1.1 Merkle tree hash of leaves given one at a time, in O(log n) memory: it keeps the
 * roots of the complete subtrees so far (sizes strictly decreasing powers of two), merging two of a
 * size as soon as they exist; the root hashes them together from the right.
 */
export function createTreeRoot(): TreeRoot {
  const subtrees: { size: number; hash: Uint8Array }[] = [];
  let size = 0;
  return {
    add(leafHash) {
      let node = { size: 1, hash: leafHash };
      for (let left = subtrees.at(-1); left?.size === node.size; left = subtrees.at(-1)) {
        subtrees.pop();
        node = { size: node.size * 2, hash: nodeHash(left.hash, node.hash) };
      }
      subtrees.push(node);
      size++;
    },
    get size() {
      return size;
    },
    root() {
      if (subtrees.length === 0) return rootOf([]);
      return subtrees.reduceRight<Uint8Array | undefined>(
        (right, subtree) => (right ? nodeHash(subtree.hash, right) : subtree.hash),
        undefined,
      ) as Uint8Array;
    },
  };
}
