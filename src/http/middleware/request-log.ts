import type { MiddlewareHandler } from 'hono';
import type { Logger } from '../../telemetry/logger';
import type { AppEnv } from '../context';
import { isExcluded, routeTemplate } from './http-metrics';

/**
 * One structured line per request: method, route template, path (never the query, which may carry
 * tokens), status, duration and request id; the logger adds the trace and span ids when the request
 * is traced. Nothing from headers or bodies is logged.
 */
export function requestLog(
  logger: Logger,
  options: { exclude: readonly string[]; routes: ReadonlySet<string> },
): MiddlewareHandler<AppEnv> {
  return async function requestLog(c, next) {
    if (isExcluded(c.req.path, options.exclude)) return next();
    const started = performance.now();
    await next();
    logger.info('request', {
      method: c.req.method,
      route: routeTemplate(c, options.routes),
      path: c.req.path,
      status: c.res.status,
      duration_ms: Math.round((performance.now() - started) * 100) / 100,
      request_id: c.get('requestId'),
    });
  };
}
