import type { Attributes, Meter } from '@opentelemetry/api';
import { AUTH_FAILURE_REASONS, AUTH_METHODS, MFA_CHECKS, SESSION_END_REASONS } from '../../auth/vocabulary';
import { LIMITERS } from '../../rate-limit/settings';
import { METRICS } from '../catalogue';
import type { AuthMetrics } from '../telemetry';
import { instrumentsOf, type TakeTurns } from './instruments';

const RESULTS = ['success', 'failure'] as const;
const TOTP = { method: 'totp' };

/**
 * Authentication attempts and failures by method, MFA challenges and verifications, live sessions
 * and how sessions ended, and requests refused by a rate limiter. Every series exists from the start.
 */
export function createAuthMetrics(meter: Meter, options: { turns: TakeTurns }): AuthMetrics {
  const { counter, histogram, gauge } = instrumentsOf(meter);
  const authAttempts = counter(METRICS.authAttempts);
  const authFailures = counter(METRICS.authFailures);
  const attemptAttributes = new Map<string, Attributes>();
  const failureAttributes = new Map<string, Attributes>();
  for (const method of AUTH_METHODS) {
    for (const result of RESULTS) {
      const attributes = { method, result };
      attemptAttributes.set(`${method}\u0000${result}`, attributes);
      authAttempts.add(0, attributes);
    }
    for (const reason of AUTH_FAILURE_REASONS) {
      const attributes = { method, reason };
      failureAttributes.set(`${method}\u0000${reason}`, attributes);
      authFailures.add(0, attributes);
    }
  }
  const mfaChallenges = counter(METRICS.mfaChallenges);
  mfaChallenges.add(0, TOTP);
  const mfaVerifications = counter(METRICS.mfaVerifications);
  const mfaAttributes = new Map(MFA_CHECKS.map((result) => [result as string, { result }]));
  for (const attributes of mfaAttributes.values()) mfaVerifications.add(0, attributes);
  const sessionDuration = histogram(METRICS.sessionDuration);
  const sessionEndAttributes = new Map(SESSION_END_REASONS.map((reason) => [reason as string, { reason }]));
  const activeSessions = gauge(METRICS.activeSessions);
  const rateLimitHits = counter(METRICS.rateLimitHits);
  const limiterAttributes = new Map(LIMITERS.map((limiter) => [limiter as string, { limiter }]));
  for (const attributes of limiterAttributes.values()) rateLimitHits.add(0, attributes);

  return {
    authAttempt(method, result, reason) {
      authAttempts.add(1, attemptAttributes.get(`${method}\u0000${result}`));
      if (result === 'failure')
        authFailures.add(1, failureAttributes.get(`${method}\u0000${reason ?? 'invalid_credentials'}`));
    },
    mfaChallenged() {
      mfaChallenges.add(1, TOTP);
    },
    mfaVerified(result) {
      mfaVerifications.add(1, mfaAttributes.get(result));
    },
    observeSessions(read) {
      activeSessions.addCallback(async (result) => result.observe(await options.turns(read)));
    },
    sessionEnded(reason, seconds) {
      sessionDuration.record(seconds, sessionEndAttributes.get(reason));
    },
    rateLimited(limiter) {
      rateLimitHits.add(1, limiterAttributes.get(limiter));
    },
  };
}
