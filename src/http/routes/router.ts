import { createRoute, OpenAPIHono, type RouteConfig } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import type { Access } from '../../auth/permissions';
import { joinPath } from '../../governance/policy';
import type { AppEnv } from '../context';
import { errorResponse } from '../errors';
import { authorize } from '../middleware/authorize';
import { type JsonBodyOptions, jsonBody } from '../middleware/json-body';
import { apiRateLimit } from '../middleware/rate-limit';
import { errorResponses } from './schemas';

/** A router whose validation failures answer in the one error shape, listing every problem. */
export function createRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook(result, c) {
      if (result.success) return;
      const prefix = result.target === 'json' ? '' : result.target;
      // An unknown field is a problem at its own path, like any other.
      const problems = result.error.issues.flatMap((issue) =>
        issue.code === 'unrecognized_keys'
          ? issue.keys.map((key) => ({ path: joinPath(prefix, [...issue.path, key]), message: 'unknown field' }))
          : [{ path: joinPath(prefix, issue.path), message: issue.message }],
      );
      return errorResponse(c, 'VALIDATION_FAILED', `The request is invalid: ${problems.length} problem(s)`, {
        problems,
      });
    },
  });
}

/**
 * Declares a route with its permission in the same place: the permission becomes the route's first
 * middleware (and its OpenAPI security), a JSON body gets the body reader (with the route's own
 * size limit, if it has one), and the shared error responses are documented. `permission:
 * 'public'` is the only way to skip authentication.
 */
export function defineRoute<const R extends Omit<RouteConfig, 'middleware' | 'security'>>(
  config: R & { permission: Access | 'public'; maxBodyBytes?: JsonBodyOptions['maxBytes'] },
) {
  const { permission, maxBodyBytes, ...route } = config;
  const middleware: MiddlewareHandler<AppEnv>[] = [];
  // The per-caller API limit counts against the principal authorize() has just established.
  if (permission !== 'public') middleware.push(authorize(permission), apiRateLimit());
  if (route.request?.body) middleware.push(jsonBody({ maxBytes: maxBodyBytes }));
  return createRoute({
    ...route,
    middleware,
    ...(permission === 'public' ? {} : { security: [{ bearerAuth: [] }], 'x-permission': permission }),
    responses: { ...errorResponses(permission !== 'public', Boolean(route.request?.body)), ...route.responses },
  }) as unknown as R & { middleware: MiddlewareHandler<AppEnv>[] };
}
