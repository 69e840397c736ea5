import type { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from './context';
import { METHOD_NOT_ALLOWED, RESPONSE_HEADERS } from './routes/schemas';

/** Every tag an operation may carry, in the order a reader meets them. */
const TAGS = [
  { name: 'decisions', description: 'Ask for a decision; explain one without deciding; verify one against the ledger' },
  { name: 'policies', description: 'Load or validate the policy decisions are made under; read its history' },
  { name: 'ledger', description: 'The signed, hash-chained record of every decision and change, with Merkle proofs' },
  { name: 'audit', description: 'Search and count recorded decisions' },
  { name: 'keys', description: 'API keys for agents and tools' },
  { name: 'auth', description: 'User sign-in, sessions and MFA' },
  { name: 'users', description: 'User accounts' },
  { name: 'flags', description: 'Feature flags' },
  { name: 'health', description: 'Probes for orchestrators and load balancers' },
  { name: 'service', description: 'What this service is, and its metrics' },
];

/**
 * The OpenAPI 3.1 document of the app, generated from its route definitions once every route is
 * registered. Components the routes refer to by name (security scheme, headers) are registered here.
 */
export function openApiDocument(app: OpenAPIHono<AppEnv>, version: string) {
  const registry = app.openAPIRegistry;
  registry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    description: 'An API key or a session token from POST /api/auth/login: Authorization: Bearer <secret>',
  });
  for (const [name, header] of Object.entries(RESPONSE_HEADERS)) registry.registerComponent('headers', name, header);
  registry.registerComponent('responses', 'MethodNotAllowed', METHOD_NOT_ALLOWED);
  return app.getOpenAPI31Document({
    openapi: '3.1.0',
    info: {
      title: 'Lexecon governance API',
      version,
      description:
        'Policy decisions for autonomous systems, recorded in a signed, hash-chained ledger.\n\n' +
        'Every response carries X-Request-ID; every error has the shape of the Error schema. A method a path ' +
        'does not serve answers 405 with an Allow header (components.responses.MethodNotAllowed).',
    },
    // Relative, so paths resolve against the host the document was fetched from: the service does not
    // know the address clients reach it by (a proxy, an ingress, a port mapping decides that).
    servers: [{ url: '/', description: 'The host that served this document' }],
    tags: TAGS,
  });
}
