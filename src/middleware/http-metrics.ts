import type { Context, MiddlewareHandler } from 'hono';
import type { AppEnv } from '../context';
import type { Telemetry } from '../telemetry/telemetry';

export interface HttpMetricsOptions {
  /** Path prefixes left out of the RED metrics (a prefix matches itself and everything below it). */
  exclude: readonly string[];
  /** Route templates the app serves; anything else is `unmatched`, so scanners cannot add series. */
  routes: ReadonlySet<string>;
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);
export const UNMATCHED = 'unmatched';

/** A prefix matches itself and everything below it: `/health` covers `/health/live`, not `/healthy`. */
export function isExcluded(path: string, prefixes: readonly string[]): boolean {
  return prefixes.some((prefix) => path === prefix || path.startsWith(`${prefix}/`));
}

/** The route template that served the request (never the raw path), or `unmatched`. */
export function routeTemplate(c: Context, routes: ReadonlySet<string>): string {
  const path = c.req.routePath;
  return routes.has(path) ? path : UNMATCHED;
}

/**
 * Requests served, their duration, latency summary and (with detailed metrics) response size, plus
 * requests in flight. Per request: two clock reads, a map lookup for the route's recorder (built once
 * per route, with its attribute objects), and one histogram record.
 */
export function httpMetrics(telemetry: Telemetry, options: HttpMetricsOptions): MiddlewareHandler<AppEnv> {
  return async function httpMetrics(c, next) {
    if (isExcluded(c.req.path, options.exclude)) return next();
    const started = performance.now();
    telemetry.requestStarted();
    try {
      await next();
    } finally {
      telemetry.requestFinished();
      const method = METHODS.has(c.req.method) ? c.req.method : '_OTHER';
      const recorder = telemetry.httpRoute(method, routeTemplate(c, options.routes));
      recorder.finished(c.res.status, (performance.now() - started) / 1000);
      if (telemetry.measuresResponseSize) measureResponse(c, recorder.responded);
    }
  };
}

/**
 * Response size without buffering: the declared Content-Length, or for a body of unknown length
 * the byte count of a pass-through stream, recorded when the last byte has gone.
 */
function measureResponse(c: Context, record: (bytes: number) => void): void {
  const header = c.res.headers.get('content-length');
  if (header !== null) return record(Number(header));
  if (!c.res.body) return record(0);
  let bytes = 0;
  const counter = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      bytes += chunk.byteLength;
      controller.enqueue(chunk);
    },
    flush() {
      record(bytes);
    },
  });
  c.res = new Response(c.res.body.pipeThrough(counter), c.res);
}
