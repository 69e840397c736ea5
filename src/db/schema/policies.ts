import { bigint, index, integer, jsonb, pgTable, serial, text, timestamp } from 'drizzle-orm/pg-core';

/** Every policy ever loaded; the row with the highest id is the active one. */
export const policies = pgTable(
  'policies',
  {
    id: serial('id').primaryKey(),
    name: text('name').notNull(),
    policyVersion: text('policy_version').notNull(),
    mode: text('mode').notNull(),
    hash: text('hash').notNull(),
    document: jsonb('document').$type<Record<string, unknown>>().notNull(),
    termsCount: integer('terms_count').notNull(),
    relationsCount: integer('relations_count').notNull(),
    loadedAt: timestamp('loaded_at', { withTimezone: true, precision: 3 }).notNull(),
    loadedBy: text('loaded_by').notNull(),
    ledgerSeq: bigint('ledger_seq', { mode: 'number' }).notNull(),
  },
  (t) => [index('policies_hash_idx').on(t.hash)],
);

export type PolicyRow = typeof policies.$inferSelect;
