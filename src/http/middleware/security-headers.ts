import type { MiddlewareHandler } from 'hono';
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
 *
 * Set before the handler runs, through the context, so every response the handler or the error
 * handler builds carries them: rewriting a finished response's headers afterwards would cost each
 * request a copy of its Response on Node (the adapter's fast path needs the response untouched).
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
  return async function securityHeaders(c, next) {
    for (const [name, value] of always) c.header(name, value);
    // A route that chooses its own caching sets Cache-Control later, replacing this.
    if (noStore.some((prefix) => isUnder(c.req.path, prefix))) c.header('Cache-Control', 'no-store');
    await next();
  };
}

function isUnder(path: string, prefix: string): boolean {
  return path === prefix || path.startsWith(`${prefix}/`);
}
