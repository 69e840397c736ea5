import type { ErrorCode } from '../errors';
import type { DbErrorType, DbOperation } from './catalogue';
import { noopTracing, type Tracing } from './tracing';

/**
 * What the rest of the code reports, in its own words. The implementation behind it (OpenTelemetry
 * instruments, src/telemetry/metrics.ts) is chosen by the runtime entry; nothing else sees an
 * instrument, an attribute object or a label name.
 */
export interface DecisionOutcome {
  decision: 'permit' | 'deny' | 'escalate';
  allowed: boolean;
  reasonCode: string;
  riskLevel: 'low' | 'medium' | 'high' | 'critical';
  /** The policy's actor term that matched the caller, or undefined: never the caller's raw string. */
  actorTerm: string | undefined;
  violations: readonly { type: string; severity: string }[];
  evaluationSeconds: number;
}

/** Records the outcome of requests to one route template and method; created once per route. */
export interface HttpRouteRecorder {
  finished(status: number, seconds: number): void;
  /** Response body size, once known (with detailed metrics only). */
  responded(bytes: number): void;
}

/** Renders the Prometheus text exposition of everything recorded so far. */
export interface MetricsRenderer {
  render(): Promise<string>;
}

export interface ConnectionState {
  active: number;
  idle: number;
}

/** Metrics and spans: what every component reports, through one dependency. */
export type Telemetry = MetricsRecorder & Tracing;

export interface MetricsRecorder {
  /** Whether response sizes are measured at all (detailed metrics), so nobody counts bytes for nothing. */
  readonly measuresResponseSize: boolean;
  httpRoute(method: string, endpoint: string): HttpRouteRecorder;
  /** The routes the app serves and their success status, so those series exist from the start. */
  httpRoutesServed(routes: readonly { method: string; endpoint: string; status: number }[]): void;
  requestStarted(): void;
  requestFinished(): void;
  errorResponded(code: ErrorCode): void;
  exceptionCaught(err: unknown, endpoint: string): void;

  decisionMade(outcome: DecisionOutcome): void;
  /** The policy this instance now decides with (undefined: none), to keep its series alive at zero. */
  policyActivated(policy: { actorTerms: readonly string[]; frameworks: readonly string[] } | undefined): void;
  policyLoaded(result: 'loaded' | 'unchanged' | 'invalid'): void;
  ledgerAppended(entries: readonly { event_type: string }[]): void;
  ledgerVerified(valid: boolean): void;

  dbQuery(operation: DbOperation, table: string, seconds: number): void;
  dbFailed(errorType: DbErrorType): void;
  dbTransaction(seconds: number): void;
  observeConnections(read: () => Promise<ConnectionState> | ConnectionState): void;

  /** One authentication attempt; a failure names its reason from a closed list. */
  authAttempt(method: AuthMethod, result: 'success' | 'failure', reason?: AuthFailureReason): void;
  mfaChallenged(): void;
  mfaVerified(result: MfaResult): void;
  /** Reads the number of live sessions from real state at collection time. */
  observeSessions(read: () => Promise<number> | number): void;
  sessionEnded(reason: SessionEndReason, seconds: number): void;
  rateLimited(limiter: Limiter): void;

  cacheLookup(cache: CacheName, hit: boolean): void;
  cacheEvicted(cache: CacheName, reason: EvictionReason, count?: number): void;
  observeCache(cache: CacheName, read: () => { items: number; bytes: number }): void;
  flagEvaluated(flag: string, result: boolean): void;
  flagFailed(flag: string, errorType: FlagErrorType): void;
}

export type AuthMethod = 'api_key' | 'password' | 'session';
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
export const MFA_RESULTS = ['success', 'invalid_code', 'replayed', 'backup_code'] as const;
export type MfaResult = (typeof MFA_RESULTS)[number];
export const SESSION_END_REASONS = ['logout', 'expired', 'idle', 'revoked', 'user_disabled'] as const;
export type SessionEndReason = (typeof SESSION_END_REASONS)[number];
/**
 * `login_instance` is the instance-wide sign-in budget; `password_hashing` refuses sign-ins and user
 * creation when the instance's hashing line is full (src/auth/hashing-capacity.ts).
 */
export const LIMITERS = ['login', 'login_instance', 'mfa', 'api', 'password_hashing'] as const;
export type Limiter = (typeof LIMITERS)[number];
export const CACHE_NAMES = ['api_keys', 'sessions', 'policy'] as const;
export type CacheName = (typeof CACHE_NAMES)[number];
export const EVICTION_REASONS = ['capacity', 'expired', 'invalidated'] as const;
export type EvictionReason = (typeof EVICTION_REASONS)[number];
export const FLAG_ERROR_TYPES = ['unknown_flag', 'store_unavailable'] as const;
export type FlagErrorType = (typeof FLAG_ERROR_TYPES)[number];

const ignore = () => {};
const noopRoute: HttpRouteRecorder = { finished: ignore, responded: ignore };

export const noopMetrics: MetricsRecorder = {
  measuresResponseSize: false,
  httpRoute: () => noopRoute,
  httpRoutesServed: ignore,
  requestStarted: ignore,
  requestFinished: ignore,
  errorResponded: ignore,
  exceptionCaught: ignore,
  decisionMade: ignore,
  policyActivated: ignore,
  policyLoaded: ignore,
  ledgerAppended: ignore,
  ledgerVerified: ignore,
  dbQuery: ignore,
  dbFailed: ignore,
  dbTransaction: ignore,
  observeConnections: ignore,
  authAttempt: ignore,
  mfaChallenged: ignore,
  mfaVerified: ignore,
  observeSessions: ignore,
  sessionEnded: ignore,
  rateLimited: ignore,
  cacheLookup: ignore,
  cacheEvicted: ignore,
  observeCache: ignore,
  flagEvaluated: ignore,
  flagFailed: ignore,
};

export const noopTelemetry: Telemetry = { ...noopMetrics, ...noopTracing };
