import { desc, eq } from 'drizzle-orm';
import { type CacheStatsSource, createLruCache, estimateBytes } from '../cache/lru';
import type { Db } from '../db/client';
import { type ApiKeyRow, apiKeys } from '../db/schema';
import { newId, newSecret } from '../ids';
import { portableSha256Hex, type Sha256Hex, sha256Hex } from '../ledger/crypto';
import type { Ledger } from '../ledger/store';
import type { Telemetry } from '../telemetry/telemetry';
import { announceEnded } from './invalidation';
import type { Principal, Role } from './permissions';

export interface ApiKeyInfo {
  id: string;
  name: string;
  role: Role;
  created_at: string;
  created_by: string;
  revoked_at: string | null;
}

export interface ApiKeyStore {
  /** The principal for a presented secret, or undefined when it is unknown or revoked. */
  authenticate(secret: string): Promise<Principal | undefined>;
  create(input: { name: string; role: Role; createdBy: string }): Promise<{ key: ApiKeyInfo; secret: string }>;
  list(): Promise<ApiKeyInfo[]>;
  /** Revokes a key; undefined when no such key exists. Revoking twice keeps the first time. */
  revoke(id: string, revokedBy: string): Promise<ApiKeyInfo | undefined>;
  /** Drops a key revoked elsewhere from this instance's cache. */
  forget(id: string): void;
  /** Makes `secret` a valid admin key (idempotent); a bootstrap key revoked earlier stays revoked. */
  ensureBootstrapAdmin(secret: string): Promise<'created' | 'exists' | 'revoked'>;
  /** The cache of recent successful lookups, for the health check. */
  readonly cache: CacheStatsSource;
}

export interface ApiKeyStoreOptions {
  db: Db;
  ledger: Ledger;
  telemetry: Telemetry;
  /**
   * How long a successful lookup is reused. A revocation on this instance drops it at once; one on
   * another instance takes effect here within this time (see README, API keys).
   */
  cacheTtlMs?: number;
  /** A synchronous SHA-256, so that a cache hit costs no await. */
  sha256?: Sha256Hex;
  now?: () => number;
}

const KEY_PREFIX = 'lxk_';
const CACHE_NAME = 'api_keys' as const;
const CACHE_ITEMS = 10_000;
const CACHE_BYTES = 4 * 1024 * 1024;

export function createApiKeyStore(options: ApiKeyStoreOptions): ApiKeyStore {
  const { db, ledger, telemetry } = options;
  const now = options.now ?? Date.now;
  const sha256 = options.sha256 ?? portableSha256Hex;
  // Keyed by the secret's SHA-256 (what the table stores), never the secret, so the heap holds no
  // usable credential. Only successful lookups are cached: guessing random keys cannot grow it.
  // Other instances' revocations are not pushed here (a LISTEN connection is not available on
  // every runtime, e.g. Workers through Hyperdrive), so the TTL is kept short instead.
  const cache = createLruCache<string, Principal>({
    name: CACHE_NAME,
    maxItems: CACHE_ITEMS,
    maxBytes: CACHE_BYTES,
    ttlMs: options.cacheTtlMs ?? 5_000,
    sizeOf: estimateBytes,
    telemetry,
    now,
  });
  // Bumped by every revocation, so a lookup that read the row before a revocation committed does
  // not cache what it read after the revocation has cleared the cache.
  let revocations = 0;

  async function insert(row: typeof apiKeys.$inferInsert, bootstrap: boolean) {
    await db.transaction(async (tx) => {
      await tx.insert(apiKeys).values(row);
      await ledger.appendInTransaction(tx, [
        {
          eventType: 'api_key_created',
          data: { key_id: row.id, name: row.name, role: row.role, created_by: row.createdBy, bootstrap },
          timestamp: row.createdAt,
        },
      ]);
    });
  }

  function forget(id: string) {
    revocations++;
    cache.deleteWhere((principal) => principal.id === id);
  }

  return {
    async authenticate(secret) {
      const hash = sha256(secret);
      const cached = cache.get(hash);
      if (cached) {
        telemetry.authAttempt('api_key', 'success');
        return cached;
      }
      const revocationsBefore = revocations;
      const [row] = await db.select().from(apiKeys).where(eq(apiKeys.keyHash, hash)).limit(1);
      if (!row || row.revokedAt) {
        telemetry.authAttempt('api_key', 'failure', row ? 'revoked' : 'unknown_key');
        return undefined;
      }
      telemetry.authAttempt('api_key', 'success');
      const principal: Principal = { kind: 'api_key', id: row.id, name: row.name, role: row.role as Role };
      if (revocations === revocationsBefore) cache.set(hash, principal);
      return principal;
    },

    async create({ name, role, createdBy }) {
      const secret = `${KEY_PREFIX}${newSecret(32)}`;
      const row = {
        id: newId('key'),
        name,
        role,
        keyHash: await sha256Hex(secret),
        createdAt: new Date(now()),
        createdBy,
      };
      await insert(row, false);
      return { key: toInfo({ ...row, revokedAt: null }), secret };
    },

    async list() {
      const rows = await db.select().from(apiKeys).orderBy(desc(apiKeys.createdAt));
      return rows.map(toInfo);
    },

    async revoke(id, revokedBy) {
      const revoked = await db.transaction(async (tx) => {
        const [row] = await tx.select().from(apiKeys).where(eq(apiKeys.id, id)).for('update');
        if (!row || row.revokedAt) return row;
        const revokedAt = new Date(now());
        await tx.update(apiKeys).set({ revokedAt }).where(eq(apiKeys.id, id));
        await ledger.appendInTransaction(tx, [
          {
            eventType: 'api_key_revoked',
            data: { key_id: id, name: row.name, role: row.role, revoked_by: revokedBy },
            timestamp: revokedAt,
          },
        ]);
        await announceEnded(tx, { kind: 'api_key', id });
        return { ...row, revokedAt };
      });
      if (revoked) forget(id);
      return revoked && toInfo(revoked);
    },

    forget,

    cache,

    async ensureBootstrapAdmin(secret) {
      const keyHash = await sha256Hex(secret);
      const [existing] = await db.select().from(apiKeys).where(eq(apiKeys.keyHash, keyHash)).limit(1);
      if (existing) return existing.revokedAt ? 'revoked' : 'exists';
      try {
        await insert(
          {
            id: newId('key'),
            name: 'bootstrap admin',
            role: 'admin',
            keyHash,
            createdAt: new Date(now()),
            createdBy: 'bootstrap',
          },
          true,
        );
        return 'created';
      } catch (err) {
        // Another instance registered it between our read and insert.
        const [raced] = await db.select().from(apiKeys).where(eq(apiKeys.keyHash, keyHash)).limit(1);
        if (raced) return raced.revokedAt ? 'revoked' : 'exists';
        throw err;
      }
    },
  };
}

function toInfo(row: ApiKeyRow): ApiKeyInfo {
  return {
    id: row.id,
    name: row.name,
    role: row.role as Role,
    created_at: row.createdAt.toISOString(),
    created_by: row.createdBy,
    revoked_at: row.revokedAt ? row.revokedAt.toISOString() : null,
  };
}
