import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../context';

const VALID_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Echoes a caller's X-Request-ID when it is safe to log and reflect (1–128 of [A-Za-z0-9._:-]);
 * otherwise, or when absent, generates one. Every response and error carries it.
 */
export function requestId(): MiddlewareHandler<AppEnv> {
  return async function requestId(c, next) {
    const incoming = c.req.header('x-request-id');
    const id = incoming && VALID_REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
    c.set('requestId', id);
    c.header('X-Request-ID', id);
    await next();
  };
}
