import { z } from '@hono/zod-openapi';
import { ROLES } from '../../../auth/permissions';
import { AppError } from '../../../errors';
import { createRouter, defineRoute } from '../router';
import { errorContent, IdParam, json } from '../schemas';

const ApiKeySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    role: z.enum(ROLES),
    created_at: z.string(),
    created_by: z.string(),
    revoked_at: z.string().nullable(),
  })
  .openapi('ApiKey');

const create = defineRoute({
  method: 'post',
  path: '/',
  operationId: 'createApiKey',
  permission: 'keys:manage',
  summary: 'Create an API key; the secret is shown only in this response',
  tags: ['keys'],
  request: {
    body: {
      required: true,
      content: {
        'application/json': {
          schema: z
            .strictObject({
              name: z.string().trim().min(1).max(100),
              role: z.enum(ROLES),
            })
            .openapi('ApiKeyRequest', { example: { name: 'billing-agent', role: 'agent' } }),
        },
      },
    },
  },
  responses: {
    201: json(
      z.object({
        key: ApiKeySchema,
        secret: z.string().openapi({ description: 'Send as Authorization: Bearer <secret>' }),
      }),
      'Created; store the secret now',
    ),
  },
});

const list = defineRoute({
  method: 'get',
  path: '/',
  operationId: 'listApiKeys',
  permission: 'keys:manage',
  summary: 'List API keys (never their secrets)',
  tags: ['keys'],
  responses: { 200: json(z.object({ keys: z.array(ApiKeySchema) }), 'Newest first') },
});

const revoke = defineRoute({
  method: 'delete',
  path: '/{id}',
  operationId: 'revokeApiKey',
  permission: 'keys:manage',
  summary: 'Revoke an API key at once',
  tags: ['keys'],
  request: { params: IdParam('key', 'key') },
  responses: {
    200: json(z.object({ key: ApiKeySchema }), 'Revoked (or already revoked)'),
    404: errorContent('No such key (NOT_FOUND)'),
  },
});

export function keyRoutes() {
  return createRouter()
    .openapi(create, async (c) => {
      const { name, role } = c.req.valid('json');
      const created = await c.get('services').apiKeys.create({ name, role, createdBy: c.get('principal').id });
      return c.json(created, 201);
    })
    .openapi(list, async (c) => c.json({ keys: await c.get('services').apiKeys.list() }, 200))
    .openapi(revoke, async (c) => {
      const key = await c.get('services').apiKeys.revoke(c.req.valid('param').id, c.get('principal').id);
      if (!key) throw new AppError('NOT_FOUND', 'No API key with that id');
      return c.json({ key }, 200);
    });
}
