import type { Attributes, Meter } from '@opentelemetry/api';
import { METRICS, SUMMARY_QUANTILES } from '../catalogue';
import { createSlidingQuantiles } from '../summary';
import { type HttpMetrics, type HttpRouteRecorder, UNMATCHED } from '../telemetry';
import { instrumentsOf } from './instruments';

// Route templates are bounded by code, but a cap keeps a bug from growing series without end.
const MAX_ROUTES = 500;

export interface HttpMetricsOptions {
  /** FEATURE_FLAG_METRICS_DETAILED: the latency summary per endpoint and method. */
  detailed: boolean;
  now: () => number;
}

interface RouteRecorder extends HttpRouteRecorder {
  /** Makes the route's series for `status` exist at zero. */
  init(status: number): void;
}

interface RequestCount {
  attributes: Attributes;
  count: number;
}

/**
 * Requests served, their duration, the latency summary, response sizes and requests in flight. The
 * per-request path touches one histogram: request counts and the summary are kept in plain numbers
 * and observed at collection time, with attribute objects built once per route.
 */
export function createHttpMetrics(meter: Meter, options: HttpMetricsOptions): HttpMetrics {
  const { histogram, gauge } = instrumentsOf(meter);
  const httpDuration = histogram(METRICS.httpDuration);
  const responseSize = histogram(METRICS.responseSize);
  const requestCounts: RequestCount[] = [];
  const summary = createSlidingQuantiles(SUMMARY_QUANTILES, { now: options.now });
  const summaryAttributes = new Map<string, Attributes>([['', {}]]);
  let inFlight = 0;

  meter
    .createObservableCounter(METRICS.httpRequests.name, { description: METRICS.httpRequests.help, unit: '{request}' })
    .addCallback((result) => {
      for (const series of requestCounts) result.observe(series.count, series.attributes);
    });
  gauge(METRICS.concurrentRequests).addCallback((result) => result.observe(inFlight));
  registerSummary(meter, summary, summaryAttributes);

  function createRoute(method: string, endpoint: string): RouteRecorder {
    const durationAttributes = { method, endpoint };
    const sizeAttributes = { endpoint };
    const summaryKey = options.detailed ? `${endpoint}\u0000${method}` : '';
    if (!summaryAttributes.has(summaryKey)) summaryAttributes.set(summaryKey, { endpoint, method });
    summary.ensure(summaryKey);
    const byStatus = new Map<number, RequestCount>();
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

  const routes = new Map<string, Map<string, RouteRecorder>>();
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

  return {
    // Always: the design names response size among the middleware's counters, and it costs a listener.
    measuresResponseSize: true,
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
  };
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
