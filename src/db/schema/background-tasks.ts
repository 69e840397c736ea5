import { jsonb, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * Leases for background work that one instance at a time should do (e.g. ledger verification),
 * with the work's shared state, so any instance can take over and every instance can report it.
 */
export const backgroundTasks = pgTable('background_tasks', {
  name: text('name').primaryKey(),
  holder: text('holder').notNull(),
  leaseUntil: timestamp('lease_until', { withTimezone: true, precision: 3 }).notNull(),
  state: jsonb('state').$type<Record<string, unknown>>().notNull(),
});

export type BackgroundTaskRow = typeof backgroundTasks.$inferSelect;
