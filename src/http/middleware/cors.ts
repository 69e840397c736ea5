import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../context';

export interface CorsOptions {
  /** Exact origins (`https://console.example.com`) allowed to call from a browser. */
  allowedOrigins: readonly string[];
  allowMethods?: readonly string[];
  allowHeaders?: readonly string[];
  /** Response headers a browser script may read. */
  exposeHeaders?: readonly string[];
  /** How long a browser may reuse a preflight answer, in seconds. */
  maxAgeSeconds?: number;
}

/**
 * CORS for an allowlist of exact origins (https://fetch.spec.whatwg.org/#http-cors-protocol).
 * An allowed origin gets its own origin echoed (never `*`, never an origin off the list) and a
 * preflight answered 204 here, before authentication, since browsers send preflights without
 * credentials. Any other origin gets no CORS headers at all, and its preflight continues to the
 * app like any request. Responses that depend on Origin say so with `Vary: Origin`.
 */
export function cors(options: CorsOptions): MiddlewareHandler<AppEnv> {
  const allowed = new Set(options.allowedOrigins);
  const allowMethods = (options.allowMethods ?? ['GET', 'HEAD', 'POST', 'PUT', 'DELETE']).join(', ');
  const allowHeaders = (options.allowHeaders ?? ['Authorization', 'Content-Type', 'X-Request-ID']).join(', ');
  const exposeHeaders = (
    options.exposeHeaders ?? [
      'X-Request-ID',
      'Retry-After',
      'RateLimit-Limit',
      'RateLimit-Remaining',
      'RateLimit-Reset',
      'RateLimit-Policy',
    ]
  ).join(', ');
  const maxAge = String(options.maxAgeSeconds ?? 600);

  // Headers go through the context before the handler runs, so every response it (or the error
  // handler) builds carries them without a copy of the finished Response.
  return async function cors(c, next) {
    const origin = c.req.header('origin');
    c.header('Vary', 'Origin', { append: true });
    if (origin === undefined || !allowed.has(origin)) return next();
    c.header('Access-Control-Allow-Origin', origin);
    const preflight = c.req.method === 'OPTIONS' && c.req.header('access-control-request-method') !== undefined;
    if (preflight) {
      c.header('Access-Control-Allow-Methods', allowMethods);
      c.header('Access-Control-Allow-Headers', allowHeaders);
      c.header('Access-Control-Max-Age', maxAge);
      c.header('Vary', 'Access-Control-Request-Method, Access-Control-Request-Headers', { append: true });
      return c.body(null, 204);
    }
    c.header('Access-Control-Expose-Headers', exposeHeaders);
    await next();
  };
}
