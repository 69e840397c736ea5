import { z } from '@hono/zod-openapi';
import { AppError } from '../../../errors';
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

const PolicyDocumentSchema = z.record(z.string(), z.unknown()).openapi('PolicyDocument', {
  description:
    'A policy in the upstream JSON format, full form (terms[{term_id,term_type,label}], relations[{relation_id,relation_type,source,target,conditions}]) or short form (terms[{id,type,name}], relations[{type,subject,action,object?,condition?,justification?}]), optionally wrapped as {"policy": {...}}. See docs/policy-language.md.',
  example: {
    name: 'Example',
    version: '1.0',
    mode: 'strict',
    terms: [
      { id: 'actor:model', type: 'actor', name: 'model' },
      { id: 'action:search', type: 'action', name: 'search' },
    ],
    relations: [{ type: 'permits', subject: 'actor:model', action: 'action:search', justification: 'Search is safe' }],
  },
});

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
