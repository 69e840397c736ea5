import { and, eq, gt, isNull, sql } from 'drizzle-orm';
import { createLruCache, type LruCache } from '../cache/lru';
import type { Db } from '../db/client';
import { type SessionRow, sessions, users } from '../db/schema';
import { newId, newSecret } from '../ids';
import { portableSha256Hex, type Sha256Hex } from '../ledger/crypto';
import type { Telemetry } from '../telemetry/telemetry';
import { announceEnded, type EndedCredential } from './invalidation';
import type { Principal, Role } from './permissions';
import type { SessionEndReason } from './vocabulary';

export const SESSION_PREFIX = 'lxs_';

export interface SessionSettings {
  /** A session unused for this long has ended. */
  idleMs: number;
  /** A session ends this long after sign-in, however busy. */
  maxAgeMs: number;
  /** A session waiting for its MFA code ends this long after the password was accepted. */
  pendingMs: number;
}

export const DEFAULT_SESSION_SETTINGS: SessionSettings = {
  idleMs: 30 * 60_000,
  maxAgeMs: 12 * 3_600_000,
  pendingMs: 5 * 60_000,
};

export type SessionRejection = 'unknown_key' | 'expired' | 'revoked' | 'disabled';

export interface SessionStore {
  /** Starts a session; the token is returned only here and stored only as its SHA-256. */
  create(user: { id: string }, state: 'pending' | 'active'): Promise<{ token: string; session: SessionRow }>;
  /** The principal a token stands for, or why it stands for nobody. */
  authenticate(token: string): Promise<Principal | SessionRejection>;
  /** A pending session that passed MFA becomes a full one. */
  activate(sessionId: string): Promise<void>;
  /** Ends one session (logout) or every session of a user (disable); idempotent. */
  end(sessionId: string, reason: SessionEndReason): Promise<void>;
  endAllOf(userId: string, reason: SessionEndReason): Promise<void>;
  /** Sessions neither ended, expired nor idle: the real state behind lexecon_active_sessions. */
  countActive(): Promise<number>;
  readonly cache: LruCache<string, Principal & { expiresAt: number; idleFrom: number }>;
}

export interface SessionStoreOptions {
  db: Db;
  telemetry: Telemetry;
  settings?: SessionSettings;
  /** The runtime's fastest synchronous SHA-256: every request with a session token hashes it. */
  sha256?: Sha256Hex;
  now?: () => number;
}

// A session seen again within this long is not written back: last_seen_at is accurate to it.
const TOUCH_EVERY_MS = 60_000;
// A cached session is re-read this often, so an end on another instance takes effect within it.
const CACHE_TTL_MS = 5_000;

export function createSessionStore(options: SessionStoreOptions): SessionStore {
  const { db, telemetry } = options;
  const settings = options.settings ?? DEFAULT_SESSION_SETTINGS;
  const now = options.now ?? Date.now;
  const sha256 = options.sha256 ?? portableSha256Hex;
  const cache = createLruCache<string, Principal & { expiresAt: number; idleFrom: number }>({
    name: 'sessions',
    maxItems: 10_000,
    maxBytes: 4 * 1024 * 1024,
    ttlMs: CACHE_TTL_MS,
    sizeOf: () => 400,
    telemetry,
    now,
  });

  async function finish(where: ReturnType<typeof and>, reason: SessionEndReason, announce: EndedCredential[]) {
    const at = new Date(now());
    const ended = await db.transaction(async (tx) => {
      const rows = await tx
        .update(sessions)
        .set({ revokedAt: at, endReason: reason })
        .where(and(where, isNull(sessions.revokedAt)))
        .returning({ id: sessions.id, createdAt: sessions.createdAt });
      for (const credential of announce) await announceEnded(tx, credential);
      return rows;
    });
    for (const row of ended) {
      cache.deleteWhere((principal) => principal.id === row.id);
      telemetry.sessionEnded(reason, (at.getTime() - row.createdAt.getTime()) / 1000);
    }
  }

  /** Why a stored session no longer stands for anyone, or undefined while it does. */
  function ended(row: { expiresAt: Date; lastSeenAt: Date; revokedAt: Date | null }, at: number) {
    if (row.revokedAt) return 'revoked' as const;
    if (row.expiresAt.getTime() <= at) return 'expired' as const;
    if (row.lastSeenAt.getTime() + settings.idleMs <= at) return 'idle' as const;
    return undefined;
  }

  return {
    cache,

    async create(user, state) {
      const token = `${SESSION_PREFIX}${newSecret(32)}`;
      const at = new Date(now());
      const row: SessionRow = {
        id: newId('ses'),
        userId: user.id,
        tokenHash: sha256(token),
        state,
        createdAt: at,
        lastSeenAt: at,
        expiresAt: new Date(at.getTime() + (state === 'pending' ? settings.pendingMs : settings.maxAgeMs)),
        revokedAt: null,
        endReason: null,
      };
      await db.insert(sessions).values(row);
      return { token, session: row };
    },

    async authenticate(token) {
      // Keyed by the token's hash, so the cache never holds a usable secret.
      const hash = sha256(token);
      const at = now();
      const cached = cache.get(hash);
      if (cached && cached.expiresAt > at && cached.idleFrom + settings.idleMs > at) return cached;
      const [found] = await db
        .select({ session: sessions, user: users })
        .from(sessions)
        .innerJoin(users, eq(users.id, sessions.userId))
        .where(eq(sessions.tokenHash, hash))
        .limit(1);
      if (!found) return 'unknown_key';
      const { session, user } = found;
      if (user.disabledAt) return 'disabled';
      const reason = ended(session, at);
      if (reason === 'revoked') return 'revoked';
      if (reason) {
        // Nobody else can be serving it from cache past its expiry: nothing to announce.
        await finish(eq(sessions.id, session.id), reason, []);
        return 'expired';
      }
      let idleFrom = session.lastSeenAt.getTime();
      if (at - idleFrom >= TOUCH_EVERY_MS) {
        await db
          .update(sessions)
          .set({ lastSeenAt: new Date(at) })
          .where(eq(sessions.id, session.id));
        idleFrom = at;
      }
      const principal = {
        kind: 'session' as const,
        id: session.id,
        name: user.username,
        role: user.role as Role,
        userId: user.id,
        pending: session.state === 'pending',
        expiresAt: session.expiresAt.getTime(),
        idleFrom,
      };
      cache.set(hash, principal);
      return principal;
    },

    async activate(sessionId) {
      const at = now();
      await db
        .update(sessions)
        .set({ state: 'active', expiresAt: new Date(at + settings.maxAgeMs), lastSeenAt: new Date(at) })
        .where(and(eq(sessions.id, sessionId), eq(sessions.state, 'pending'), isNull(sessions.revokedAt)));
      cache.deleteWhere((principal) => principal.id === sessionId);
    },

    end: (sessionId, reason) => finish(eq(sessions.id, sessionId), reason, [{ kind: 'session', id: sessionId }]),
    endAllOf: (userId, reason) => finish(eq(sessions.userId, userId), reason, [{ kind: 'user', id: userId }]),

    async countActive() {
      const at = now();
      const [row] = await db
        .select({ count: sql<number>`count(*)::int` })
        .from(sessions)
        .where(
          and(
            isNull(sessions.revokedAt),
            gt(sessions.expiresAt, new Date(at)),
            gt(sessions.lastSeenAt, new Date(at - settings.idleMs)),
          ),
        );
      return row?.count ?? 0;
    },
  };
}
