import { z } from '@hono/zod-openapi';
import { AppError } from '../../../errors';
import { publicKeyPem, toBase64 } from '../../../ledger/crypto';
import { LEDGER_EVENT_TYPES } from '../../../ledger/entry';
import { ENTRY_PAGE_BYTES } from '../../../ledger/entry-page';
import { formatVerifierKey } from '../../../ledger/note';
import { INVALID_REASONS } from '../../../ledger/verify';
import { createRouter, defineRoute } from '../router';
import { CursorQuery, errorContent, IsoTimestamp, json, LimitQuery, WholeNumber } from '../schemas';
import {
  CHECKPOINT_CONTENT_TYPE,
  checkpoint,
  consistency,
  EXAMPLE_VERIFIER_KEY,
  inclusion,
  requireCheckpointed,
} from './proofs';

const PAGE_MIB = ENTRY_PAGE_BYTES / (1024 * 1024);

/** `limit` of a list of ledger entries (or of what they record): rows, within a byte budget. */
export const PageLimitQuery = LimitQuery.openapi({
  description: `Most items on the page. A page also ends before ${PAGE_MIB} MiB of entry JSON (always holding at least one entry), so it may hold fewer: follow next_cursor.`,
});

export const NextCursor = z.string().nullable().openapi({
  description:
    'Pass as `cursor` (with the same filters and order) for the page that continues exactly after this one; null on the last page.',
});

const cursorText = (index: number | null) => (index === null ? null : String(index));

export const LedgerEntrySchema = z
  .object({
    index: z.number().int(),
    entry_id: z.string(),
    event_type: z.enum(LEDGER_EVENT_TYPES),
    timestamp: z.string(),
    data: z.record(z.string(), z.unknown()),
    previous_hash: z.string(),
    entry_hash: z.string(),
    signature: z.string().nullable().openapi({
      description:
        'Ed25519 (base64) over entry_hash, on entries written before the Merkle tree; null on newer ones, which the checkpoint of their group commit signs',
    }),
    key_id: z.string().nullable().openapi({ description: 'The key id of `signature`; null when it is null' }),
  })
  .openapi('LedgerEntry');

const ChainPointSchema = z.object({ index: z.number().int(), hash: z.string() });

const VerificationSchema = z
  .object({
    valid: z.boolean(),
    entries_checked: z.number().int(),
    head_hash: z.string().nullable().openapi({ description: 'Hash of the last entry that verified' }),
    head_index: z.number().int().nullable().openapi({ description: 'Index of that entry' }),
    signers: z
      .record(z.string(), z.number().int())
      .openapi({ description: 'Key id → index of the first checked entry it signed' }),
    checkpoints_checked: z
      .number()
      .int()
      .openapi({ description: 'Stored checkpoints whose signature and Merkle root verified' }),
    checkpoint: z
      .object({ tree_size: z.number().int(), root_hash: z.string() })
      .optional()
      .openapi({ description: 'The newest of them (root hash in hex)' }),
    first_invalid: z
      .object({
        index: z.number().int().openapi({ description: 'For truncated: the first missing index' }),
        entry_id: z.string().nullable(),
        reason: z.enum(INVALID_REASONS).openapi({
          description:
            'chain_break: wrong index or link; hash_mismatch: the entry was edited; rewritten: not the entry ' +
            'verified or committed before at this index; unknown_key: signed by a key this instance does not ' +
            'trust; bad_signature: the signature fails under a trusted key; truncated: the chain ends before ' +
            'an entry verified or committed before',
        }),
        key_id: z.string().optional().openapi({ description: 'unknown_key: the untrusted key id' }),
        checkpoint: z
          .object({ tree_size: z.number().int() })
          .optional()
          .openapi({
            description:
              'bad_signature, rewritten, truncated: the stored checkpoint that failed (its note is not validly signed, ' +
              'its root differs from the tree of the entries, or its tree is bigger than the chain)',
          }),
        watermark: ChainPointSchema.optional().openapi({
          description:
            'truncated, rewritten: the entry this service had verified or committed, which the chain no longer holds',
        }),
      })
      .optional(),
  })
  .openapi('LedgerVerification');

const verify = defineRoute({
  method: 'get',
  path: '/verify',
  operationId: 'verifyLedger',
  permission: 'ledger:read',
  summary: 'Verify the whole chain: hashes, links, signatures, and that it still holds every entry seen before',
  description:
    'Walks every entry in pages (bounded memory) and stops at the first invalid one, naming it. The chain must ' +
    'also reach the highest entry any instance has verified or committed (its watermark) with the same hash. ' +
    'A call arriving while a verification runs gets that run’s result (covering the chain up to its `head_index`) ' +
    'instead of walking again.',
  tags: ['ledger'],
  responses: { 200: json(VerificationSchema, 'Always 200; read `valid`') },
});

const entries = defineRoute({
  method: 'get',
  path: '/entries',
  operationId: 'listLedgerEntries',
  permission: 'ledger:read',
  summary: 'Page through ledger entries',
  tags: ['ledger'],
  request: {
    query: z.object({
      event_type: z.enum(LEDGER_EVENT_TYPES).optional(),
      from: IsoTimestamp.optional(),
      to: IsoTimestamp.optional(),
      order: z.enum(['asc', 'desc']).default('asc'),
      cursor: CursorQuery.optional(),
      limit: PageLimitQuery,
    }),
  },
  responses: {
    200: json(z.object({ entries: z.array(LedgerEntrySchema), next_cursor: NextCursor }), 'One page'),
  },
});

const entry = defineRoute({
  method: 'get',
  path: '/entries/{index}',
  operationId: 'getLedgerEntry',
  permission: 'ledger:read',
  summary: 'One ledger entry by index',
  tags: ['ledger'],
  request: { params: z.object({ index: WholeNumber(0, Number.MAX_SAFE_INTEGER) }) },
  responses: { 200: json(LedgerEntrySchema, 'The entry'), 404: errorContent('No such entry (NOT_FOUND)') },
});

const head = defineRoute({
  method: 'get',
  path: '/head',
  operationId: 'getLedgerHead',
  permission: 'ledger:read',
  summary: 'The newest entry: record its hash elsewhere to anchor the chain',
  tags: ['ledger'],
  responses: { 200: json(LedgerEntrySchema, 'The head entry') },
});

const publicKey = defineRoute({
  method: 'get',
  path: '/public-key',
  operationId: 'getLedgerPublicKey',
  permission: 'ledger:read',
  summary: 'The Ed25519 key that signs ledger entries and checkpoints',
  tags: ['ledger'],
  responses: {
    200: json(
      z.object({
        algorithm: z.literal('Ed25519'),
        key_id: z.string(),
        public_key: z.string().openapi({ description: 'Raw 32-byte key, base64' }),
        public_key_pem: z.string(),
        signed_message: z.string(),
        note_verifier_key: z.string().openapi({
          description:
            'The same key as a signed-note verifier key (<name>+<key hash hex>+<base64 0x01‖key>, as Go’s ' +
            'golang.org/x/mod/sumdb/note reads it); the name is the checkpoints’ origin',
          example: EXAMPLE_VERIFIER_KEY,
        }),
      }),
      'Pin this key: verification of a copy of the ledger needs it',
    ),
  },
});

export function ledgerRoutes() {
  return createRouter()
    .openapi(verify, async (c) => c.json(await c.get('services').ledger.verify(), 200))
    .openapi(entries, async (c) => {
      const q = c.req.valid('query');
      const page = await c.get('services').ledger.entries({
        eventType: q.event_type,
        from: q.from ? new Date(q.from) : undefined,
        to: q.to ? new Date(q.to) : undefined,
        order: q.order,
        cursor: q.cursor,
        limit: q.limit,
      });
      return c.json({ entries: page.entries, next_cursor: cursorText(page.nextCursor) }, 200);
    })
    .openapi(entry, async (c) => {
      const found = await c.get('services').ledger.entryByIndex(c.req.valid('param').index);
      if (!found) throw new AppError('NOT_FOUND', 'No ledger entry with that index');
      return c.json(found, 200);
    })
    .openapi(head, async (c) => {
      const found = await c.get('services').ledger.head();
      if (!found) throw new AppError('SERVICE_UNAVAILABLE', 'The ledger has not been initialised');
      return c.json(found, 200);
    })
    .openapi(publicKey, (c) => {
      const { ledger } = c.get('services');
      const key = ledger.signingKey;
      return c.json(
        {
          algorithm: 'Ed25519' as const,
          key_id: key.keyId,
          public_key: toBase64(key.raw),
          public_key_pem: publicKeyPem(key.raw),
          signed_message: 'The UTF-8 bytes of entry_hash (64 lowercase hex characters)',
          note_verifier_key: formatVerifierKey(ledger.logOrigin, ledger.signingKey.raw),
        },
        200,
      );
    })
    .openapi(checkpoint, async (c) => {
      const latest = await c.get('services').ledger.checkpoint();
      if (!latest) throw new AppError('NOT_FOUND', 'The ledger has no checkpoint yet');
      return c.text(latest.note, 200, { 'content-type': CHECKPOINT_CONTENT_TYPE });
    })
    .openapi(inclusion, async (c) => {
      const { index, tree_size } = c.req.valid('query');
      const { ledger } = c.get('services');
      await requireCheckpointed(ledger, tree_size);
      return c.json(await ledger.inclusionProof(index, tree_size), 200);
    })
    .openapi(consistency, async (c) => {
      const { from, to } = c.req.valid('query');
      const { ledger } = c.get('services');
      await requireCheckpointed(ledger, to);
      return c.json(await ledger.consistencyProof(from, to), 200);
    });
}
