import { TraceFlags } from '@opentelemetry/api';
import { MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace';

/**
 * OTLP/HTTP push with nothing but `fetch`, for runtimes without a process that outlives requests
 * (Workers): spans are held until the request's flush, metrics are collected on demand, and every
 * POST is one attempt with a deadline. No timers between requests, no retries: the next request's
 * push carries the cumulative metrics again, and a failure is counted rather than thrown.
 */
export interface OtlpTarget {
  url: string;
  /** OTEL_EXPORTER_OTLP_HEADERS, e.g. the collector's auth token. */
  headers: Record<string, string>;
  timeoutMs: number;
}

export class OtlpPushError extends Error {
  override readonly name = 'OtlpPushError';
  constructor(readonly status: number) {
    super(`the collector answered HTTP ${status}`);
  }
}

/**
 * One POST of an OTLP/HTTP JSON body (the encoding the Node build's exporters send), gzipped: a
 * cumulative metrics push is ~25 KB of JSON, and it goes out after every request.
 */
export async function postOtlp(target: OtlpTarget, body: Uint8Array<ArrayBuffer>): Promise<void> {
  const response = await fetch(target.url, {
    method: 'POST',
    headers: { ...target.headers, 'content-type': 'application/json', 'content-encoding': 'gzip' },
    body: await gzip(body),
    signal: AbortSignal.timeout(target.timeoutMs),
  });
  // The body is not needed; cancelling it releases the connection.
  await response.body?.cancel();
  if (!response.ok) throw new OtlpPushError(response.status);
}

function gzip(body: Uint8Array<ArrayBuffer>): Promise<ArrayBuffer> {
  return new Response(new Blob([body]).stream().pipeThrough(new CompressionStream('gzip'))).arrayBuffer();
}

/** Holds ended, sampled spans until the request's flush takes them; bounded like the Node batch queue. */
export class HeldSpans implements SpanProcessor {
  private held: ReadableSpan[] = [];
  private dropped = 0;

  constructor(private readonly limit = 2048) {}

  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    if ((span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return;
    if (this.held.length < this.limit) this.held.push(span);
    else this.dropped++;
  }

  /** The spans held so far and how many did not fit, emptying both. */
  take(): { spans: ReadableSpan[]; dropped: number } {
    const taken = { spans: this.held, dropped: this.dropped };
    this.held = [];
    this.dropped = 0;
    return taken;
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** A metric reader read only when asked (cumulative temporality, as the Node push reader). */
export class OnDemandMetricReader extends MetricReader {
  async read(): Promise<ResourceMetrics> {
    const { resourceMetrics } = await this.collect();
    return resourceMetrics;
  }

  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }

  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** Data points in a collection, for counting what a push carried or lost. */
export function dataPointCount(resourceMetrics: ResourceMetrics): number {
  let count = 0;
  for (const scope of resourceMetrics.scopeMetrics)
    for (const metric of scope.metrics) count += metric.dataPoints.length;
  return count;
}
