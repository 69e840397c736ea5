/**
 * Token-bucket arithmetic, shared by every store. Tokens are counted in thousandths so a bucket fits
 * integer columns; a rate of R tokens per second is then exactly R thousandths per millisecond.
 * Time comes from the caller (an injected clock): no timers, so nothing runs between requests.
 */

export interface BucketRule {
  /** Most tokens a bucket holds: the burst. */
  capacity: number;
  /** Tokens added back per second. */
  refillPerSecond: number;
}

export interface BucketState {
  tokensMilli: number;
  updatedMs: number;
}

/** The state at `nowMs`: refilled, capped at capacity. A clock that went back refills nothing. */
export function refill(state: BucketState, nowMs: number, rule: BucketRule): BucketState {
  const capacityMilli = rule.capacity * 1000;
  const gained = Math.floor(Math.max(0, nowMs - state.updatedMs) * rule.refillPerSecond);
  if (state.tokensMilli + gained >= capacityMilli) {
    return { tokensMilli: capacityMilli, updatedMs: Math.max(nowMs, state.updatedMs) };
  }
  // Advance the clock only by the time the whole thousandths gained took, so slow refills (a few
  // tokens a minute) still accrue under a steady stream of requests instead of rounding to nothing.
  return {
    tokensMilli: state.tokensMilli + gained,
    updatedMs: state.updatedMs + Math.floor(gained / rule.refillPerSecond),
  };
}

export interface TakeOutcome {
  allowed: boolean;
  /** The bucket after the attempt (unchanged but refilled when refused). */
  state: BucketState;
}

/** Takes `cost` tokens if the bucket holds them; a missing bucket is a full one. */
export function takeTokens(
  previous: BucketState | undefined,
  nowMs: number,
  rule: BucketRule,
  cost: number,
): TakeOutcome {
  const state = refill(previous ?? { tokensMilli: rule.capacity * 1000, updatedMs: nowMs }, nowMs, rule);
  if (state.tokensMilli < cost * 1000) return { allowed: false, state };
  return { allowed: true, state: { ...state, tokensMilli: state.tokensMilli - cost * 1000 } };
}

/** Milliseconds until the bucket holds `tokens` tokens (0 when it already does). */
export function msUntil(state: BucketState, nowMs: number, rule: BucketRule, tokens: number): number {
  const missing = tokens * 1000 - state.tokensMilli;
  if (missing <= 0) return 0;
  // Time since updatedMs has already been earned towards the next thousandth.
  return Math.max(0, Math.ceil(missing / rule.refillPerSecond) - Math.max(0, nowMs - state.updatedMs));
}

/** How long an idle bucket takes to become full again: after that it equals a missing one. */
export function fullAfterMs(rule: BucketRule): number {
  return Math.ceil((rule.capacity * 1000) / rule.refillPerSecond);
}
