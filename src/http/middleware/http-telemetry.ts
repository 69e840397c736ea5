import type { Context, MiddlewareHandler, Next } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { Logger } from '../../telemetry/logger';
import { type Telemetry, UNMATCHED } from '../../telemetry/telemetry';
import type { AppEnv } from '../context';
import { measureResponse } from './response-size';

export interface HttpTelemetryOptions {
  telemetry: Telemetry;
  logger: Logger;
  /** Route templates the app serves; anything else is `unmatched`, so scanners cannot add series. */
  routes: ReadonlySet<string>;
  /** Path prefixes left out of the RED metrics (a prefix covers itself and everything below it). */
  metricsExclude: readonly string[];
  /** Path prefixes neither traced nor logged. */
  tracingExclude: readonly string[];
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']);

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
 * Before the handler runs: the template of the first route (not middleware) the request matched,
 * which is the one `routeTemplate` names once it has answered.
 */
export function matchedTemplate(c: Context, routes: ReadonlySet<string>): string {
  for (const route of matchedRoutes(c)) if (route.method !== 'ALL' && routes.has(route.path)) return route.path;
  return UNMATCHED;
}

type Observe = (c: Context<AppEnv>, next: Next, started: number) => Promise<string>;

/**
 * What the service reports about each request, looking the route template up once, after the
 * handler: requests served, their duration and (with detailed metrics) response size, and requests
 * in flight; one SERVER span named `METHOD /route/template`, continuing an incoming W3C
 * `traceparent`, whose trace id goes back in `traceresponse` and `X-Trace-Id`; and one request log
 * line, written inside that span so it carries the span's ids. Whether a request is traced is
 * decided first (its `traceparent`, else its route's ratio): excluded paths, requests not sampled
 * and disabled tracing cost a check and nothing else.
 */
export function httpTelemetry(options: HttpTelemetryOptions): MiddlewareHandler<AppEnv> {
  const { telemetry, logger, routes, metricsExclude, tracingExclude } = options;

  /** Method, route template, path (never the query, which may carry tokens), status, duration, request id. */
  function logRequest(c: Context<AppEnv>, route: string, started: number): void {
    logger.info('request', {
      method: c.req.method,
      route,
      path: c.req.path,
      status: c.res.status,
      duration_ms: Math.round((performance.now() - started) * 100) / 100,
      request_id: c.get('requestId'),
    });
  }

  /** Runs the rest of the chain and logs the request; answers its route template. */
  const logged: Observe = async (c, next, started) => {
    await next();
    const route = routeTemplate(c, routes);
    logRequest(c, route, started);
    return route;
  };

  /** The same inside the request's server span, which takes the route and status too. */
  const traced: Observe = (c, next, started) => {
    const url = c.req.url;
    const request = {
      method: c.req.method,
      path: c.req.path,
      scheme: url.slice(0, url.indexOf(':')),
      host: c.req.header('host'),
      userAgent: c.req.header('user-agent'),
      header: (name: string) => c.req.header(name),
    };
    return telemetry.traceRequest(request, async (span) => {
      // Known from the start, and set before the handler: headers added to a finished response
      // would cost a copy of it on Node.
      if (span.traceresponse) {
        c.header('traceresponse', span.traceresponse);
        c.header('X-Trace-Id', span.traceId);
      }
      await next();
      const route = routeTemplate(c, routes);
      const status = c.res.status;
      span.finish(route === UNMATCHED ? undefined : route, status, status >= 500 ? c.get('errorCode') : undefined);
      logRequest(c, route, started);
      return route;
    });
  };

  /** Head sampling: nothing of a span exists until this says yes. */
  function sampled(c: Context<AppEnv>): boolean {
    const route = telemetry.samplesByRoute ? matchedTemplate(c, routes) : undefined;
    return telemetry.sampled(c.req.header('traceparent'), c.req.method, route);
  }

  const tracing = telemetry.tracingEnabled;

  function recordMetrics(c: Context<AppEnv>, route: string, started: number): void {
    telemetry.requestFinished();
    const method = METHODS.has(c.req.method) ? c.req.method : '_OTHER';
    const recorder = telemetry.httpRoute(method, route);
    recorder.finished(c.res.status, (performance.now() - started) / 1000);
    if (telemetry.measuresResponseSize) measureResponse(c, recorder.responded);
  }

  return async function httpTelemetry(c, next) {
    const metered = !isExcluded(c.req.path, metricsExclude);
    const observed = !isExcluded(c.req.path, tracingExclude);
    if (!metered && !observed) return next();
    const started = performance.now();
    if (metered) telemetry.requestStarted();
    let route: string | undefined;
    try {
      if (observed) route = await (tracing && sampled(c) ? traced : logged)(c, next, started);
      else await next();
    } finally {
      // The route is undefined only when nothing looked it up yet: unobserved, or the chain threw.
      if (metered) recordMetrics(c, route ?? routeTemplate(c, routes), started);
    }
  };
}
