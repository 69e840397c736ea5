import type { MiddlewareHandler } from 'hono';
import { type Tracing, UNMATCHED } from '../../telemetry/telemetry';
import type { AppEnv } from '../context';
import { isExcluded, routeTemplate } from './http-metrics';

export interface TracingOptions {
  /** Path prefixes never traced (a prefix covers itself and everything below it). */
  exclude: readonly string[];
  routes: ReadonlySet<string>;
}

/**
 * One SERVER span per request, named `METHOD /route/template`, continuing an incoming W3C
 * `traceparent`, with semantic-convention attributes; the trace id goes back in `traceresponse`
 * and `X-Trace-Id`. Requests the sampler drops, and excluded paths, cost a check and nothing else.
 */
export function tracing(telemetry: Tracing, options: TracingOptions): MiddlewareHandler<AppEnv> {
  if (!telemetry.tracingEnabled) {
    return async function tracing(_c, next) {
      await next();
    };
  }
  return async function tracing(c, next) {
    if (isExcluded(c.req.path, options.exclude)) return next();
    const url = c.req.url;
    await telemetry.traceRequest(
      {
        method: c.req.method,
        path: c.req.path,
        scheme: url.slice(0, url.indexOf(':')),
        host: c.req.header('host'),
        userAgent: c.req.header('user-agent'),
        header: (name) => c.req.header(name),
      },
      async (span) => {
        // Known from the start, and set before the handler: headers added to a finished response
        // would cost a copy of it on Node.
        if (span.traceresponse) {
          c.header('traceresponse', span.traceresponse);
          c.header('X-Trace-Id', span.traceId);
        }
        await next();
        const status = c.res.status;
        const route = routeTemplate(c, options.routes);
        span.finish(route === UNMATCHED ? undefined : route, status, status >= 500 ? c.get('errorCode') : undefined);
      },
    );
  };
}
