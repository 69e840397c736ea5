import { sql } from 'drizzle-orm';
import { bigint, check, index, integer, jsonb, pgTable, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

/**
 * The one append-only chain. `seq` is the entry's index (0 = genesis); the primary key and the
 * insert trigger (see the custom migration) make forks and gaps impossible, and UPDATE, DELETE and
 * TRUNCATE are refused by the database itself.
 */
export const ledgerEntries = pgTable(
  'ledger_entries',
  {
    seq: bigint('seq', { mode: 'number' }).primaryKey(),
    entryId: text('entry_id').notNull(),
    eventType: text('event_type').notNull(),
    timestamp: timestamp('timestamp', { withTimezone: true, precision: 3 }).notNull(),
    data: jsonb('data').$type<Record<string, unknown>>().notNull(),
    previousHash: text('previous_hash').notNull(),
    entryHash: text('entry_hash').notNull(),
    /**
     * Ed25519 over entry_hash, and its key's id: entries written before the Merkle tree were signed
     * one by one; newer ones are null, signed by their group commit's checkpoint instead.
     */
    signature: text('signature'),
    keyId: text('key_id'),
    /**
     * Size of `data` as the JSON text the database sends, kept by the database itself, so a page
     * can be cut by bytes before any `data` leaves it (src/ledger/entry-page.ts).
     */
    dataBytes: integer('data_bytes').notNull().generatedAlwaysAs(sql`octet_length(data::text)`),
  },
  (t) => [
    check('ledger_entries_signed_with_key', sql`(${t.signature} is null) = (${t.keyId} is null)`),
    uniqueIndex('ledger_entries_entry_id_key').on(t.entryId),
    uniqueIndex('ledger_entries_entry_hash_key').on(t.entryHash),
    index('ledger_entries_event_type_seq_idx').on(t.eventType, t.seq),
    uniqueIndex('ledger_decisions_decision_id_key')
      .on(sql`(${t.data}->>'decision_id')`)
      .where(sql`event_type = 'decision'`),
    index('ledger_decisions_actor_idx').on(sql`(${t.data}->>'actor')`, t.seq).where(sql`event_type = 'decision'`),
    index('ledger_decisions_timestamp_idx').on(t.timestamp).where(sql`event_type = 'decision'`),
  ],
);

export type LedgerRow = typeof ledgerEntries.$inferSelect;
