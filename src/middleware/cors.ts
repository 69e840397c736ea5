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

  return async function cors(c, next) {
    const origin = c.req.header('origin');
    if (origin === undefined || !allowed.has(origin)) {
      await next();
      if (allowed.size > 0) c.res.headers.append('Vary', 'Origin');
      return;
    }
    const preflight = c.req.method === 'OPTIONS' && c.req.header('access-control-request-method') !== undefined;
    if (preflight) {
      return new Response(null, {
        status: 204,
        headers: {
          'Access-Control-Allow-Origin': origin,
          'Access-Control-Allow-Methods': allowMethods,
          'Access-Control-Allow-Headers': allowHeaders,
          'Access-Control-Max-Age': maxAge,
          Vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
        },
      });
    }
    await next();
    c.res.headers.set('Access-Control-Allow-Origin', origin);
    c.res.headers.set('Access-Control-Expose-Headers', exposeHeaders);
    c.res.headers.append('Vary', 'Origin');
  };
}
