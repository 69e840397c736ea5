import { OpenAPIHono } from '@hono/zod-openapi';
import type { Services } from '../services';
import type { MetricsRenderer } from '../telemetry/telemetry';
import type { AppEnv, AppSettings } from './context';
import { errorResponse, handleError } from './errors';
import { cors } from './middleware/cors';
import { httpTelemetry, isExcluded } from './middleware/http-telemetry';
import { provide } from './middleware/provide';
import { requestId } from './middleware/request-id';
import { securityHeaders } from './middleware/security-headers';
import { openApiDocument } from './openapi-document';
import { auditRoutes } from './routes/audit';
import { authRoutes } from './routes/auth';
import { decideRoutes } from './routes/decide';
import { flagRoutes } from './routes/flags';
import { healthRoutes } from './routes/health';
import { keyRoutes } from './routes/keys';
import { ledgerRoutes } from './routes/ledger';
import { metricsRoutes } from './routes/metrics';
import { policyRoutes } from './routes/policies';
import { rootRoutes } from './routes/root';
import { userRoutes } from './routes/users';

/** Left out of metrics, traces and request logs unless settings say otherwise: scrapes and probes would drown the rest. */
const UNOBSERVED_PATHS = ['/metrics', '/health'];

export interface AppDeps {
  services: Services;
  settings: AppSettings;
  /** The Prometheus exposition behind GET /metrics. */
  metrics: MetricsRenderer;
}

/** Builds the HTTP app from its dependencies. Web-standard APIs only: the same app runs on Node and Workers. */
export function createApp({ services, settings, metrics }: AppDeps) {
  const app = new OpenAPIHono<AppEnv>();
  // Filled once every route is registered (below): the only values `endpoint` labels may take.
  const routes = new Set<string>();
  const metricsExclude = settings.metricsExclude ?? UNOBSERVED_PATHS;
  // First, so every later middleware and the error handler find the services; then the request id,
  // so every error body and log line carries one.
  app.use(provide({ services, settings, routes }));
  app.use(requestId());
  app.use(
    httpTelemetry({
      telemetry: services.telemetry,
      logger: services.logger,
      routes,
      metricsExclude,
      tracingExclude: settings.tracingExclude ?? UNOBSERVED_PATHS,
    }),
  );
  app.use(securityHeaders());
  if (settings.corsAllowedOrigins?.length) app.use(cors({ allowedOrigins: settings.corsAllowedOrigins }));

  app.route('/', rootRoutes());
  app.route('/health', healthRoutes());
  app.route('/api/decide', decideRoutes());
  app.route('/api/policies', policyRoutes());
  app.route('/api/ledger', ledgerRoutes());
  app.route('/api/audit', auditRoutes());
  app.route('/api/keys', keyRoutes());
  app.route('/api/auth', authRoutes());
  app.route('/api/users', userRoutes());
  app.route('/api/flags', flagRoutes());
  app.route('/metrics', metricsRoutes(metrics));

  const document = openApiDocument(app, settings.version);
  app.get('/openapi.json', (c) => c.json(document));

  for (const route of app.routes) if (route.method !== 'ALL') routes.add(route.path);
  const served = servedRoutes(document as Parameters<typeof servedRoutes>[0]);
  services.telemetry.httpRoutesServed(served.filter((r) => !isExcluded(r.endpoint, metricsExclude)));

  const allowedMethods = methodsByPath(app.routes);
  app.notFound((c) => {
    const allowed = allowedMethods(c.req.path);
    // The document declares this answer as components.responses.MethodNotAllowed.
    if (allowed.length > 0) {
      c.header('Allow', allowed.join(', '));
      return errorResponse(c, 'METHOD_NOT_ALLOWED', `${c.req.method} is not allowed here; use ${allowed.join(' or ')}`);
    }
    return errorResponse(c, 'NOT_FOUND', `No route for ${c.req.method} ${c.req.path}`);
  });
  app.onError(handleError);
  return app;
}

/** Every documented operation with its success status, so its request series start at zero. */
function servedRoutes(document: { paths?: Record<string, Record<string, { responses?: Record<string, unknown> }>> }) {
  const served: { method: string; endpoint: string; status: number }[] = [];
  for (const [path, operations] of Object.entries(document.paths ?? {})) {
    for (const [method, operation] of Object.entries(operations)) {
      const status = Object.keys(operation.responses ?? {}).find((code) => code.startsWith('2')) ?? '200';
      served.push({
        method: method.toUpperCase(),
        endpoint: path.replace(/\{(\w+)\}/g, ':$1'),
        status: Number(status),
      });
    }
  }
  return served;
}

/** For 405s: which methods a concrete path would have matched, from the registered route templates. */
function methodsByPath(routes: readonly { method: string; path: string }[]) {
  const patterns = routes
    .filter((r) => r.method !== 'ALL' && !r.path.includes('*'))
    .map((r) => ({
      method: r.method,
      regex: new RegExp(`^${r.path.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/:[^/]+/g, '[^/]+')}$`),
    }));
  return (path: string) => {
    const methods = new Set(patterns.filter((p) => p.regex.test(path)).map((p) => p.method));
    if (methods.has('GET')) methods.add('HEAD');
    return [...methods].sort();
  };
}
