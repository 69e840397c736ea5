import type { CompiledPolicy, Relation, Sensitivity } from './policy';

export interface Violation {
  /** The compliance framework violated, e.g. "HIPAA". */
  type: string;
  severity: Sensitivity;
  relation_id: string;
  justification?: string;
}

/**
 * A matched forbids relation of a policy that names compliance frameworks is a violation of each
 * framework (or of the one the relation names). Severity: the relation's own, else the
 * sensitivity of the data it protects, else high.
 */
export function findViolations(policy: CompiledPolicy, forbids: readonly Relation[]): Violation[] {
  if (policy.frameworks.length === 0) return [];
  const violations: Violation[] = [];
  for (const relation of forbids) {
    const protectedData = relation.object === undefined ? undefined : policy.terms.get(relation.object);
    const severity = relation.severity ?? protectedData?.sensitivity ?? 'high';
    for (const framework of relation.framework ? [relation.framework] : policy.frameworks) {
      const violation: Violation = { type: framework, severity, relation_id: relation.id };
      if (relation.justification) violation.justification = relation.justification;
      violations.push(violation);
    }
  }
  return violations;
}
