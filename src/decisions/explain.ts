import type { DecisionInput } from '../governance/evaluate';
import type { CompiledPolicy } from '../governance/policy';
import { type EvaluationTrace, explainEvaluation } from '../governance/trace';
import { type DecisionOutcome, decisionOutcome } from './outcome';

/** Which policy an explanation evaluated: the active one (by its version), one sent with the request, or a file. */
export interface ExplainedPolicy {
  source: 'active' | 'request' | 'file' | 'none';
  /** The loaded version, for the active policy. */
  version: number | null;
  /** SHA-256 of the RFC 8785 canonical JSON of the document, as a load would record it. */
  hash: string | null;
}

/**
 * A decision's outcome with the trace that produced it, marked as not a decision: it has no id, no
 * capability token, no receipt, and nothing of it is recorded or counted.
 */
export type Explanation = { recorded: false } & DecisionOutcome & {
    policy: ExplainedPolicy;
    trace: EvaluationTrace;
  };

export function explainDecision(
  compiled: CompiledPolicy | undefined,
  request: DecisionInput,
  policy: ExplainedPolicy,
): Explanation {
  const { evaluation, trace } = explainEvaluation(compiled, request);
  return { recorded: false, ...decisionOutcome(evaluation), policy, trace };
}
