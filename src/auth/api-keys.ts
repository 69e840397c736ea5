import { desc, eq } from 'drizzle-orm';
import type { Db } from '../db/client';
import { type ApiKeyRow, apiKeys } from '../db/schema';
import { newId, newSecret } from '../ids';
import { sha256Hex } from '../ledger/crypto';
import type { Ledger } from '../ledger/store';
import type { Telemetry } from '../telemetry/telemetry';
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
  /** Makes `secret` a valid admin key (idempotent); a bootstrap key revoked earlier stays revoked. */
  ensureBootstrapAdmin(secret: string): Promise<'created' | 'exists' | 'revoked'>;
  /** Lookups answered from the cache since start, for the health check. */
  cacheStats(): { hits: number; misses: number; items: number };
}

export interface ApiKeyStoreOptions {
  db: Db;
  ledger: Ledger;
  telemetry: Telemetry;
  /** How long a successful lookup is reused; a local revocation drops it at once. */
  cacheTtlMs?: number;
  now?: () => number;
}

const KEY_PREFIX = 'lxk_';
const CACHE_NAME = 'api_keys' as const;
const CACHE_LIMIT = 10_000;

export function createApiKeyStore(options: ApiKeyStoreOptions): ApiKeyStore {
  const { db, ledger, telemetry } = options;
  const ttl = options.cacheTtlMs ?? 5_000;
  const now = options.now ?? Date.now;
  // Only positive lookups are cached, so guessing random keys cannot grow it; bounded anyway.
  const cache = new Map<string, { principal: Principal; expiresAt: number }>();
  telemetry.observeCache(CACHE_NAME, () => ({ items: cache.size, bytes: 0 }));
  const stats = { hits: 0, misses: 0 };

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

  return {
    async authenticate(secret) {
      // Keyed by the presented secret itself, so a hit costs no hashing; the process holds each
      // secret while serving its request anyway.
      const cached = telemetry.inSpan('cache.lookup', { 'cache.name': CACHE_NAME }, (span) => {
        const entry = cache.get(secret);
        span.set({ 'cache.hit': Boolean(entry && entry.expiresAt > now()) });
        return entry;
      });
      if (cached && cached.expiresAt > now()) {
        stats.hits++;
        telemetry.cacheLookup(CACHE_NAME, true);
        telemetry.authAttempt('api_key', 'success');
        return cached.principal;
      }
      stats.misses++;
      telemetry.cacheLookup(CACHE_NAME, false);
      cache.delete(secret);
      const hash = await sha256Hex(secret);
      const [row] = await db.select().from(apiKeys).where(eq(apiKeys.keyHash, hash)).limit(1);
      if (!row || row.revokedAt) {
        telemetry.authAttempt('api_key', 'failure', row ? 'revoked' : 'unknown_key');
        return undefined;
      }
      telemetry.authAttempt('api_key', 'success');
      const principal: Principal = { kind: 'api_key', id: row.id, name: row.name, role: row.role as Role };
      if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value as string);
      cache.set(secret, { principal, expiresAt: now() + ttl });
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
        return { ...row, revokedAt };
      });
      if (revoked) {
        for (const [secret, entry] of cache) if (entry.principal.id === id) cache.delete(secret);
      }
      return revoked && toInfo(revoked);
    },

    cacheStats: () => ({ ...stats, items: cache.size }),

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
