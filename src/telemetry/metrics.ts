import type { Attributes, Meter } from '@opentelemetry/api';
import type { ErrorCode } from '../errors';
import { FLAG_NAMES } from '../flags/definitions';
import { LEDGER_EVENT_TYPES } from '../ledger/entry';
import {
  DB_ERROR_TYPES,
  ERROR_CLASSIFICATION,
  ERROR_CODES,
  METRICS,
  type MetricDefinition,
  SUMMARY_QUANTILES,
} from './catalogue';
import { createSlidingQuantiles } from './summary';
import {
  AUTH_FAILURE_REASONS,
  CACHE_NAMES,
  type ConnectionState,
  EVICTION_REASONS,
  FLAG_ERROR_TYPES,
  type HttpRouteRecorder,
  LIMITERS,
  type MetricsRecorder,
  MFA_RESULTS,
  SESSION_END_REASONS,
} from './telemetry';

export interface MetricsTelemetryOptions {
  /** FEATURE_FLAG_METRICS_DETAILED: per-endpoint summary series and response sizes. */
  detailed: boolean;
  now?: () => number;
}

const AUTH_METHODS = ['api_key', 'password', 'session'] as const;
const RISK_LEVELS = ['low', 'medium', 'high', 'critical'] as const;
const DENIAL_REASONS = [
  'no_policy',
  'forbidden',
  'requirement_unmet',
  'constraint_denied',
  'not_permitted',
  'constraint_escalation',
  'risk_escalation',
] as const;
const VIOLATION_SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
const UNKNOWN_ACTOR = 'unknown';
const UNMATCHED = 'unmatched';
// Caps on label values that grow with data rather than code: past them, one overflow value.
// 200 actors × 8 outcome/risk combinations stays inside the SDK's 2,000 series per metric.
const MAX_ACTORS = 200;
const MAX_EXCEPTION_CLASSES = 20;
const MAX_ROUTES = 500;

/**
 * The OpenTelemetry implementation of the metrics half of Telemetry, over the API's Meter only (the SDK is wired by
 * the runtime entry). Attribute objects are built once per label combination and reused, and the
 * per-request HTTP path touches one histogram; request counts and the latency summary are kept in
 * plain numbers and observed at collection time.
 */
export function createMetricsTelemetry(meter: Meter, options: MetricsTelemetryOptions): MetricsRecorder {
  const now = options.now ?? Date.now;
  const startedAt = now();
  const counter = (d: MetricDefinition) => meter.createCounter(d.name, { description: d.help, unit: d.unit });
  const histogram = (d: MetricDefinition) =>
    meter.createHistogram(d.name, {
      description: d.help,
      unit: d.unit,
      advice: d.buckets ? { explicitBucketBoundaries: [...d.buckets] } : undefined,
    });
  const gauge = (d: MetricDefinition) => meter.createObservableGauge(d.name, { description: d.help, unit: d.unit });

  // --- HTTP -----------------------------------------------------------------------------------
  const httpDuration = histogram(METRICS.httpDuration);
  const responseSize = histogram(METRICS.responseSize);
  const requestCounts: { attributes: Attributes; count: number }[] = [];
  const summary = createSlidingQuantiles(SUMMARY_QUANTILES, { now });
  const summaryAttributes = new Map<string, Attributes>([['', {}]]);
  let inFlight = 0;

  meter
    .createObservableCounter(METRICS.httpRequests.name, { description: METRICS.httpRequests.help, unit: '{request}' })
    .addCallback((result) => {
      for (const series of requestCounts) result.observe(series.count, series.attributes);
    });
  gauge(METRICS.concurrentRequests).addCallback((result) => result.observe(inFlight));
  registerSummary(meter, summary, summaryAttributes);

  interface RouteRecorder extends HttpRouteRecorder {
    /** Makes the route's series for `status` exist at zero. */
    init(status: number): void;
  }
  const routes = new Map<string, Map<string, RouteRecorder>>();
  function createRoute(method: string, endpoint: string): RouteRecorder {
    const durationAttributes = { method, endpoint };
    const sizeAttributes = { endpoint };
    const summaryKey = options.detailed ? `${endpoint}\u0000${method}` : '';
    if (!summaryAttributes.has(summaryKey)) summaryAttributes.set(summaryKey, { endpoint, method });
    summary.ensure(summaryKey);
    const byStatus = new Map<number, { attributes: Attributes; count: number }>();
    const seriesFor = (status: number) => {
      let series = byStatus.get(status);
      if (!series) {
        series = { attributes: { method, endpoint, status: String(status) }, count: 0 };
        requestCounts.push(series);
        byStatus.set(status, series);
      }
      return series;
    };
    return {
      finished(status, seconds) {
        seriesFor(status).count++;
        httpDuration.record(seconds, durationAttributes);
        summary.record(summaryKey, seconds);
      },
      responded: (bytes) => responseSize.record(bytes, sizeAttributes),
      init(status) {
        seriesFor(status);
      },
    };
  }
  function httpRoute(method: string, endpoint: string): RouteRecorder {
    let byMethod = routes.get(endpoint);
    if (!byMethod) {
      if (routes.size >= MAX_ROUTES && endpoint !== UNMATCHED) return httpRoute('_OTHER', UNMATCHED);
      byMethod = new Map();
      routes.set(endpoint, byMethod);
    }
    let recorder = byMethod.get(method);
    if (!recorder) {
      recorder = createRoute(method, endpoint);
      byMethod.set(method, recorder);
    }
    return recorder;
  }

  // --- errors ---------------------------------------------------------------------------------
  const errors = counter(METRICS.errors);
  const errorAttributes = new Map<ErrorCode, Attributes>();
  for (const code of ERROR_CODES) {
    const attributes = { error_type: code, ...ERROR_CLASSIFICATION[code] };
    errorAttributes.set(code, attributes);
    errors.add(0, attributes);
  }
  const exceptions = counter(METRICS.exceptions);
  const exceptionClasses = new Set<string>();
  const recoveries = counter(METRICS.errorRecoveries);
  const recoveryAttributes = { error_type: 'DATABASE_UNAVAILABLE' };
  recoveries.add(0, recoveryAttributes);

  // --- decisions ------------------------------------------------------------------------------
  const decisions = counter(METRICS.decisions);
  const denied = counter(METRICS.decisionsDenied);
  const evaluation = histogram(METRICS.decisionEvaluation);
  const violations = counter(METRICS.complianceViolations);
  const risk = counter(METRICS.riskAssessments);
  const riskAttributes = new Map(RISK_LEVELS.map((level) => [level as string, { risk_level: level }]));
  for (const attributes of riskAttributes.values()) risk.add(0, attributes);
  const cached = createAttributeCache();
  let activePolicies = 0;

  function initialiseActor(actor: string) {
    for (const allowed of ['true', 'false']) {
      for (const level of RISK_LEVELS)
        decisions.add(
          0,
          cached(decisionsKey(allowed, actor, level), () => ({ allowed, actor, risk_level: level })),
        );
    }
    for (const reason of DENIAL_REASONS)
      denied.add(
        0,
        cached(`d\u0000${reason}\u0000${actor}`, () => ({ reason, actor })),
      );
  }
  initialiseActor(UNKNOWN_ACTOR);
  gauge(METRICS.activePolicies).addCallback((result) => result.observe(activePolicies));

  // --- ledger ---------------------------------------------------------------------------------
  const ledgerEntries = counter(METRICS.ledgerEntries);
  ledgerEntries.add(0);
  const auditEntries = counter(METRICS.auditLogEntries);
  const eventAttributes = new Map(LEDGER_EVENT_TYPES.map((type) => [type as string, { event_type: type }]));
  for (const attributes of eventAttributes.values()) auditEntries.add(0, attributes);
  const integrity = counter(METRICS.ledgerIntegrityChecks);
  const integrityAttributes = { success: { result: 'success' }, failure: { result: 'failure' } };
  integrity.add(0, integrityAttributes.success);
  integrity.add(0, integrityAttributes.failure);
  const policyLoads = counter(METRICS.policyLoads);
  const loadAttributes = new Map(
    (['loaded', 'unchanged', 'invalid'] as const).map((result) => [result as string, { result }]),
  );
  for (const attributes of loadAttributes.values()) policyLoads.add(0, attributes);

  // --- database -------------------------------------------------------------------------------
  // A collection runs every callback at once; the ones that query the database take turns, so the
  // connection count never sees the scrape's own session count running as an "active" connection.
  let scrapeReads: Promise<unknown> = Promise.resolve();
  function oneAtATime<T>(read: () => Promise<T> | T): Promise<T> {
    const next = scrapeReads.then(read, read);
    scrapeReads = next.catch(() => undefined);
    return next;
  }
  const queryDuration = histogram(METRICS.dbQueryDuration);
  const transactionDuration = histogram(METRICS.dbTransactionDuration);
  const dbErrors = counter(METRICS.dbErrors);
  const dbErrorAttributes = new Map(DB_ERROR_TYPES.map((type) => [type as string, { error_type: type }]));
  for (const attributes of dbErrorAttributes.values()) dbErrors.add(0, attributes);
  let databaseDown = false;
  const active = gauge(METRICS.dbConnectionsActive);
  const idle = gauge(METRICS.dbConnectionsIdle);

  // --- auth, sessions, rate limits, cache, flags ----------------------------------------------
  const authAttempts = counter(METRICS.authAttempts);
  const authFailures = counter(METRICS.authFailures);
  const attemptAttributes = new Map<string, Attributes>();
  const failureAttributes = new Map<string, Attributes>();
  for (const method of AUTH_METHODS) {
    for (const result of ['success', 'failure']) {
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
  const totp = { method: 'totp' };
  mfaChallenges.add(0, totp);
  const mfaVerifications = counter(METRICS.mfaVerifications);
  const mfaAttributes = new Map(MFA_RESULTS.map((result) => [result as string, { result }]));
  for (const attributes of mfaAttributes.values()) mfaVerifications.add(0, attributes);
  const sessionDuration = histogram(METRICS.sessionDuration);
  const sessionEndAttributes = new Map(SESSION_END_REASONS.map((reason) => [reason as string, { reason }]));
  const activeSessions = gauge(METRICS.activeSessions);
  const rateLimitHits = counter(METRICS.rateLimitHits);
  const limiterAttributes = new Map(LIMITERS.map((limiter) => [limiter as string, { limiter }]));
  for (const attributes of limiterAttributes.values()) rateLimitHits.add(0, attributes);

  const cacheHits = counter(METRICS.cacheHits);
  const cacheMisses = counter(METRICS.cacheMisses);
  const cacheEvictions = counter(METRICS.cacheEvictions);
  const cacheItems = gauge(METRICS.cacheItems);
  const cacheBytes = gauge(METRICS.cacheSize);
  const cacheAttributes = new Map(CACHE_NAMES.map((cache) => [cache as string, { cache_name: cache }]));
  const evictionAttributes = new Map<string, Attributes>();
  for (const cache of CACHE_NAMES) {
    for (const reason of EVICTION_REASONS) {
      evictionAttributes.set(`${cache}\u0000${reason}`, { cache_name: cache, reason });
    }
  }
  // Flags are a closed list (plus `unknown` for names that are not): every series exists from the start.
  const flags = counter(METRICS.flagEvaluations);
  const flagErrors = counter(METRICS.flagErrors);
  const flagAttributes = new Map<string, Attributes>();
  const flagErrorAttributes = new Map<string, Attributes>();
  for (const flag of [...FLAG_NAMES, 'unknown']) {
    for (const result of ['true', 'false']) {
      const attributes = { flag, result };
      flagAttributes.set(`${flag}\u0000${result}`, attributes);
      flags.add(0, attributes);
    }
    for (const errorType of FLAG_ERROR_TYPES) {
      const attributes = { flag, error_type: errorType };
      flagErrorAttributes.set(`${flag}\u0000${errorType}`, attributes);
      flagErrors.add(0, attributes);
    }
  }
  gauge(METRICS.uptime).addCallback((result) => result.observe((now() - startedAt) / 1000));

  return {
    measuresResponseSize: options.detailed,
    httpRoute,
    httpRoutesServed(served) {
      for (const route of served) httpRoute(route.method, route.endpoint).init(route.status);
    },
    requestStarted() {
      inFlight++;
    },
    requestFinished() {
      inFlight--;
    },
    errorResponded(code) {
      errors.add(1, errorAttributes.get(code));
    },
    exceptionCaught(err, endpoint) {
      const name = err instanceof Error && /^[A-Za-z][A-Za-z0-9]{0,39}$/.test(err.name) ? err.name : 'Error';
      if (!exceptionClasses.has(name) && exceptionClasses.size < MAX_EXCEPTION_CLASSES) exceptionClasses.add(name);
      exceptions.add(1, { exception_class: exceptionClasses.has(name) ? name : 'other', endpoint });
    },

    decisionMade(outcome) {
      const actor =
        outcome.actorTerm !== undefined && cached.knows(outcome.actorTerm) ? outcome.actorTerm : UNKNOWN_ACTOR;
      const allowed = outcome.allowed ? 'true' : 'false';
      decisions.add(
        1,
        cached(decisionsKey(allowed, actor, outcome.riskLevel), () => ({
          allowed,
          actor,
          risk_level: outcome.riskLevel,
        })),
      );
      if (!outcome.allowed) {
        denied.add(
          1,
          cached(`d\u0000${outcome.reasonCode}\u0000${actor}`, () => ({ reason: outcome.reasonCode, actor })),
        );
      }
      evaluation.record(outcome.evaluationSeconds);
      risk.add(1, riskAttributes.get(outcome.riskLevel));
      for (const v of outcome.violations) {
        violations.add(
          1,
          cached(`v\u0000${v.type}\u0000${v.severity}`, () => ({ violation_type: v.type, severity: v.severity })),
        );
      }
    },
    policyActivated(policy) {
      activePolicies = policy ? 1 : 0;
      if (!policy) return;
      for (const actor of policy.actorTerms) {
        if (cached.knows(actor) || cached.actors() >= MAX_ACTORS) continue;
        cached.learn(actor);
        initialiseActor(actor);
      }
      for (const framework of policy.frameworks) {
        for (const severity of VIOLATION_SEVERITIES) {
          violations.add(
            0,
            cached(`v\u0000${framework}\u0000${severity}`, () => ({ violation_type: framework, severity })),
          );
        }
      }
    },
    policyLoaded(result) {
      policyLoads.add(1, loadAttributes.get(result));
    },
    ledgerAppended(entries) {
      ledgerEntries.add(entries.length);
      for (const entry of entries)
        auditEntries.add(1, eventAttributes.get(entry.event_type) ?? { event_type: 'other' });
    },
    ledgerVerified(valid) {
      integrity.add(1, valid ? integrityAttributes.success : integrityAttributes.failure);
    },

    dbQuery(operation, table, seconds) {
      queryDuration.record(
        seconds,
        cached(`q\u0000${operation}\u0000${table}`, () => ({ operation, table })),
      );
      if (databaseDown) {
        databaseDown = false;
        recoveries.add(1, recoveryAttributes);
      }
    },
    dbFailed(errorType) {
      dbErrors.add(1, dbErrorAttributes.get(errorType));
      if (errorType === 'connection') databaseDown = true;
    },
    dbTransaction(seconds) {
      transactionDuration.record(seconds);
    },
    observeConnections(read) {
      meter.addBatchObservableCallback(
        async (result) => {
          const state: ConnectionState = await oneAtATime(read);
          result.observe(active, state.active);
          result.observe(idle, state.idle);
        },
        [active, idle],
      );
    },

    authAttempt(method, result, reason) {
      authAttempts.add(1, attemptAttributes.get(`${method}\u0000${result}`));
      if (result === 'failure')
        authFailures.add(1, failureAttributes.get(`${method}\u0000${reason ?? 'invalid_credentials'}`));
    },
    mfaChallenged() {
      mfaChallenges.add(1, totp);
    },
    mfaVerified(result) {
      mfaVerifications.add(1, mfaAttributes.get(result));
    },
    observeSessions(read) {
      activeSessions.addCallback(async (result) => result.observe(await oneAtATime(read)));
    },
    sessionEnded(reason, seconds) {
      sessionDuration.record(seconds, sessionEndAttributes.get(reason));
    },
    rateLimited(limiter) {
      rateLimitHits.add(1, limiterAttributes.get(limiter));
    },
    cacheLookup(cache, hit) {
      (hit ? cacheHits : cacheMisses).add(1, cacheAttributes.get(cache));
    },
    cacheEvicted(cache, reason, count = 1) {
      cacheEvictions.add(count, evictionAttributes.get(`${cache}\u0000${reason}`));
    },
    observeCache(cache, read) {
      const attributes = cacheAttributes.get(cache) ?? { cache_name: cache };
      cacheHits.add(0, attributes);
      cacheMisses.add(0, attributes);
      for (const reason of EVICTION_REASONS) cacheEvictions.add(0, evictionAttributes.get(`${cache}\u0000${reason}`));
      cacheItems.addCallback((result) => result.observe(read().items, attributes));
      cacheBytes.addCallback((result) => result.observe(read().bytes, attributes));
    },
    flagEvaluated(flag, result) {
      flags.add(1, flagAttributes.get(`${flag}\u0000${result}`) ?? flagAttributes.get(`unknown\u0000${result}`));
    },
    flagFailed(flag, errorType) {
      flagErrors.add(
        1,
        flagErrorAttributes.get(`${flag}\u0000${errorType}`) ?? flagErrorAttributes.get(`unknown\u0000${errorType}`),
      );
    },
  };
}

function decisionsKey(allowed: string, actor: string, level: string): string {
  return `a\u0000${allowed}\u0000${actor}\u0000${level}`;
}

/** Attribute objects built once per label combination, and the set of actor terms that may label. */
function createAttributeCache() {
  const attributes = new Map<string, Attributes>();
  const actors = new Set<string>();
  const get = (key: string, build: () => Attributes): Attributes => {
    let value = attributes.get(key);
    if (!value) {
      value = build();
      attributes.set(key, value);
    }
    return value;
  };
  return Object.assign(get, {
    knows: (actor: string) => actors.has(actor),
    learn: (actor: string) => void actors.add(actor),
    actors: () => actors.size,
  });
}

/**
 * The summary as three OpenTelemetry instruments: quantile gauges and cumulative _sum and _count.
 * src/telemetry/prometheus.ts renders them as one Prometheus summary family.
 */
function registerSummary(
  meter: Meter,
  summary: ReturnType<typeof createSlidingQuantiles>,
  attributesOf: Map<string, Attributes>,
) {
  const d = METRICS.apiLatencySummary;
  const quantiles = meter.createObservableGauge(d.name, { description: d.help, unit: d.unit });
  const sum = meter.createObservableCounter(`${d.name}_sum`, { description: `${d.help} (sum)`, unit: d.unit });
  const count = meter.createObservableCounter(`${d.name}_count`, { description: `${d.help} (count)` });
  const quantileAttributes = new Map<string, Attributes[]>();
  meter.addBatchObservableCallback(
    (result) => {
      for (const snapshot of summary.snapshot()) {
        const base = attributesOf.get(snapshot.key) ?? {};
        let perQuantile = quantileAttributes.get(snapshot.key);
        if (!perQuantile) {
          perQuantile = SUMMARY_QUANTILES.map((q) => ({ ...base, quantile: String(q) }));
          quantileAttributes.set(snapshot.key, perQuantile);
        }
        snapshot.quantiles.forEach((value, i) => {
          result.observe(quantiles, value, perQuantile[i]);
        });
        result.observe(sum, snapshot.sum, base);
        result.observe(count, snapshot.count, base);
      }
    },
    [quantiles, sum, count],
  );
}
