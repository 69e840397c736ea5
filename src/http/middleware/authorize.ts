import type { MiddlewareHandler } from 'hono';
import { type Access, can, type Principal } from '../../auth/permissions';
import { SESSION_PREFIX } from '../../auth/sessions';
import { AppError } from '../../errors';
import type { Services } from '../../services';
import type { AppEnv } from '../context';

const BEARER = /^Bearer[ ]+([^\s]+)[ ]*$/i;

/**
 * Authenticates the caller and checks what the route requires: 401 without valid credentials (or
 * with a session still waiting for its MFA code), 403 when the role lacks the permission. There is
 * no optional mode: a route either declares its access or is public by not using this at all.
 */
export function authorize(access: Access): MiddlewareHandler<AppEnv> {
  return async function authorize(c, next) {
    const services = c.get('services');
    const header = c.req.header('authorization');
    const secret = BEARER.exec(header ?? '')?.[1];
    if (!secret || secret.length > 512) {
      // Credentials sent in a form no key can have: an attempt, and a failed one.
      if (header) services.telemetry.authAttempt('api_key', 'failure', 'malformed');
      c.header('WWW-Authenticate', 'Bearer realm="lexecon"');
      throw new AppError(
        'UNAUTHENTICATED',
        'Credentials are required: send Authorization: Bearer <API key or session token>',
      );
    }
    const principal = await authenticate(services, secret);
    if (typeof principal === 'string') {
      c.header('WWW-Authenticate', 'Bearer realm="lexecon", error="invalid_token"');
      throw new AppError('UNAUTHENTICATED', principal);
    }
    if (principal.kind === 'session' && principal.pending && access !== 'session') {
      throw new AppError('MFA_REQUIRED', 'This session needs its MFA code first: POST /api/auth/mfa/verify');
    }
    if (access === 'session' && principal.kind !== 'session') {
      throw new AppError('FORBIDDEN', 'Only a signed-in user session can do this, not an API key');
    }
    if (access !== 'session' && access !== 'authenticated' && !can(principal, access)) {
      throw new AppError('FORBIDDEN', `The ${principal.role} role may not do this (needs ${access})`);
    }
    c.set('principal', principal);
    await next();
  };
}

/** The principal behind a bearer secret, or the message saying why there is none. */
async function authenticate(services: Services, secret: string): Promise<Principal | string> {
  if (!secret.startsWith(SESSION_PREFIX)) {
    return (await services.apiKeys.authenticate(secret)) ?? 'The API key is not valid';
  }
  const session = await services.sessions.authenticate(secret);
  if (typeof session !== 'string') {
    services.telemetry.authAttempt('session', 'success');
    return session;
  }
  services.telemetry.authAttempt('session', 'failure', session);
  return session === 'unknown_key' ? 'The session token is not valid' : `The session has ${SESSION_ENDED[session]}`;
}

const SESSION_ENDED = { expired: 'expired', revoked: 'ended', disabled: 'ended: the user is disabled' } as const;
