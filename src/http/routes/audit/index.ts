import { z } from '@hono/zod-openapi';
import { AppError } from '../../../errors';
import { RISK_LEVELS } from '../../../governance/risk';
import { LedgerEntrySchema, NextCursor, PageLimitQuery } from '../ledger';
import { createRouter, defineRoute } from '../router';
import { CursorQuery, errorContent, IdParam, IsoTimestamp, json } from '../schemas';

const DecisionSummarySchema = z
  .object({
    decision_id: z.string(),
    request_id: z.string(),
    timestamp: z.string(),
    actor: z.string(),
    proposed_action: z.string(),
    tool: z.string(),
    decision: z.string(),
    allowed: z.boolean(),
    reason: z.string(),
    reason_code: z.string(),
    risk_level: z.string(),
    violations: z.array(z.unknown()),
    policy_version_hash: z.string().nullable(),
    ledger_entry_index: z.number().int(),
    ledger_entry_hash: z.string(),
  })
  .openapi('DecisionSummary');

const Range = { from: IsoTimestamp.optional(), to: IsoTimestamp.optional() };

const decisions = defineRoute({
  method: 'get',
  path: '/decisions',
  operationId: 'listDecisions',
  permission: 'audit:read',
  summary: 'Search recorded decisions, newest first',
  tags: ['audit'],
  request: {
    query: z.object({
      actor: z
        .string()
        .min(1)
        .max(255)
        .regex(/^[A-Za-z0-9_\-.@:]+$/)
        .optional(),
      decision: z.enum(['permit', 'deny', 'escalate']).optional(),
      risk_level: z.enum(RISK_LEVELS).optional(),
      ...Range,
      cursor: CursorQuery.optional(),
      limit: PageLimitQuery,
    }),
  },
  responses: {
    200: json(
      z.object({
        decisions: z.array(DecisionSummarySchema),
        total: z.number().int(),
        next_cursor: NextCursor,
      }),
      'One page; total counts every match',
    ),
  },
});

const decision = defineRoute({
  method: 'get',
  path: '/decisions/{id}',
  operationId: 'getDecision',
  permission: 'audit:read',
  summary: 'One decision with its ledger entry and its verification',
  tags: ['audit'],
  request: { params: IdParam('dec', 'decision') },
  responses: {
    200: json(
      z.object({
        decision: DecisionSummarySchema,
        entry: LedgerEntrySchema,
        verification: z.object({
          hash_valid: z.boolean(),
          signature_valid: z.boolean(),
          chain_link_valid: z.boolean(),
        }),
      }),
      'The decision',
    ),
    404: errorContent('No such decision (NOT_FOUND)'),
  },
});

const stats = defineRoute({
  method: 'get',
  path: '/stats',
  operationId: 'getDecisionStats',
  permission: 'audit:read',
  summary: 'Decision statistics computed from the ledger',
  tags: ['audit'],
  request: { query: z.object(Range) },
  responses: {
    200: json(
      z.object({
        total_decisions: z.number().int(),
        by_decision: z.record(z.string(), z.number().int()),
        by_risk_level: z.record(z.string(), z.number().int()),
        violations_by_framework: z.record(z.string(), z.number().int()),
        allow_rate: z.number().nullable(),
        first_decision_at: z.string().nullable(),
        last_decision_at: z.string().nullable(),
        last_24h: z.number().int(),
        previous_24h: z.number().int(),
      }),
      'Statistics for the range (all time by default)',
    ),
  },
});

const toDate = (value: string | undefined) => (value ? new Date(value) : undefined);

export function auditRoutes() {
  return createRouter()
    .openapi(decisions, async (c) => {
      const q = c.req.valid('query');
      const page = await c.get('services').audit.decisions({
        actor: q.actor,
        decision: q.decision,
        riskLevel: q.risk_level,
        from: toDate(q.from),
        to: toDate(q.to),
        cursor: q.cursor,
        limit: q.limit,
      });
      return c.json(page, 200);
    })
    .openapi(decision, async (c) => {
      const found = await c.get('services').audit.decision(c.req.valid('param').id);
      if (!found) throw new AppError('NOT_FOUND', 'No decision with that id');
      return c.json(found, 200);
    })
    .openapi(stats, async (c) => {
      const q = c.req.valid('query');
      return c.json(await c.get('services').audit.stats({ from: toDate(q.from), to: toDate(q.to) }), 200);
    });
}
