import { sql } from 'drizzle-orm';
import { bigint, check, customType, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/** Raw bytes: both drivers hand `bytea` back as a Uint8Array (a Buffer on postgres.js). */
const bytes = customType<{ data: Uint8Array; driverData: Uint8Array }>({ dataType: () => 'bytea' });

/**
 * The Merkle tree over the ledger entries, kept as the hashes of its complete subtrees in the order
 * Go's golang.org/x/mod/sumdb/tlog stores them (src/ledger/merkle.ts, storedHashIndex): about two
 * per entry, so a root or a proof reads O(log n) rows. Append-only, like the entries.
 */
export const ledgerTreeHashes = pgTable(
  'ledger_tree_hashes',
  {
    storedIndex: bigint('stored_index', { mode: 'number' }).primaryKey(),
    hash: bytes('hash').notNull(),
  },
  (t) => [check('ledger_tree_hashes_sha256', sql`octet_length(${t.hash}) = 32`)],
);

/**
 * One signed checkpoint (a C2SP tlog-checkpoint in a C2SP signed note) per group commit that grew
 * the tree, keyed by the tree size it commits to. Append-only.
 */
export const ledgerCheckpoints = pgTable(
  'ledger_checkpoints',
  {
    treeSize: bigint('tree_size', { mode: 'number' }).primaryKey(),
    rootHash: bytes('root_hash').notNull(),
    note: text('note').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  },
  (t) => [
    check('ledger_checkpoints_sha256', sql`octet_length(${t.rootHash}) = 32`),
    check('ledger_checkpoints_not_empty', sql`${t.treeSize} > 0`),
  ],
);
