import { z } from '@hono/zod-openapi';
import { AppError } from '../../../errors';
import { PolicyDocumentSchema, PolicyValidationSchema } from '../../../policies/schemas';
import { createRouter, defineRoute } from '../router';
import { errorContent, json, LimitQuery, WholeNumber } from '../schemas';

const PolicySummarySchema = z
  .object({
    version: z.number().int().openapi({ description: 'This service’s version number for the load (1, 2, …)' }),
    name: z.string(),
    policy_version: z.string().openapi({ description: 'The document’s own `version` field' }),
    mode: z.string(),
    hash: z.string().openapi({ description: 'SHA-256 of the RFC 8785 canonical JSON of the document as loaded' }),
    terms_count: z.number().int(),
    relations_count: z.number().int(),
    loaded_at: z.string(),
    loaded_by: z.string(),
    ledger_index: z.number().int(),
  })
  .openapi('PolicySummary');

const LoadResultSchema = z
  .object({ status: z.enum(['loaded', 'unchanged']), policy: PolicySummarySchema })
  .openapi('PolicyLoadResult');

const load = defineRoute({
  method: 'post',
  path: '/',
  operationId: 'loadPolicy',
  permission: 'policies:write',
  summary: 'Load a policy and make it active',
  description:
    'Validates the whole document (400 INVALID_POLICY lists every problem and changes nothing), stores it as a new version, appends policy_loaded to the ledger and activates it. Loading the active document again is a no-op (200, status unchanged).',
  tags: ['policies'],
  request: { body: { required: true, content: { 'application/json': { schema: PolicyDocumentSchema } } } },
  responses: {
    200: json(LoadResultSchema, 'Identical to the active policy; nothing changed'),
    201: json(LoadResultSchema, 'Loaded and active'),
  },
});

const validate = defineRoute({
  method: 'post',
  path: '/validate',
  operationId: 'validatePolicy',
  permission: 'policies:write',
  summary: 'Check a policy as a load would, without loading it',
  description:
    'Reads the document exactly as POST /api/policies does and answers what a load would find: every problem with its JSON pointer (valid: false), or what the load would record and whether it is identical to the newest loaded policy. Nothing is stored, activated or appended to the ledger, and it is not counted as a policy load.',
  tags: ['policies'],
  request: { body: { required: true, content: { 'application/json': { schema: PolicyDocumentSchema } } } },
  responses: { 200: json(PolicyValidationSchema, 'What a load of the document would find; nothing changed') },
});

const list = defineRoute({
  method: 'get',
  path: '/',
  operationId: 'listPolicies',
  permission: 'policies:read',
  summary: 'The active policy and the history of loads',
  tags: ['policies'],
  request: { query: z.object({ limit: LimitQuery }) },
  responses: {
    200: json(
      z.object({ active: PolicySummarySchema.nullable(), history: z.array(PolicySummarySchema) }),
      'Newest first',
    ),
  },
});

const one = defineRoute({
  method: 'get',
  path: '/{version}',
  operationId: 'getPolicy',
  permission: 'policies:read',
  summary: 'One loaded version with its full document',
  tags: ['policies'],
  request: { params: z.object({ version: WholeNumber(1, 2_147_483_647) }) },
  responses: {
    200: json(z.object({ policy: PolicySummarySchema, document: PolicyDocumentSchema }), 'The version as loaded'),
    404: errorContent('No such version (NOT_FOUND)'),
  },
});

export function policyRoutes() {
  return createRouter()
    .openapi(load, async (c) => {
      const result = await c.get('services').policies.load(c.req.valid('json'), c.get('principal').id);
      return result.status === 'loaded' ? c.json(result, 201) : c.json(result, 200);
    })
    .openapi(validate, async (c) => {
      return c.json(await c.get('services').policies.validate(c.req.valid('json')), 200);
    })
    .openapi(list, async (c) => {
      const { policies } = c.get('services');
      const [active, history] = await Promise.all([policies.active(), policies.history(c.req.valid('query').limit)]);
      return c.json({ active: active?.summary ?? null, history }, 200);
    })
    .openapi(one, async (c) => {
      const found = await c.get('services').policies.document(c.req.valid('param').version);
      if (!found) throw new AppError('NOT_FOUND', 'No policy with that version');
      return c.json({ policy: found.summary, document: found.document }, 200);
    });
}
