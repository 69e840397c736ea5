import type { Lifecycle } from './lifecycle';

/**
 * What a runtime answers before the app exists (migrations, keys, policy still loading): the
 * probes report the startup phase, everything else is 503 with Retry-After. Lets the process listen
 * at once, so Kubernetes sees "starting" rather than "connection refused".
 */
export function answerWhileStarting(request: Request, lifecycle: Lifecycle): Response {
  const path = new URL(request.url).pathname;
  const startup = {
    name: 'startup',
    status: 'unhealthy',
    latency_ms: 0,
    details: { phase: lifecycle.phase, ...lifecycle.steps },
  };
  const headers = { 'content-type': 'application/json', 'cache-control': 'no-store', 'retry-after': '2' };
  if (path === '/health/live') {
    const body = { status: 'healthy', timestamp: Date.now() / 1000, checks: [{ ...startup, status: 'healthy' }] };
    return new Response(JSON.stringify(body), { status: 200, headers });
  }
  if (path === '/health' || path.startsWith('/health/')) {
    const body = { status: 'unhealthy', timestamp: Date.now() / 1000, checks: [startup] };
    return new Response(JSON.stringify(body), { status: 503, headers });
  }
  const error = {
    error: {
      code: 'SERVICE_UNAVAILABLE',
      message: 'The service is starting; retry shortly',
      requestId: crypto.randomUUID(),
    },
  };
  return new Response(JSON.stringify(error), { status: 503, headers });
}
