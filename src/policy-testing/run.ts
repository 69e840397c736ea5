import { type ExplainedPolicy, type Explanation, explainDecision } from '../decisions/explain';
import type { CompiledPolicy } from '../governance/policy';
import {
  EXPECTED_FIELDS,
  type ExpectedField,
  type PolicyTestCase,
  type PolicyTestSuite,
  SET_FIELDS,
} from './tests-file';

/** An expected field the outcome did not match; `actual` is in the expectation's terms (frameworks for violations). */
export interface FieldMismatch {
  field: ExpectedField;
  expected: unknown;
  actual: unknown;
}

export interface CaseResult {
  name: string;
  passed: boolean;
  mismatches: FieldMismatch[];
  /** The decision with its trace, from the same evaluation POST /api/decide and /api/decide/explain run. */
  explanation: Explanation;
}

/** Runs every case of a suite against a compiled policy, in order. */
export function runSuite(compiled: CompiledPolicy, policy: ExplainedPolicy, suite: PolicyTestSuite): CaseResult[] {
  return suite.cases.map((testCase) => runCase(compiled, policy, testCase));
}

export function runCase(compiled: CompiledPolicy, policy: ExplainedPolicy, testCase: PolicyTestCase): CaseResult {
  const explanation = explainDecision(compiled, testCase.request, policy);
  const actual = actualFields(explanation);
  const mismatches: FieldMismatch[] = [];
  for (const field of EXPECTED_FIELDS) {
    const expected = testCase.expect[field];
    if (expected === undefined) continue;
    const matches = SET_FIELDS.has(field)
      ? sameSet(expected as readonly string[], actual[field] as readonly string[])
      : expected === actual[field];
    if (!matches) mismatches.push({ field, expected, actual: actual[field] });
  }
  return { name: testCase.name, passed: mismatches.length === 0, mismatches, explanation };
}

function actualFields(explanation: Explanation): Record<ExpectedField, unknown> {
  return {
    allowed: explanation.allowed,
    decision: explanation.decision,
    reason_code: explanation.reason_code,
    reason: explanation.reason,
    risk_level: explanation.risk_level,
    violations: explanation.violations.map((v) => v.type),
    obligations: explanation.obligations,
    matched_relations: explanation.matched_relations,
  };
}

function sameSet(expected: readonly string[], actual: readonly string[]): boolean {
  const a = new Set(expected);
  const b = new Set(actual);
  return a.size === b.size && [...a].every((item) => b.has(item));
}
