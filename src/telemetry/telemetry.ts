import type { AuthFailureReason, AuthMethod, MfaCheck, SessionEndReason } from '../auth/vocabulary';
import type { CacheName, EvictionReason } from '../cache/vocabulary';
import type { DbErrorType } from '../db/errors';
import type { DbOperation } from '../db/instrument';
import type { ErrorCode } from '../errors';
import type { FlagErrorType } from '../flags/definitions';
import type { RiskLevel } from '../governance/risk';
import type { InvalidReason } from '../ledger/verify';
import type { Limiter } from '../rate-limit/settings';

/**
 * What the rest of the code reports, in its own words: one interface per concern, like the files of
 * src/telemetry/metrics/ that implement them over OpenTelemetry instruments. The implementation is
 * chosen by the runtime entry; nothing else sees an instrument, an attribute object or a label name.
 * Label vocabularies are the domain's own lists, imported from the modules that produce them.
 */

/** Metrics and spans: what every component reports, through one dependency. */
export type Telemetry = MetricsRecorder & Tracing;

export type MetricsRecorder = HttpMetrics &
  ErrorMetrics &
  DecisionMetrics &
  LedgerMetrics &
  PolicyMetrics &
  DatabaseMetrics &
  AuthMetrics &
  CacheMetrics &
  FlagMetrics;

/** Renders the Prometheus text exposition of everything recorded so far. */
export interface MetricsRenderer {
  render(): Promise<string>;
}

// --- metrics, by concern --------------------------------------------------------------------------

/** The endpoint label of a request no route template matched, and of routes past the series cap. */
export const UNMATCHED = 'unmatched';

export interface HttpMetrics {
  /** Whether response sizes are measured at all (not when telemetry is off), so nobody counts bytes for nothing. */
  readonly measuresResponseSize: boolean;
  /** `endpoint` is a route template or UNMATCHED, never a raw path. */
  httpRoute(method: string, endpoint: string): HttpRouteRecorder;
  /** The routes the app serves and their success status, so those series exist from the start. */
  httpRoutesServed(routes: readonly { method: string; endpoint: string; status: number }[]): void;
  requestStarted(): void;
  requestFinished(): void;
}

/** Records the outcome of requests to one route template and method; created once per route. */
export interface HttpRouteRecorder {
  finished(status: number, seconds: number): void;
  /** Response body size, once known. */
  responded(bytes: number): void;
}

export interface ErrorMetrics {
  errorResponded(code: ErrorCode): void;
  exceptionCaught(err: unknown, endpoint: string): void;
}

export interface DecisionMetrics {
  decisionMade(outcome: DecisionOutcome): void;
  /** The policy this instance now decides with (undefined: none), to keep its series alive at zero. */
  policyActivated(policy: { actorTerms: readonly string[]; frameworks: readonly string[] } | undefined): void;
}

export interface DecisionOutcome {
  decision: 'permit' | 'deny' | 'escalate';
  allowed: boolean;
  reasonCode: string;
  riskLevel: RiskLevel;
  /** The policy's actor term that matched the caller, or undefined: never the caller's raw string. */
  actorTerm: string | undefined;
  violations: readonly { type: string; severity: string }[];
  evaluationSeconds: number;
}

export interface LedgerMetrics {
  ledgerAppended(entries: readonly { event_type: string }[]): void;
  ledgerVerified(valid: boolean): void;
  /** A checkpoint this instance signed and stored, over `treeSize` leaves. */
  ledgerCheckpointed(treeSize: number): void;
  /** A stored checkpoint this instance learnt of without signing it: read at start, or verified. */
  ledgerCheckpointSeen(treeSize: number): void;
  /** After each verification: the reason of this instance's standing integrity failure, or undefined. */
  ledgerIntegrity(failure: InvalidReason | undefined): void;
}

export const POLICY_LOAD_RESULTS = ['loaded', 'unchanged', 'invalid'] as const;
export type PolicyLoadResult = (typeof POLICY_LOAD_RESULTS)[number];

export interface PolicyMetrics {
  policyLoaded(result: PolicyLoadResult): void;
}

export interface DatabaseMetrics {
  dbQuery(operation: DbOperation, table: string, seconds: number): void;
  dbFailed(errorType: DbErrorType): void;
  dbTransaction(seconds: number): void;
  observeConnections(read: () => Promise<ConnectionState> | ConnectionState): void;
}

export interface ConnectionState {
  active: number;
  idle: number;
}

/** Authentication, MFA, sessions and the rate limits that guard them. */
export interface AuthMetrics {
  /** One authentication attempt; a failure names its reason from a closed list. */
  authAttempt(method: AuthMethod, result: 'success' | 'failure', reason?: AuthFailureReason): void;
  mfaChallenged(): void;
  mfaVerified(result: MfaCheck): void;
  /** Reads the number of live sessions from real state at collection time. */
  observeSessions(read: () => Promise<number> | number): void;
  sessionEnded(reason: SessionEndReason, seconds: number): void;
  rateLimited(limiter: Limiter): void;
}

export interface CacheMetrics {
  cacheLookup(cache: CacheName, hit: boolean): void;
  cacheEvicted(cache: CacheName, reason: EvictionReason, count?: number): void;
  observeCache(cache: CacheName, read: () => { items: number; bytes: number }): void;
}

export interface FlagMetrics {
  flagEvaluated(flag: string, result: boolean): void;
  flagFailed(flag: string, errorType: FlagErrorType): void;
}

// --- spans (src/telemetry/tracing.ts implements them over the OpenTelemetry API) -------------------

export type SpanAttributes = Record<string, string | number | boolean | readonly string[] | undefined>;

/** What a traced callback may do to its span. */
export interface SpanHandle {
  set(attributes: SpanAttributes): void;
}

/** A caller's tracing context, captured to parent or link work done later on its behalf. */
export type TraceContext = unknown;

export interface IncomingRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  scheme: string;
  host: string | undefined;
  userAgent: string | undefined;
  header(name: string): string | undefined;
}

export interface ServerSpan {
  /** `traceresponse` header value (W3C Trace Context level 2) when the request is traced. */
  readonly traceresponse: string | undefined;
  readonly traceId: string | undefined;
  finish(route: string | undefined, status: number, errorType?: string): void;
}

export interface Tracing {
  readonly tracingEnabled: boolean;
  /** Whether some routes have their own sampling ratio, so `sampled` needs the route. */
  readonly samplesByRoute: boolean;
  /**
   * Head sampling, before any span or context exists: whether a request is traced. Parent-based: a
   * valid `traceparent` decides by its sampled flag; a new trace is recorded at the ratio of its
   * method and route template (when given and configured), else at the global one.
   */
  sampled(traceparent: string | undefined, method: string, route: string | undefined): boolean;
  /** Runs `fn` in a child span of the active one; errors are recorded and re-thrown. */
  inSpan<T>(name: string, attributes: SpanAttributes, fn: (span: SpanHandle) => T, options?: SpanOptions): T;
  /** The SERVER span of one request `sampled` chose, continuing an incoming `traceparent`. */
  traceRequest<T>(request: IncomingRequest, handle: (span: ServerSpan) => Promise<T>): Promise<T>;
  captureContext(): TraceContext;
  /** Runs `fn` with no active span, for work that serves many callers (e.g. a group commit). */
  detached<T>(fn: () => T): T;
  /** Ids for log lines, when a recording span is active. */
  activeIds(): { trace_id: string; span_id: string } | undefined;
  /** Marks the active span failed with this exception (for errors answered rather than thrown on). */
  recordException(err: unknown): void;
}

export interface SpanOptions {
  /** Parent span context (default: the active one). */
  parent?: TraceContext;
  /** Other callers this span also served. */
  links?: readonly TraceContext[];
}

// --- reporting nothing ----------------------------------------------------------------------------

const ignore = () => {};
const noopRoute: HttpRouteRecorder = { finished: ignore, responded: ignore };
const noopHandle: SpanHandle = { set: ignore };
const noopServerSpan: ServerSpan = { traceresponse: undefined, traceId: undefined, finish: ignore };

export const noopCacheMetrics: CacheMetrics = { cacheLookup: ignore, cacheEvicted: ignore, observeCache: ignore };

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
  ledgerCheckpointed: ignore,
  ledgerCheckpointSeen: ignore,
  ledgerIntegrity: ignore,
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
  ...noopCacheMetrics,
  flagEvaluated: ignore,
  flagFailed: ignore,
};

export const noopTracing: Tracing = {
  tracingEnabled: false,
  samplesByRoute: false,
  sampled: () => false,
  inSpan: (_name, _attributes, fn) => fn(noopHandle),
  traceRequest: (_request, handle) => handle(noopServerSpan),
  captureContext: () => undefined,
  detached: (fn) => fn(),
  activeIds: () => undefined,
  recordException: ignore,
};

export const noopTelemetry: Telemetry = { ...noopMetrics, ...noopTracing };
