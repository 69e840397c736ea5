import type { Principal } from '../auth/permissions';
import { AppError } from '../errors';
import { evaluate } from '../governance/evaluate';
import { newId } from '../ids';
import { canonicalJson } from '../ledger/canonical-json';
import type { LedgerEntry } from '../ledger/entry';
import type { Ledger } from '../ledger/store';
import { readPolicy } from '../policies/read';
import type { PolicyStore } from '../policies/store';
import type { Telemetry } from '../telemetry/telemetry';
import { type Explanation, explainDecision } from './explain';
import { decisionOutcome } from './outcome';
import type {
  CapabilityToken,
  DecisionClaim,
  DecisionRequest,
  DecisionResponse,
  DecisionVerification,
} from './schemas';

export interface DecisionService {
  decide(request: DecisionRequest, caller: Principal, fallbackRequestId: string): Promise<DecisionResponse>;
  /**
   * What decide would answer for the request, with the trace that produced it, evaluated against the
   * policy document given (read as a load reads it) or else the active policy. Not a decision:
   * nothing is recorded in the ledger or counted. An invalid document is INVALID_POLICY, its
   * problems pointing into the explain request (`/policy/...`, see ExplainRequestSchema).
   */
  explain(request: DecisionRequest, document?: unknown): Promise<Explanation>;
  /** Checks a decision (as returned by decide, or just its id) against its ledger entry and signature. */
  verify(claim: DecisionClaim): Promise<DecisionVerification>;
}

export interface DecisionServiceOptions {
  ledger: Ledger;
  policies: PolicyStore;
  telemetry: Telemetry;
  /** Lifetime of a capability token issued on permit. */
  capabilityTtlMs?: number;
  now?: () => number;
}

// Response fields a claim may carry that must equal what the ledger recorded.
const CLAIM_FIELDS = [
  'decision_id',
  'request_id',
  'allowed',
  'decision',
  'reason',
  'risk_level',
  'policy_version_hash',
  'capability_token',
  'violations',
] as const;

export function createDecisionService(options: DecisionServiceOptions): DecisionService {
  const { ledger, policies, telemetry } = options;
  const now = options.now ?? Date.now;
  const capabilityTtlMs = options.capabilityTtlMs ?? 5 * 60_000;

  return {
    decide(request, caller, fallbackRequestId) {
      return telemetry.inSpan('decision.evaluate', askedOf(request), async (span) => {
        const response = await decide(request, caller, fallbackRequestId);
        span.set({
          allowed: response.allowed,
          decision: response.decision,
          risk_level: response.risk_level,
          reason_code: response.reason_code,
          decision_id: response.decision_id,
          policy_version_hash: response.policy_version_hash ?? undefined,
        });
        return response;
      });
    },

    explain(request, document) {
      return telemetry.inSpan('decision.explain', askedOf(request), async (span) => {
        const explanation = await explain(request, document);
        span.set({
          allowed: explanation.allowed,
          decision: explanation.decision,
          risk_level: explanation.risk_level,
          reason_code: explanation.reason_code,
          'policy.source': explanation.policy.source,
          policy_version_hash: explanation.policy.hash ?? undefined,
        });
        return explanation;
      });
    },

    verify,
  };

  async function explain(request: DecisionRequest, document: unknown): Promise<Explanation> {
    if (document === undefined) {
      const active = await policies.active();
      return explainDecision(active?.compiled, request, {
        source: active ? 'active' : 'none',
        version: active?.summary.version ?? null,
        hash: active?.summary.hash ?? null,
      });
    }
    const read = await readPolicy(document);
    if (!read.ok) {
      const problems = read.problems.map((p) => ({ ...p, pointer: `/policy${p.pointer}` }));
      throw new AppError('INVALID_POLICY', `The policy has ${problems.length} problem(s)`, { problems });
    }
    return explainDecision(read.policy, request, { source: 'request', version: null, hash: read.facts.hash });
  }

  async function decide(
    request: DecisionRequest,
    caller: Principal,
    fallbackRequestId: string,
  ): Promise<DecisionResponse> {
    // Only the compiled policy is cached, never a decision: each one gets its own id, capability
    // token and ledger entry, so an answer replayed from a cache would be a decision nobody recorded.
    const active = await policies.active();
    const started = performance.now();
    const evaluation = telemetry.inSpan('policy.evaluate', { policy_version_hash: active?.summary.hash }, (span) => {
      const result = evaluate(active?.compiled, request, (name, run) => telemetry.inSpan(name, {}, run));
      span.set({ mode: result.mode ?? undefined, matched_relations: result.matched, reason_code: result.reasonCode });
      return result;
    });
    const evaluationSeconds = (performance.now() - started) / 1000;

    const at = now();
    const timestamp = new Date(at);
    const decisionId = newId('dec', at);
    const policyHash = active?.summary.hash ?? null;
    const capability: CapabilityToken | undefined = evaluation.allowed
      ? {
          token_id: newId('cap', at),
          decision_id: decisionId,
          scope: {
            actor: request.actor,
            action: request.proposed_action,
            tool: request.tool,
            data_classes: request.data_classes,
          },
          granted_at: timestamp.toISOString(),
          expiry: new Date(at + capabilityTtlMs).toISOString(),
          policy_version_hash: policyHash,
        }
      : undefined;

    const decided = {
      decision_id: decisionId,
      request_id: request.request_id ?? fallbackRequestId,
      ...decisionOutcome(evaluation),
      policy_version: active?.summary.version ?? null,
      policy_version_hash: policyHash,
    };
    // The ledger entry carries the whole request and outcome; the checkpoint signed over it signs
    // the decision and the capability token together, so neither needs a signature of its own. The outcome's
    // request_id, risk_level and policy_mode replace the request's; what was asked is kept as requested_*.
    const { entry, receipt } = await telemetry.inSpan('ledger.append', { event_type: 'decision' }, () =>
      ledger.append({
        eventType: 'decision',
        timestamp,
        data: {
          ...request,
          ...decided,
          requested_risk_level: request.risk_level,
          requested_policy_mode: request.policy_mode ?? null,
          caller: caller.id,
          ...(capability ? { capability_token: capability } : {}),
        },
      }),
    );
    telemetry.decisionMade({
      decision: evaluation.decision,
      allowed: evaluation.allowed,
      actorTerm: evaluation.actorTerm,
      reasonCode: evaluation.reasonCode,
      riskLevel: evaluation.riskLevel,
      violations: evaluation.violations,
      evaluationSeconds,
    });

    return {
      ...decided,
      ledger_entry_index: entry.index,
      ledger_entry_hash: entry.entry_hash,
      timestamp: entry.timestamp,
      ...(capability ? { capability_token: capability } : {}),
      receipt,
    };
  }

  async function verify(claim: DecisionClaim): Promise<DecisionVerification> {
    const entry = await findDecisionEntry(ledger, claim);
    if (!entry) {
      return {
        verified: false,
        decision_id: claim.decision_id ?? null,
        ledger_entry_index: null,
        checks: {
          entry_found: false,
          hash_valid: false,
          signature_valid: false,
          chain_link_valid: false,
          fields_match: false,
        },
        mismatched_fields: [],
      };
    }
    const { hashValid, signatureValid } = await ledger.verifyEntry(entry);
    const previous = entry.index > 0 ? await ledger.entryByIndex(entry.index - 1) : undefined;
    const chainLinkValid = entry.index === 0 || previous?.entry_hash === entry.previous_hash;
    const mismatched = CLAIM_FIELDS.filter(
      (field) => claim[field] !== undefined && canonicalJson(claim[field]) !== canonicalJson(entry.data[field] ?? null),
    ) as string[];
    if (claim.ledger_entry_hash !== undefined && claim.ledger_entry_hash !== entry.entry_hash)
      mismatched.push('ledger_entry_hash');
    if (claim.signature !== undefined && claim.signature !== entry.signature) mismatched.push('signature');
    if (claim.timestamp !== undefined && claim.timestamp !== entry.timestamp) mismatched.push('timestamp');
    const checks = {
      entry_found: true,
      hash_valid: hashValid,
      signature_valid: signatureValid,
      chain_link_valid: chainLinkValid,
      fields_match: mismatched.length === 0,
    };
    return {
      verified: Object.values(checks).every(Boolean),
      decision_id: entry.data.decision_id as string,
      ledger_entry_index: entry.index,
      checks,
      mismatched_fields: mismatched,
    };
  }
}

/** What was asked, as the attributes of a decision's or an explanation's span. */
function askedOf(request: DecisionRequest) {
  return {
    actor: request.actor,
    action: request.proposed_action,
    resource: request.tool,
    data_classes: request.data_classes,
  };
}

async function findDecisionEntry(
  ledger: Ledger,
  claim: Pick<DecisionClaim, 'decision_id' | 'ledger_entry_hash'>,
): Promise<LedgerEntry | undefined> {
  const entry = claim.ledger_entry_hash
    ? await ledger.entryByHash(claim.ledger_entry_hash)
    : claim.decision_id
      ? await ledger.decisionEntry(claim.decision_id)
      : undefined;
  return entry?.event_type === 'decision' ? entry : undefined;
}
