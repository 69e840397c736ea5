import { and, asc, eq, isNull, lt, or, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { isUniqueViolation } from '../db/errors';
import { backupCodes, type UserRow, users } from '../db/schema';
import { AppError } from '../errors';
import { newId } from '../ids';
import { sha256Hex } from '../ledger/crypto';
import type { Ledger } from '../ledger/store';
import type { Telemetry } from '../telemetry/telemetry';
import type { PasswordHasher } from './password';
import type { Role } from './permissions';
import { fromBase32, matchTotp, newTotpSecret, otpauthUri, toBase32 } from './totp';
import type { MfaCheck } from './vocabulary';

export interface UserInfo {
  id: string;
  username: string;
  role: Role;
  created_at: string;
  created_by: string;
  disabled_at: string | null;
  mfa_enabled: boolean;
}

export interface UserStore {
  /** Throws AppError CONFLICT when the username is taken. */
  create(input: { username: string; password: string; role: Role; createdBy: string }): Promise<UserInfo>;
  list(): Promise<UserInfo[]>;
  get(id: string): Promise<UserRow | undefined>;
  /**
   * The user whose password this is, or why not; spends the same time for unknown usernames. Throws
   * HashingBusyError, before looking the name up, when the hashing line is full.
   */
  checkPassword(
    username: string,
    password: string,
  ): Promise<{ user: UserRow } | { user?: UserRow; reason: 'invalid_credentials' | 'disabled' }>;
  /** Disables a user; undefined when no such user. Their sessions are ended by the caller. */
  disable(id: string, disabledBy: string): Promise<UserInfo | undefined>;
  /** Creates the first admin when no user exists at all; otherwise changes nothing. */
  ensureBootstrapAdmin(username: string, password: string): Promise<'created' | 'users_exist'>;
  /** Starts (or restarts, while not yet confirmed) TOTP enrollment: a new secret, not yet required. */
  beginMfa(user: UserRow): Promise<{ secret: string; otpauthUri: string } | 'already_enabled'>;
  /** Confirms enrollment with a first code; returns the one-time backup codes, shown only now. */
  confirmMfa(
    user: UserRow,
    code: string,
  ): Promise<{ backupCodes: string[] } | 'not_started' | 'already_enabled' | MfaCheck>;
  /** Checks a TOTP code (each time step accepted once) or an unused backup code (used up). */
  verifyMfa(user: UserRow, code: string): Promise<MfaCheck>;
}

export interface UserStoreOptions {
  db: Db;
  ledger: Ledger;
  telemetry: Telemetry;
  passwords: PasswordHasher;
  /** Shown by authenticator apps next to the account. */
  issuer?: string;
  now?: () => number;
}

const BACKUP_CODE_COUNT = 10;
const BACKUP_CODE = /^[a-z0-9]{5}-[a-z0-9]{5}$/;
// When to try clearing a secret whose enrollment failed: at once, then as a stalled database returns.
const FORGET_SECRET_AFTER_MS = [0, 1_000, 5_000, 15_000];

export function createUserStore(options: UserStoreOptions): UserStore {
  const { db, ledger, passwords } = options;
  const now = options.now ?? Date.now;
  const issuer = options.issuer ?? 'Lexecon';

  /**
   * Best effort, in the background: an enrollment whose write failed may still have committed (the
   * server's answer lost on a silent network), leaving a secret nobody was shown. Clears exactly
   * that secret, unless it was confirmed or replaced meanwhile; a failed try waits for the next.
   */
  function forgetPendingSecret(userId: string, secret: string, attempt = 0): void {
    const delay = FORGET_SECRET_AFTER_MS[attempt];
    if (delay === undefined) return;
    const timer = setTimeout(() => {
      db.update(users)
        .set({ mfaSecret: null })
        .where(and(eq(users.id, userId), eq(users.mfaSecret, secret), isNull(users.mfaEnabledAt)))
        .then(
          () => {},
          () => forgetPendingSecret(userId, secret, attempt + 1),
        );
    }, delay);
    // Never what keeps a process alive.
    (timer as { unref?: () => void }).unref?.();
  }

  async function insertUser(
    input: { username: string; password: string; role: Role; createdBy: string },
    bootstrap: boolean,
  ) {
    const row = {
      id: newId('usr'),
      username: input.username,
      role: input.role,
      passwordHash: await passwords.hash(input.password),
      createdAt: new Date(now()),
      createdBy: input.createdBy,
    };
    await db.transaction(async (tx) => {
      await tx.insert(users).values(row);
      await ledger.appendInTransaction(tx, [
        {
          eventType: 'user_created',
          data: { user_id: row.id, username: row.username, role: row.role, created_by: row.createdBy, bootstrap },
          timestamp: row.createdAt,
        },
      ]);
    });
    return row;
  }

  return {
    async create(input) {
      const row = await insertUser(input, false).catch((err: unknown) => {
        if (isUniqueViolation(err)) throw new AppError('CONFLICT', `The username ${input.username} is taken`);
        throw err;
      });
      return toInfo({ ...row, disabledAt: null, mfaSecret: null, mfaEnabledAt: null, mfaLastStep: null });
    },

    async list() {
      return (await db.select().from(users).orderBy(asc(users.username))).map(toInfo);
    },

    async get(id) {
      const [row] = await db.select().from(users).where(eq(users.id, id)).limit(1);
      return row;
    },

    async checkPassword(username, password) {
      const { account: user, matches } = await passwords.check(password, async () => {
        const [row] = await db.select().from(users).where(eq(users.username, username)).limit(1);
        return row;
      });
      if (!user) return { reason: 'invalid_credentials' };
      if (!matches) return { user, reason: 'invalid_credentials' };
      // Checked after the password, so a disabled account is revealed only to someone who knows it.
      if (user.disabledAt) return { user, reason: 'disabled' };
      return { user };
    },

    async disable(id, disabledBy) {
      const disabled = await db.transaction(async (tx) => {
        const [row] = await tx.select().from(users).where(eq(users.id, id)).for('update');
        if (!row || row.disabledAt) return row;
        const disabledAt = new Date(now());
        await tx.update(users).set({ disabledAt }).where(eq(users.id, id));
        await ledger.appendInTransaction(tx, [
          {
            eventType: 'user_disabled',
            data: { user_id: id, username: row.username, disabled_by: disabledBy },
            timestamp: disabledAt,
          },
        ]);
        return { ...row, disabledAt };
      });
      return disabled && toInfo(disabled);
    },

    async ensureBootstrapAdmin(username, password) {
      const [{ count } = { count: 0 }] = await db.select({ count: sql<number>`count(*)::int` }).from(users);
      if (count > 0) return 'users_exist';
      try {
        await insertUser({ username, password, role: 'admin', createdBy: 'bootstrap' }, true);
        return 'created';
      } catch (err) {
        // Another instance starting at the same moment created it first.
        const [again] = await db.select({ id: users.id }).from(users).limit(1);
        if (again) return 'users_exist';
        throw err;
      }
    },

    async beginMfa(user) {
      if (user.mfaEnabledAt) return 'already_enabled';
      const secret = newTotpSecret();
      const encoded = toBase32(secret);
      let updated: { id: string } | undefined;
      try {
        [updated] = await db
          .update(users)
          .set({ mfaSecret: encoded, mfaLastStep: null })
          .where(and(eq(users.id, user.id), isNull(users.mfaEnabledAt)))
          .returning({ id: users.id });
      } catch (err) {
        forgetPendingSecret(user.id, encoded);
        throw err;
      }
      if (!updated) return 'already_enabled';
      options.telemetry.mfaChallenged();
      return { secret: encoded, otpauthUri: otpauthUri(secret, user.username, issuer) };
    },

    async confirmMfa(user, code) {
      const [fresh] = await db.select().from(users).where(eq(users.id, user.id)).limit(1);
      if (!fresh) return 'not_started';
      if (fresh.mfaEnabledAt) return 'already_enabled';
      if (!fresh.mfaSecret) return 'not_started';
      const step = matchTotp(fromBase32(fresh.mfaSecret), code, now());
      if (step === undefined) return 'invalid_code';
      const codes = Array.from({ length: BACKUP_CODE_COUNT }, newBackupCode);
      const enabledAt = new Date(now());
      const confirmed = await db.transaction(async (tx) => {
        const [row] = await tx
          .update(users)
          .set({ mfaEnabledAt: enabledAt, mfaLastStep: step })
          .where(and(eq(users.id, user.id), isNull(users.mfaEnabledAt), eq(users.mfaSecret, fresh.mfaSecret as string)))
          .returning({ id: users.id });
        if (!row) return false;
        await tx.insert(backupCodes).values(
          await Promise.all(
            codes.map(async (backup) => ({
              id: newId('bkc'),
              userId: user.id,
              codeHash: await sha256Hex(backup),
              createdAt: enabledAt,
            })),
          ),
        );
        await ledger.appendInTransaction(tx, [
          { eventType: 'mfa_enrolled', data: { user_id: user.id, method: 'totp' }, timestamp: enabledAt },
        ]);
        return true;
      });
      return confirmed ? { backupCodes: codes } : 'already_enabled';
    },

    async verifyMfa(user, code) {
      const normalized = code.trim().toLowerCase();
      if (BACKUP_CODE.test(normalized)) {
        const hash = await sha256Hex(normalized);
        const [used] = await db
          .update(backupCodes)
          .set({ usedAt: new Date(now()) })
          .where(and(eq(backupCodes.userId, user.id), eq(backupCodes.codeHash, hash), isNull(backupCodes.usedAt)))
          .returning({ id: backupCodes.id });
        return used ? 'backup_code' : 'invalid_code';
      }
      const [fresh] = await db.select().from(users).where(eq(users.id, user.id)).limit(1);
      if (!fresh?.mfaSecret || !fresh.mfaEnabledAt) return 'invalid_code';
      const step = matchTotp(fromBase32(fresh.mfaSecret), normalized, now());
      if (step === undefined) return 'invalid_code';
      // One statement takes the step only if it is newer than the last accepted: two concurrent
      // uses of one code cannot both succeed.
      const [accepted] = await db
        .update(users)
        .set({ mfaLastStep: step })
        .where(and(eq(users.id, user.id), or(isNull(users.mfaLastStep), lt(users.mfaLastStep, step))))
        .returning({ id: users.id });
      return accepted ? 'success' : 'replayed';
    },
  };
}

/** `xxxxx-xxxxx`: 50 random bits in base32, typed by hand, stored hashed, usable once. */
function newBackupCode(): string {
  const code = toBase32(crypto.getRandomValues(new Uint8Array(7))).toLowerCase();
  return `${code.slice(0, 5)}-${code.slice(5, 10)}`;
}

export function toInfo(row: UserRow): UserInfo {
  return {
    id: row.id,
    username: row.username,
    role: row.role as Role,
    created_at: row.createdAt.toISOString(),
    created_by: row.createdBy,
    disabled_at: row.disabledAt?.toISOString() ?? null,
    mfa_enabled: row.mfaEnabledAt !== null,
  };
}
