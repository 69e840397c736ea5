import type { MiddlewareHandler } from 'hono';
import { can, type Permission } from '../auth/permissions';
import type { AppEnv } from '../context';
import { AppError } from '../errors';

const BEARER = /^Bearer[ ]+([^\s]+)[ ]*$/i;

/**
 * Authenticates the caller and checks one permission: 401 without valid credentials, 403 when the
 * role lacks the permission. There is no optional mode: a route either declares a permission or is
 * public by not using this middleware at all.
 */
export function authorize(permission: Permission): MiddlewareHandler<AppEnv> {
  return async function authorize(c, next) {
    const header = c.req.header('authorization');
    const secret = BEARER.exec(header ?? '')?.[1];
    if (!secret || secret.length > 512) {
      // Credentials sent in a form no key can have: an attempt, and a failed one.
      if (header) c.get('services').telemetry.authAttempt('api_key', 'failure', 'malformed');
      c.header('WWW-Authenticate', 'Bearer realm="lexecon"');
      throw new AppError('UNAUTHENTICATED', 'A valid API key is required: send Authorization: Bearer <key>');
    }
    const principal = await c.get('services').apiKeys.authenticate(secret);
    if (!principal) {
      c.header('WWW-Authenticate', 'Bearer realm="lexecon", error="invalid_token"');
      throw new AppError('UNAUTHENTICATED', 'The API key is not valid');
    }
    if (!can(principal, permission)) {
      throw new AppError('FORBIDDEN', `The ${principal.role} role may not do this (needs ${permission})`);
    }
    c.set('principal', principal);
    await next();
  };
}
