import { context, DiagLogLevel, diag, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import type { Config } from '../config';
import { summarizeError } from './error-summary';
import type { Logger } from './logger';
import { createMetricsTelemetry } from './metrics';
import { registerProcessMetrics } from './process';
import { createPrometheusMetrics } from './prometheus';
import {
  createExportTracker,
  createOtlpMetricReader,
  createResource,
  createTracerProvider,
  type ExportTracker,
} from './sdk';
import { type MetricsRenderer, noopTelemetry, noopTracing, type Telemetry } from './telemetry';
import { createTracing } from './tracing';

const SCOPE = 'lexecon';

export interface NodeTelemetry {
  telemetry: Telemetry;
  metrics: MetricsRenderer;
  /** Last success and failure of each exporter (and of /metrics scrapes), for /health. */
  exportStatus(): ReturnType<ExportTracker['status']>;
  /** Flushes pending spans and pushed metrics, then stops the SDK. */
  shutdown(): Promise<void>;
}

/**
 * The OpenTelemetry SDK for the Node entry: metrics pulled on /metrics and/or pushed over OTLP,
 * traces over OTLP/HTTP to the collector sidecar with the AsyncLocalStorage context manager (so
 * context survives awaits), process metrics, and the SDK's own diagnostics in our log.
 */
export function createNodeTelemetry(
  config: Config['telemetry'],
  identity: { version: string; instanceId: string; logger: Logger },
): NodeTelemetry {
  const { logger } = identity;
  if (config.tracing.jaegerEndpoint) {
    logger.warn(
      'JAEGER_ENDPOINT is ignored: the Jaeger agent protocol (UDP 6831) is retired; traces go to the OpenTelemetry collector over OTLP/HTTP. Set OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) to choose where.',
      { jaeger_endpoint: config.tracing.jaegerEndpoint, otlp_traces_endpoint: config.tracing.tracesEndpoint },
    );
  }
  if (config.disabled) {
    return {
      telemetry: noopTelemetry,
      metrics: { render: async () => '# telemetry is disabled (OTEL_SDK_DISABLED=true)\n' },
      exportStatus: () => ({}),
      shutdown: async () => {},
    };
  }
  diag.setLogger(createDiagLogger(logger), DiagLogLevel.WARN);

  const serviceIdentity = {
    serviceName: config.serviceName,
    serviceVersion: identity.version,
    instanceId: identity.instanceId,
    attributes: config.resourceAttributes,
  };
  const exports = createExportTracker();
  const push =
    config.metricsExporter === 'prometheus'
      ? []
      : [createOtlpMetricReader(config.metricsEndpoint, config.metricExportIntervalMs, exports)];
  const prometheus = createPrometheusMetrics({
    ...serviceIdentity,
    detailed: config.detailedMetrics,
    readers: push,
    pull: config.metricsExporter !== 'otlp',
  });
  const meter = prometheus.provider.getMeter(SCOPE, identity.version);
  const metrics = createMetricsTelemetry(meter, { detailed: config.detailedMetrics });
  metrics.flagEvaluated('metrics_detailed', config.detailedMetrics);
  const runtime = registerProcessMetrics(meter);

  let tracing = noopTracing;
  let tracerProvider: ReturnType<typeof createTracerProvider> | undefined;
  if (config.tracing.enabled) {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    tracerProvider = createTracerProvider({
      resource: createResource(serviceIdentity),
      sampleRate: config.tracing.sampleRate,
      tracesEndpoint: config.tracing.tracesEndpoint,
      meterProvider: prometheus.provider,
      exports,
    });
    // Global too, so the spec's traced()/traceFunction() helpers reach the same provider.
    trace.setGlobalTracerProvider(tracerProvider);
    tracing = createTracing(tracerProvider.getTracer(SCOPE, identity.version), config.tracing);
    logger.info('tracing on', {
      sample_rate: config.tracing.sampleRate,
      sample_rates: config.tracing.routeSampleRates,
      endpoint: config.tracing.tracesEndpoint,
    });
  }

  return {
    telemetry: { ...metrics, ...tracing },
    metrics: {
      async render() {
        const text = await prometheus.render();
        if (config.metricsExporter !== 'otlp') exports.record('prometheus_scrape', true);
        return text;
      },
    },
    exportStatus: exports.status,
    async shutdown() {
      await tracerProvider?.shutdown();
      runtime.stop();
      await prometheus.shutdown();
    },
  };
}

/**
 * The SDK reports export failures through `diag`; log them, but each distinct message at most once
 * a minute, so a collector that is down for an hour does not become the log.
 */
function createDiagLogger(logger: Logger) {
  const lastSeen = new Map<string, number>();
  const once =
    (level: 'warn' | 'error') =>
    (message: string, ...args: unknown[]) => {
      const now = Date.now();
      if ((lastSeen.get(message) ?? 0) > now - 60_000) return;
      if (lastSeen.size > 100) lastSeen.clear();
      lastSeen.set(message, now);
      logger[level]('opentelemetry sdk', { detail: message, args: args.map(describe) });
    };
  const ignore = () => {};
  return { error: once('error'), warn: once('warn'), info: ignore, debug: ignore, verbose: ignore };
}

function describe(value: unknown): unknown {
  if (value instanceof Error) return summarizeError(value);
  if (typeof value === 'string') return value.slice(0, 500);
  try {
    return JSON.stringify(value).slice(0, 500);
  } catch {
    return String(value);
  }
}
