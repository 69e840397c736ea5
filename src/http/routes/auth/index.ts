import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { USERNAME } from '../../../auth/password';
import { ROLES } from '../../../auth/permissions';
import { AppError } from '../../../errors';
import type { AppEnv } from '../../context';
import { clientAddress, rateLimitByClientIp, rateLimitInstance } from '../../middleware/rate-limit';
import { createRouter, defineRoute } from '../router';
import { errorContent, json, rateLimitHeaders, withHeaders } from '../schemas';

export const Username = z.string().trim().toLowerCase().regex(USERNAME, '3–64 characters: letters, digits and . _ @ -');

const NextStepSchema = z.enum(['none', 'mfa_verify', 'mfa_enroll']).openapi({
  description: 'none: the session is ready; mfa_verify: send a code to /api/auth/mfa/verify; mfa_enroll: enroll first',
});

const SessionSchema = z
  .object({ id: z.string(), state: z.enum(['pending', 'active']), expires_at: z.string() })
  .openapi('Session');

const login = defineRoute({
  method: 'post',
  path: '/login',
  operationId: 'login',
  permission: 'public',
  summary: 'Sign in with a username and password; returns a session token',
  tags: ['auth'],
  request: {
    body: {
      required: true,
      content: {
        'application/json': {
          schema: z
            .strictObject({ username: z.string().max(256), password: z.string().max(1024) })
            .openapi('LoginRequest', { example: { username: 'alice', password: 'correct horse battery' } }),
        },
      },
    },
  },
  responses: {
    // The per-address limit in front of sign-in (authRoutes) sets the limit's headers.
    200: withHeaders(
      json(
        z.object({
          token: z.string().openapi({ description: 'Send as Authorization: Bearer <token>; shown only here' }),
          session: SessionSchema,
          user: z.object({ id: z.string(), username: z.string(), role: z.enum(ROLES) }),
          next: NextStepSchema,
        }),
        'Signed in (fully, or pending MFA: see next)',
      ),
      rateLimitHeaders('200'),
    ),
    401: errorContent('Wrong username or password (UNAUTHENTICATED); never says which'),
    429: errorContent(
      'Too many attempts from this source, for this account or on this instance (RATE_LIMITED); see Retry-After',
    ),
  },
});

const logout = defineRoute({
  method: 'post',
  path: '/logout',
  operationId: 'logout',
  permission: 'session',
  summary: 'End this session (also allowed while MFA is pending)',
  tags: ['auth'],
  responses: { 200: json(z.object({ ended: z.literal(true) }), 'The session has ended') },
});

const me = defineRoute({
  method: 'get',
  path: '/me',
  operationId: 'getCaller',
  permission: 'authenticated',
  summary: 'Who the credentials belong to',
  tags: ['auth'],
  responses: {
    200: json(
      z.object({
        kind: z.enum(['api_key', 'session']),
        id: z.string(),
        name: z.string(),
        role: z.enum(ROLES),
        user_id: z.string().optional(),
      }),
      'The caller',
    ),
  },
});

const Code = z
  .string()
  .trim()
  .max(32)
  .openapi({ description: 'A 6-digit TOTP code, or a backup code xxxxx-xxxxx', example: '123456' });

const MfaCodeRequest = z.strictObject({ code: Code }).openapi('MfaCode', { example: { code: '123456' } });

const verify = defineRoute({
  method: 'post',
  path: '/mfa/verify',
  operationId: 'verifyMfa',
  permission: 'session',
  summary: 'Complete sign-in with a TOTP or backup code',
  tags: ['auth'],
  request: { body: { required: true, content: { 'application/json': { schema: MfaCodeRequest } } } },
  responses: {
    200: json(z.object({ session: z.object({ id: z.string(), state: z.literal('active') }) }), 'The session is active'),
    401: errorContent('The code is wrong or already used (UNAUTHENTICATED)'),
    409: errorContent('The user has no MFA enrolled (CONFLICT)'),
    429: errorContent('Too many codes tried from this source (RATE_LIMITED)'),
  },
});

const enroll = defineRoute({
  method: 'post',
  path: '/mfa/enroll',
  operationId: 'enrollMfa',
  permission: 'session',
  summary: 'Start TOTP enrollment: a secret and the otpauth:// URI to scan',
  tags: ['auth'],
  responses: {
    200: json(z.object({ secret: z.string(), otpauth_uri: z.string() }), 'Scan it, then confirm with a code'),
    409: errorContent('MFA is already enabled (CONFLICT)'),
  },
});

const confirm = defineRoute({
  method: 'post',
  path: '/mfa/confirm',
  operationId: 'confirmMfa',
  permission: 'session',
  summary: 'Finish enrollment with a first code; returns one-time backup codes, shown only here',
  tags: ['auth'],
  request: { body: { required: true, content: { 'application/json': { schema: MfaCodeRequest } } } },
  responses: {
    200: json(z.object({ backup_codes: z.array(z.string()) }), 'MFA is enabled; store the backup codes now'),
    401: errorContent('The code is wrong (UNAUTHENTICATED)'),
    409: errorContent('Enrollment not started, or MFA already enabled (CONFLICT)'),
  },
});

function sessionOf(c: Context<AppEnv>) {
  const principal = c.get('principal');
  if (principal.kind !== 'session') throw new AppError('FORBIDDEN', 'Only a user session can do this');
  return principal;
}

export function authRoutes() {
  const router = createRouter();
  // Per client address, then for the whole instance, before anything else runs: brute force and
  // floods from many addresses are refused before they cost a hash.
  router.use('/login', rateLimitByClientIp('login'), rateLimitInstance('login_instance'));
  router.use('/mfa/verify', rateLimitByClientIp('mfa'));
  return router
    .openapi(login, async (c) => {
      const body = c.req.valid('json');
      const username = Username.safeParse(body.username);
      const result = await c
        .get('services')
        .signIn.login(username.success ? username.data : body.username, body.password, clientAddress(c));
      if (!result.ok && result.reason === 'throttled') {
        c.header('Retry-After', String(result.retryAfterSeconds));
        throw new AppError('RATE_LIMITED', 'Too many failed sign-ins for this account from here; wait and retry');
      }
      if (!result.ok) {
        c.header('WWW-Authenticate', 'Bearer realm="lexecon"');
        throw new AppError('UNAUTHENTICATED', 'The username or password is wrong');
      }
      c.header('Cache-Control', 'no-store');
      const { token, session, user, next } = result;
      return c.json(
        {
          token,
          session: {
            id: session.id,
            state: session.state as 'pending' | 'active',
            expires_at: session.expiresAt.toISOString(),
          },
          user: { id: user.id, username: user.username, role: user.role as (typeof ROLES)[number] },
          next,
        },
        200,
      );
    })
    .openapi(logout, async (c) => {
      await c.get('services').signIn.logout(sessionOf(c));
      return c.json({ ended: true as const }, 200);
    })
    .openapi(me, (c) => {
      const principal = c.get('principal');
      return c.json(
        {
          kind: principal.kind,
          id: principal.id,
          name: principal.name,
          role: principal.role,
          ...(principal.kind === 'session' ? { user_id: principal.userId } : {}),
        },
        200,
      );
    })
    .openapi(verify, async (c) => {
      const session = sessionOf(c);
      const result = await c.get('services').signIn.verifyMfa(session, c.req.valid('json').code, clientAddress(c));
      if (result === 'not_enrolled') throw new AppError('CONFLICT', 'This user has no MFA enrolled: enroll first');
      if (result === 'invalid_code') throw new AppError('UNAUTHENTICATED', 'The code is not valid');
      if (result === 'replayed')
        throw new AppError('UNAUTHENTICATED', 'The code has already been used; wait for the next one');
      return c.json({ session: { id: session.id, state: 'active' as const } }, 200);
    })
    .openapi(enroll, async (c) => {
      const result = await c.get('services').signIn.beginMfa(sessionOf(c));
      if (result === 'already_enabled') throw new AppError('CONFLICT', 'MFA is already enabled for this user');
      c.header('Cache-Control', 'no-store');
      return c.json({ secret: result.secret, otpauth_uri: result.otpauthUri }, 200);
    })
    .openapi(confirm, async (c) => {
      const result = await c.get('services').signIn.confirmMfa(sessionOf(c), c.req.valid('json').code);
      if (result === 'not_started') throw new AppError('CONFLICT', 'Start enrollment first: POST /api/auth/mfa/enroll');
      if (result === 'already_enabled') throw new AppError('CONFLICT', 'MFA is already enabled for this user');
      // Any other answer is a code that did not confirm the enrollment.
      if (typeof result === 'string') throw new AppError('UNAUTHENTICATED', 'The code is not valid');
      c.header('Cache-Control', 'no-store');
      return c.json({ backup_codes: result.backupCodes }, 200);
    });
}
