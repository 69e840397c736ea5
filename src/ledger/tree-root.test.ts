import { describe, expect, it } from 'vitest';
import { createTreeRoot, leafHash, rootOf } from './merkle';

const leaf = (i: number) => leafHash(Uint8Array.of(i & 0xff, i >> 8));

describe('the streaming Merkle root', () => {
  it('equals the RFC 9162 tree hash of the same leaves for every size up to 300', () => {
    const tree = createTreeRoot();
    const leaves: Uint8Array[] = [];
    expect(tree.root()).toEqual(rootOf([]));
    for (let i = 0; i < 300; i++) {
      tree.add(leaf(i));
      leaves.push(leaf(i));
      expect(tree.root(), `size ${i + 1}`).toEqual(rootOf(leaves));
    }
    expect(tree.size).toBe(300);
  });
});
