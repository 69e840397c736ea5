import { z } from '@hono/zod-openapi';
import { createRouter, defineRoute } from '../router';
import { json } from '../schemas';

const root = defineRoute({
  method: 'get',
  path: '/',
  operationId: 'getService',
  permission: 'public',
  summary: 'Service name, version and where to go next',
  tags: ['service'],
  responses: {
    200: json(
      z.object({ service: z.string(), version: z.string(), links: z.record(z.string(), z.string()) }),
      'About this service',
    ),
  },
});

export function rootRoutes() {
  return createRouter().openapi(root, (c) => {
    const { serviceName, version } = c.get('settings');
    return c.json(
      {
        service: serviceName,
        version,
        links: {
          openapi: '/openapi.json',
          health: '/health',
          decide: '/api/decide',
          policies: '/api/policies',
          ledger_verify: '/api/ledger/verify',
          audit: '/api/audit/decisions',
        },
      },
      200,
    );
  });
}
