import { sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { rowsOf } from '../db/sql';
import { portableSha256Hex } from '../ledger/crypto';
import { type BucketRule, type BucketState, fullAfterMs, refill, type TakeOutcome, takeTokens } from './token-bucket';

/** Where buckets live. `take` refills and takes in one indivisible step: no lost updates. */
export interface BucketStore {
  take(key: string, cost: number, rule: BucketRule, nowMs: number): Promise<TakeOutcome>;
}

export interface MemoryBucketStoreOptions {
  /** Most buckets kept; the least recently used goes first. Default 50,000 (a few MB). */
  maxKeys?: number;
}

/**
 * Buckets in this process. JavaScript runs one request's `take` to completion before another's, so
 * the read-modify-write needs no lock (and so cannot deadlock). Memory is bounded: a Map kept in
 * least-recently-used order, capped, and swept of buckets that have refilled (a full bucket is the
 * same as none).
 */
export function createMemoryBucketStore(options: MemoryBucketStoreOptions = {}): BucketStore & { size(): number } {
  const maxKeys = options.maxKeys ?? 50_000;
  const buckets = new Map<string, BucketState>();
  let takesSinceSweep = 0;

  function sweep(nowMs: number, rule: BucketRule) {
    const idleMs = fullAfterMs(rule);
    let looked = 0;
    for (const [key, state] of buckets) {
      if (++looked > 256) break;
      if (nowMs - state.updatedMs >= idleMs) buckets.delete(key);
    }
  }

  return {
    async take(key, cost, rule, nowMs) {
      const outcome = takeTokens(buckets.get(key), nowMs, rule, cost);
      buckets.delete(key);
      buckets.set(key, outcome.state);
      if (++takesSinceSweep >= 128) {
        takesSinceSweep = 0;
        sweep(nowMs, rule);
      }
      while (buckets.size > maxKeys) buckets.delete(buckets.keys().next().value as string);
      return outcome;
    },
    size: () => buckets.size,
  };
}

export interface PostgresBucketStoreOptions {
  db: Db;
  /** How often rows that have refilled are deleted (by whichever request comes first). Default 60 s. */
  pruneEveryMs?: number;
  /** Told when a background prune fails; it is retried on the next interval. */
  onPruneError?: (err: unknown) => void;
}

/**
 * Buckets in the `rate_limit_buckets` table, shared by every instance on the database. One
 * INSERT … ON CONFLICT DO UPDATE refills and takes under the row lock PostgreSQL takes for the
 * conflict, so concurrent requests on any instance serialise per key and never lose an update. The
 * update's WHERE refuses the take when the bucket is short: no row comes back, and the bucket is read
 * once more only to say when to retry.
 */
export function createPostgresBucketStore(options: PostgresBucketStoreOptions): BucketStore {
  const { db } = options;
  const pruneEveryMs = options.pruneEveryMs ?? 60_000;
  const lastPrune = new Map<string, number>();

  function maybePrune(key: string, nowMs: number, rule: BucketRule) {
    // Keys are `<limiter>:<hash>`; each limiter prunes its own rows with its own refill time.
    const prefix = key.slice(0, key.indexOf(':') + 1);
    if (nowMs - (lastPrune.get(prefix) ?? Number.NEGATIVE_INFINITY) < pruneEveryMs) return;
    lastPrune.set(prefix, nowMs);
    const before = nowMs - fullAfterMs(rule);
    db.execute(
      sql`delete from rate_limit_buckets where starts_with(key, ${prefix}) and updated_ms < ${before}::bigint`,
    ).catch((err) => options.onPruneError?.(err));
  }

  return {
    async take(limiterKey, cost, rule, nowMs) {
      // `<limiter>:<caller>` is stored as `<limiter>:<hash>`: no address or account name in the table.
      const split = limiterKey.indexOf(':') + 1;
      const key = `${limiterKey.slice(0, split)}${hashKey(limiterKey.slice(split))}`;
      const capacityMilli = rule.capacity * 1000;
      const costMilli = cost * 1000;
      const rate = sql`${rule.refillPerSecond}::float8`;
      const now = sql`${nowMs}::bigint`;
      // The same arithmetic as refill() in token-bucket.ts, on the locked row.
      const gained = sql`floor(greatest(0, ${now} - b.updated_ms) * ${rate})::bigint`;
      const available = sql`least(${capacityMilli}::bigint, b.tokens_milli + ${gained})`;
      const rows = rowsOf<{ tokens_milli: number }>(
        await db.execute(sql`
          insert into rate_limit_buckets as b (key, tokens_milli, updated_ms)
          values (${key}, ${capacityMilli - costMilli}::integer, ${now})
          on conflict (key) do update set
            tokens_milli = (${available} - ${costMilli})::integer,
            updated_ms = case
              when b.tokens_milli + ${gained} >= ${capacityMilli} then greatest(${now}, b.updated_ms)
              else b.updated_ms + floor(${gained} / ${rate})::bigint
            end
          where ${available} >= ${costMilli}
          returning tokens_milli, updated_ms::float8 as updated_ms`),
      );
      maybePrune(key, nowMs, rule);
      const taken = rows[0] as { tokens_milli: number; updated_ms: number } | undefined;
      if (taken) {
        return {
          allowed: true,
          state: { tokensMilli: Number(taken.tokens_milli), updatedMs: Number(taken.updated_ms) },
        };
      }
      const current = rowsOf<{ tokens_milli: number; updated_ms: number }>(
        await db.execute(
          sql`select tokens_milli, updated_ms::float8 as updated_ms from rate_limit_buckets where key = ${key}`,
        ),
      )[0];
      const state = current
        ? refill({ tokensMilli: Number(current.tokens_milli), updatedMs: Number(current.updated_ms) }, nowMs, rule)
        : { tokensMilli: capacityMilli, updatedMs: nowMs };
      return { allowed: false, state };
    },
  };
}

/**
 * A key as a SHA-256 prefix: bounded in size whatever the caller passes, and no client address or
 * account name written where it is shared. 128 bits keep collisions out of reach.
 */
export function hashKey(key: string): string {
  return portableSha256Hex(key).slice(0, 32);
}
