import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../tests/support/wait';
import { DB_ERROR_TYPES } from '../db/errors';
import { REASON_CODES } from '../governance/evaluate';
import { RISK_LEVELS } from '../governance/risk';
import { LEDGER_EVENT_TYPES } from '../ledger/entry';
import {
  ALL_METRICS,
  ERROR_CLASSIFICATION,
  ERROR_CODES,
  METRICS,
  type MetricDefinition,
  type MetricKind,
  PROCESS_METRICS,
} from './catalogue';
import { createMetricsTelemetry } from './metrics';
import { registerProcessMetrics } from './process';
import { createPrometheusMetrics, type PrometheusMetrics } from './prometheus';
import type { DecisionOutcome, MetricsRecorder } from './telemetry';

// --- a tiny reader of the text exposition (the golden test uses a real parser) ------------------

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Exposition {
  text: string;
  types: Map<string, string>;
  samples: Sample[];
}

function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      types.set(type[1] as string, type[2] as string);
      continue;
    }
    if (line.startsWith('#')) continue;
    const sample = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!sample) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (sample[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key as string] = (value as string).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    const raw = sample[3] as string;
    const value = raw === '+Inf' ? Number.POSITIVE_INFINITY : raw === '-Inf' ? Number.NEGATIVE_INFINITY : Number(raw);
    samples.push({ name: sample[1] as string, labels, value });
  }
  return { text, types, samples };
}

/** Samples of `name` whose labels include `labels`. */
function find(exposition: Exposition, name: string, labels: Record<string, string> = {}): Sample[] {
  return exposition.samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([key, value]) => s.labels[key] === value),
  );
}

function value(exposition: Exposition, name: string, labels: Record<string, string> = {}): number | undefined {
  const found = find(exposition, name, labels);
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

function distinct(exposition: Exposition, name: string, label: string): Set<string> {
  return new Set(find(exposition, name).map((s) => s.labels[label] as string));
}

// --- the SDK wiring the Node entry uses --------------------------------------------------------

const opened: PrometheusMetrics[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((p) => p.shutdown()));
});

function setup(detailed: boolean) {
  const prometheus = createPrometheusMetrics({
    serviceName: 'lexecon',
    serviceVersion: '1.2.3',
    instanceId: 'host-7',
    detailed,
  });
  opened.push(prometheus);
  const meter = prometheus.provider.getMeter('lexecon', '1.2.3');
  const telemetry = createMetricsTelemetry(meter, { detailed });
  return { telemetry, meter, scrape: async () => parseExposition(await prometheus.render()) };
}

function outcome(overrides: Partial<DecisionOutcome> = {}): DecisionOutcome {
  return {
    decision: 'deny',
    allowed: false,
    reasonCode: 'forbidden',
    riskLevel: 'high',
    actorTerm: undefined,
    violations: [],
    evaluationSeconds: 0.0002,
    ...overrides,
  };
}

/** Every recording function once, as a running instance would over its first minutes. */
function recordOneOfEverything(telemetry: MetricsRecorder) {
  telemetry.httpRoutesServed([{ method: 'POST', endpoint: '/api/decide', status: 200 }]);
  telemetry.requestStarted();
  const route = telemetry.httpRoute('POST', '/api/decide');
  route.finished(200, 0.012);
  route.responded(640);
  telemetry.requestFinished();
  telemetry.errorResponded('VALIDATION_FAILED');
  telemetry.exceptionCaught(new TypeError('boom'), '/api/decide');
  telemetry.policyActivated({ actorTerms: ['actor:model'], frameworks: ['GDPR'] });
  telemetry.policyLoaded('loaded');
  telemetry.decisionMade(outcome({ actorTerm: 'actor:model', violations: [{ type: 'GDPR', severity: 'high' }] }));
  telemetry.ledgerAppended([{ event_type: 'decision' }]);
  telemetry.ledgerVerified(true);
  telemetry.ledgerCheckpointed(2);
  telemetry.ledgerIntegrity('truncated');
  telemetry.dbQuery('insert', 'ledger_entries', 0.003);
  telemetry.dbFailed('timeout');
  telemetry.dbTransaction(0.004);
  telemetry.observeConnections(() => ({ active: 1, idle: 2 }));
  telemetry.authAttempt('api_key', 'failure', 'revoked');
  telemetry.cacheLookup('api_keys', true);
  telemetry.observeCache('api_keys', () => ({ items: 3, bytes: 900 }));
  telemetry.cacheEvicted('api_keys', 'capacity');
  telemetry.mfaChallenged();
  telemetry.mfaVerified('replayed');
  telemetry.observeSessions(() => 2);
  telemetry.sessionEnded('logout', 120);
  telemetry.rateLimited('login');
  telemetry.flagEvaluated('metrics_detailed', true);
  telemetry.flagFailed('metrics_detailed', 'store_unavailable');
}

const PROMETHEUS_TYPE: Record<MetricKind, string> = {
  counter: 'counter',
  histogram: 'histogram',
  gauge: 'gauge',
  updowncounter: 'gauge',
  summary: 'summary',
};

// Every reason a decision can be refused for.
const DENIAL_REASONS = REASON_CODES.filter((code) => code !== 'permitted');

const recorded = ALL_METRICS;

describe.each([
  { mode: 'detailed', detailed: true },
  { mode: 'lean', detailed: false },
])('the $mode exposition', ({ detailed }) => {
  const expected = recorded;

  let everything: Exposition;
  beforeAll(async () => {
    const { telemetry, meter, scrape } = setup(detailed);
    const runtime = registerProcessMetrics(meter);
    try {
      recordOneOfEverything(telemetry);
      // The event-loop monitor reports once it has sampled (every 10 ms); a scrape before that lacks it.
      everything = await waitFor('the event-loop monitor to report', async () => {
        const exposition = await scrape();
        const lag = exposition.samples.some((s) => s.name === PROCESS_METRICS.eventLoopLagP50.name);
        return lag ? exposition : undefined;
      });
    } finally {
      runtime.stop();
    }
  });

  it.each(expected.map((d) => [d.name, PROMETHEUS_TYPE[d.kind]] as const))(
    'exposes %s as a %s once recorded',
    (name, type) => {
      expect(everything.types.get(name)).toBe(type);
      expect(everything.samples.some((s) => s.name === name || s.name.startsWith(`${name}_`))).toBe(true);
    },
  );

  it('uses the catalogue’s bucket boundaries for every histogram', async () => {
    const { telemetry, scrape } = setup(detailed);
    recordOneOfEverything(telemetry);
    const exposition = await scrape();
    const histograms = expected.filter((d): d is MetricDefinition & { buckets: number[] } => d.kind === 'histogram');
    expect(histograms.length).toBeGreaterThanOrEqual(5);
    for (const d of histograms) {
      const buckets = find(exposition, `${d.name}_bucket`);
      expect(buckets.length, d.name).toBeGreaterThan(0);
      const first = JSON.stringify({ ...buckets[0]?.labels, le: undefined });
      const boundaries = buckets
        .filter((s) => JSON.stringify({ ...s.labels, le: undefined }) === first)
        .map((s) => s.labels.le);
      expect(boundaries, d.name).toEqual([...d.buckets.map(String), '+Inf']);
    }
  });
});

describe('series that exist before the first event', () => {
  it('has every error code at zero, with its severity and component', async () => {
    const exposition = await setup(false).scrape();
    for (const code of ERROR_CODES) {
      expect(value(exposition, 'lexecon_errors_total', { error_type: code, ...ERROR_CLASSIFICATION[code] }), code).toBe(
        0,
      );
    }
    expect(find(exposition, 'lexecon_errors_total')).toHaveLength(ERROR_CODES.length);
  });

  it('has decisions and denials for actor unknown at zero, for every outcome, risk level and reason', async () => {
    const exposition = await setup(false).scrape();
    for (const allowed of ['true', 'false'])
      for (const risk_level of RISK_LEVELS)
        expect(value(exposition, 'lexecon_decisions_total', { allowed, actor: 'unknown', risk_level })).toBe(0);
    for (const reason of DENIAL_REASONS)
      expect(value(exposition, 'lexecon_decisions_denied_total', { reason, actor: 'unknown' }), reason).toBe(0);
    for (const risk_level of RISK_LEVELS)
      expect(value(exposition, 'lexecon_risk_assessments_total', { risk_level })).toBe(0);
  });

  it('has ledger, integrity, database error, audit and authentication series at zero', async () => {
    const exposition = await setup(false).scrape();
    expect(value(exposition, 'lexecon_ledger_entries_total')).toBe(0);
    expect(value(exposition, 'lexecon_ledger_integrity_checks_total', { result: 'success' })).toBe(0);
    expect(value(exposition, 'lexecon_ledger_integrity_checks_total', { result: 'failure' })).toBe(0);
    for (const error_type of DB_ERROR_TYPES)
      expect(value(exposition, 'lexecon_db_errors_total', { error_type }), error_type).toBe(0);
    for (const event_type of LEDGER_EVENT_TYPES)
      expect(value(exposition, 'lexecon_audit_log_entries_total', { event_type }), event_type).toBe(0);
    for (const result of ['success', 'failure'])
      expect(value(exposition, 'lexecon_auth_attempts_total', { method: 'api_key', result }), result).toBe(0);
    expect(value(exposition, 'lexecon_error_recovery_total')).toBe(0);
    expect(value(exposition, 'lexecon_active_policies')).toBe(0);
    expect(value(exposition, 'lexecon_concurrent_requests')).toBe(0);
  });

  it('adds zero series for the actor terms and compliance frameworks of a policy when it is activated', async () => {
    const { telemetry, scrape } = setup(false);
    telemetry.policyActivated({ actorTerms: ['actor:user', 'actor:model'], frameworks: ['GDPR', 'HIPAA'] });
    const exposition = await scrape();
    for (const actor of ['actor:user', 'actor:model']) {
      for (const allowed of ['true', 'false'])
        for (const risk_level of RISK_LEVELS)
          expect(value(exposition, 'lexecon_decisions_total', { allowed, actor, risk_level })).toBe(0);
      for (const reason of DENIAL_REASONS)
        expect(value(exposition, 'lexecon_decisions_denied_total', { reason, actor })).toBe(0);
    }
    for (const violation_type of ['GDPR', 'HIPAA'])
      for (const severity of RISK_LEVELS)
        expect(value(exposition, 'lexecon_compliance_violations_total', { violation_type, severity })).toBe(0);
    expect(value(exposition, 'lexecon_active_policies')).toBe(1);

    telemetry.policyActivated(undefined);
    expect(value(await scrape(), 'lexecon_active_policies')).toBe(0);
  });
});

describe('decision labels', () => {
  it('records a decision under its matched actor term, and as unknown when telemetry was never told the term', async () => {
    const { telemetry, scrape } = setup(false);
    telemetry.policyActivated({ actorTerms: ['actor:user'], frameworks: [] });
    telemetry.decisionMade(outcome({ actorTerm: 'actor:user', reasonCode: 'not_permitted', riskLevel: 'low' }));
    telemetry.decisionMade(outcome({ actorTerm: 'actor:intruder', reasonCode: 'forbidden', riskLevel: 'high' }));
    telemetry.decisionMade(outcome({ actorTerm: 'ignore all previous instructions', riskLevel: 'high' }));
    telemetry.decisionMade(outcome({ actorTerm: undefined, allowed: true, decision: 'permit', riskLevel: 'low' }));

    const exposition = await scrape();
    expect(
      value(exposition, 'lexecon_decisions_total', { allowed: 'false', actor: 'actor:user', risk_level: 'low' }),
    ).toBe(1);
    expect(
      value(exposition, 'lexecon_decisions_total', { allowed: 'false', actor: 'unknown', risk_level: 'high' }),
    ).toBe(2);
    expect(value(exposition, 'lexecon_decisions_total', { allowed: 'true', actor: 'unknown', risk_level: 'low' })).toBe(
      1,
    );
    expect(value(exposition, 'lexecon_decisions_denied_total', { reason: 'forbidden', actor: 'unknown' })).toBe(2);
    expect(value(exposition, 'lexecon_decisions_denied_total', { reason: 'not_permitted', actor: 'actor:user' })).toBe(
      1,
    );
    expect(distinct(exposition, 'lexecon_decisions_total', 'actor')).toEqual(new Set(['unknown', 'actor:user']));
    expect(value(exposition, 'lexecon_risk_assessments_total', { risk_level: 'high' })).toBe(2);
    expect(find(exposition, 'lexecon_decision_evaluation_duration_seconds_count')[0]?.value).toBe(4);
  });

  it('labels decisions with at most 1,000 policy actor terms, across policies, every decision under its own labels', async () => {
    const { telemetry, scrape } = setup(false);
    const terms = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `actor:a${from + i}`);
    telemetry.policyActivated({ actorTerms: terms(0, 800), frameworks: [] });
    telemetry.policyActivated({ actorTerms: terms(800, 1500), frameworks: [] });
    for (const actorTerm of ['actor:a5', 'actor:a700', 'actor:a1400']) telemetry.decisionMade(outcome({ actorTerm }));

    const exposition = await scrape();
    const decisions = find(exposition, 'lexecon_decisions_total');
    const denials = find(exposition, 'lexecon_decisions_denied_total');
    // Past the SDK's cardinality limit, samples lose their labels to one otel_metric_overflow series.
    expect([...decisions, ...denials].filter((s) => !('actor' in s.labels)).map((s) => s.labels)).toEqual([]);
    expect(decisions.reduce((sum, s) => sum + s.value, 0)).toBe(3);
    const actors = distinct(exposition, 'lexecon_decisions_total', 'actor');
    expect(actors.size).toBeLessThanOrEqual(1001);
    expect(actors.has('actor:a1400')).toBe(false);
    expect(
      value(exposition, 'lexecon_decisions_total', { allowed: 'false', actor: 'actor:a5', risk_level: 'high' }),
    ).toBe(1);
    expect(
      value(exposition, 'lexecon_decisions_total', { allowed: 'false', actor: 'unknown', risk_level: 'high' }),
    ).toBeGreaterThanOrEqual(1);
    expect(distinct(exposition, 'lexecon_decisions_denied_total', 'actor')).toEqual(actors);
  });
});

describe('FEATURE_FLAG_METRICS_DETAILED through Views', () => {
  function recordTraffic(telemetry: MetricsRecorder) {
    telemetry.httpRoute('GET', '/api/policies').finished(200, 0.004);
    telemetry.httpRoute('GET', '/api/policies').responded(300);
    telemetry.httpRoute('POST', '/api/decide').finished(200, 0.02);
    telemetry.httpRoute('POST', '/api/decide').responded(1_200);
    telemetry.dbQuery('select', 'policies', 0.001);
    telemetry.dbQuery('select', 'api_keys', 0.002);
    telemetry.dbQuery('insert', 'ledger_entries', 0.003);
  }

  it.each([
    { mode: 'lean', detailed: false },
    { mode: 'detailed', detailed: true },
  ])('measures response sizes per endpoint when $mode', async ({ detailed }) => {
    const { telemetry, scrape } = setup(detailed);
    expect(telemetry.measuresResponseSize).toBe(true);
    recordTraffic(telemetry);
    const exposition = await scrape();
    expect(exposition.types.get('lexecon_api_response_size_bytes')).toBe('histogram');
    expect(value(exposition, 'lexecon_api_response_size_bytes_sum', { endpoint: '/api/decide' })).toBe(1_200);
    expect(value(exposition, 'lexecon_api_response_size_bytes_sum', { endpoint: '/api/policies' })).toBe(300);
  });

  it('times queries per table only when detailed, and per operation either way', async () => {
    const detailed = setup(true);
    recordTraffic(detailed.telemetry);
    const full = await detailed.scrape();
    expect(value(full, 'lexecon_db_query_duration_seconds_count', { operation: 'select', table: 'policies' })).toBe(1);
    expect(value(full, 'lexecon_db_query_duration_seconds_count', { operation: 'select', table: 'api_keys' })).toBe(1);

    const lean = setup(false);
    recordTraffic(lean.telemetry);
    const leanExposition = await lean.scrape();
    const counts = find(leanExposition, 'lexecon_db_query_duration_seconds_count');
    expect(counts.map((s) => s.labels).sort((a, b) => String(a.operation).localeCompare(String(b.operation)))).toEqual([
      { operation: 'insert' },
      { operation: 'select' },
    ]);
    expect(value(leanExposition, 'lexecon_db_query_duration_seconds_count', { operation: 'select' })).toBe(2);
    expect(find(leanExposition, 'lexecon_db_query_duration_seconds_bucket').every((s) => !('table' in s.labels))).toBe(
      true,
    );
  });

  it('keeps one latency summary when lean and one per endpoint and method when detailed', async () => {
    const summary = METRICS.apiLatencySummary.name;
    const lean = setup(false);
    recordTraffic(lean.telemetry);
    const leanExposition = await lean.scrape();
    expect(leanExposition.types.get(summary)).toBe('summary');
    expect(find(leanExposition, summary).map((s) => s.labels)).toEqual([
      { quantile: '0.5' },
      { quantile: '0.9' },
      { quantile: '0.95' },
      { quantile: '0.99' },
    ]);
    expect(find(leanExposition, `${summary}_count`)).toEqual([{ name: `${summary}_count`, labels: {}, value: 2 }]);
    expect(value(leanExposition, `${summary}_sum`)).toBeCloseTo(0.024, 10);

    const detailed = setup(true);
    recordTraffic(detailed.telemetry);
    const full = await detailed.scrape();
    expect(find(full, `${summary}_count`).map((s) => [s.labels, s.value])).toEqual(
      expect.arrayContaining([
        [{ endpoint: '/api/policies', method: 'GET' }, 1],
        [{ endpoint: '/api/decide', method: 'POST' }, 1],
      ]),
    );
    expect(find(full, `${summary}_count`)).toHaveLength(2);
    expect(value(full, summary, { endpoint: '/api/decide', method: 'POST', quantile: '0.99' })).toBe(0.02);
  });
});

describe('bounded and derived series', () => {
  it('counts 20 exception classes by name, then the rest as other', async () => {
    const { telemetry, scrape } = setup(false);
    for (let i = 0; i < 25; i++) {
      const err = new Error('boom');
      err.name = `Failure${i}Error`;
      telemetry.exceptionCaught(err, '/api/decide');
    }
    const exposition = await scrape();
    const classes = distinct(exposition, 'lexecon_exceptions_total', 'exception_class');
    expect(classes.size).toBe(21);
    expect(classes.has('Failure19Error')).toBe(true);
    expect(classes.has('Failure20Error')).toBe(false);
    expect(value(exposition, 'lexecon_exceptions_total', { exception_class: 'other', endpoint: '/api/decide' })).toBe(
      5,
    );
  });

  it('never uses an exception’s message or a hostile name as its class', async () => {
    const { telemetry, scrape } = setup(false);
    const hostile = new Error('user@example.com leaked');
    hostile.name = 'Oops"} 1\nfake_metric{a="b';
    telemetry.exceptionCaught(hostile, '/api/decide');
    telemetry.exceptionCaught('a thrown string', '/api/decide');
    telemetry.exceptionCaught(Object.assign(new Error('x'), { name: 'A'.repeat(200) }), '/api/decide');
    const exposition = await scrape();
    expect(distinct(exposition, 'lexecon_exceptions_total', 'exception_class')).toEqual(new Set(['Error']));
    expect(value(exposition, 'lexecon_exceptions_total', { exception_class: 'Error' })).toBe(3);
    expect(exposition.text).not.toContain('fake_metric');
    expect(exposition.text).not.toContain('user@example.com');
  });

  it('counts one recovery when a query succeeds after a connection failure, and none after other failures', async () => {
    const { telemetry, scrape } = setup(false);
    telemetry.dbFailed('connection');
    telemetry.dbFailed('connection');
    telemetry.dbQuery('select', 'policies', 0.001);
    telemetry.dbQuery('select', 'policies', 0.001);
    telemetry.dbQuery('select', 'policies', 0.001);
    expect(value(await scrape(), 'lexecon_error_recovery_total', { error_type: 'DATABASE_UNAVAILABLE' })).toBe(1);

    telemetry.dbFailed('constraint');
    telemetry.dbFailed('timeout');
    telemetry.dbQuery('select', 'policies', 0.001);
    const exposition = await scrape();
    expect(value(exposition, 'lexecon_error_recovery_total', { error_type: 'DATABASE_UNAVAILABLE' })).toBe(1);
    expect(value(exposition, 'lexecon_db_errors_total', { error_type: 'connection' })).toBe(2);
  });

  it('reports the connection counts it is given, read at scrape time', async () => {
    const { telemetry, scrape } = setup(false);
    let state = { active: 3, idle: 7 };
    telemetry.observeConnections(async () => state);
    let exposition = await scrape();
    expect(value(exposition, 'lexecon_db_connections_active')).toBe(3);
    expect(value(exposition, 'lexecon_db_connections_idle')).toBe(7);
    state = { active: 0, idle: 10 };
    exposition = await scrape();
    expect(value(exposition, 'lexecon_db_connections_active')).toBe(0);
    expect(value(exposition, 'lexecon_db_connections_idle')).toBe(10);
  });

  it('folds route templates past its cap into one unmatched series instead of growing', async () => {
    const { telemetry, scrape } = setup(false);
    for (let i = 0; i < 600; i++) telemetry.httpRoute('GET', `/generated/${i}`).finished(200, 0.001);
    const exposition = await scrape();
    const endpoints = distinct(exposition, 'lexecon_http_requests_total', 'endpoint');
    expect(endpoints.size).toBeLessThanOrEqual(501);
    expect(find(exposition, 'lexecon_http_requests_total').reduce((sum, s) => sum + s.value, 0)).toBe(600);
  });
});

describe('resource and scope', () => {
  it('describes the instance once in target_info and puts no otel_scope labels on samples', async () => {
    const { telemetry, scrape } = setup(true);
    recordOneOfEverything(telemetry);
    const exposition = await scrape();
    expect(find(exposition, 'target_info')).toEqual([
      {
        name: 'target_info',
        labels: expect.objectContaining({
          service_name: 'lexecon',
          service_version: '1.2.3',
          service_instance_id: 'host-7',
        }),
        value: 1,
      },
    ]);
    const scoped = exposition.samples.filter((s) => Object.keys(s.labels).some((key) => key.startsWith('otel_scope')));
    expect(scoped).toEqual([]);
    expect(exposition.samples.some((s) => s.name.startsWith('otel_scope'))).toBe(false);
  });
});
