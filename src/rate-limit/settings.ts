/** Limiter sizes and where buckets live: parsed by src/config.ts, defaults in one place. */
export interface RateLimitSettings {
  /** `memory`: per instance; `postgres`: shared by every instance on the database. */
  store: 'memory' | 'postgres';
  /** Sign-in attempts per client address: the burst, refilled evenly over a minute. */
  loginPerMinute: number;
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
  mfaPerMinute: 10,
  // An instance decides a few thousand times a second: one caller may take a fifth of it, in bursts
  // of two seconds' worth, before it is refused.
  apiPerSecond: 500,
  apiBurst: 1_000,
};
