import { nodeHash, rootOf } from '../ledger/merkle';

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
