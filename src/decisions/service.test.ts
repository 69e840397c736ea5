import { describe, expect, it } from 'vitest';
import type { Principal } from '../auth/permissions';
import { type CompiledPolicy, compilePolicy } from '../governance/policy';
import type { LedgerEntry } from '../ledger/entry';
import type { Appended, Ledger, LedgerEvent } from '../ledger/store';
import type { PolicyStore } from '../policies/store';
import { noopTelemetry, type Telemetry } from '../telemetry/telemetry';
import { DecisionRequestSchema } from './schemas';
import { createDecisionService } from './service';

const POLICY = {
  name: 'Reads',
  version: '1.0',
  mode: 'strict',
  terms: [
    { id: 'actor:user', type: 'actor', name: 'user' },
    { id: 'action:read', type: 'action', name: 'read' },
  ],
  relations: [{ type: 'permits', subject: 'actor:user', action: 'action:read', justification: 'Users may read' }],
  constraints: [
    {
      name: 'urgent reads',
      condition: 'request.action == "read" && urgent == true',
      action: 'annotate',
      obligation: 'log_urgent_read',
    },
  ],
};

const CALLER = { id: 'key_caller' } as Principal;

/** A decision service over a ledger that keeps what it is given and a policy store holding `policy`. */
function serviceWith(policy: CompiledPolicy | undefined, telemetry: Telemetry = noopTelemetry) {
  const appended: LedgerEvent[] = [];
  const ledger = {
    async append(event: LedgerEvent): Promise<Appended> {
      appended.push(event);
      const index = appended.length;
      const entry: LedgerEntry = {
        index,
        entry_id: `ent_${appended.length}`,
        event_type: 'decision',
        timestamp: (event.timestamp ?? new Date()).toISOString(),
        data: event.data,
        previous_hash: '0'.repeat(64),
        entry_hash: 'a'.repeat(64),
        signature: 'sig',
        key_id: 'key',
      };
      const receipt = { index, tree_size: index + 1, leaf_hash: 'c'.repeat(64), inclusion_proof: [], checkpoint: '' };
      return { entry, receipt };
    },
  } as Partial<Ledger> as Ledger;
  const summary = { version: 3, hash: 'b'.repeat(64) };
  const policies = {
    active: async () => (policy ? { summary, compiled: policy } : undefined),
  } as Partial<PolicyStore> as PolicyStore;
  const service = createDecisionService({ ledger, policies, telemetry, now: () => 1_800_000_000_000 });
  return { service, appended };
}

function compiled(document: unknown): CompiledPolicy {
  const result = compilePolicy(document);
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.policy;
}

describe('decision service', () => {
  it('records the request under its stored field names beside the outcome, the caller and the token', async () => {
    const { service, appended } = serviceWith(compiled(POLICY));
    const request = DecisionRequestSchema.parse({
      request_id: 'req-7',
      actor: 'user',
      proposed_action: 'read',
      tool: 'file_reader',
      user_intent: 'read a file',
      data_classes: ['public'],
      risk_level: 2,
      requested_output_type: 'PERMIT',
      policy_mode: 'strict',
      context: { urgent: true },
    });
    const response = await service.decide(request, CALLER, 'fallback-id');

    expect(appended).toHaveLength(1);
    expect(appended[0]?.data).toStrictEqual({
      decision_id: response.decision_id,
      request_id: 'req-7',
      allowed: true,
      decision: 'permit',
      reason: 'Permitted: Users may read',
      reason_code: 'permitted',
      risk_level: 'low',
      violations: [],
      obligations: ['log_urgent_read'],
      matched_relations: ['permits:actor:user:action:read'],
      policy_mode: 'strict',
      policy_version: 3,
      policy_version_hash: 'b'.repeat(64),
      actor: 'user',
      proposed_action: 'read',
      tool: 'file_reader',
      user_intent: 'read a file',
      data_classes: ['public'],
      requested_risk_level: 2,
      requested_output_type: 'permit',
      requested_policy_mode: 'strict',
      context: { urgent: true },
      caller: 'key_caller',
      capability_token: response.capability_token,
    });
    expect(response.capability_token).toStrictEqual({
      token_id: expect.stringMatching(/^cap_/),
      decision_id: response.decision_id,
      scope: { actor: 'user', action: 'read', tool: 'file_reader', data_classes: ['public'] },
      granted_at: '2027-01-15T08:00:00.000Z',
      expiry: '2027-01-15T08:05:00.000Z',
      policy_version_hash: 'b'.repeat(64),
    });
  });

  it('records a denial with the fallback request id, a null requested mode and no token', async () => {
    const { service, appended } = serviceWith(undefined);
    const request = DecisionRequestSchema.parse({ actor: 'user', proposed_action: 'read', tool: 't', user_intent: '' });
    const response = await service.decide(request, CALLER, 'fallback-id');

    expect(response).not.toHaveProperty('capability_token');
    expect(appended[0]?.data).toStrictEqual({
      decision_id: response.decision_id,
      request_id: 'fallback-id',
      allowed: false,
      decision: 'deny',
      reason: 'No active policy: denied by default',
      reason_code: 'no_policy',
      risk_level: 'low',
      violations: [],
      obligations: [],
      matched_relations: [],
      policy_mode: null,
      policy_version: null,
      policy_version_hash: null,
      actor: 'user',
      proposed_action: 'read',
      tool: 't',
      user_intent: '',
      data_classes: [],
      requested_risk_level: 1,
      requested_output_type: 'tool_action',
      requested_policy_mode: null,
      context: {},
      caller: 'key_caller',
    });
  });

  it('lets conditions read only the documented request fields, with action naming proposed_action', async () => {
    const readable = ['actor', 'action', 'tool', 'user_intent', 'data_classes', 'risk_level'];
    const hidden = ['proposed_action', 'request_id', 'requested_output_type', 'policy_mode', 'context'];
    const annotate = (field: string) => ({
      name: `reads ${field}`,
      condition: `request.${field} != null`,
      action: 'annotate',
      obligation: field,
    });
    const policy = compiled({ ...POLICY, constraints: [...readable, ...hidden].map(annotate) });
    const { service } = serviceWith(policy);
    const request = DecisionRequestSchema.parse({
      request_id: 'req-8',
      actor: 'user',
      proposed_action: 'read',
      tool: 'file_reader',
      user_intent: 'read a file',
      data_classes: ['public'],
      policy_mode: 'strict',
      context: { urgent: true },
    });
    expect((await service.decide(request, CALLER, 'fallback-id')).obligations).toStrictEqual(readable);
  });

  describe('explain', () => {
    /** Telemetry that notes the spans opened and the decisions counted. */
    function recordingTelemetry() {
      const spans: string[] = [];
      const decisions: unknown[] = [];
      const telemetry: Telemetry = {
        ...noopTelemetry,
        inSpan: (name, _attributes, fn) => {
          spans.push(name);
          return fn({ set() {} });
        },
        decisionMade: (outcome) => decisions.push(outcome),
      };
      return { telemetry, spans, decisions };
    }
    const request = DecisionRequestSchema.parse({
      actor: 'user',
      proposed_action: 'read',
      tool: 'file_reader',
      user_intent: 'read a file',
      context: { urgent: true },
    });

    it('answers what decide answers, in one decision.explain span, recording and counting nothing', async () => {
      const recording = recordingTelemetry();
      const { service, appended } = serviceWith(compiled(POLICY), recording.telemetry);

      const explanation = await service.explain(request);

      expect(recording.spans).toEqual(['decision.explain']);
      expect(recording.decisions).toEqual([]);
      expect(appended).toEqual([]);
      expect(explanation).toMatchObject({
        recorded: false,
        allowed: true,
        reason_code: 'permitted',
        obligations: ['log_urgent_read'],
        policy: { source: 'active', version: 3, hash: 'b'.repeat(64) },
      });
      const decided = await service.decide(request, CALLER, 'fallback-id');
      const { recorded: _, policy: __, trace: ___, ...outcome } = explanation;
      expect(decided).toMatchObject(outcome);
    });

    it('evaluates a document given instead of the active policy, its problems pointing under /policy', async () => {
      const { service } = serviceWith(undefined);

      const given = await service.explain(request, { policy: POLICY });
      expect(given).toMatchObject({ allowed: true, policy: { source: 'request', version: null } });
      expect(given.policy.hash).toMatch(/^[0-9a-f]{64}$/);
      expect((await service.explain(request)).policy).toEqual({ source: 'none', version: null, hash: null });

      const invalid = service.explain(request, { policy: { ...POLICY, mode: 'lenient' } });
      await expect(invalid).rejects.toMatchObject({
        code: 'INVALID_POLICY',
        details: { problems: [{ pointer: '/policy/policy/mode', message: expect.any(String) }] },
      });
    });
  });
});
