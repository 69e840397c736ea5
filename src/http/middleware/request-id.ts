import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../context';
import { setResponseHeader } from './response-headers';

const VALID_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Echoes a caller's X-Request-ID when it is safe to log and reflect (1–128 of [A-Za-z0-9._:-]);
 * otherwise, or when absent, generates one. Every response and error carries it.
 *
 * The id correlates a response, its log line and its error body; it grants nothing, so it needs to
 * be unique, not secret. A random UUID is both, and Node draws it from a cached pool of random
 * bytes (a fraction of a microsecond): the cost of this step was the header, not the id.
 */
export function requestId(): MiddlewareHandler<AppEnv> {
  return function requestId(c, next) {
    const incoming = c.req.header('x-request-id');
    const id = incoming && VALID_REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
    c.set('requestId', id);
    setResponseHeader(c, 'X-Request-ID', id);
    return next();
  };
}
