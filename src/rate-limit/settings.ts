/**
 * Every limiter that refuses requests (lexecon_rate_limit_hits_total{limiter}). `login_instance` is the
 * instance-wide sign-in budget; `password_hashing` refuses sign-ins and user creation when the
 * instance's hashing line is full (src/auth/hashing-capacity.ts).
 */
export const LIMITERS = ['login', 'login_instance', 'mfa', 'api', 'password_hashing'] as const;
export type Limiter = (typeof LIMITERS)[number];

/** Limiter sizes and where buckets live: parsed by src/config.ts, defaults in one place. */
export interface RateLimitSettings {
  /** `memory`: per instance; `postgres`: shared by every instance on the database. */
  store: 'memory' | 'postgres';
  /** Sign-in attempts per client address: the burst, refilled evenly over a minute. */
  loginPerMinute: number;
  /** Sign-ins per second on this instance from all addresses together, refilled evenly… */
  loginInstancePerSecond: number;
  /** …up to this burst: a budget sized to the password-hashing capacity, checked before any hash. */
  loginInstanceBurst: number;
  /** MFA verifications per client address, likewise. */
  mfaPerMinute: number;
  /** Authenticated API requests per API key or session, refilled per second… */
  apiPerSecond: number;
  /** …up to this burst. */
  apiBurst: number;
}

export const DEFAULT_RATE_LIMITS: RateLimitSettings = {
  store: 'memory',
  loginPerMinute: 10,
  // One hash in flight and eight in line (DEFAULT_HASHING_CAPACITY) take a burst of nine; two a
  // second keep that one hash busy about half the time (~0.25 s each), so the line drains.
  loginInstancePerSecond: 2,
  loginInstanceBurst: 9,
  mfaPerMinute: 10,
  // An instance decides a few thousand times a second: one caller may take a fifth of it, in bursts
  // of two seconds' worth, before it is refused.
  apiPerSecond: 500,
  apiBurst: 1_000,
};
