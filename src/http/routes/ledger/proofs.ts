import { z } from '@hono/zod-openapi';
import { AppError } from '../../../errors';
import type { Ledger } from '../../../ledger/store';
import { defineRoute } from '../router';
import { errorContent, json, WholeNumber } from '../schemas';

/**
 * The ledger as a verifiable log: its newest signed checkpoint, and RFC 9162 proofs that a leaf is
 * in a checkpointed tree and that a smaller tree is a prefix of a larger one (docs/ledger.md).
 */

export const CHECKPOINT_CONTENT_TYPE = 'text/plain; charset=utf-8';

const TreeSize = WholeNumber(1, Number.MAX_SAFE_INTEGER);
const Hex = z.string().regex(/^[0-9a-f]{64}$/);

/** Examples: a real tree of 13 leaves and its checkpoint, signed by an example key (docs/ledger.md). */
export const EXAMPLE_CHECKPOINT =
  'lexecon/bf30ef574df4b6f5\n13\nsPG/IqPSl/KOQmMkVQeHA9SMz8wkMgnAkLSnJfnPuRY=\n\n' +
  '— lexecon/bf30ef574df4b6f5 bhjUzddFfwj67pcTgl5qHap1uXe16aZA6vwtUZuV3+zjYHcelLiN3JVZ0ARyvjcfumoOJnkJnciKbVD1Ph3ewk4OTgU=\n';
export const EXAMPLE_VERIFIER_KEY = 'lexecon/bf30ef574df4b6f5+6e18d4cd+AbqwfPD4VHijnPDRhF07vANtEMHgMlo0LV8N93VpYLXI';
const sharedProofHashes = [
  'd04b5bf5536f9543228c7cad3eeb815d7f43f9ea4102cc10b6a52958ce500ee9',
  '986816175fd285c8fe6f99a746115b286b91500dc47f5a407182ea30cb4d9e88',
  '45f7a3c5a75971cc5088d272a789c1418bb82a0c1d7c30ebb6e8b1103d1233d5',
];

export const checkpoint = defineRoute({
  method: 'get',
  path: '/checkpoint',
  operationId: 'getLedgerCheckpoint',
  permission: 'ledger:read',
  summary: 'The newest signed checkpoint: the tree size and Merkle root, as a C2SP signed note',
  description:
    'A C2SP tlog-checkpoint body (origin, tree size, base64 root hash) and one Ed25519 signature line, signed ' +
    'at each group commit. Verify it with `note_verifier_key` from /api/ledger/public-key; keep it, and ask ' +
    'later for a consistency proof from its size to a newer checkpoint’s.',
  tags: ['ledger'],
  responses: {
    200: {
      description: 'The signed note',
      content: { 'text/plain': { schema: z.string().openapi({ example: EXAMPLE_CHECKPOINT }) } },
    },
    404: errorContent('No checkpoint yet (NOT_FOUND)'),
  },
});

export const inclusion = defineRoute({
  method: 'get',
  path: '/proof/inclusion',
  operationId: 'getInclusionProof',
  permission: 'ledger:read',
  summary: 'Prove that an entry is a leaf of a checkpointed tree (RFC 9162 §2.1.3)',
  tags: ['ledger'],
  request: {
    query: z
      .object({
        index: WholeNumber(0, Number.MAX_SAFE_INTEGER).openapi({ example: 5 }),
        tree_size: TreeSize.openapi({ description: 'At most the newest checkpoint’s tree size', example: 13 }),
      })
      .refine((q) => q.index < q.tree_size, { path: ['index'], message: 'must be less than tree_size' }),
  },
  responses: {
    200: json(
      z
        .object({
          index: z.number().int(),
          tree_size: z.number().int(),
          leaf_hash: Hex.openapi({ description: 'SHA-256(0x00 ‖ the 32 bytes of the entry’s entry_hash), hex' }),
          root_hash: Hex.openapi({ description: 'Root of the tree of tree_size leaves, hex' }),
          hashes: z.array(Hex).openapi({ description: 'The inclusion proof, leaf to root, hex' }),
        })
        .openapi('InclusionProof', {
          example: {
            index: 5,
            tree_size: 13,
            leaf_hash: '5c73c2dc595e6fdaa2cf4e7c9b31057394f7279d1a40fe3465d2adf7afbdbfd8',
            root_hash: 'b0f1bf22a3d297f28e42632455078703d48ccfcc243209c090b4a725f9cfb916',
            hashes: ['4c1d46fd317d5053ab2c884744baa029980d86033be8492251383f7da1f0de5c', ...sharedProofHashes],
          },
        }),
      'The proof',
    ),
    404: errorContent('tree_size is larger than the newest checkpoint’s (NOT_FOUND)'),
  },
});

export const consistency = defineRoute({
  method: 'get',
  path: '/proof/consistency',
  operationId: 'getConsistencyProof',
  permission: 'ledger:read',
  summary: 'Prove that one checkpointed tree extends another (RFC 9162 §2.1.4)',
  description: 'The tree of `from` leaves is a prefix of the tree of `to` leaves: nothing was dropped or rewritten.',
  tags: ['ledger'],
  request: {
    query: z
      .object({
        from: TreeSize.openapi({ example: 6 }),
        to: TreeSize.openapi({ description: 'At most the newest checkpoint’s tree size', example: 13 }),
      })
      .refine((q) => q.from <= q.to, { path: ['from'], message: 'must not be greater than to' }),
  },
  responses: {
    200: json(
      z
        .object({
          from: z.number().int(),
          to: z.number().int(),
          hashes: z.array(Hex).openapi({ description: 'The consistency proof, hex; empty when from = to' }),
        })
        .openapi('ConsistencyProof', {
          example: {
            from: 6,
            to: 13,
            hashes: ['ce9cb328450a333d00cdd98b2efddc25f0a9fe4b25b50c33823d6c0ca238fe0d', ...sharedProofHashes],
          },
        }),
      'The proof',
    ),
    404: errorContent('to is larger than the newest checkpoint’s tree size (NOT_FOUND)'),
  },
});

/** Refuses, as not found, a tree larger than the newest checkpoint's: only signed trees are proven. */
export async function requireCheckpointed(ledger: Ledger, size: number): Promise<void> {
  const latest = await ledger.checkpoint();
  if (!latest) throw new AppError('NOT_FOUND', 'The ledger has no checkpoint yet');
  if (size > latest.treeSize) {
    throw new AppError('NOT_FOUND', `No checkpoint covers ${size} entries: the newest is of ${latest.treeSize}`);
  }
}
