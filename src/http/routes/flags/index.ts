import { z } from '@hono/zod-openapi';
import { AppError } from '../../../errors';
import { FLAG_NAMES, isFlagName } from '../../../flags/definitions';
import { createRouter, defineRoute } from '../router';
import { errorContent, json } from '../schemas';

const Setting = z.object({ enabled: z.boolean(), rollout_percent: z.number().int() });

const FlagSchema = z
  .object({
    name: z.enum(FLAG_NAMES as [string, ...string[]]),
    description: z.string(),
    default: Setting.openapi({ description: 'From the FEATURE_FLAG_<NAME> variable' }),
    enabled: z.boolean(),
    rollout_percent: z
      .number()
      .int()
      .openapi({ description: 'Share (0–100) of stable keys the flag is on for, when enabled' }),
    source: z.enum(['config', 'database']),
    updated_at: z.string().nullable(),
    updated_by: z.string().nullable(),
    applies: z.enum(['immediately', 'restart']).openapi({
      description: 'When a change takes effect: at once, or from the next start of each instance',
    }),
  })
  .openapi('FeatureFlag');

const list = defineRoute({
  method: 'get',
  path: '/',
  operationId: 'listFeatureFlags',
  permission: 'flags:read',
  summary: 'Every feature flag with its default and effective setting',
  tags: ['flags'],
  responses: { 200: json(z.object({ flags: z.array(FlagSchema) }), 'Every flag the service consults') },
});

const update = defineRoute({
  method: 'put',
  path: '/{name}',
  operationId: 'setFeatureFlag',
  permission: 'flags:write',
  summary: 'Set a feature flag (stored, and recorded in the ledger as feature_flag_updated)',
  tags: ['flags'],
  request: {
    params: z.object({ name: z.string().max(100) }),
    body: {
      required: true,
      content: {
        'application/json': {
          schema: z
            .strictObject({
              enabled: z.boolean(),
              rollout_percent: z.number().int().min(0).max(100).optional().openapi({ description: 'Default 100' }),
            })
            .openapi('FeatureFlagUpdate', { example: { enabled: true, rollout_percent: 25 } }),
        },
      },
    },
  },
  responses: {
    200: json(z.object({ flag: FlagSchema }), 'Stored; see `applies` for when it takes effect'),
    404: errorContent('No such flag (NOT_FOUND)'),
  },
});

export function flagRoutes() {
  return createRouter()
    .openapi(list, async (c) => c.json({ flags: await c.get('services').flags.list() }, 200))
    .openapi(update, async (c) => {
      const { name } = c.req.valid('param');
      if (!isFlagName(name))
        throw new AppError('NOT_FOUND', `No feature flag named that; known: ${FLAG_NAMES.join(', ')}`);
      const { enabled, rollout_percent } = c.req.valid('json');
      const flag = await c
        .get('services')
        .flags.update(name, { enabled, rolloutPercent: rollout_percent ?? 100 }, c.get('principal').id);
      return c.json({ flag }, 200);
    });
}
