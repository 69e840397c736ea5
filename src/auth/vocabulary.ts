/**
 * What authentication reports, as closed lists: the metric labels of src/telemetry are built from
 * them. This file imports nothing, so telemetry can import it without an import circle.
 */
export const AUTH_METHODS = ['api_key', 'password', 'session'] as const;
export type AuthMethod = (typeof AUTH_METHODS)[number];

export const AUTH_FAILURE_REASONS = [
  'malformed',
  'unknown_key',
  'revoked',
  'invalid_credentials',
  'disabled',
  'expired',
  'throttled',
] as const;
export type AuthFailureReason = (typeof AUTH_FAILURE_REASONS)[number];

/** How an MFA code checked out: a TOTP code, a one-time backup code, or neither. */
export const MFA_CHECKS = ['success', 'invalid_code', 'replayed', 'backup_code'] as const;
export type MfaCheck = (typeof MFA_CHECKS)[number];

export const SESSION_END_REASONS = ['logout', 'expired', 'idle', 'revoked', 'user_disabled'] as const;
export type SessionEndReason = (typeof SESSION_END_REASONS)[number];
