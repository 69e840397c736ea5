import { createRoute, OpenAPIHono, type RouteConfig, z } from '@hono/zod-openapi';
import type { Context, Handler, MiddlewareHandler } from 'hono';
import type { Access } from '../../auth/permissions';
import { joinPath } from '../../governance/field-path';
import type { AppEnv } from '../context';
import { errorResponse } from '../errors';
import { authorize } from '../middleware/authorize';
import { type JsonBodyOptions, jsonBody } from '../middleware/json-body';
import { apiRateLimit } from '../middleware/rate-limit';
import { errorResponses, rateLimitHeaders, withHeaders } from './schemas';

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
 * size limit, if it has one), and the shared error responses and headers are documented.
 * `permission: 'public'` is the only way to skip authentication. The operationId is what client
 * generators name the call after: camelCase, unique, and kept once published.
 */
export function defineRoute<
  const R extends Omit<RouteConfig, 'middleware' | 'security'> & { operationId: string; tags: [string, ...string[]] },
>(config: R & { permission: Access | 'public'; maxBodyBytes?: JsonBodyOptions['maxBytes'] }) {
  const { permission, maxBodyBytes, ...route } = config;
  const authenticated = permission !== 'public';
  const middleware: MiddlewareHandler<AppEnv>[] = [];
  // The per-caller API limit counts against the principal authorize() has just established.
  if (authenticated) middleware.push(authorize(permission), apiRateLimit());
  if (route.request?.body) middleware.push(jsonBody({ maxBytes: maxBodyBytes }));
  const responses = { ...errorResponses(authenticated, Boolean(route.request?.body)), ...route.responses };
  return createRoute({
    ...route,
    middleware,
    // An empty list is how OpenAPI says that an operation needs no credentials.
    security: authenticated ? [{ bearerAuth: [] }] : [],
    ...(authenticated ? { 'x-permission': permission } : {}),
    responses: Object.fromEntries(
      Object.entries(responses).map(([status, response]) => [
        status,
        withHeaders(response, sendsRateLimitHeaders(status, authenticated) ? rateLimitHeaders(status) : []),
      ]),
    ),
  }) as unknown as R & { middleware: MiddlewareHandler<AppEnv>[] };
}

/**
 * A refusal always says when to retry; a success of an authenticated route has passed the per-caller
 * limit, which set its headers. Other answers may carry them too (not a 401 or 403: authentication
 * comes first), so they are left undeclared there.
 */
function sendsRateLimitHeaders(status: string, authenticated: boolean): boolean {
  return status === '429' || (authenticated && status.startsWith('2'));
}
