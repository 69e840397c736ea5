import { sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { rowsOf } from '../db/sql';
import { hashKey } from './bucket-store';
import { clientKey, parseIp } from './ip-address';

/**
 * A growing delay after failed sign-ins, per (account, source address) pair. Keyed on the pair, an
 * attacker elsewhere cannot slow the real user down; the delay is capped and forgotten after a quiet
 * window, so no one is locked out for good. Brute force across many accounts from one address is
 * the per-address `login` limiter's job.
 */
export interface LoginThrottle {
  /** Call before checking the password (the answer does not depend on whether the account exists). */
  check(username: string, ip: string): Promise<{ allowed: true } | { allowed: false; retryAfterSeconds: number }>;
  failed(username: string, ip: string): Promise<void>;
  succeeded(username: string, ip: string): Promise<void>;
}

export interface LoginThrottleOptions {
  store?: 'memory' | 'postgres';
  /** Required for the `postgres` store. */
  db?: Db;
  now?: () => number;
  /** Failures allowed without any delay. Default 3. */
  freeFailures?: number;
  /** The delay after the first failure past the free ones; it doubles with each further failure. Default 1 s. */
  baseDelayMs?: number;
  /** The longest delay. Default 5 minutes. */
  maxDelayMs?: number;
  /** A pair with no failure for this long starts again from zero. Default 15 minutes. */
  forgetAfterMs?: number;
  /** Most pairs kept by the in-process store. Default 50,000. */
  maxKeys?: number;
}

interface FailureRecord {
  failures: number;
  lastFailureMs: number;
}

interface FailureStore {
  get(key: string): Promise<FailureRecord | undefined>;
  failed(key: string, nowMs: number): Promise<void>;
  clear(key: string): Promise<void>;
}

export const LOGIN_THROTTLE_DEFAULTS = {
  freeFailures: 3,
  baseDelayMs: 1_000,
  maxDelayMs: 300_000,
  forgetAfterMs: 900_000,
};

export function createLoginThrottle(options: LoginThrottleOptions = {}): LoginThrottle {
  const settings = { ...LOGIN_THROTTLE_DEFAULTS, ...definedOnly(options) };
  const now = options.now ?? Date.now;
  const store =
    options.store === 'postgres'
      ? createPostgresFailureStore(requireDb(options.db), settings.forgetAfterMs)
      : createMemoryFailureStore(options.maxKeys ?? 50_000, settings.forgetAfterMs);
  // Case and surrounding space do not make a new account name, nor a new address in the same IPv6
  // /64 a new source: neither makes a fresh pair.
  const keyOf = (username: string, ip: string) =>
    hashKey(`${username.trim().toLowerCase()}\u0000${clientKey(parseIp(ip))}`);

  function delayMs(failures: number): number {
    const over = failures - settings.freeFailures;
    if (over <= 0) return 0;
    return Math.min(settings.maxDelayMs, settings.baseDelayMs * 2 ** Math.min(over - 1, 30));
  }

  return {
    async check(username, ip) {
      const record = await store.get(keyOf(username, ip));
      const nowMs = now();
      if (!record || nowMs - record.lastFailureMs >= settings.forgetAfterMs) return { allowed: true };
      const waitMs = record.lastFailureMs + delayMs(record.failures) - nowMs;
      return waitMs <= 0 ? { allowed: true } : { allowed: false, retryAfterSeconds: Math.ceil(waitMs / 1000) };
    },
    async failed(username, ip) {
      await store.failed(keyOf(username, ip), now());
    },
    async succeeded(username, ip) {
      await store.clear(keyOf(username, ip));
    },
  };
}

function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function requireDb(db: Db | undefined): Db {
  if (!db) throw new Error('the postgres login throttle store needs a database');
  return db;
}

function createMemoryFailureStore(maxKeys: number, forgetAfterMs: number): FailureStore {
  const records = new Map<string, FailureRecord>();
  return {
    async get(key) {
      return records.get(key);
    },
    async failed(key, nowMs) {
      const previous = records.get(key);
      const fresh = !previous || nowMs - previous.lastFailureMs >= forgetAfterMs;
      records.delete(key);
      records.set(key, {
        failures: fresh ? 1 : Math.min(previous.failures + 1, 1_000_000),
        lastFailureMs: Math.max(nowMs, previous?.lastFailureMs ?? nowMs),
      });
      // Oldest failures first: drop the forgotten ones, then the least recent beyond the cap.
      for (const [oldKey, record] of records) {
        if (records.size <= maxKeys && nowMs - record.lastFailureMs < forgetAfterMs) break;
        records.delete(oldKey);
      }
    },
    async clear(key) {
      records.delete(key);
    },
  };
}

function createPostgresFailureStore(db: Db, forgetAfterMs: number): FailureStore {
  let lastPruneMs = Number.NEGATIVE_INFINITY;
  return {
    async get(key) {
      const row = rowsOf<{ failures: number; last_failure_ms: number }>(
        await db.execute(
          sql`select failures, last_failure_ms::float8 as last_failure_ms from login_failures where key = ${key}`,
        ),
      )[0];
      return row ? { failures: Number(row.failures), lastFailureMs: Number(row.last_failure_ms) } : undefined;
    },
    async failed(key, nowMs) {
      const now = sql`${nowMs}::bigint`;
      // One statement: concurrent failures on any instance each count.
      await db.execute(sql`
        insert into login_failures as f (key, failures, last_failure_ms) values (${key}, 1, ${now})
        on conflict (key) do update set
          failures = case when f.last_failure_ms <= ${now} - ${forgetAfterMs}::bigint then 1
                          else least(f.failures + 1, 1000000) end,
          last_failure_ms = greatest(${now}, f.last_failure_ms)`);
      if (nowMs - lastPruneMs >= 60_000) {
        lastPruneMs = nowMs;
        await db.execute(sql`delete from login_failures where last_failure_ms < ${now} - ${forgetAfterMs}::bigint`);
      }
    },
    async clear(key) {
      await db.execute(sql`delete from login_failures where key = ${key}`);
    },
  };
}
