import { DEFAULT_MAX_DECISION_BYTES } from '../../../config';
import {
  DecisionRequestSchema,
  DecisionResponseSchema,
  ExplainRequestSchema,
  ExplanationSchema,
  VerificationSchema,
  VerifyRequestSchema,
} from '../../../decisions/schemas';
import { AppError } from '../../../errors';
import type { AppSettings } from '../../context';
import { createRouter, defineRoute } from '../router';
import { errorContent, json } from '../schemas';

/** Every decision is stored in the ledger and read back by audits: its request has its own cap. */
const maxDecisionBytes = (settings: AppSettings) => settings.maxDecisionBytes ?? DEFAULT_MAX_DECISION_BYTES;
const tooLarge = errorContent(
  `Body larger than LEXECON_MAX_DECISION_BYTES (default ${DEFAULT_MAX_DECISION_BYTES}) or LEXECON_MAX_BODY_BYTES, whichever is smaller (PAYLOAD_TOO_LARGE); details.limit_bytes is the limit`,
);

const decide = defineRoute({
  method: 'post',
  path: '/',
  operationId: 'decide',
  permission: 'decide',
  summary: 'Ask whether an actor may take an action',
  description:
    'Evaluates the active policy (deny by default), assesses risk, flags compliance violations and appends the decision to the signed ledger before answering. A denial is HTTP 200 with allowed: false; 503 means no decision was answered (retry); only a network lost between a commit and its acknowledgement can leave an entry that was never answered.',
  tags: ['decisions'],
  request: { body: { required: true, content: { 'application/json': { schema: DecisionRequestSchema } } } },
  maxBodyBytes: maxDecisionBytes,
  responses: { 200: json(DecisionResponseSchema, 'The decision, as recorded in the ledger'), 413: tooLarge },
});

const explain = defineRoute({
  method: 'post',
  path: '/explain',
  operationId: 'explainDecision',
  permission: 'policies:read',
  summary: 'Explain what a decision would be, without deciding',
  description:
    'Evaluates the request as POST /api/decide does, against the policy in the body (read exactly as POST /api/policies reads it: 400 INVALID_POLICY lists every problem, its pointer into this body, /policy/...) or else the active policy (none: the no_policy denial), and answers the outcome with the trace that produced it. Not a decision: no decision_id, capability token or receipt; nothing is appended to the ledger or counted as a decision. Held to the caller’s API rate limit like every authenticated call. The body may be as large as LEXECON_MAX_BODY_BYTES (a policy may be in it); its request, as large as decide takes.',
  tags: ['decisions'],
  request: { body: { required: true, content: { 'application/json': { schema: ExplainRequestSchema } } } },
  responses: {
    200: json(ExplanationSchema, 'The outcome and its trace; nothing recorded'),
    413: errorContent(
      `Body larger than LEXECON_MAX_BODY_BYTES, or its request larger than LEXECON_MAX_DECISION_BYTES (default ${DEFAULT_MAX_DECISION_BYTES}) as JSON (PAYLOAD_TOO_LARGE); details.limit_bytes is the limit`,
    ),
  },
});

const utf8 = new TextEncoder();

/** Decide refuses a request over its limit, so an explanation of one would explain nothing decide could answer. */
function holdToDecisionLimit(body: unknown, limit: number): void {
  const request = (body as { request: unknown }).request;
  if (utf8.encode(JSON.stringify(request)).length > limit) {
    throw new AppError('PAYLOAD_TOO_LARGE', `The request exceeds ${limit} bytes, the limit of POST /api/decide`, {
      limit_bytes: limit,
    });
  }
}

const verify = defineRoute({
  method: 'post',
  path: '/verify',
  operationId: 'verifyDecision',
  permission: 'decisions:verify',
  summary: 'Verify a decision against its ledger entry and signature',
  tags: ['decisions'],
  request: { body: { required: true, content: { 'application/json': { schema: VerifyRequestSchema } } } },
  maxBodyBytes: maxDecisionBytes,
  responses: {
    200: json(VerificationSchema, 'What was checked; verified is true only if every check passed'),
    413: tooLarge,
  },
});

export function decideRoutes() {
  return createRouter()
    .openapi(decide, async (c) => {
      const { decisions } = c.get('services');
      const response = await decisions.decide(c.req.valid('json'), c.get('principal'), c.get('requestId'));
      return c.json(response, 200);
    })
    .openapi(explain, async (c) => {
      const { request, policy } = c.req.valid('json');
      holdToDecisionLimit(c.get('body'), maxDecisionBytes(c.get('settings')));
      return c.json(await c.get('services').decisions.explain(request, policy), 200);
    })
    .openapi(verify, async (c) => {
      const claim = c.req.valid('json');
      return c.json(await c.get('services').decisions.verify(claim), 200);
    });
}
