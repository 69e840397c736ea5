import { createRouter, defineRoute } from '../router';
import { json } from '../schemas';
import { DecisionRequestSchema, DecisionResponseSchema, VerificationSchema, VerifyRequestSchema } from './schemas';

const decide = defineRoute({
  method: 'post',
  path: '/',
  permission: 'decide',
  summary: 'Ask whether an actor may take an action',
  description:
    'Evaluates the active policy (deny by default), assesses risk, flags compliance violations and appends the decision to the signed ledger before answering. A denial is HTTP 200 with allowed: false; 503 means no decision was recorded.',
  tags: ['decisions'],
  request: { body: { required: true, content: { 'application/json': { schema: DecisionRequestSchema } } } },
  responses: { 200: json(DecisionResponseSchema, 'The decision, as recorded in the ledger') },
});

const verify = defineRoute({
  method: 'post',
  path: '/verify',
  permission: 'decisions:verify',
  summary: 'Verify a decision against its ledger entry and signature',
  tags: ['decisions'],
  request: { body: { required: true, content: { 'application/json': { schema: VerifyRequestSchema } } } },
  responses: { 200: json(VerificationSchema, 'What was checked; verified is true only if every check passed') },
});

export function decideRoutes() {
  return createRouter()
    .openapi(decide, async (c) => {
      const { decisions } = c.get('services');
      const response = await decisions.decide(c.req.valid('json'), c.get('principal'), c.get('requestId'));
      return c.json(response, 200);
    })
    .openapi(verify, async (c) => {
      const claim = c.req.valid('json');
      return c.json(await c.get('services').decisions.verify(claim as never), 200);
    });
}
