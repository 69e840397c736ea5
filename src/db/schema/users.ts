import { sql } from 'drizzle-orm';
import { bigint, check, index, integer, pgTable, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

const at = (name: string) => timestamp(name, { withTimezone: true, precision: 3 });

/**
 * People who sign in. Passwords are stored only as scrypt hashes (PHC-style strings carrying their
 * parameters). The TOTP secret must be readable to check codes; `mfa_last_step` is the last time
 * step accepted, so a code cannot be used twice.
 */
export const users = pgTable(
  'users',
  {
    id: text('id').primaryKey(),
    username: text('username').notNull(),
    role: text('role').notNull(),
    passwordHash: text('password_hash').notNull(),
    createdAt: at('created_at').notNull(),
    createdBy: text('created_by').notNull(),
    disabledAt: at('disabled_at'),
    mfaSecret: text('mfa_secret'),
    mfaEnabledAt: at('mfa_enabled_at'),
    mfaLastStep: bigint('mfa_last_step', { mode: 'number' }),
  },
  (t) => [
    uniqueIndex('users_username_key').on(t.username),
    check('users_role_check', sql`${t.role} in ('admin', 'auditor', 'agent')`),
  ],
);

/** One-time MFA backup codes, stored as SHA-256 of the code; `used_at` set on first use. */
export const backupCodes = pgTable(
  'backup_codes',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    codeHash: text('code_hash').notNull(),
    createdAt: at('created_at').notNull(),
    usedAt: at('used_at'),
  },
  (t) => [uniqueIndex('backup_codes_code_hash_key').on(t.userId, t.codeHash)],
);

/**
 * Signed-in sessions. The token is 256 random bits, stored as its SHA-256. A session is `pending`
 * until a user with MFA has verified a code, and `active` after. It ends at `expires_at` (absolute),
 * after the idle timeout since `last_seen_at`, or when revoked.
 */
export const sessions = pgTable(
  'sessions',
  {
    id: text('id').primaryKey(),
    userId: text('user_id')
      .notNull()
      .references(() => users.id),
    tokenHash: text('token_hash').notNull(),
    state: text('state').notNull(),
    createdAt: at('created_at').notNull(),
    lastSeenAt: at('last_seen_at').notNull(),
    expiresAt: at('expires_at').notNull(),
    revokedAt: at('revoked_at'),
    endReason: text('end_reason'),
  },
  (t) => [
    uniqueIndex('sessions_token_hash_key').on(t.tokenHash),
    index('sessions_user_id_idx').on(t.userId),
    check('sessions_state_check', sql`${t.state} in ('pending', 'active')`),
  ],
);

/**
 * Token buckets shared by every replica: `tokens` left as of `updated_ms` (epoch milliseconds);
 * refill is computed from the elapsed time in the same statement that takes a token.
 */
export const rateLimitBuckets = pgTable('rate_limit_buckets', {
  key: text('key').primaryKey(),
  tokensMilli: integer('tokens_milli').notNull(),
  updatedMs: bigint('updated_ms', { mode: 'number' }).notNull(),
});

/** Consecutive failed sign-ins per account and source, for the growing delay before the next try. */
export const loginFailures = pgTable('login_failures', {
  key: text('key').primaryKey(),
  failures: integer('failures').notNull(),
  lastFailureMs: bigint('last_failure_ms', { mode: 'number' }).notNull(),
});

export type UserRow = typeof users.$inferSelect;
export type SessionRow = typeof sessions.$inferSelect;
