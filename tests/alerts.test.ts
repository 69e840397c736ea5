import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import {
  DEFAULT_RUNBOOK_BASE_URL,
  RUNBOOKS_FILE,
  renderPrometheusRule,
  withRunbookBase,
} from '../scripts/generate-prometheus-rule';
import { ALERTMANAGER_FILE, binary, RULES_FILE } from '../scripts/monitoring-stack';
import { CATALOGUE_SERIES, labelsOf, namesIn } from './support/promql';

/**
 * The alert rules and the Alertmanager routing, proven with the real tools: promtool checks the
 * rules and runs, for every alert, a case where it fires and one where it stays silent; amtool
 * checks the routing and where each severity goes.
 */
interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const rules = (parse(readFileSync(RULES_FILE, 'utf8')) as { groups: { name: string; rules: Rule[] }[] }).groups.flatMap(
  (g) => g.rules,
);
const alerts = rules.filter((r): r is Rule & { alert: string } => r.alert !== undefined);
const recorded = new Set(rules.flatMap((r) => (r.record ? [r.record] : [])));
const root = join(import.meta.dirname, '..');
const rulesText = readFileSync(RULES_FILE, 'utf8');
const runbooks = readFileSync(join(root, RUNBOOKS_FILE), 'utf8');
/** The anchors GitHub (and most Markdown renderers) give the runbook headings. */
const anchors = new Set(
  [...runbooks.matchAll(/^#{1,6} (.+)$/gm)].map(
    ([, heading]) =>
      `#${heading!
        .toLowerCase()
        .replace(/[^\p{L}\p{N} _-]/gu, '')
        .replaceAll(' ', '-')}`,
  ),
);
const dir = mkdtempSync(join(tmpdir(), 'lexecon-alerts-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const promtool = binary('promtool');
const amtool = binary('amtool');

/** One promtool unit-test case: input series (1-minute samples), when to look, what must be seen. */
interface Case {
  name: string;
  series: Record<string, string>;
  at: string;
  /** For a firing case: the alert's labels besides the rule's, and its description as rendered. */
  labels?: Record<string, string>;
  description?: string;
}

const POD = 'namespace="lexecon", job="lexecon", instance="10.0.0.1:8000", pod="lexecon-0"';
const POD2 = 'namespace="lexecon", job="lexecon", instance="10.0.0.2:8000", pod="lexecon-1"';
const DEPLOYMENT = { namespace: 'lexecon', job: 'lexecon' };
const INSTANCE = { ...DEPLOYMENT, instance: '10.0.0.1:8000', pod: 'lexecon-0' };
const http = (le: string) =>
  `lexecon_http_request_duration_seconds_bucket{${POD}, method="POST", endpoint="/api/decide", le="${le}"}`;
const evaluation = (le: string) => `lexecon_decision_evaluation_duration_seconds_bucket{${POD}, le="${le}"}`;
const query = (le: string) => `lexecon_db_query_duration_seconds_bucket{${POD}, operation="select", le="${le}"}`;
const requests = (status: string) =>
  `lexecon_http_requests_total{${POD}, method="POST", endpoint="/api/decide", status="${status}"}`;
const decideBuckets = (fast: string, all: string) => ({
  [http('0.25')]: fast,
  [`lexecon_http_request_duration_seconds_count{${POD}, method="POST", endpoint="/api/decide"}`]: all,
});

const CASES: Record<string, { firing: Case[]; quiet: Case[] } | { firing: Case[]; quietImpossible: string }> = {
  LexeconServiceDown: {
    firing: [
      {
        name: 'a target fails its scrapes',
        series: { [`up{${POD}}`]: '0x10' },
        at: '5m',
        labels: INSTANCE,
        description: 'Prometheus has not scraped Lexecon at 10.0.0.1:8000 for more than 1 minute.',
      },
      {
        name: 'no target is discovered at all',
        series: { 'up{job="prometheus", instance="localhost:9090"}': '1x10' },
        at: '5m',
        labels: { job: 'lexecon' },
        description: 'Prometheus has not scraped Lexecon: no target is discovered at all for more than 1 minute.',
      },
    ],
    quiet: [{ name: 'every target is up', series: { [`up{${POD}}`]: '1x10' }, at: '5m' }],
  },
  LexeconCriticalErrorRate: {
    firing: [
      {
        name: '2 critical errors per second',
        series: {
          [`lexecon_errors_total{${POD}, error_type="INTERNAL", severity="critical", component="http"}`]: '0+120x10',
        },
        at: '6m',
        labels: DEPLOYMENT,
        description:
          'Lexecon answers 2 critical errors per second (INTERNAL, DATABASE_UNAVAILABLE, SERVICE_UNAVAILABLE).',
      },
    ],
    quiet: [
      {
        name: 'many errors, none critical',
        series: {
          [`lexecon_errors_total{${POD}, error_type="NOT_FOUND", severity="info", component="http"}`]: '0+600x10',
        },
        at: '6m',
      },
    ],
  },
  LexeconHighErrorRate: {
    firing: [
      {
        name: '15 error responses per second across two pods',
        series: {
          [`lexecon_errors_total{${POD}, error_type="UNAUTHENTICATED", severity="warning", component="auth"}`]:
            '0+450x15',
          [`lexecon_errors_total{${POD2}, error_type="NOT_FOUND", severity="info", component="http"}`]: '0+450x15',
        },
        at: '10m',
        labels: DEPLOYMENT,
        description: 'Lexecon answers 15 error responses (4xx and 5xx) per second.',
      },
    ],
    quiet: [
      {
        name: '5 error responses per second',
        series: {
          [`lexecon_errors_total{${POD}, error_type="NOT_FOUND", severity="info", component="http"}`]: '0+300x15',
        },
        at: '10m',
      },
    ],
  },
  LexeconHighLatency: {
    firing: [
      {
        name: 'requests take 1–2.5 s',
        series: { [http('1')]: '0x15', [http('2.5')]: '0+60x15', [http('+Inf')]: '0+60x15' },
        at: '10m',
        labels: DEPLOYMENT,
        description: 'The 95th percentile of Lexecon request duration is 2.425s.',
      },
    ],
    quiet: [
      {
        name: 'requests take under 500 ms',
        series: { [http('0.5')]: '0+60x15', [http('1')]: '0+60x15', [http('+Inf')]: '0+60x15' },
        at: '10m',
      },
    ],
  },
  LexeconVeryHighLatency: {
    firing: [
      {
        name: 'requests take 5–7.5 s',
        series: { [http('5')]: '0x10', [http('7.5')]: '0+60x10', [http('+Inf')]: '0+60x10' },
        at: '5m',
        labels: DEPLOYMENT,
        description: 'The 95th percentile of Lexecon request duration is 7.375s.',
      },
    ],
    quiet: [
      {
        name: 'requests take 1–2.5 s (only LexeconHighLatency)',
        series: { [http('1')]: '0x10', [http('2.5')]: '0+60x10', [http('+Inf')]: '0+60x10' },
        at: '5m',
      },
    ],
  },
  LexeconSlowDecisions: {
    firing: [
      {
        name: 'evaluations take 0.5–1 s',
        series: { [evaluation('0.5')]: '0x15', [evaluation('1')]: '0+60x15', [evaluation('+Inf')]: '0+60x15' },
        at: '10m',
        labels: DEPLOYMENT,
        description: 'The 95th percentile of policy evaluation is 975ms (threshold 500ms).',
      },
    ],
    quiet: [
      {
        name: 'evaluations take under a millisecond',
        series: { [evaluation('0.001')]: '0+60x15', [evaluation('+Inf')]: '0+60x15' },
        at: '10m',
      },
    ],
  },
  LexeconHighConcurrentRequests: {
    firing: [
      {
        name: '150 requests in flight',
        series: { [`lexecon_concurrent_requests{${POD}}`]: '150x10' },
        at: '6m',
        labels: INSTANCE,
        description: 'Lexecon 10.0.0.1:8000 is serving 150 requests at once.',
      },
    ],
    quiet: [{ name: '50 requests in flight', series: { [`lexecon_concurrent_requests{${POD}}`]: '50x10' }, at: '6m' }],
  },
  LexeconDatabaseErrors: {
    firing: [
      {
        name: '10 failed statements per second',
        series: { [`lexecon_db_errors_total{${POD}, error_type="timeout"}`]: '0+600x10' },
        at: '5m',
        labels: DEPLOYMENT,
        description: '10 database statements fail per second.',
      },
    ],
    quiet: [
      {
        name: '1 failed statement per second',
        series: { [`lexecon_db_errors_total{${POD}, error_type="timeout"}`]: '0+60x10' },
        at: '5m',
      },
    ],
  },
  LexeconDatabaseConnectionsHigh: {
    firing: [
      {
        name: 'two pods with 45 busy connections each',
        series: {
          [`lexecon_db_connections_active{${POD}}`]: '45x10',
          [`lexecon_db_connections_active{${POD2}}`]: '45x10',
        },
        at: '6m',
        labels: DEPLOYMENT,
        description: 'Lexecon instances hold 90 active database connections together.',
      },
    ],
    quiet: [
      {
        name: 'two pods with 30 busy connections each',
        series: {
          [`lexecon_db_connections_active{${POD}}`]: '30x10',
          [`lexecon_db_connections_active{${POD2}}`]: '30x10',
        },
        at: '6m',
      },
    ],
  },
  LexeconSlowQueries: {
    firing: [
      {
        name: 'selects take 1–2.5 s',
        series: { [query('1')]: '0x15', [query('2.5')]: '0+60x15', [query('+Inf')]: '0+60x15' },
        at: '10m',
        labels: { ...DEPLOYMENT, operation: 'select' },
        description: 'The 95th percentile of select statements is 2.425s.',
      },
    ],
    quiet: [
      {
        name: 'selects take under 10 ms',
        series: { [query('0.01')]: '0+60x15', [query('+Inf')]: '0+60x15' },
        at: '10m',
      },
    ],
  },
  LexeconLowCacheHitRate: {
    firing: [
      {
        name: 'one lookup in four hits',
        series: {
          [`lexecon_cache_hits_total{${POD}, cache_name="api_keys"}`]: '0+30x25',
          [`lexecon_cache_misses_total{${POD}, cache_name="api_keys"}`]: '0+90x25',
        },
        at: '22m',
        labels: { ...DEPLOYMENT, cache_name: 'api_keys' },
        description: 'Cache api_keys hit rate is 25%.',
      },
    ],
    quiet: [
      {
        name: 'three lookups in four hit',
        series: {
          [`lexecon_cache_hits_total{${POD}, cache_name="api_keys"}`]: '0+90x25',
          [`lexecon_cache_misses_total{${POD}, cache_name="api_keys"}`]: '0+30x25',
        },
        at: '22m',
      },
      {
        name: 'an idle cache (no lookups at all)',
        series: {
          [`lexecon_cache_hits_total{${POD}, cache_name="api_keys"}`]: '0x25',
          [`lexecon_cache_misses_total{${POD}, cache_name="api_keys"}`]: '0x25',
        },
        at: '22m',
      },
    ],
  },
  LexeconHighCacheEvictionRate: {
    firing: [
      {
        name: '200 evictions per second',
        series: { [`lexecon_cache_evictions_total{${POD}, cache_name="api_keys", reason="size"}`]: '0+12000x15' },
        at: '10m',
        labels: { ...DEPLOYMENT, cache_name: 'api_keys' },
        description: 'Cache api_keys evicts 200 entries per second.',
      },
    ],
    quiet: [
      {
        name: '1 eviction per second',
        series: { [`lexecon_cache_evictions_total{${POD}, cache_name="api_keys", reason="size"}`]: '0+60x15' },
        at: '10m',
      },
    ],
  },
  LexeconHighAuthFailureRate: {
    firing: [
      {
        name: '8 bad API keys and 8 bad passwords per second: neither alone is enough',
        series: {
          [`lexecon_auth_failures_total{${POD}, method="api_key", reason="unknown_key"}`]: '0+480x15',
          [`lexecon_auth_failures_total{${POD2}, method="password", reason="invalid_credentials"}`]: '0+480x15',
        },
        at: '10m',
        labels: DEPLOYMENT,
        description: '16 authentication attempts fail per second.',
      },
    ],
    quiet: [
      {
        name: '8 bad API keys per second',
        series: { [`lexecon_auth_failures_total{${POD}, method="api_key", reason="unknown_key"}`]: '0+480x15' },
        at: '10m',
      },
    ],
  },
  LexeconMFAFailures: {
    firing: [
      {
        name: '10 failed MFA verifications per second',
        series: { [`lexecon_mfa_verifications_total{${POD}, result="invalid_code"}`]: '0+600x15' },
        at: '10m',
        labels: DEPLOYMENT,
        description: '10 MFA verifications fail per second.',
      },
    ],
    quiet: [
      {
        name: '10 successful MFA verifications per second',
        series: { [`lexecon_mfa_verifications_total{${POD}, result="success"}`]: '0+600x15' },
        at: '10m',
      },
    ],
  },
  LexeconRateLimitingTriggered: {
    firing: [
      {
        name: 'the login limiter refuses 100 requests per second',
        series: { [`lexecon_rate_limit_hits_total{${POD}, limiter="login"}`]: '0+6000x15' },
        at: '10m',
        labels: { ...DEPLOYMENT, limiter: 'login' },
        description: 'The login limiter refuses 100 requests per second.',
      },
    ],
    quiet: [
      {
        name: 'the login limiter refuses 1 request per second',
        series: { [`lexecon_rate_limit_hits_total{${POD}, limiter="login"}`]: '0+60x15' },
        at: '10m',
      },
    ],
  },
  LexeconComplianceViolations: {
    firing: [
      {
        name: '2 violations per second',
        series: { [`lexecon_compliance_violations_total{${POD}, violation_type="GDPR", severity="high"}`]: '0+120x10' },
        at: '5m',
        labels: DEPLOYMENT,
        description: '2 compliance violations per second are flagged on recorded decisions.',
      },
    ],
    quiet: [
      {
        name: 'one violation every two seconds',
        series: { [`lexecon_compliance_violations_total{${POD}, violation_type="GDPR", severity="high"}`]: '0+30x10' },
        at: '5m',
      },
    ],
  },
  LexeconLedgerVerificationFailure: {
    firing: [
      {
        name: 'one verification fails',
        series: {
          [`lexecon_ledger_integrity_checks_total{${POD}, result="failure"}`]: '0 0 1 1 1 1 1 1',
          [`lexecon_ledger_integrity_checks_total{${POD}, result="success"}`]: '0+1x7',
        },
        at: '5m',
        labels: DEPLOYMENT,
        description:
          'Ledger verifications failed in the last 65 minutes: 1. An entry was altered, removed or signed by an untrusted key.',
      },
      {
        name: 'the hourly full pass failed 50 minutes ago (the alert has not flapped off)',
        series: { [`lexecon_ledger_integrity_checks_total{${POD}, result="failure"}`]: '0 1x60' },
        at: '50m',
        labels: DEPLOYMENT,
        description:
          'Ledger verifications failed in the last 65 minutes: 1. An entry was altered, removed or signed by an untrusted key.',
      },
    ],
    quiet: [
      {
        name: 'every verification succeeds',
        series: {
          [`lexecon_ledger_integrity_checks_total{${POD}, result="failure"}`]: '0x7',
          [`lexecon_ledger_integrity_checks_total{${POD}, result="success"}`]: '0+1x7',
        },
        at: '5m',
      },
    ],
  },
  LexeconHighDecisionDenialRate: {
    firing: [
      {
        name: 'two decisions in three denied',
        series: {
          [`lexecon_decisions_total{${POD}, allowed="false", actor="actor:model", risk_level="high"}`]: '0+60x30',
          [`lexecon_decisions_total{${POD}, allowed="true", actor="actor:model", risk_level="low"}`]: '0+30x30',
          [`lexecon_decisions_denied_total{${POD}, reason="forbidden", actor="actor:model"}`]: '0+60x30',
        },
        at: '25m',
        labels: DEPLOYMENT,
        description: '66.67% of decisions are denied or escalated.',
      },
    ],
    quiet: [
      {
        name: 'one decision in six denied',
        series: {
          [`lexecon_decisions_total{${POD}, allowed="false", actor="actor:model", risk_level="high"}`]: '0+15x30',
          [`lexecon_decisions_total{${POD}, allowed="true", actor="actor:model", risk_level="low"}`]: '0+75x30',
          [`lexecon_decisions_denied_total{${POD}, reason="forbidden", actor="actor:model"}`]: '0+15x30',
        },
        at: '25m',
      },
    ],
  },
  LexeconNoDecisions: {
    firing: [
      {
        name: 'the decision counters stay at zero',
        series: { [`lexecon_decisions_total{${POD}, allowed="true", actor="unknown", risk_level="low"}`]: '0x30' },
        at: '25m',
        labels: DEPLOYMENT,
        description: 'Lexecon recorded no decision in the last 10 minutes.',
      },
      {
        name: 'no decision series exist',
        series: { [`up{${POD}}`]: '1x30' },
        at: '25m',
        labels: { job: 'lexecon' },
        description: 'Lexecon recorded no decision in the last 10 minutes.',
      },
    ],
    quiet: [
      {
        name: 'a decision every six seconds',
        series: { [`lexecon_decisions_total{${POD}, allowed="true", actor="unknown", risk_level="low"}`]: '0+10x30' },
        at: '25m',
      },
    ],
  },
  LexeconHighMemoryUsage: {
    firing: [
      {
        name: '500 MB resident',
        series: { [`process_resident_memory_bytes{${POD}}`]: '500000000x10' },
        at: '6m',
        labels: INSTANCE,
        description: 'Lexecon 10.0.0.1:8000 uses 476.8MiB of memory.',
      },
    ],
    quiet: [
      { name: '200 MB resident', series: { [`process_resident_memory_bytes{${POD}}`]: '200000000x10' }, at: '6m' },
    ],
  },
  LexeconHighCPUUsage: {
    firing: [
      {
        name: '0.45 cores',
        series: { [`process_cpu_seconds_total{${POD}}`]: '0+27x20' },
        at: '15m',
        labels: INSTANCE,
        description: 'Lexecon 10.0.0.1:8000 uses 0.45 cores.',
      },
    ],
    quiet: [{ name: '0.2 cores', series: { [`process_cpu_seconds_total{${POD}}`]: '0+12x20' }, at: '15m' }],
  },
  LexeconAvailabilityBudgetBurnFast: {
    firing: [
      {
        name: '10 % of requests fail for an hour',
        series: { [requests('500')]: '0+6x80', [requests('200')]: '0+54x80' },
        at: '70m',
        labels: DEPLOYMENT,
        description: 'At this 5xx rate the 30-day 99.9 % availability budget is gone in days; 10% of requests fail.',
      },
    ],
    quiet: [
      {
        name: '0.1 % of requests fail (exactly the budget)',
        series: { [requests('500')]: '0+1x80', [requests('200')]: '0+999x80' },
        at: '70m',
      },
    ],
  },
  LexeconAvailabilityBudgetBurnSlow: {
    firing: [
      {
        name: '0.5 % of requests fail for hours',
        series: { [requests('500')]: '0+5x200', [requests('200')]: '0+995x200' },
        at: '150m',
        labels: DEPLOYMENT,
        description: '0.5% of requests fail: more than the 99.9 % objective allows over 30 days.',
      },
    ],
    quiet: [
      {
        name: '0.05 % of requests fail',
        series: { [requests('500')]: '0+1x200', [requests('200')]: '0+1999x200' },
        at: '150m',
      },
    ],
  },
  LexeconDecisionLatencyBudgetBurnFast: {
    firing: [
      {
        name: '20 % of decisions slower than 250 ms for an hour',
        series: decideBuckets('0+80x80', '0+100x80'),
        at: '70m',
        labels: DEPLOYMENT,
        description: '20% of POST /api/decide take longer than 250ms (objective: at most 1 %).',
      },
    ],
    quiet: [{ name: '0.5 % of decisions slow', series: decideBuckets('0+995x80', '0+1000x80'), at: '70m' }],
  },
  LexeconDecisionLatencyBudgetBurnSlow: {
    firing: [
      {
        name: '5 % of decisions slower than 250 ms for hours',
        series: decideBuckets('0+95x200', '0+100x200'),
        at: '150m',
        labels: DEPLOYMENT,
        description: '5% of POST /api/decide take longer than 250ms (objective: at most 1 %).',
      },
    ],
    quiet: [{ name: '0.5 % of decisions slow', series: decideBuckets('0+995x200', '0+1000x200'), at: '150m' }],
  },
  Watchdog: {
    firing: [
      {
        name: 'always, even with no series at all',
        series: {},
        at: '1m',
        labels: {},
        description: 'Always firing. If this alert stops arriving, Prometheus or Alertmanager is broken.',
      },
    ],
    quietImpossible: 'the heartbeat fires by design; its absence is what a dead man’s switch detects',
  },
};

/** A promtool test file for one alert's cases. */
function promtoolTests(rule: Rule & { alert: string }, cases: Case[], firing: boolean): string {
  return stringify({
    rule_files: [RULES_FILE],
    evaluation_interval: '1m',
    tests: cases.map((c) => ({
      name: `${rule.alert} ${firing ? 'fires' : 'stays silent'}: ${c.name}`,
      interval: '1m',
      input_series: Object.entries(c.series).map(([series, values]) => ({ series, values })),
      alert_rule_test: [
        {
          eval_time: c.at,
          alertname: rule.alert,
          exp_alerts: firing
            ? [
                {
                  exp_labels: { ...rule.labels, ...c.labels },
                  exp_annotations: { ...rule.annotations, description: c.description },
                },
              ]
            : [],
        },
      ],
    })),
  });
}

function runPromtool(file: string, text: string) {
  const path = join(dir, file);
  writeFileSync(path, text);
  return spawnSync(promtool, ['test', 'rules', path], { encoding: 'utf8' });
}

describe('the rules file', () => {
  it('passes promtool check rules', () => {
    const result = spawnSync(promtool, ['check', 'rules', RULES_FILE], { encoding: 'utf8' });
    expect(result.stdout + result.stderr).toContain('SUCCESS');
    expect(result.status).toBe(0);
  });

  it('names only series of the catalogue, `up`, and its own recording rules, with labels they carry', () => {
    for (const rule of rules) {
      const names = namesIn(rule.expr);
      for (const series of names.series) {
        expect(
          CATALOGUE_SERIES.has(series) || series === 'up' || recorded.has(series),
          `${series} in ${rule.alert ?? rule.record}`,
        ).toBe(true);
      }
      for (const { series, labels } of names.selectors) {
        for (const label of labels)
          expect(labelsOf(series), `${series}{${label}} in ${rule.alert ?? rule.record}`).toContain(label);
      }
      const everyLabel = new Set(names.series.flatMap(labelsOf));
      for (const label of names.grouping)
        expect([...everyLabel], `by (${label}) in ${rule.alert ?? rule.record}`).toContain(label);
    }
  });

  it('has every alert of the spec’s two tables, with its severity and duration', () => {
    const spec: Record<string, [string, string]> = {
      LexeconServiceDown: ['critical', '1m'],
      LexeconCriticalErrorRate: ['critical', '2m'],
      LexeconDatabaseErrors: ['critical', '2m'],
      LexeconComplianceViolations: ['critical', '2m'],
      LexeconLedgerVerificationFailure: ['critical', '1m'],
      LexeconHighErrorRate: ['warning', '5m'],
      LexeconHighLatency: ['warning', '5m'],
      LexeconVeryHighLatency: ['warning', '2m'],
      LexeconSlowDecisions: ['warning', '5m'],
      LexeconDatabaseConnectionsHigh: ['warning', '5m'],
      LexeconLowCacheHitRate: ['warning', '10m'],
      LexeconHighAuthFailureRate: ['warning', '5m'],
    };
    for (const [name, [severity, duration]] of Object.entries(spec)) {
      const alert = alerts.find((a) => a.alert === name);
      expect(alert, name).toBeDefined();
      expect([alert?.labels?.severity, alert?.for], name).toEqual([severity, duration]);
    }
  });

  it.each(alerts.map((a) => [a.alert, a] as const))(
    '%s has a severity, a component, a summary, a description and a runbook section',
    (_name, alert) => {
      if (alert.alert !== 'Watchdog') {
        expect(['critical', 'warning']).toContain(alert.labels?.severity);
        expect(alert.labels?.component).toMatch(/^[a-z_]+$/);
      }
      expect(alert.annotations?.summary).toBeTruthy();
      expect(alert.annotations?.description).toBeTruthy();
      expect(runbooks).toMatch(new RegExp(`^## ${alert.alert}$`, 'm'));
    },
  );

  it.each(alerts.map((a) => [a.alert, a] as const))(
    '%s links its runbook section with an absolute https URL under the runbook base',
    (name, alert) => {
      const link = alert.annotations?.runbook_url ?? '';
      const url = new URL(link);
      expect(url.protocol).toBe('https:');
      expect(link).toBe(`${DEFAULT_RUNBOOK_BASE_URL}#${name.toLowerCase()}`);
      // The link names the runbooks file of this repository and a heading that file has.
      expect(url.pathname.endsWith(`/${RUNBOOKS_FILE}`)).toBe(true);
      expect(existsSync(join(root, RUNBOOKS_FILE))).toBe(true);
      expect(anchors).toContain(url.hash);
    },
  );

  it('takes every runbook link from the one base `npm run generate:prometheus-rule` writes', () => {
    expect(withRunbookBase(rulesText, DEFAULT_RUNBOOK_BASE_URL)).toBe(rulesText);
    const elsewhere = withRunbookBase(rulesText, 'https://wiki.example.org/sre/lexecon-runbooks');
    const links = (text: string) =>
      (parse(text) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) =>
        g.rules.flatMap((r) => (r.alert ? [r.annotations?.runbook_url] : [])),
      );
    expect(links(elsewhere)).toEqual(
      alerts.map((a) => `https://wiki.example.org/sre/lexecon-runbooks#${a.alert.toLowerCase()}`),
    );
    // Nothing but the links changes, and the operator's copy follows.
    expect(withRunbookBase(elsewhere, DEFAULT_RUNBOOK_BASE_URL)).toBe(rulesText);
    expect(renderPrometheusRule(elsewhere)).toContain(
      'runbook_url: https://wiki.example.org/sre/lexecon-runbooks#watchdog',
    );
    expect(() => withRunbookBase(rulesText, 'http://wiki.example.org/runbooks')).toThrow('an https URL');
    expect(() => withRunbookBase(rulesText, 'docs/runbooks.md')).toThrow();
  });
});

describe('promtool test rules', () => {
  it('has a firing and a silent case for every alert', () => {
    expect(Object.keys(CASES).sort()).toEqual(alerts.map((a) => a.alert).sort());
    const withoutQuiet = Object.entries(CASES).filter(([, c]) => !('quiet' in c));
    expect(withoutQuiet.map(([name]) => name)).toEqual(['Watchdog']);
  });

  it.each(alerts.map((a) => [a.alert, a] as const))('%s fires when it should and only then', (name, alert) => {
    const cases = CASES[name];
    if (!cases) throw new Error(`no promtool cases for ${name}`);
    const fires = runPromtool(`${name}-fires.yaml`, promtoolTests(alert, cases.firing, true));
    expect(fires.status, fires.stdout + fires.stderr).toBe(0);
    if ('quiet' in cases) {
      const quiet = runPromtool(`${name}-quiet.yaml`, promtoolTests(alert, cases.quiet, false));
      expect(quiet.status, quiet.stdout + quiet.stderr).toBe(0);
    }
  });
});

describe('Alertmanager routing', () => {
  const routes = (...labels: string[]) =>
    execFileSync(amtool, ['config', 'routes', 'test', `--config.file=${ALERTMANAGER_FILE}`, ...labels], {
      encoding: 'utf8',
    }).trim();

  it('passes amtool check-config', () => {
    const result = spawnSync(amtool, ['check-config', ALERTMANAGER_FILE], { encoding: 'utf8' });
    expect(result.stdout + result.stderr).toContain('SUCCESS');
    expect(result.status).toBe(0);
  });

  it('pages PagerDuty for critical, posts warnings to Slack, and keeps the Watchdog out of both', () => {
    expect(routes('alertname=LexeconLedgerVerificationFailure', 'severity=critical')).toBe('pagerduty');
    expect(routes('alertname=LexeconHighAuthFailureRate', 'severity=warning')).toBe('slack-notifications');
    expect(routes('alertname=Watchdog', 'severity=none')).toBe('watchdog');
    // Anything unlabelled still reaches a human.
    expect(routes('alertname=SomethingNew')).toBe('slack-notifications');
  });

  it.each(alerts.map((a) => [a.alert, a] as const))('routes %s by its severity', (name, alert) => {
    const expected = { critical: 'pagerduty', warning: 'slack-notifications', none: 'watchdog' }[
      alert.labels?.severity ?? ''
    ];
    expect(routes(`alertname=${name}`, `severity=${alert.labels?.severity}`)).toBe(expected);
  });

  it("uses the spec's group_wait, group_interval and repeat_interval", () => {
    const config = parse(readFileSync(ALERTMANAGER_FILE, 'utf8'));
    expect(config.route).toMatchObject({ group_wait: '30s', group_interval: '5m', repeat_interval: '4h' });
    for (const route of config.route.routes.filter((r: { receiver: string }) => r.receiver !== 'watchdog')) {
      expect(route.group_wait ?? route.group_interval ?? route.repeat_interval, route.receiver).toBeUndefined();
    }
  });

  it('lets a critical alert silence the warnings of the same component, which every alert names', () => {
    const config = parse(readFileSync(ALERTMANAGER_FILE, 'utf8'));
    expect(config.inhibit_rules).toContainEqual({
      source_matchers: ['severity="critical"'],
      target_matchers: ['severity="warning"'],
      equal: ['namespace', 'job', 'component'],
    });
    const components = (severity: string) =>
      new Set(alerts.filter((a) => a.labels?.severity === severity).map((a) => a.labels?.component));
    // Each critical component has warnings to silence, or the rule would be dead weight.
    const shared = [...components('critical')].filter((c) => components('warning').has(c));
    expect(shared.sort()).toEqual(['api', 'database', 'slo']);
  });
});
