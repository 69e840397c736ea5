import {
  type Attributes,
  type Context,
  context,
  createContextKey,
  type Link,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { headline, summarizeError } from './error-summary';
import {
  type IncomingRequest,
  noopTracing,
  type ServerSpan,
  type SpanAttributes,
  type SpanHandle,
  type SpanOptions,
  type Tracing,
} from './telemetry';

const headerGetter: TextMapGetter<IncomingRequest> = {
  keys: () => ['traceparent', 'tracestate'],
  get: (request, key) => request.header(key),
};

/** Head sampling: OTEL_SAMPLE_RATE, and LEXECON_TRACE_SAMPLE_RATES over it for some routes. */
export interface Sampling {
  /** The share of new traces recorded. */
  sampleRate: number;
  /** The share per `METHOD /route/template` (as the HTTP metrics name endpoints). */
  routeSampleRates?: Readonly<Record<string, number>>;
}

/**
 * Marks the context a head-sampled request span starts in, so the SDK's sampler (sdk.ts) records
 * it rather than deciding a second time by trace id, which would drop most of them again.
 */
export const HEAD_SAMPLED = createContextKey('lexecon.head_sampled');

/**
 * Spans through the OpenTelemetry API only (the SDK, sampler and exporter are the runtime entry's).
 * Whether a request is traced is decided first, from its `traceparent` and route alone: one that is
 * not costs no span, id, context or closure. Child spans are only started under a recording parent,
 * and with no tracer at all the callbacks simply run.
 */
export function createTracing(tracer: Tracer, sampling: Sampling): Tracing {
  const { sampleRate } = sampling;
  // method → route template → ratio: no string built per request to look one up.
  const routeRates = new Map<string, Map<string, number>>();
  for (const [key, ratio] of Object.entries(sampling.routeSampleRates ?? {})) {
    const [method, route] = key.split(' ') as [string, string];
    const byRoute = routeRates.get(method) ?? new Map<string, number>();
    byRoute.set(route, ratio);
    routeRates.set(method, byRoute);
  }

  function inSpan<T>(
    name: string,
    attributes: SpanAttributes,
    fn: (span: SpanHandle) => T,
    options: SpanOptions = {},
  ): T {
    const own = (options.parent as Context | undefined) ?? context.active();
    const ownRecorded = trace.getSpan(own)?.isRecording() === true;
    // Under an unsampled (or absent) parent a child would not be recorded: skip it, unless it
    // serves other callers too (a group commit): then it goes under the first recorded one.
    if (!ownRecorded && options.links === undefined) return noopTracing.inSpan(name, attributes, fn);
    let parent: Context | undefined = ownRecorded ? own : undefined;
    const links: Link[] = [];
    for (const linked of (options.links ?? []) as Context[]) {
      const span = trace.getSpan(linked);
      if (!span?.isRecording()) continue;
      if (parent === undefined) parent = linked;
      else links.push({ context: span.spanContext() });
    }
    if (parent === undefined) return noopTracing.inSpan(name, attributes, fn);
    return tracer.startActiveSpan(name, { attributes: attributes as Attributes, links }, parent, (span) =>
      settle(span, () => fn(handleOf(span))),
    );
  }

  return {
    tracingEnabled: true,
    samplesByRoute: routeRates.size > 0,
    inSpan,

    sampled(traceparent, method, route) {
      // Parent-based: a caller's decision stands, whatever this route's ratio.
      const parent = traceparent === undefined ? undefined : parentSampled(traceparent);
      if (parent !== undefined) return parent;
      const ratio = route === undefined ? sampleRate : (routeRates.get(method)?.get(route) ?? sampleRate);
      return Math.random() < ratio;
    },

    async traceRequest(request, handle) {
      const parent = propagation.extract(ROOT_CONTEXT, request, headerGetter);
      const span = tracer.startSpan(
        request.method,
        {
          kind: SpanKind.SERVER,
          attributes: {
            'http.request.method': request.method,
            'url.path': request.path,
            'url.scheme': request.scheme,
            ...hostAttributes(request.host),
            'user_agent.original': request.userAgent,
          },
        },
        parent.setValue(HEAD_SAMPLED, true),
      );
      // A provider whose sampler ignores the head's decision may still drop it: then trace nothing.
      if (!span.isRecording()) return noopTracing.traceRequest(request, handle);
      const { traceId, spanId, traceFlags } = span.spanContext();
      const server: ServerSpan = {
        traceresponse: `00-${traceId}-${spanId}-0${traceFlags.toString(16)}`,
        traceId,
        finish(route, status, errorType) {
          // Semantic conventions: no template matched → the name is the method alone, no http.route.
          if (route !== undefined) {
            span.updateName(`${request.method} ${route}`);
            span.setAttribute('http.route', route);
          }
          span.setAttribute('http.response.status_code', status);
          if (errorType !== undefined || status >= 500) {
            span.setAttribute('error.type', errorType ?? String(status));
            if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
          }
        },
      };
      try {
        return await context.with(trace.setSpan(parent, span), () => handle(server));
      } catch (err) {
        fail(span, err);
        throw err;
      } finally {
        span.end();
      }
    },

    recordException(err) {
      const span = trace.getActiveSpan();
      if (span?.isRecording()) fail(span, err);
    },
    captureContext: () => context.active(),
    detached: (fn) => context.with(ROOT_CONTEXT, fn),
    activeIds() {
      const span = trace.getActiveSpan();
      if (!span?.isRecording()) return undefined;
      const { traceId, spanId } = span.spanContext();
      return { trace_id: traceId, span_id: spanId };
    },
  };
}

// W3C Trace Context, as the OpenTelemetry propagator reads it: version ff, all-zero ids and version
// 00 with extra fields are invalid, and an invalid traceparent starts a new trace.
const TRACEPARENT = /^\s?(?!ff)([\da-f]{2})-(?![0]{32})[\da-f]{32}-(?![0]{16})[\da-f]{16}-([\da-f]{2})(-.*)?\s?$/;

/** The sampled flag of a valid incoming `traceparent`, or undefined when it is not one. */
function parentSampled(traceparent: string): boolean | undefined {
  const match = TRACEPARENT.exec(traceparent);
  if (!match || (match[1] === '00' && match[3] !== undefined)) return undefined;
  return (Number.parseInt(match[2] as string, 16) & 1) === 1;
}

/** `server.address` and `server.port` from a Host header (`name`, `name:port`, `[v6]:port`). */
function hostAttributes(host: string | undefined): Attributes {
  if (!host) return {};
  const match = /^(\[[^\]]+\]|[^:]+)(?::(\d{1,5}))?$/.exec(host);
  if (!match) return {};
  return match[2] ? { 'server.address': match[1], 'server.port': Number(match[2]) } : { 'server.address': match[1] };
}

function handleOf(span: Span): SpanHandle {
  return { set: (attributes) => span.setAttributes(attributes as Attributes) };
}

/** Records an error as the span's exception by its summary: never a parameter or a payload. */
function fail(span: Span, err: unknown): void {
  const summary = summarizeError(err);
  span.recordException({ name: summary.class, message: headline(summary), stack: summary.stack });
  span.setStatus({ code: SpanStatusCode.ERROR, message: summary.class });
  span.setAttribute('error.type', summary.class);
}

/** Ends the span when `run` settles (sync or async), recording a failure as ERROR. */
function settle<T>(span: Span, run: () => T): T {
  let result: T;
  try {
    result = run();
  } catch (err) {
    fail(span, err);
    span.end();
    throw err;
  }
  if (result instanceof Promise) {
    return result.then(
      (value) => {
        span.end();
        return value;
      },
      (err) => {
        fail(span, err);
        span.end();
        throw err;
      },
    ) as T;
  }
  span.end();
  return result;
}

/**
 * The spec's helpers: `traced(name, fn)` runs `fn` in an active span of the global tracer (context
 * survives awaits with the async context manager the entry installs), and `traceFunction(name)` wraps
 * a function the way Python's `@trace_function` decorator does.
 */
export function traced<T>(name: string, fn: (span: Span) => T, tracer: Tracer = trace.getTracer('lexecon')): T {
  return tracer.startActiveSpan(name, (span) => settle(span, () => fn(span)));
}

export function traceFunction(name: string, tracer?: Tracer) {
  return <A extends unknown[], R>(fn: (...args: A) => R) =>
    function traceable(this: unknown, ...args: A): R {
      return traced(name, () => fn.apply(this, args), tracer);
    };
}
