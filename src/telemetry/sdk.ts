import type { MeterProvider as ApiMeterProvider, Context as OtelContext } from '@opentelemetry/api';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { type Resource, resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationTemporality, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import {
  BatchSpanProcessor,
  ParentBasedSampler,
  type Sampler,
  SamplingDecision,
  type SamplingResult,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { HEAD_SAMPLED } from './tracing';

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

/** When each exporter last succeeded and failed, for the telemetry health check. */
export interface ExportTracker {
  record(signal: string, ok: boolean, error?: unknown): void;
  status(): Record<
    string,
    { last_success_at: string | null; last_failure_at: string | null; last_error: string | null }
  >;
}

export function createExportTracker(): ExportTracker {
  const state = new Map<
    string,
    { last_success_at: string | null; last_failure_at: string | null; last_error: string | null }
  >();
  return {
    record(signal, ok, error) {
      const entry = state.get(signal) ?? { last_success_at: null, last_failure_at: null, last_error: null };
      const at = new Date().toISOString();
      if (ok) entry.last_success_at = at;
      else {
        entry.last_failure_at = at;
        // The kind of failure only: messages can carry URLs with credentials.
        entry.last_error = error instanceof Error ? error.name : error === undefined ? 'failed' : 'error';
      }
      state.set(signal, entry);
    },
    status: () => Object.fromEntries(state),
  };
}

/** Wraps an OTLP exporter's export() to report each result to the tracker. */
function tracked<T extends { export(items: never, done: (result: ExportResult) => void): void }>(
  exporter: T,
  signal: string,
  tracker: ExportTracker | undefined,
): T {
  if (!tracker) return exporter;
  const original = exporter.export.bind(exporter) as (items: unknown, done: (result: ExportResult) => void) => void;
  (exporter as { export: unknown }).export = (items: unknown, done: (result: ExportResult) => void) =>
    original(items, (result) => {
      tracker.record(signal, result.code === ExportResultCode.SUCCESS, result.error);
      done(result);
    });
  return exporter;
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
  exports?: ExportTracker;
}

export function createTracerProvider(options: TracingOptions): TracerProvider {
  const exporter = tracked(
    new OTLPTraceExporter({ url: options.tracesEndpoint, timeoutMillis: options.exportTimeoutMillis ?? 10_000 }),
    'otlp_traces',
    options.exports,
  );
  const processor = new BatchSpanProcessor({
    exporter,
    maxQueueSize: options.maxQueueSize ?? 2048,
    maxExportBatchSize: 512,
    scheduledDelayMillis: options.scheduledDelayMillis ?? 2000,
    exportTimeoutMillis: options.exportTimeoutMillis ?? 10_000,
    // The processor's own metrics: otel_sdk_processor_span_processed_total{error_type="queue_full"}
    // counts dropped spans.
    selfObsMeterProvider: options.meterProvider,
  });
  return new TracerProvider({
    resource: options.resource,
    sampler: createSampler(options.sampleRate),
    spanProcessors: [processor],
  });
}

/**
 * Parent-based: a span follows its parent's decision. A new trace is recorded when the request's
 * head sampling chose it (tracing.ts decides before any span exists, per route), and any other
 * root span at `sampleRate` by trace id.
 */
export function createSampler(sampleRate: number): Sampler {
  return new ParentBasedSampler({ root: new HeadSampler(sampleRate) });
}

class HeadSampler implements Sampler {
  private readonly ratio: TraceIdRatioBasedSampler;

  constructor(sampleRate: number) {
    this.ratio = new TraceIdRatioBasedSampler(sampleRate);
  }

  shouldSample(context: OtelContext, traceId: string): SamplingResult {
    if (context.getValue(HEAD_SAMPLED) === true) return { decision: SamplingDecision.RECORD_AND_SAMPLED };
    return this.ratio.shouldSample(context, traceId);
  }

  toString(): string {
    return `HeadSampler{${this.ratio.toString()}}`;
  }
}

/**
 * Pushes every metric over OTLP/HTTP with cumulative temporality, so what the collector renders for
 * Prometheus has the same values, names and meaning as the pull path (docs/metrics.md).
 */
export function createOtlpMetricReader(
  endpoint: string,
  intervalMs: number,
  exports?: ExportTracker,
): PeriodicExportingMetricReader {
  return new PeriodicExportingMetricReader({
    exporter: tracked(
      new OTLPMetricExporter({ url: endpoint, temporalityPreference: AggregationTemporality.CUMULATIVE }),
      'otlp_metrics',
      exports,
    ),
    exportIntervalMillis: intervalMs,
    exportTimeoutMillis: Math.min(intervalMs, 10_000),
  });
}
