import type { Evaluation } from '../governance/evaluate';

/**
 * An evaluation in the API's words: the fields a decision answers and records, and an explanation
 * answers too. One mapping, so that decide, explain and policy tests cannot disagree on a name.
 */
export function decisionOutcome(evaluation: Evaluation) {
  return {
    allowed: evaluation.allowed,
    decision: evaluation.decision,
    reason: evaluation.reason,
    reason_code: evaluation.reasonCode,
    risk_level: evaluation.riskLevel,
    violations: evaluation.violations,
    obligations: evaluation.obligations,
    matched_relations: evaluation.matched,
    policy_mode: evaluation.mode,
  };
}

export type DecisionOutcome = ReturnType<typeof decisionOutcome>;
