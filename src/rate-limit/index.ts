import type { Db } from '../db/client';
import type { Logger } from '../telemetry/logger';
import { type BucketStore, createMemoryBucketStore, createPostgresBucketStore } from './bucket-store';
import { createLoginThrottle, type LoginThrottle } from './login-throttle';
import { createRateLimiter, type RateLimiter } from './rate-limiter';
import { DEFAULT_RATE_LIMITS, type Limiter, type RateLimitSettings } from './settings';

export type { LoginThrottle, LoginThrottleOptions } from './login-throttle';
export { createLoginThrottle } from './login-throttle';
export type { RateLimiter, RateLimitResult } from './rate-limiter';
export { createRateLimiter } from './rate-limiter';
export { DEFAULT_RATE_LIMITS, type RateLimitSettings } from './settings';

/** The token-bucket limiters (every LIMITERS entry but the hashing line, which is src/auth's). */
export type BucketLimiter = Exclude<Limiter, 'password_hashing'>;

/** The limiters the app enforces, one per bucket limiter, and the sign-in failure throttle. */
export type RateLimits = Record<BucketLimiter, RateLimiter> & { loginThrottle: LoginThrottle };

export interface RateLimitDeps {
  db: Db;
  logger: Logger;
  settings?: RateLimitSettings;
  now?: () => number;
}

/**
 * Builds the limiters over one store; the instance-wide sign-in budget guards this process's CPU,
 * so it always lives in memory. When the shared store fails, the brute-force limiters (login, MFA)
 * fail closed with 503 — an outage must not become an unlimited guessing window, and sign-in needs
 * the database anyway — while the API limiter fails open with a warning: it protects capacity, not
 * secrets, and should not turn a blip in its store into refusing every request.
 */
export function createRateLimits({ db, logger, settings = DEFAULT_RATE_LIMITS, now }: RateLimitDeps): RateLimits {
  const shared = settings.store === 'postgres';
  const onPruneError = (err: unknown) => logger.warn('rate limit prune failed', { error: err });
  const store = (): BucketStore =>
    shared ? createPostgresBucketStore({ db, onPruneError }) : createMemoryBucketStore();
  const perMinute = (name: BucketLimiter, count: number) =>
    createRateLimiter({
      name,
      rule: { capacity: count, refillPerSecond: count / 60 },
      store: store(),
      now,
      onStoreFailure: 'closed',
    });
  let lastWarnMs = Number.NEGATIVE_INFINITY;
  return {
    login: perMinute('login', settings.loginPerMinute),
    login_instance: createRateLimiter({
      name: 'login_instance',
      rule: { capacity: settings.loginInstanceBurst, refillPerSecond: settings.loginInstancePerSecond },
      store: createMemoryBucketStore({ maxKeys: 1 }),
      now,
      onStoreFailure: 'closed',
    }),
    mfa: perMinute('mfa', settings.mfaPerMinute),
    api: createRateLimiter({
      name: 'api',
      rule: { capacity: settings.apiBurst, refillPerSecond: settings.apiPerSecond },
      store: store(),
      now,
      onStoreFailure: 'open',
      onStoreError(err) {
        // The database instrumentation counts the failure (lexecon_db_errors_total); one log line
        // every ten seconds is enough to say the API is running unlimited.
        const nowMs = Date.now();
        if (nowMs - lastWarnMs < 10_000) return;
        lastWarnMs = nowMs;
        logger.warn('API rate limiting is failing open: its store is unavailable', { error: err });
      },
    }),
    loginThrottle: createLoginThrottle({ store: settings.store, db, now }),
  };
}
