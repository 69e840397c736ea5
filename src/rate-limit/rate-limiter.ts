import { DatabaseUnavailableError } from '../errors';
import type { BucketStore } from './bucket-store';
import { type BucketRule, fullAfterMs, msUntil } from './token-bucket';

export interface RateLimitResult {
  allowed: boolean;
  /** The bucket's capacity (RateLimit-Limit). */
  limit: number;
  /** Whole tokens left after this request (RateLimit-Remaining). */
  remaining: number;
  /** Seconds until the bucket is full again (RateLimit-Reset). */
  resetSeconds: number;
  /** Seconds until this request would be allowed; 0 when it was (Retry-After). */
  retryAfterSeconds: number;
}

export interface RateLimiter {
  readonly name: string;
  /** The RateLimit-Policy header value: `<burst>;w=<seconds to refill>`. */
  readonly policy: string;
  take(key: string, cost?: number): Promise<RateLimitResult>;
}

export interface RateLimiterOptions {
  name: string;
  rule: BucketRule;
  store: BucketStore;
  now?: () => number;
  /**
   * What a store failure means. `open`: the request goes through and `onStoreError` hears of it;
   * `closed`: the request is refused with 503 DATABASE_UNAVAILABLE.
   */
  onStoreFailure: 'open' | 'closed';
  onStoreError?: (err: unknown) => void;
}

export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const { name, rule, store } = options;
  const now = options.now ?? Date.now;
  if (!(rule.capacity >= 1 && Number.isInteger(rule.capacity) && rule.refillPerSecond > 0)) {
    throw new Error(`rate limiter ${name}: capacity must be a positive integer and the refill rate positive`);
  }
  const unlimited: RateLimitResult = {
    allowed: true,
    limit: rule.capacity,
    remaining: rule.capacity,
    resetSeconds: 0,
    retryAfterSeconds: 0,
  };

  return {
    name,
    policy: `${rule.capacity};w=${Math.ceil(fullAfterMs(rule) / 1000)}`,
    async take(key, cost = 1) {
      if (!(Number.isInteger(cost) && cost >= 1 && cost <= rule.capacity)) {
        throw new Error(`rate limiter ${name}: cost must be an integer from 1 to ${rule.capacity}`);
      }
      const nowMs = now();
      let outcome: Awaited<ReturnType<BucketStore['take']>>;
      try {
        outcome = await store.take(`${name}:${key}`, cost, rule, nowMs);
      } catch (err) {
        if (options.onStoreFailure === 'closed') throw new DatabaseUnavailableError(err);
        options.onStoreError?.(err);
        return unlimited;
      }
      const { allowed, state } = outcome;
      return {
        allowed,
        limit: rule.capacity,
        remaining: Math.floor(state.tokensMilli / 1000),
        resetSeconds: Math.ceil(msUntil(state, nowMs, rule, rule.capacity) / 1000),
        retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil(msUntil(state, nowMs, rule, cost) / 1000)),
      };
    },
  };
}
