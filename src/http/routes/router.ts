import { createRoute, OpenAPIHono, type RouteConfig, z } from '@hono/zod-openapi';
import type { Context, Handler, MiddlewareHandler } from 'hono';
import type { Access } from '../../auth/permissions';
import { joinPath } from '../../governance/field-path';
import type { AppEnv } from '../context';
import { errorResponse } from '../errors';
import { authorize } from '../middleware/authorize';
import { type JsonBodyOptions, jsonBody } from '../middleware/json-body';
import { apiRateLimit } from '../middleware/rate-limit';
import { errorResponses } from './schemas';

/**
 * A router whose validation failures answer in the one error shape, listing every problem. A JSON
 * body is validated from the value jsonBody parsed, never read again: its route is documented with
 * the body and registered without it, so the library adds no body reader of its own.
 */
export function createRouter() {
  const router = new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => (result.success ? undefined : rejectInvalid(c, result.target, result.error)),
  });
  const register = router.openapi as Register;
  const registerReadingBodyOnce: Register = (route, handler, hook) => {
    const schema = bodySchema(route);
    if (!schema) return register(route, handler, hook);
    const { middleware: _, ...documented } = route;
    router.openAPIRegistry.registerPath(documented);
    const request = { ...route.request, body: undefined };
    return register({ ...route, request, hide: true }, validatingBody(schema, handler), hook);
  };
  router.openapi = registerReadingBodyOnce as typeof router.openapi;
  return router;
}

/** OpenAPIHono's `openapi`, without the types it infers for the handler. */
type Register = (route: RouteConfig, handler: Handler<AppEnv>, hook?: unknown) => unknown;

function bodySchema(route: RouteConfig): z.ZodType | undefined {
  const media = route.request?.body?.content['application/json'];
  const schema = media && 'schema' in media ? media.schema : undefined;
  return schema instanceof z.ZodType ? schema : undefined;
}

/**
 * Runs after the route's query and path validators, where the library's body validator would: the
 * handler sees the body jsonBody parsed once the schema accepts it, as `c.req.valid('json')`.
 */
function validatingBody(schema: z.ZodType, handler: Handler<AppEnv>): Handler<AppEnv> {
  return async function validateBody(c, next) {
    const result = await schema.safeParseAsync(c.get('body'));
    if (!result.success) return rejectInvalid(c, 'json', result.error);
    c.req.addValidatedData('json', result.data as object);
    return handler(c, next);
  };
}

function rejectInvalid(c: Context<AppEnv>, target: string, error: z.ZodError) {
  const prefix = target === 'json' ? '' : target;
  // An unknown field is a problem at its own path, like any other.
  const problems = error.issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({ path: joinPath(prefix, [...issue.path, key]), message: 'unknown field' }))
      : [{ path: joinPath(prefix, issue.path), message: issue.message }],
  );
  return errorResponse(c, 'VALIDATION_FAILED', `The request is invalid: ${problems.length} problem(s)`, {
    problems,
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
