import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import type { Config } from '../config';
import type { Lifecycle } from '../health/lifecycle';
import { answerWhileStarting } from '../health/starting';

interface FetchHandler {
  fetch(request: Request, env: unknown): Response | Promise<Response>;
}

/**
 * Listens at once: until `ready` hands over the app, probes say "starting" instead of connections
 * being refused.
 */
export function listenAtOnce(
  http: Config['http'],
  lifecycle: Lifecycle,
): { server: Server; ready(app: FetchHandler): void } {
  let app: FetchHandler | undefined;
  const server = serve({
    fetch: (request, env) => (app ? app.fetch(request, env) : answerWhileStarting(request, lifecycle)),
    port: http.port,
    hostname: http.host,
    // Node checks header and request timeouts on this interval (default 30 s): make them mean what they say.
    serverOptions: { connectionsCheckingInterval: 1_000 },
  }) as Server;
  limitSlowClients(server);
  return {
    server,
    ready(handler) {
      app = handler;
    },
  };
}

/**
 * Node's defaults let a slow client hold a connection for minutes; these bound how long a client
 * may take to send headers (10 s), a whole request (30 s), and how long an idle keep-alive
 * connection stays open (5 s; load balancers in front should idle out first or reuse sooner).
 */
function limitSlowClients(server: Server): void {
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
}
