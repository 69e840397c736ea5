import { sql } from 'drizzle-orm';
import { boolean, check, integer, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * Feature flags set at run time; they override the defaults from configuration. `rollout_percent`
 * of stable keys (0–100) see the flag on when it is enabled.
 */
export const featureFlags = pgTable(
  'feature_flags',
  {
    name: text('name').primaryKey(),
    enabled: boolean('enabled').notNull(),
    rolloutPercent: integer('rollout_percent').notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true, precision: 3 }).notNull(),
    updatedBy: text('updated_by').notNull(),
  },
  (t) => [check('feature_flags_rollout_check', sql`${t.rolloutPercent} between 0 and 100`)],
);

export type FeatureFlagRow = typeof featureFlags.$inferSelect;
