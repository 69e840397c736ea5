import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { describe, expect, it } from 'vitest';
import {
  type HashReader,
  leafHash,
  nodeHash,
  proveConsistency,
  proveInclusion,
  rootOf,
  storedHashesForRecord,
  storedHashIndex,
  treeHash,
  verifyConsistency,
  verifyInclusion,
} from './merkle';

// ---------------------------------------------------------------------------------------------------------
// RFC 9162 §2.1 written naively, as the spec states it, over leaf data D[start:end]. Memoised MTH only so
// that every proof of every tree up to 300 leaves stays cheap; the recursion is the spec's.
// ---------------------------------------------------------------------------------------------------------

function H(...parts: Uint8Array[]): Uint8Array {
  const input = new Uint8Array(parts.reduce((length, part) => length + part.length, 0));
  let at = 0;
  for (const part of parts) {
    input.set(part, at);
    at += part.length;
  }
  return sha256(input);
}
/** k: the largest power of two smaller than n (n > 1). */
const splitOf = (n: number) => 2 ** Math.ceil(Math.log2(n) - 1);

class ReferenceTree {
  private readonly memo = new Map<string, Uint8Array>();
  constructor(private readonly data: readonly Uint8Array[]) {}

  /** MTH(D[start:end]). */
  mth(start: number, end: number): Uint8Array {
    const key = `${start}:${end}`;
    let hash = this.memo.get(key);
    if (hash) return hash;
    const n = end - start;
    if (n === 0) hash = H(new Uint8Array(0));
    else if (n === 1) hash = H(Uint8Array.of(0), this.data[start]!);
    else hash = H(Uint8Array.of(1), this.mth(start, start + splitOf(n)), this.mth(start + splitOf(n), end));
    this.memo.set(key, hash);
    return hash;
  }

  /** PATH(m, D[start:end]), m relative to start. */
  path(m: number, start: number, end: number): Uint8Array[] {
    const n = end - start;
    if (n === 1) return [];
    const k = splitOf(n);
    return m < k
      ? [...this.path(m, start, start + k), this.mth(start + k, end)]
      : [...this.path(m - k, start + k, end), this.mth(start, start + k)];
  }

  /** PROOF(m, D[n]) = SUBPROOF(m, D[n], true). */
  proof(m: number, n: number): Uint8Array[] {
    return this.subproof(m, 0, n, true);
  }

  private subproof(m: number, start: number, end: number, b: boolean): Uint8Array[] {
    const n = end - start;
    if (m === n) return b ? [] : [this.mth(start, end)];
    const k = splitOf(n);
    return m <= k
      ? [...this.subproof(m, start, start + k, b), this.mth(start + k, end)]
      : [...this.subproof(m - k, start + k, end, false), this.mth(start, start + k)];
  }
}

/** The root PATH(m, D[n]) implies for a leaf hash, folding the path back up the definition's recursion. */
function rootFromPath(m: number, n: number, leaf: Uint8Array, path: readonly Uint8Array[]): Uint8Array | undefined {
  if (m < 0 || m >= n) return undefined;
  if (n === 1) return path.length === 0 ? leaf : undefined;
  if (path.length === 0) return undefined;
  const [rest, last] = [path.slice(0, -1), path.at(-1)!];
  const k = splitOf(n);
  if (m < k) {
    const left = rootFromPath(m, k, leaf, rest);
    return left && H(Uint8Array.of(1), left, last);
  }
  const right = rootFromPath(m - k, n - k, leaf, rest);
  return right && H(Uint8Array.of(1), last, right);
}

/** The (old, new) roots SUBPROOF(m, D[n], b) implies, folding the proof back up the definition's recursion. */
function rootsFromProof(
  m: number,
  n: number,
  oldRoot: Uint8Array,
  proof: readonly Uint8Array[],
  b = true,
): [Uint8Array, Uint8Array] | undefined {
  if (m <= 0 || m > n) return undefined;
  if (m === n) {
    if (b) return proof.length === 0 ? [oldRoot, oldRoot] : undefined;
    return proof.length === 1 ? [proof[0]!, proof[0]!] : undefined;
  }
  if (proof.length === 0) return undefined;
  const [rest, last] = [proof.slice(0, -1), proof.at(-1)!];
  const k = splitOf(n);
  if (m <= k) {
    const roots = rootsFromProof(m, k, oldRoot, rest, b);
    return roots && [roots[0], H(Uint8Array.of(1), roots[1], last)];
  }
  const roots = rootsFromProof(m - k, n - k, oldRoot, rest, false);
  return roots && [H(Uint8Array.of(1), last, roots[0]), H(Uint8Array.of(1), last, roots[1])];
}

// ---------------------------------------------------------------------------------------------------------
// Helpers: a stored tree built only through storedHashesForRecord, and byte flips.
// ---------------------------------------------------------------------------------------------------------

const hex = (bytes: readonly Uint8Array[]) => bytes.map(bytesToHex);
const sameBytes = (a: Uint8Array | undefined, b: Uint8Array) => a !== undefined && bytesToHex(a) === bytesToHex(b);

/** Leaf data of varied lengths, deterministic per index. */
const leafData = (i: number) => sha256(Uint8Array.of(i & 0xff, i >> 8, i >> 16)).slice(0, 1 + (i % 32));

/** A seeded generator (mulberry32), so a failing random case can be replayed. */
function random(seed: number): (below: number) => number {
  let state = seed;
  return (below) => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * below);
  };
}

class StoredTree {
  readonly hashes: Uint8Array[] = [];
  readonly reads: number[][] = [];
  readonly read: HashReader = async (indexes) => {
    this.reads.push([...indexes]);
    for (const [i, index] of indexes.entries()) {
      if (index >= this.hashes.length) throw new Error(`read of unwritten stored hash ${index}`);
      if (i > 0 && index <= indexes[i - 1]!) throw new Error('indexes not strictly increasing');
    }
    return indexes.map((index) => this.hashes[index]!);
  };

  static async of(data: readonly Uint8Array[]): Promise<StoredTree> {
    const tree = new StoredTree();
    for (const [n, leaf] of data.entries()) {
      expect(storedHashIndex(0, n)).toBe(tree.hashes.length);
      tree.hashes.push(...(await storedHashesForRecord(n, leafHash(leaf), tree.read)));
    }
    return tree;
  }

  /** The number of stored hashes the next call reads. */
  async countReads<T>(work: () => Promise<T>): Promise<number> {
    const before = this.reads.length;
    await work();
    return this.reads.slice(before).flat().length;
  }
}

function flipped(bytes: Uint8Array, at: number): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy[at % copy.length]! ^= 0x01;
  return copy;
}

/** Every proof with one hash replaced by a copy that has one byte flipped (a different byte each time). */
function proofsWithOneFlip(proof: readonly Uint8Array[], seed: number): Uint8Array[][] {
  return proof.map((hash, i) => proof.map((other, j) => (i === j ? flipped(hash, seed + i * 7) : other)));
}

/** Proofs one hash too long or too short at either end, and proofs holding a hash of the wrong length. */
function malformedProofs(proof: readonly Uint8Array[], root: Uint8Array): Uint8Array[][] {
  const malformed = [
    [...proof, root],
    [root, ...proof],
    [...proof, new Uint8Array(0)],
    [new Uint8Array(0), ...proof],
  ];
  if (proof.length > 0) malformed.push(proof.slice(1), proof.slice(0, -1), [proof[0]!.slice(1), ...proof.slice(1)]);
  return malformed;
}

const MAX_EXHAUSTIVE_SIZE = 300;
const data = Array.from({ length: 5000 }, (_, i) => leafData(i));
const reference = new ReferenceTree(data);
const stored = StoredTree.of(data.slice(0, MAX_EXHAUSTIVE_SIZE));

describe('Merkle tree against the RFC 9162 definitions', () => {
  it('hashes leaves and nodes with the 0x00 and 0x01 prefixes, and the empty tree as SHA-256 of nothing', () => {
    const left = leafHash(data[0]!);
    const right = leafHash(data[1]!);
    expect(bytesToHex(left)).toBe(bytesToHex(H(Uint8Array.of(0), data[0]!)));
    expect(bytesToHex(nodeHash(left, right))).toBe(bytesToHex(H(Uint8Array.of(1), left, right)));
    expect(bytesToHex(rootOf([]))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('stores every complete subtree hash at its Go tlog index, each leaf starting where the last one ended', async () => {
    const tree = await stored;
    // The first fifteen positions, as the layout's definition orders them: a leaf, then the subtrees it completes.
    const firstPositions = [
      [0, 0],
      [0, 1],
      [1, 0],
      [0, 2],
      [0, 3],
      [1, 1],
      [2, 0],
      [0, 4],
      [0, 5],
      [1, 2],
      [0, 6],
      [0, 7],
      [1, 3],
      [2, 1],
      [3, 0],
    ];
    expect(firstPositions.map(([level, n]) => storedHashIndex(level!, n!))).toEqual([...firstPositions.keys()]);
    for (let level = 0; 2 ** level <= MAX_EXHAUSTIVE_SIZE; level++) {
      const width = 2 ** level;
      for (let n = 0; (n + 1) * width <= MAX_EXHAUSTIVE_SIZE; n++) {
        const at = storedHashIndex(level, n);
        expect(bytesToHex(tree.hashes[at]!)).toBe(bytesToHex(reference.mth(n * width, (n + 1) * width)));
      }
    }
  });

  it('computes the root of every tree of 1…300 leaves, reading at most 1 + log2(size) stored hashes', async () => {
    const tree = await stored;
    for (let size = 1; size <= MAX_EXHAUSTIVE_SIZE; size++) {
      const expected = bytesToHex(reference.mth(0, size));
      expect(bytesToHex(rootOf(data.slice(0, size).map(leafHash)))).toBe(expected);
      expect(bytesToHex(await treeHash(size, tree.read))).toBe(expected);
      expect(await tree.countReads(() => treeHash(size, tree.read))).toBeLessThanOrEqual(1 + Math.log2(size));
    }
    expect(bytesToHex(await treeHash(0, tree.read))).toBe(bytesToHex(reference.mth(0, 0)));
  });

  it('proves the inclusion of every leaf of every tree of 1…300 leaves exactly as PATH(m, D[n])', async () => {
    const tree = await stored;
    for (let size = 1; size <= MAX_EXHAUSTIVE_SIZE; size++) {
      const root = reference.mth(0, size);
      for (let index = 0; index < size; index++) {
        const proof = await proveInclusion(size, index, tree.read);
        expect(hex(proof)).toEqual(hex(reference.path(index, 0, size)));
        expect(verifyInclusion(index, size, leafHash(data[index]!), proof, root)).toBe(true);
      }
    }
  });

  it('proves the consistency of every older tree with every tree of 1…300 leaves exactly as PROOF(m, D[n])', async () => {
    const tree = await stored;
    for (let size = 1; size <= MAX_EXHAUSTIVE_SIZE; size++) {
      const root = reference.mth(0, size);
      for (let oldSize = 1; oldSize <= size; oldSize++) {
        const proof = await proveConsistency(oldSize, size, tree.read);
        expect(hex(proof)).toEqual(hex(reference.proof(oldSize, size)));
        expect(verifyConsistency(oldSize, size, reference.mth(0, oldSize), root, proof)).toBe(true);
      }
    }
  });

  it('does the same on random larger trees, sampling indexes and old sizes, each read O(log n)', async () => {
    const next = random(13);
    const sizes = [4096, 4097, 301 + next(4700), 301 + next(4700), 301 + next(4700)];
    const tree = await StoredTree.of(data.slice(0, Math.max(...sizes)));
    for (const size of sizes) {
      const root = reference.mth(0, size);
      expect(bytesToHex(await treeHash(size, tree.read))).toBe(bytesToHex(root));
      const samples = [0, 1, size - 2, size - 1, ...Array.from({ length: 40 }, () => next(size))];
      for (const index of samples) {
        const proof = await proveInclusion(size, index, tree.read);
        expect(hex(proof)).toEqual(hex(reference.path(index, 0, size)));
        expect(verifyInclusion(index, size, leafHash(data[index]!), proof, root)).toBe(true);
        const oldSize = index + 1;
        const consistency = await proveConsistency(oldSize, size, tree.read);
        expect(hex(consistency)).toEqual(hex(reference.proof(oldSize, size)));
        expect(verifyConsistency(oldSize, size, reference.mth(0, oldSize), root, consistency)).toBe(true);
        const bound = 2 * Math.ceil(Math.log2(size)) + 2;
        expect(await tree.countReads(() => proveInclusion(size, index, tree.read))).toBeLessThanOrEqual(bound);
        expect(await tree.countReads(() => proveConsistency(oldSize, size, tree.read))).toBeLessThanOrEqual(bound);
      }
    }
  });
});

describe('Merkle proof verification refuses what does not prove', () => {
  // Every tree up to 64 leaves in full, then every 17th index or old size up to 300.
  const step = (size: number) => (size <= 64 ? 1 : 17);

  async function* sampledInclusionProofs() {
    const tree = await stored;
    for (let size = 1; size <= MAX_EXHAUSTIVE_SIZE; size++) {
      const root = reference.mth(0, size);
      for (let index = 0; index < size; index += step(size)) {
        const proof = await proveInclusion(size, index, tree.read);
        yield { size, index, root, leaf: leafHash(data[index]!), proof };
      }
    }
  }

  async function* sampledConsistencyProofs() {
    const tree = await stored;
    for (let size = 1; size <= MAX_EXHAUSTIVE_SIZE; size++) {
      const root = reference.mth(0, size);
      for (let oldSize = 1; oldSize <= size; oldSize += step(size)) {
        const proof = await proveConsistency(oldSize, size, tree.read);
        yield { size, oldSize, root, oldRoot: reference.mth(0, oldSize), proof };
      }
    }
  }

  it('fails an inclusion proof with any flipped byte in a proof hash, the root or the leaf', async () => {
    for await (const { size, index, root, leaf, proof } of sampledInclusionProofs()) {
      // On small trees every byte position of every hash; beyond, one position per hash, varying.
      const positions = size <= 8 ? [...Array(32).keys()] : [size + index];
      for (const at of positions) {
        for (const wrong of proofsWithOneFlip(proof, at)) {
          expect(verifyInclusion(index, size, leaf, wrong, root)).toBe(false);
        }
        expect(verifyInclusion(index, size, leaf, proof, flipped(root, at))).toBe(false);
        expect(verifyInclusion(index, size, flipped(leaf, at), proof, root)).toBe(false);
      }
    }
  });

  it('fails an inclusion proof at any other index, and at another size unless that size gives PATH the same shape', async () => {
    for await (const { size, index, root, leaf, proof } of sampledInclusionProofs()) {
      const otherIndexes = size <= 32 ? [...Array(size).keys()] : [index - 1, index + 1, index ^ 2, 0, size - 1];
      for (const other of otherIndexes.filter((i) => i !== index)) {
        expect(verifyInclusion(other, size, leaf, proof, root)).toBe(false);
      }
      // The root does not commit to the size (the signed checkpoint does), so a proof holds for another
      // size exactly when the definition folds it to the same root there.
      for (const otherSize of [size - 1, size + 1, size * 2, Math.floor(size / 2), 0]) {
        const expected = sameBytes(rootFromPath(index, otherSize, leaf, proof), root);
        expect(verifyInclusion(index, otherSize, leaf, proof, root)).toBe(expected);
      }
    }
  });

  it('fails a consistency proof with any flipped byte in a proof hash or either root', async () => {
    for await (const { size, oldSize, root, oldRoot, proof } of sampledConsistencyProofs()) {
      const positions = size <= 8 ? [...Array(32).keys()] : [size + oldSize];
      for (const at of positions) {
        for (const wrong of proofsWithOneFlip(proof, at)) {
          expect(verifyConsistency(oldSize, size, oldRoot, root, wrong)).toBe(false);
        }
        expect(verifyConsistency(oldSize, size, flipped(oldRoot, at), root, proof)).toBe(false);
        expect(verifyConsistency(oldSize, size, oldRoot, flipped(root, at), proof)).toBe(false);
      }
    }
  });

  it('agrees with the definition on every wrong old or new size given to a consistency proof', async () => {
    for await (const { size, oldSize, root, oldRoot, proof } of sampledConsistencyProofs()) {
      const wrongSizes = [
        [oldSize - 1, size],
        [oldSize + 1, size],
        [oldSize, size - 1],
        [oldSize, size + 1],
        [oldSize, size * 2],
        [size, oldSize],
      ];
      for (const [m, n] of wrongSizes.filter(([m, n]) => m !== oldSize || n !== size)) {
        const roots = rootsFromProof(m!, n!, oldRoot, proof);
        const expected = roots !== undefined && sameBytes(roots[0], oldRoot) && sameBytes(roots[1], root);
        expect(verifyConsistency(m!, n!, oldRoot, root, proof)).toBe(expected);
      }
    }
  });

  it('accepts a proof at another size only where the tree has the same shape, which is why checkpoints sign the size', async () => {
    const tree = await stored;
    // Leaf 0 of 3 and leaf 0 of 4 both sit under two left turns: [h1, MTH(2..3)] folds the same way.
    const proof = await proveInclusion(3, 0, tree.read);
    const root = reference.mth(0, 3);
    expect(verifyInclusion(0, 4, leafHash(data[0]!), proof, root)).toBe(true);
    expect(verifyInclusion(0, 5, leafHash(data[0]!), proof, root)).toBe(false);
  });

  it('fails malformed proofs, too long or too short or holding a short hash, without throwing', async () => {
    const tree = await stored;
    for (let size = 1; size <= 64; size++) {
      const root = reference.mth(0, size);
      for (let index = 0; index < size; index++) {
        const leaf = leafHash(data[index]!);
        const inclusion = await proveInclusion(size, index, tree.read);
        for (const wrong of malformedProofs(inclusion, root)) {
          expect(verifyInclusion(index, size, leaf, wrong, root)).toBe(false);
        }
        const oldRoot = reference.mth(0, index + 1);
        const consistency = await proveConsistency(index + 1, size, tree.read);
        for (const wrong of malformedProofs(consistency, root)) {
          expect(verifyConsistency(index + 1, size, oldRoot, root, wrong)).toBe(false);
        }
      }
    }
  });

  it('fails impossible indexes and sizes without throwing, and refuses to prove them', async () => {
    const tree = await stored;
    const leaf = leafHash(data[0]!);
    const root = reference.mth(0, 1);
    for (const [index, size] of [
      [0, 0],
      [1, 1],
      [-1, 1],
      [0.5, 1],
      [0, Number.NaN],
      [0, 2 ** 53],
    ]) {
      expect(verifyInclusion(index!, size!, leaf, [], root)).toBe(false);
      await expect(proveInclusion(size!, index!, tree.read)).rejects.toThrow(RangeError);
    }
    expect(verifyInclusion(0, 1, leaf.slice(1), [], root.slice(1))).toBe(false);
    for (const [oldSize, newSize] of [
      [0, 0],
      [0, 1],
      [2, 1],
      [1.5, 2],
      [-1, 2],
    ]) {
      expect(verifyConsistency(oldSize!, newSize!, root, root, [])).toBe(false);
      await expect(proveConsistency(oldSize!, newSize!, tree.read)).rejects.toThrow(RangeError);
    }
  });

  it('reports a hash reader that answers the wrong number of hashes', async () => {
    const tree = await stored;
    const short: HashReader = async (indexes) => (await tree.read(indexes)).slice(1);
    await expect(treeHash(5, short)).rejects.toThrow(/2 indexes/);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Published vectors from an implementation we did not write: the RFC 6962 test tree of eight leaves, as
// transparency-dev/merkle (testonly/constants.go, cmd/proofgen/main.go) and certificate-transparency carry it.
// ---------------------------------------------------------------------------------------------------------

describe('Merkle tree against the Certificate Transparency test vectors', () => {
  const leaves = [
    '',
    '00',
    '10',
    '2021',
    '3031',
    '40414243',
    '5051525354555657',
    '606162636465666768696a6b6c6d6e6f',
  ].map(hexToBytes);
  const roots = [
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
    'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
    'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
    'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
    '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
    'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
    '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
  ];
  // The hash of every complete subtree of the eight-leaf tree, by level then position (testonly NodeHashes).
  const nodeHashes = [
    [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7',
      '07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      '4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658',
      'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
      '46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1',
    ],
    [
      'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
    ],
    [
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
    ['5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328'],
  ];
  const node = (level: number, position: number) => nodeHashes[level]![position]!;
  const leafHashes = nodeHashes[0]!;
  // The published proofs (cmd/proofgen), each hash named by its place in the table above; indexes are
  // zero-based here (the Go vectors count leaves from 1).
  const inclusionProofs: [index: number, size: number, proof: string[]][] = [
    [0, 1, []],
    [0, 8, [node(0, 1), node(1, 1), node(2, 1)]],
    [5, 8, [node(0, 4), node(1, 3), node(2, 0)]],
    [2, 3, [node(1, 0)]],
    [1, 5, [node(0, 0), node(1, 1), node(0, 4)]],
  ];
  const consistencyProofs: [oldSize: number, newSize: number, proof: string[]][] = [
    [1, 1, []],
    [1, 8, [node(0, 1), node(1, 1), node(2, 1)]],
    [6, 8, [node(1, 2), node(1, 3), node(2, 0)]],
    [2, 5, [node(1, 1), node(0, 4)]],
    [6, 7, [node(1, 2), node(0, 6), node(2, 0)]],
  ];
  const vectorTree = StoredTree.of(leaves);

  it('reproduces the leaf hashes and the root of every size 0…8', async () => {
    const tree = await vectorTree;
    expect(leaves.map((leaf) => bytesToHex(leafHash(leaf)))).toEqual(leafHashes);
    for (const [size, root] of roots.entries()) {
      expect(bytesToHex(rootOf(leaves.slice(0, size).map(leafHash)))).toBe(root);
      expect(bytesToHex(await treeHash(size, tree.read))).toBe(root);
    }
  });

  it('reproduces and verifies the published inclusion proofs', async () => {
    const tree = await vectorTree;
    for (const [index, size, proof] of inclusionProofs) {
      expect(hex(await proveInclusion(size, index, tree.read))).toEqual(proof);
      const root = hexToBytes(roots[size]!);
      expect(verifyInclusion(index, size, hexToBytes(leafHashes[index]!), proof.map(hexToBytes), root)).toBe(true);
    }
  });

  it('reproduces and verifies the published consistency proofs', async () => {
    const tree = await vectorTree;
    for (const [oldSize, newSize, proof] of consistencyProofs) {
      expect(hex(await proveConsistency(oldSize, newSize, tree.read))).toEqual(proof);
      const [oldRoot, newRoot] = [hexToBytes(roots[oldSize]!), hexToBytes(roots[newSize]!)];
      expect(verifyConsistency(oldSize, newSize, oldRoot, newRoot, proof.map(hexToBytes))).toBe(true);
    }
  });

  it('rejects the published corruptions: wrong index or size, trailing or preceding garbage, a flipped bit', () => {
    const someHash = hexToBytes('abacaba000000000000000000000000000000000000000000060061e00123456');
    for (const [index, size, hexProof] of inclusionProofs.slice(1)) {
      const [proof, root, leaf] = [hexProof.map(hexToBytes), hexToBytes(roots[size]!), hexToBytes(leafHashes[index]!)];
      const bitFlipped = proof.map((hash, i) => (i === 0 ? flipped(hash, 0) : hash));
      const cases: [number, number, Uint8Array, Uint8Array[], Uint8Array][] = [
        [index - 1, size, leaf, proof, root],
        [index + 1, size, leaf, proof, root],
        [index ^ 2, size, leaf, proof, root],
        [index, size * 2, leaf, proof, root],
        [index, Math.floor(size / 2), leaf, proof, root],
        [index, size, new TextEncoder().encode('WrongLeaf'), proof, root],
        [index, size, leaf, proof, hexToBytes(roots[0]!)],
        [index, size, leaf, proof, someHash],
        [index, size, leaf, [...proof, root], root],
        [index, size, leaf, [root, ...proof], root],
        [index, size, leaf, bitFlipped, root],
        [index, size, leaf, proof.slice(0, -1), root],
        [index, size, leaf, [proof[0]!, someHash, ...proof.slice(1)], root],
      ];
      for (const [i, n, l, p, r] of cases) expect(verifyInclusion(i, n, l, p, r)).toBe(false);
    }
    for (const [oldSize, newSize, hexProof] of consistencyProofs.slice(1)) {
      const proof = hexProof.map(hexToBytes);
      const [oldRoot, newRoot] = [hexToBytes(roots[oldSize]!), hexToBytes(roots[newSize]!)];
      const cases: [number, number, Uint8Array, Uint8Array, Uint8Array[]][] = [
        [oldSize - 1, newSize, oldRoot, newRoot, proof],
        [oldSize + 1, newSize, oldRoot, newRoot, proof],
        [oldSize ^ 2, newSize, oldRoot, newRoot, proof],
        [oldSize, newSize * 2, oldRoot, newRoot, proof],
        [oldSize, Math.floor(newSize / 2), oldRoot, newRoot, proof],
        [oldSize, newSize, someHash, newRoot, proof],
        [oldSize, newSize, oldRoot, someHash, proof],
        [oldSize, newSize, newRoot, oldRoot, proof],
        [oldSize, newSize, oldRoot, newRoot, []],
        [oldSize, newSize, oldRoot, newRoot, [...proof, newRoot]],
        [oldSize, newSize, oldRoot, newRoot, [oldRoot, ...proof]],
        [oldSize, newSize, oldRoot, newRoot, proof.slice(0, -1)],
        [oldSize, newSize, oldRoot, newRoot, proof.map((hash, i) => (i === 0 ? flipped(hash, 4) : hash))],
      ];
      for (const [m, n, r1, r2, p] of cases) expect(verifyConsistency(m, n, r1, r2, p)).toBe(false);
    }
  });
});
