import { ERROR_STATUS, type ErrorCode } from '../errors';

/**
 * Every metric Lexecon exports, once: Prometheus name (exactly the spec's), kind, unit, help text,
 * label keys and buckets. Instruments are created from this table; dashboards, alerts and docs are
 * checked against it. docs/metrics.md is its reference.
 */
export type MetricKind = 'counter' | 'histogram' | 'gauge' | 'updowncounter' | 'summary';

export interface MetricDefinition {
  name: string;
  kind: MetricKind;
  /** UCUM unit: 's', 'By', '1' or a {annotation}. */
  unit: string;
  help: string;
  labels: readonly string[];
  /** Labels kept only with FEATURE_FLAG_METRICS_DETAILED=true (dropped by a View otherwise). */
  detailedLabels?: readonly string[];
  buckets?: readonly number[];
}

const HTTP_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 7.5, 10];
const EVALUATION_SECONDS = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
];
const DB_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const SESSION_SECONDS = [60, 300, 900, 1800, 3600, 7200, 14400, 28800, 43200, 86400];
const RESPONSE_BYTES = [100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000];

export const SUMMARY_QUANTILES = [0.5, 0.9, 0.95, 0.99] as const;

const define = <const T extends MetricDefinition>(definition: T) => definition;

export const METRICS = {
  // HTTP & API
  httpRequests: define({
    name: 'lexecon_http_requests_total',
    kind: 'counter',
    unit: '{request}',
    help: 'HTTP requests by method, route template and status code',
    labels: ['method', 'endpoint', 'status'],
  }),
  httpDuration: define({
    name: 'lexecon_http_request_duration_seconds',
    kind: 'histogram',
    unit: 's',
    help: 'HTTP request duration, from the first middleware to the response being ready',
    labels: ['method', 'endpoint'],
    buckets: HTTP_SECONDS,
  }),
  apiLatencySummary: define({
    name: 'lexecon_api_latency_summary',
    kind: 'summary',
    unit: 's',
    help: 'API latency quantiles over a sliding 60 s window, with _sum and _count since start',
    labels: [],
    detailedLabels: ['endpoint', 'method'],
  }),
  responseSize: define({
    name: 'lexecon_api_response_size_bytes',
    kind: 'histogram',
    unit: 'By',
    help: 'Response body size by route template',
    labels: ['endpoint'],
    buckets: RESPONSE_BYTES,
  }),
  concurrentRequests: define({
    name: 'lexecon_concurrent_requests',
    kind: 'gauge',
    unit: '{request}',
    help: 'Requests being served right now',
    labels: [],
  }),

  // Decision engine
  decisions: define({
    name: 'lexecon_decisions_total',
    kind: 'counter',
    unit: '{decision}',
    help: 'Recorded decisions by outcome, matched actor term and risk level',
    labels: ['allowed', 'actor', 'risk_level'],
  }),
  decisionEvaluation: define({
    name: 'lexecon_decision_evaluation_duration_seconds',
    kind: 'histogram',
    unit: 's',
    help: 'Time to evaluate the policy for one decision (excluding the ledger write)',
    labels: [],
    buckets: EVALUATION_SECONDS,
  }),
  decisionsDenied: define({
    name: 'lexecon_decisions_denied_total',
    kind: 'counter',
    unit: '{decision}',
    help: 'Denied or escalated decisions by reason code and matched actor term',
    labels: ['reason', 'actor'],
  }),

  // Errors
  errors: define({
    name: 'lexecon_errors_total',
    kind: 'counter',
    unit: '{error}',
    help: 'Error responses by error code, severity and the component at fault',
    labels: ['error_type', 'severity', 'component'],
  }),
  exceptions: define({
    name: 'lexecon_exceptions_total',
    kind: 'counter',
    unit: '{exception}',
    help: 'Unexpected exceptions (answered 500) by class and route template',
    labels: ['exception_class', 'endpoint'],
  }),
  errorRecoveries: define({
    name: 'lexecon_error_recovery_total',
    kind: 'counter',
    unit: '{recovery}',
    help: 'A failing dependency working again, by the error it recovered from',
    labels: ['error_type'],
  }),

  // Cache
  cacheHits: define({
    name: 'lexecon_cache_hits_total',
    kind: 'counter',
    unit: '{lookup}',
    help: 'Cache hits by cache name',
    labels: ['cache_name'],
  }),
  cacheMisses: define({
    name: 'lexecon_cache_misses_total',
    kind: 'counter',
    unit: '{lookup}',
    help: 'Cache misses by cache name',
    labels: ['cache_name'],
  }),
  cacheEvictions: define({
    name: 'lexecon_cache_evictions_total',
    kind: 'counter',
    unit: '{entry}',
    help: 'Cache evictions by cache name and reason',
    labels: ['cache_name', 'reason'],
  }),
  cacheSize: define({
    name: 'lexecon_cache_size_bytes',
    kind: 'gauge',
    unit: 'By',
    help: 'Bytes held by each cache',
    labels: ['cache_name'],
  }),
  cacheItems: define({
    name: 'lexecon_cache_items',
    kind: 'gauge',
    unit: '{entry}',
    help: 'Entries held by each cache',
    labels: ['cache_name'],
  }),

  // Authentication & security
  authAttempts: define({
    name: 'lexecon_auth_attempts_total',
    kind: 'counter',
    unit: '{attempt}',
    help: 'Authentication attempts by method and result',
    labels: ['method', 'result'],
  }),
  authFailures: define({
    name: 'lexecon_auth_failures_total',
    kind: 'counter',
    unit: '{attempt}',
    help: 'Failed authentication attempts by method and reason',
    labels: ['method', 'reason'],
  }),
  mfaChallenges: define({
    name: 'lexecon_mfa_challenges_total',
    kind: 'counter',
    unit: '{challenge}',
    help: 'MFA challenges issued',
    labels: ['method'],
  }),
  mfaVerifications: define({
    name: 'lexecon_mfa_verifications_total',
    kind: 'counter',
    unit: '{verification}',
    help: 'MFA verifications by result',
    labels: ['result'],
  }),
  activeSessions: define({
    name: 'lexecon_active_sessions',
    kind: 'gauge',
    unit: '{session}',
    help: 'Unexpired, unrevoked user sessions',
    labels: [],
  }),
  sessionDuration: define({
    name: 'lexecon_session_duration_seconds',
    kind: 'histogram',
    unit: 's',
    help: 'How long user sessions lasted, by how they ended',
    labels: ['reason'],
    buckets: SESSION_SECONDS,
  }),
  rateLimitHits: define({
    name: 'lexecon_rate_limit_hits_total',
    kind: 'counter',
    unit: '{request}',
    help: 'Requests refused by a rate limiter, by limiter',
    labels: ['limiter'],
  }),

  // Database
  dbConnectionsActive: define({
    name: 'lexecon_db_connections_active',
    kind: 'gauge',
    unit: '{connection}',
    help: 'Database connections of this instance running a query',
    labels: [],
  }),
  dbConnectionsIdle: define({
    name: 'lexecon_db_connections_idle',
    kind: 'gauge',
    unit: '{connection}',
    help: 'Open database connections of this instance waiting for work',
    labels: [],
  }),
  dbQueryDuration: define({
    name: 'lexecon_db_query_duration_seconds',
    kind: 'histogram',
    unit: 's',
    help: 'Database statement duration by operation (and table, when detailed)',
    labels: ['operation'],
    detailedLabels: ['table'],
    buckets: DB_SECONDS,
  }),
  dbErrors: define({
    name: 'lexecon_db_errors_total',
    kind: 'counter',
    unit: '{error}',
    help: 'Failed database statements by kind of error',
    labels: ['error_type'],
  }),
  dbTransactionDuration: define({
    name: 'lexecon_db_transaction_duration_seconds',
    kind: 'histogram',
    unit: 's',
    help: 'Database transaction duration, BEGIN to COMMIT or ROLLBACK',
    labels: [],
    buckets: DB_SECONDS,
  }),

  // Business & compliance
  complianceViolations: define({
    name: 'lexecon_compliance_violations_total',
    kind: 'counter',
    unit: '{violation}',
    help: 'Compliance violations flagged on recorded decisions, by framework and severity',
    labels: ['violation_type', 'severity'],
  }),
  auditLogEntries: define({
    name: 'lexecon_audit_log_entries_total',
    kind: 'counter',
    unit: '{entry}',
    help: 'Ledger entries committed, by event type',
    labels: ['event_type'],
  }),
  riskAssessments: define({
    name: 'lexecon_risk_assessments_total',
    kind: 'counter',
    unit: '{assessment}',
    help: 'Risk assessments of recorded decisions by level',
    labels: ['risk_level'],
  }),
  ledgerEntries: define({
    name: 'lexecon_ledger_entries_total',
    kind: 'counter',
    unit: '{entry}',
    help: 'Ledger entries committed by this instance',
    labels: [],
  }),
  ledgerIntegrityChecks: define({
    name: 'lexecon_ledger_integrity_checks_total',
    kind: 'counter',
    unit: '{check}',
    help: 'Whole-chain verifications by result',
    labels: ['result'],
  }),
  ledgerTreeSize: define({
    name: 'lexecon_ledger_tree_size',
    kind: 'gauge',
    unit: '{leaf}',
    help: 'Leaves in the newest signed checkpoint this instance knows (0 before any); not in the spec',
    labels: [],
  }),
  ledgerCheckpoints: define({
    name: 'lexecon_ledger_checkpoints_total',
    kind: 'counter',
    unit: '{checkpoint}',
    help: 'Checkpoints this instance signed and stored; not in the spec',
    labels: [],
  }),
  ledgerIntegrityFailure: define({
    name: 'lexecon_ledger_integrity_failure',
    kind: 'gauge',
    unit: '{failure}',
    help: "1 for the reason of this instance's standing ledger integrity failure, 0 for every other; not in the spec",
    labels: ['reason'],
  }),
  policyLoads: define({
    name: 'lexecon_policy_loads_total',
    kind: 'counter',
    unit: '{load}',
    help: 'Policy loads by result (loaded, unchanged, invalid); not in the spec, for stale-policy alerts',
    labels: ['result'],
  }),
  activePolicies: define({
    name: 'lexecon_active_policies',
    kind: 'gauge',
    unit: '{policy}',
    help: 'Policies this instance is deciding with (0 or 1)',
    labels: [],
  }),

  // Feature flags
  flagEvaluations: define({
    name: 'lexecon_feature_flag_evaluations_total',
    kind: 'counter',
    unit: '{evaluation}',
    help: 'Feature flag evaluations by flag and result',
    labels: ['flag', 'result'],
  }),
  flagErrors: define({
    name: 'lexecon_feature_flag_errors_total',
    kind: 'counter',
    unit: '{error}',
    help: 'Feature flag values that could not be used, by flag and kind of error',
    labels: ['flag', 'error_type'],
  }),

  // Process
  uptime: define({
    name: 'lexecon_node_uptime_seconds',
    kind: 'gauge',
    unit: 's',
    help: 'Seconds since this instance started',
    labels: [],
  }),
} as const satisfies Record<string, MetricDefinition>;

/** Runtime metrics registered by the Node entry (standard Prometheus process names). */
export const PROCESS_METRICS = {
  cpu: define({
    name: 'process_cpu_seconds_total',
    kind: 'counter',
    unit: 's',
    help: 'User and system CPU time spent by the process',
    labels: [],
  }),
  memory: define({
    name: 'process_resident_memory_bytes',
    kind: 'gauge',
    unit: 'By',
    help: 'Resident set size of the process',
    labels: [],
  }),
  startTime: define({
    name: 'process_start_time_seconds',
    kind: 'gauge',
    unit: 's',
    help: 'Start time of the process since the Unix epoch',
    labels: [],
  }),
  eventLoopLagP50: define({
    name: 'nodejs_eventloop_lag_p50_seconds',
    kind: 'gauge',
    unit: 's',
    help: 'Median event-loop delay since the previous scrape',
    labels: [],
  }),
  eventLoopLagP99: define({
    name: 'nodejs_eventloop_lag_p99_seconds',
    kind: 'gauge',
    unit: 's',
    help: '99th percentile event-loop delay since the previous scrape',
    labels: [],
  }),
  eventLoopLagMax: define({
    name: 'nodejs_eventloop_lag_max_seconds',
    kind: 'gauge',
    unit: 's',
    help: 'Longest event-loop delay since the previous scrape',
    labels: [],
  }),
} as const satisfies Record<string, MetricDefinition>;

export const ALL_METRICS: readonly MetricDefinition[] = [...Object.values(METRICS), ...Object.values(PROCESS_METRICS)];

/** Closed label values, used to initialise series to zero and to bound what callers can create. */
export const SEVERITIES = ['info', 'warning', 'error', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** Severity and component of every error code: 4xx are the caller's (info), 5xx ours. */
export const ERROR_CLASSIFICATION: Record<ErrorCode, { severity: Severity; component: string }> = {
  INVALID_JSON: { severity: 'info', component: 'http' },
  INVALID_STRING: { severity: 'info', component: 'http' },
  VALIDATION_FAILED: { severity: 'info', component: 'http' },
  INVALID_POLICY: { severity: 'info', component: 'policy' },
  REQUEST_ABORTED: { severity: 'info', component: 'http' },
  UNAUTHENTICATED: { severity: 'warning', component: 'auth' },
  MFA_REQUIRED: { severity: 'info', component: 'auth' },
  FORBIDDEN: { severity: 'warning', component: 'auth' },
  NOT_FOUND: { severity: 'info', component: 'http' },
  METHOD_NOT_ALLOWED: { severity: 'info', component: 'http' },
  CONFLICT: { severity: 'info', component: 'http' },
  PAYLOAD_TOO_LARGE: { severity: 'warning', component: 'http' },
  UNSUPPORTED_MEDIA_TYPE: { severity: 'info', component: 'http' },
  RATE_LIMITED: { severity: 'warning', component: 'http' },
  INTERNAL: { severity: 'critical', component: 'http' },
  DATABASE_UNAVAILABLE: { severity: 'critical', component: 'database' },
  SERVICE_UNAVAILABLE: { severity: 'critical', component: 'policy' },
  LEDGER_TRUNCATED: { severity: 'critical', component: 'ledger' },
};

export const ERROR_CODES = Object.keys(ERROR_STATUS) as ErrorCode[];
