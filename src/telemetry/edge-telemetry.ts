import { context, type Meter, propagation } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { JsonMetricsSerializer, JsonTraceSerializer } from '@opentelemetry/otlp-transformer';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import type { Config } from '../config';
import { AsyncLocalStorageContext } from './async-context';
import { createMetricsTelemetry } from './metrics';
import { dataPointCount, HeldSpans, OnDemandMetricReader, type OtlpTarget, postOtlp } from './otlp-push';
import { createExportTracker, createResource, createSampler, type ExportTracker } from './sdk';
import { noopCacheMetrics, noopTelemetry, noopTracing, type Telemetry } from './telemetry';
import { createTracing } from './tracing';
import { metricViews } from './views';

const SCOPE = 'lexecon';
// Well inside a request's waitUntil budget (30 s after the response).
const PUSH_TIMEOUT_MS = 10_000;

/**
 * Services are per request, so the cache metrics are off: their API-key cache never outlives one
 * lookup, counting its misses would only trip the hit-rate alert, and registering its gauge would
 * leak a callback per request. There is no pool to observe, and a session gauge would register a
 * database read per request (the Node build, or a scrape of the database, reports it).
 */
const STATELESS = {
  ...noopCacheMetrics,
  observeConnections() {},
  observeSessions() {},
} satisfies Partial<Telemetry>;

export interface EdgeTelemetry {
  /** What the isolate's per-request services report through (see STATELESS). */
  telemetry: Telemetry;
  /** Last success and failure of each push, for the telemetry health check. */
  exportStatus(): ReturnType<ExportTracker['status']>;
  /** Pushes the spans ended so far and every metric; never rejects (failures are counted). */
  flush(): Promise<void>;
}

export interface EdgeTelemetryOptions {
  version: string;
  instanceId: string;
  /** OTEL_EXPORTER_OTLP_HEADERS: sent with every push (the collector is reached over the internet). */
  headers: Record<string, string>;
}

/**
 * The OpenTelemetry SDK for the Workers entry. The same instruments, views and span helpers as the
 * Node build, so names and attributes match; what differs is delivery: there is no process to
 * scrape and no timer between requests, so each request's flush pushes over OTLP/HTTP with fetch.
 */
export function createEdgeTelemetry(config: Config['telemetry'], options: EdgeTelemetryOptions): EdgeTelemetry {
  if (config.disabled) return { telemetry: noopTelemetry, exportStatus: () => ({}), flush: async () => {} };
  const resource = createResource({
    serviceName: config.serviceName,
    serviceVersion: options.version,
    instanceId: options.instanceId,
    attributes: config.resourceAttributes,
  });
  const exports = createExportTracker();
  const reader = new OnDemandMetricReader();
  const meterProvider = new MeterProvider({ resource, readers: [reader], views: metricViews(config.detailedMetrics) });
  const meter = meterProvider.getMeter(SCOPE, options.version);
  const metrics = createMetricsTelemetry(meter, { detailed: config.detailedMetrics });
  metrics.flagEvaluated('metrics_detailed', config.detailedMetrics);
  const exported = createExportCounters(meter);

  const held = new HeldSpans();
  let tracing = noopTracing;
  if (config.tracing.enabled) {
    context.setGlobalContextManager(new AsyncLocalStorageContext());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    const tracerProvider = new TracerProvider({
      resource,
      sampler: createSampler(config.tracing.sampleRate),
      spanProcessors: [held],
    });
    tracing = createTracing(tracerProvider.getTracer(SCOPE, options.version), config.tracing);
  }

  const target = (url: string): OtlpTarget => ({ url, headers: options.headers, timeoutMs: PUSH_TIMEOUT_MS });
  const traces = target(config.tracing.tracesEndpoint);
  const metricsTarget = target(config.metricsEndpoint);

  async function pushSpans(): Promise<void> {
    const { spans, dropped } = held.take();
    if (dropped > 0) exported.spans(dropped, 'queue_full');
    if (spans.length === 0) return;
    try {
      await postOtlp(traces, JsonTraceSerializer.serializeRequest(spans) as Uint8Array<ArrayBuffer>);
      exports.record('otlp_traces', true);
      exported.spans(spans.length);
    } catch (err) {
      exports.record('otlp_traces', false, err);
      exported.spans(spans.length, errorType(err));
    }
  }

  async function pushMetrics(): Promise<void> {
    try {
      const collected = await reader.read();
      const points = dataPointCount(collected);
      try {
        await postOtlp(metricsTarget, JsonMetricsSerializer.serializeRequest(collected) as Uint8Array<ArrayBuffer>);
        exports.record('otlp_metrics', true);
        exported.points(points);
      } catch (err) {
        exports.record('otlp_metrics', false, err);
        exported.points(points, errorType(err));
      }
    } catch (err) {
      exports.record('otlp_metrics', false, err);
    }
  }

  return {
    telemetry: { ...metrics, ...tracing, ...STATELESS },
    exportStatus: exports.status,
    // Spans first: the metric push then carries the span counts of this very flush.
    flush: () => pushSpans().then(pushMetrics),
  };
}

/**
 * What each push carried or lost, under the OpenTelemetry SDK's own self-observability names
 * (semantic conventions, otel.sdk.exporter.*), so a failed flush shows up on the next one that works.
 */
function createExportCounters(meter: Meter) {
  const spans = meter.createCounter('otel.sdk.exporter.span.exported', {
    description: 'Spans the OTLP push delivered, or lost (with error.type)',
    unit: '{span}',
  });
  const points = meter.createCounter('otel.sdk.exporter.metric_data_point.exported', {
    description: 'Metric data points the OTLP push delivered, or lost (with error.type)',
    unit: '{data_point}',
  });
  const component = { 'otel.component.type': 'otlp_http_json_exporter' };
  const failed = new Map<string, Record<string, string>>();
  const attributes = (error: string | undefined) => {
    if (error === undefined) return component;
    let value = failed.get(error);
    if (!value) {
      value = { ...component, 'error.type': error };
      failed.set(error, value);
    }
    return value;
  };
  return {
    spans: (count: number, error?: string) => spans.add(count, attributes(error)),
    points: (count: number, error?: string) => points.add(count, attributes(error)),
  };
}

/** A bounded error.type: the HTTP status, a timeout, or the error's class. */
function errorType(err: unknown): string {
  if (err && typeof err === 'object' && 'status' in err) return String((err as { status: unknown }).status);
  if (err instanceof Error) return err.name === 'TimeoutError' ? 'timeout' : err.name.slice(0, 40) || 'Error';
  return 'unknown';
}
