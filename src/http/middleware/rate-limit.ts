import type { Context, MiddlewareHandler } from 'hono';
import { AppError } from '../../errors';
import type { BucketLimiter } from '../../rate-limit';
import { clientKey, parseIp } from '../../rate-limit/ip-address';
import type { RateLimiter, RateLimitResult } from '../../rate-limit/rate-limiter';
import type { AppEnv } from '../context';

/**
 * Per client address: mount on the brute-force targets (sign-in, MFA verification) before anything
 * expensive. The address comes from settings.clientIp (see src/http/client-ip.ts); IPv6 clients
 * are counted per /64, since one subscriber usually holds a whole /64.
 */
export function rateLimitByClientIp(limiter: 'login' | 'mfa'): MiddlewareHandler<AppEnv> {
  return async function rateLimitByClientIp(c, next) {
    await enforce(c, c.get('services').rateLimits[limiter], clientKey(parseIp(clientAddress(c))));
    await next();
  };
}

/**
 * One budget for every address together, sized to the instance's password-hashing capacity: mount
 * after the per-address limiter, so a source already over its own limit spends none of it.
 */
export function rateLimitInstance(limiter: 'login_instance'): MiddlewareHandler<AppEnv> {
  return async function rateLimitInstance(c, next) {
    await enforce(c, c.get('services').rateLimits[limiter], 'instance');
    await next();
  };
}

/** Per API key or session: runs after authorize(), which sets the principal it counts against. */
export function apiRateLimit(): MiddlewareHandler<AppEnv> {
  return async function apiRateLimit(c, next) {
    const principal = c.get('principal');
    await enforce(c, c.get('services').rateLimits.api, `${principal.kind}:${principal.id}`);
    await next();
  };
}

async function enforce(c: Context<AppEnv>, limiter: RateLimiter, key: string): Promise<void> {
  const result = await limiter.take(key);
  setRateLimitHeaders(c, limiter, result);
  if (result.allowed) return;
  c.get('services').telemetry.rateLimited(limiter.name as BucketLimiter);
  c.header('Retry-After', String(result.retryAfterSeconds));
  throw new AppError('RATE_LIMITED', `Too many requests; retry in ${result.retryAfterSeconds} s`, {
    retry_after_seconds: result.retryAfterSeconds,
  });
}

const remainingShown = new WeakMap<Context<AppEnv>, number>();

/**
 * The IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers-07). With two limiters on a
 * route they describe the one closest to refusing.
 */
function setRateLimitHeaders(c: Context<AppEnv>, limiter: RateLimiter, result: RateLimitResult) {
  if ((remainingShown.get(c) ?? Number.POSITIVE_INFINITY) < result.remaining) return;
  remainingShown.set(c, result.remaining);
  c.header('RateLimit-Limit', String(result.limit));
  c.header('RateLimit-Remaining', String(result.remaining));
  c.header('RateLimit-Reset', String(result.resetSeconds));
  c.header('RateLimit-Policy', limiter.policy);
}

/** The client's address as resolved by settings.clientIp; `unknown` when the runtime gives none. */
export function clientAddress(c: Context<AppEnv>): string {
  return c.get('settings').clientIp?.(c) ?? 'unknown';
}
