import type { MiddlewareHandler } from 'hono';
import { secureHeaders } from 'hono/secure-headers';
import type { AppEnv } from '../context';

export interface SecurityHeadersOptions {
  /** Strict-Transport-Security value; browsers ignore it over plain HTTP. Default two years. */
  strictTransportSecurity?: string;
  /** Path prefixes whose responses are never stored by caches (they carry secrets and audit data). */
  noStore?: readonly string[];
}

/**
 * Headers for an API that no browser should render, frame, sniff or cache: a CSP that allows
 * nothing (https://owasp.org/www-project-secure-headers/), X-Frame-Options DENY, no referrer, and
 * `Cache-Control: no-store` on the API unless a route chose its own caching. Set on every
 * response, errors and 404s included.
 */
export function securityHeaders(options: SecurityHeadersOptions = {}): MiddlewareHandler<AppEnv> {
  const noStore = options.noStore ?? ['/api'];
  const headers = secureHeaders({
    contentSecurityPolicy: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
    xFrameOptions: 'DENY',
    referrerPolicy: 'no-referrer',
    strictTransportSecurity: options.strictTransportSecurity ?? 'max-age=63072000; includeSubDomains',
  });
  return async function securityHeaders(c, next) {
    await headers(c, next);
    if (!c.res.headers.has('Cache-Control') && noStore.some((prefix) => isUnder(c.req.path, prefix))) {
      c.res.headers.set('Cache-Control', 'no-store');
    }
  };
}

function isUnder(path: string, prefix: string): boolean {
  return path === prefix || path.startsWith(`${prefix}/`);
}
