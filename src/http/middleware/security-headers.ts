import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../context';
import { setResponseHeaders } from './response-headers';

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
 *
 * Set before the handler runs, so every response the handler or the error handler builds carries
 * them (rewriting a finished response's headers afterwards would cost each request a copy of its
 * Response on Node), and on Node straight onto the outgoing response (./response-headers.ts).
 */
export function securityHeaders(options: SecurityHeadersOptions = {}): MiddlewareHandler<AppEnv> {
  const noStore = options.noStore ?? ['/api'];
  const always: [string, string][] = [
    ['Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'"],
    ['Cross-Origin-Opener-Policy', 'same-origin'],
    ['Cross-Origin-Resource-Policy', 'same-origin'],
    ['Referrer-Policy', 'no-referrer'],
    ['Strict-Transport-Security', options.strictTransportSecurity ?? 'max-age=63072000; includeSubDomains'],
    ['X-Content-Type-Options', 'nosniff'],
    ['X-Frame-Options', 'DENY'],
  ];
  // A route that chooses its own caching sets Cache-Control itself, replacing this one.
  const alwaysAndNoStore: [string, string][] = [...always, ['Cache-Control', 'no-store']];
  return function securityHeaders(c, next) {
    setResponseHeaders(c, isUnderAny(c.req.path, noStore) ? alwaysAndNoStore : always);
    return next();
  };
}

function isUnderAny(path: string, prefixes: readonly string[]): boolean {
  for (const prefix of prefixes) if (path === prefix || path.startsWith(`${prefix}/`)) return true;
  return false;
}
