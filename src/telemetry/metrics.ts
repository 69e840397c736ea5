import type { Meter } from '@opentelemetry/api';
import { METRICS } from './catalogue';
import { createAuthMetrics } from './metrics/auth';
import { createCacheMetrics } from './metrics/cache';
import { createDatabaseMetrics } from './metrics/database';
import { createDecisionMetrics } from './metrics/decisions';
import { createErrorMetrics } from './metrics/errors';
import { createFlagMetrics } from './metrics/flags';
import { createHttpMetrics } from './metrics/http';
import { createTurns, instrumentsOf } from './metrics/instruments';
import { createLedgerMetrics } from './metrics/ledger';
import { createPolicyMetrics } from './metrics/policies';
import type { MetricsRecorder } from './telemetry';

export interface MetricsTelemetryOptions {
  /** FEATURE_FLAG_METRICS_DETAILED: per-endpoint summary series and response sizes. */
  detailed: boolean;
  now?: () => number;
}

/**
 * The OpenTelemetry implementation of the metrics half of Telemetry, over the API's Meter only (the
 * SDK is wired by the runtime entry): one recorder per concern, each owning its instruments. They
 * are created in exposition order, since the SDK reports instruments in the order they were made.
 */
export function createMetricsTelemetry(meter: Meter, options: MetricsTelemetryOptions): MetricsRecorder {
  const now = options.now ?? Date.now;
  const startedAt = now();
  // A collection runs every callback at once; the ones that query the database take turns, so the
  // connection count never sees the scrape's own session count running as an "active" connection.
  const turns = createTurns();
  const http = createHttpMetrics(meter, { detailed: options.detailed, now });
  const { databaseRecovered, ...errors } = createErrorMetrics(meter);
  const decisions = createDecisionMetrics(meter);
  const ledger = createLedgerMetrics(meter);
  const policies = createPolicyMetrics(meter);
  const database = createDatabaseMetrics(meter, { turns, recovered: databaseRecovered });
  const auth = createAuthMetrics(meter, { turns });
  const cache = createCacheMetrics(meter);
  const flags = createFlagMetrics(meter);
  instrumentsOf(meter)
    .gauge(METRICS.uptime)
    .addCallback((result) => result.observe((now() - startedAt) / 1000));
  return { ...http, ...errors, ...decisions, ...ledger, ...policies, ...database, ...auth, ...cache, ...flags };
}
