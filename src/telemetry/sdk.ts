import type { MeterProvider as ApiMeterProvider } from '@opentelemetry/api';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { type Resource, resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationTemporality, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  type BufferConfig,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';

/**
 * The OpenTelemetry SDK pieces a runtime entry assembles: one Resource for every signal, the tracer
 * provider (parent-based ratio sampling, batched OTLP/HTTP export with a bounded queue) and the
 * optional OTLP metric push reader. Entries only; everything else uses the API.
 */
export interface ServiceIdentity {
  serviceName: string;
  serviceVersion: string;
  instanceId: string;
  /** OTEL_RESOURCE_ATTRIBUTES; service.* given here win over it. */
  attributes?: Record<string, string>;
}

export function createResource(identity: ServiceIdentity): Resource {
  return resourceFromAttributes({
    ...identity.attributes,
    'service.name': identity.serviceName,
    'service.version': identity.serviceVersion,
    'service.instance.id': identity.instanceId,
  });
}

export interface TracingOptions {
  resource: Resource;
  sampleRate: number;
  tracesEndpoint: string;
  /** Where the SDK reports its own health (spans dropped when the queue is full, export failures). */
  meterProvider?: ApiMeterProvider;
  /** Bounds memory when the collector is slow or down: spans past it are dropped and counted. */
  maxQueueSize?: number;
  scheduledDelayMillis?: number;
  exportTimeoutMillis?: number;
}

export function createTracerProvider(options: TracingOptions): BasicTracerProvider {
  const exporter = new OTLPTraceExporter({
    url: options.tracesEndpoint,
    timeoutMillis: options.exportTimeoutMillis ?? 10_000,
  });
  const config: BufferConfig & { selfObsMeterProvider?: ApiMeterProvider } = {
    maxQueueSize: options.maxQueueSize ?? 2048,
    maxExportBatchSize: 512,
    scheduledDelayMillis: options.scheduledDelayMillis ?? 2000,
    exportTimeoutMillis: options.exportTimeoutMillis ?? 10_000,
    // The processor's own metrics (otel_sdk_processor_span_processed_total{error_type="queue_full"}
    // counts dropped spans); the shim's config type omits it, the processor it extends takes it.
    selfObsMeterProvider: options.meterProvider,
  };
  const processor = new BatchSpanProcessor(exporter, config);
  return new BasicTracerProvider({
    resource: options.resource,
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(options.sampleRate) }),
    spanProcessors: [processor],
  });
}

/**
 * Pushes every metric over OTLP/HTTP with cumulative temporality, so what the collector renders for
 * Prometheus has the same values, names and meaning as the pull path (docs/metrics.md).
 */
export function createOtlpMetricReader(endpoint: string, intervalMs: number): PeriodicExportingMetricReader {
  return new PeriodicExportingMetricReader({
    exporter: new OTLPMetricExporter({ url: endpoint, temporalityPreference: AggregationTemporality.CUMULATIVE }),
    exportIntervalMillis: intervalMs,
    exportTimeoutMillis: Math.min(intervalMs, 10_000),
  });
}
