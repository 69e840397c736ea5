import { findViolations, type Violation } from './compliance';
import { type ConditionScope, conditionHolds } from './condition';
import { type CompiledPolicy, type Constraint, MODES, type Mode, type Relation, relationKey } from './policy';
import { assessRisk, type RiskLevel } from './risk';

/**
 * The decision request as the API defines it (src/decisions/schemas.ts, whose inferred type must fit
 * this). Evaluation reads it as it is, and conditions read it as `request.*`.
 */
export interface DecisionInput {
  actor: string;
  proposed_action: string;
  tool: string;
  user_intent: string;
  data_classes: readonly string[];
  /** Caller-declared risk, 1 (lowest) to 5. */
  risk_level: number;
  context: Record<string, unknown>;
  /** May make evaluation stricter than the policy's mode, never looser. */
  policy_mode?: Mode;
}

export type DecisionKind = 'permit' | 'deny' | 'escalate';

/** Low-cardinality reason for the outcome; metrics and dashboards group by it. */
export const REASON_CODES = [
  'permitted',
  'no_policy',
  'forbidden',
  'requirement_unmet',
  'constraint_denied',
  'not_permitted',
  'constraint_escalation',
  'risk_escalation',
] as const;
export type ReasonCode = (typeof REASON_CODES)[number];

export interface Evaluation {
  decision: DecisionKind;
  allowed: boolean;
  reason: string;
  reasonCode: ReasonCode;
  mode: Mode | null;
  /** The policy's actor term that matched the caller (undefined when none did). */
  actorTerm: string | undefined;
  riskLevel: RiskLevel;
  violations: Violation[];
  /** Ids of the relations and constraints that decided the outcome. */
  matched: string[];
  obligations: string[];
}

const MAX_JUSTIFICATIONS = 3;

/** Runs one named stage of the evaluation; the decision service passes one that opens a span. */
export type Stage = <T>(name: string, run: () => T) => T;
const runStage: Stage = (_name, run) => run();

/** Deny by default: only an explicit permit (and nothing that forbids or requires more) allows. */
export function evaluate(
  policy: CompiledPolicy | undefined,
  input: DecisionInput,
  stage: Stage = runStage,
): Evaluation {
  return policy ? conclude(examine(policy, input, stage)) : noPolicy(input);
}

/** What evaluation found on its way to a decision: the evidence an explanation shows. */
export interface Findings {
  mode: Mode;
  scope: ConditionScope;
  /** The policy's term ids the request's actor, action and each data class matched. */
  actorIds: readonly string[];
  actionIds: readonly string[];
  dataIds: readonly (readonly string[])[];
  /**
   * Every relation of a matched actor (or of any actor) and action, in the order evaluation met it;
   * kept only when explaining (evaluateWithFindings), empty when deciding.
   */
  considered: readonly ConsideredRelation[];
  forbids: Relation[];
  permits: Relation[];
  unmet: Relation[];
  violations: Violation[];
  riskLevel: RiskLevel;
  constraintsFired: readonly Constraint[];
}

export interface ConsideredRelation {
  relation: Relation;
  /** The request touches the relation's object, or it names none. */
  applies: boolean;
  /** Every condition holds (only evaluated where it could matter: see examine). */
  holds: boolean;
}

/** Evaluation together with what it found: the one path that both decides and explains. */
export function evaluateWithFindings(
  policy: CompiledPolicy | undefined,
  input: DecisionInput,
): { evaluation: Evaluation; findings: Findings | undefined } {
  if (!policy) return { evaluation: noPolicy(input), findings: undefined };
  const findings = examine(policy, input, runStage, []);
  return { evaluation: conclude(findings), findings };
}

function noPolicy(input: DecisionInput): Evaluation {
  return {
    decision: 'deny',
    allowed: false,
    reason: 'No active policy: denied by default',
    reasonCode: 'no_policy',
    mode: null,
    actorTerm: undefined,
    riskLevel: assessRisk({ requestedRisk: input.risk_level, dataSensitivities: [], forbidden: false, violations: 0 }),
    violations: [],
    matched: [],
    obligations: [],
  };
}

/** `considered` collects the relations evaluation meets; a decision passes none and builds no such list. */
function examine(
  policy: CompiledPolicy,
  input: DecisionInput,
  stage: Stage,
  considered?: ConsideredRelation[],
): Findings {
  const mode = stricterMode(policy.mode, input.policy_mode);
  const scope: ConditionScope = { context: input.context, request: input };
  const holds = (relation: Relation) => relation.conditions.every((c) => conditionHolds(c, scope));

  const actorIds = policy.lookup.actor.get(input.actor) ?? [];
  const actionIds = policy.lookup.action.get(input.proposed_action) ?? [];
  const dataIds = input.data_classes.map((d) => policy.lookup.data.get(d) ?? []);

  const forbids: Relation[] = [];
  const permits: Relation[] = [];
  const unmet: Relation[] = [];
  for (const actionId of actionIds) {
    for (const relation of candidates(policy, actorIds, actionId)) {
      const applies = touches(dataIds, relation.object);
      // A permit's object is judged later, by coverage; forbids and requires bind only the data they name.
      const held = relation.type === 'permits' || applies ? holds(relation) : false;
      considered?.push({ relation, applies, holds: held });
      if (relation.type === 'requires') {
        if (applies && !held) unmet.push(relation);
      } else if (relation.type === 'forbids') {
        if (applies && held) forbids.push(relation);
      } else if (held) {
        permits.push(relation);
      }
    }
  }

  const violations = findViolations(policy, forbids);
  const riskLevel = stage('risk.assess', () =>
    assessRisk({
      requestedRisk: input.risk_level,
      dataSensitivities: dataIds.flat().map((id) => policy.terms.get(id)?.sensitivity),
      forbidden: forbids.length > 0,
      violations: violations.length,
    }),
  );
  const constraintsFired = policy.constraints.filter((c) => conditionHolds(c.condition, scope));
  return {
    mode,
    scope,
    actorIds,
    actionIds,
    dataIds,
    considered: considered ?? [],
    forbids,
    permits,
    unmet,
    violations,
    riskLevel,
    constraintsFired,
  };
}

/** Precedence: forbids, then unmet requirements, deny constraints, permits, escalations. */
function conclude(findings: Findings): Evaluation {
  const { mode, actorIds, dataIds, forbids, permits, unmet, violations, riskLevel, constraintsFired } = findings;
  const obligations = constraintsFired.filter((c) => c.effect === 'annotate').map((c) => c.obligation ?? c.name);
  const result = (decision: DecisionKind, reasonCode: ReasonCode, reason: string, matched: string[]): Evaluation => ({
    decision,
    allowed: decision === 'permit',
    reason,
    reasonCode,
    mode,
    actorTerm: actorIds[0],
    riskLevel,
    violations,
    matched,
    obligations,
  });

  if (forbids.length > 0) {
    return result('deny', 'forbidden', explain('Denied', forbids, 'prohibition'), ids(forbids));
  }
  if (unmet.length > 0) {
    const what = unmet.map((r) => r.justification ?? `requires ${r.conditionText.join(' and ')}`);
    return result(
      'deny',
      'requirement_unmet',
      `Requirement not met: ${what.slice(0, MAX_JUSTIFICATIONS).join('; ')}`,
      ids(unmet),
    );
  }
  const denying = constraintsFired.filter((c) => c.effect === 'deny');
  if (denying.length > 0) {
    const what = denying.map((c) => c.justification ?? c.name);
    return result(
      'deny',
      'constraint_denied',
      `Denied by constraint: ${what.slice(0, MAX_JUSTIFICATIONS).join('; ')}`,
      denying.map((c) => `constraint:${c.name}`),
    );
  }
  // Permissive mode allows without a permit; it still cites only the permits that fit the request.
  const covering =
    mode === 'permissive'
      ? permits.filter((r) => touches(dataIds, r.object) && (r.object === undefined || dataIds.length > 0))
      : coveringPermits(permits, dataIds);
  if (mode !== 'permissive' && !covering) {
    return result('deny', 'not_permitted', 'Action not explicitly permitted', []);
  }
  const matched = ids(covering ?? []);
  const escalating = constraintsFired.filter((c) => c.effect === 'escalate');
  if (escalating.length > 0) {
    const what = escalating.map((c) => c.justification ?? c.name);
    return result(
      'escalate',
      'constraint_escalation',
      `Escalated for human review: ${what.slice(0, MAX_JUSTIFICATIONS).join('; ')}`,
      [...matched, ...escalating.map((c) => `constraint:${c.name}`)],
    );
  }
  if (mode === 'paranoid' && (riskLevel === 'high' || riskLevel === 'critical')) {
    return result(
      'escalate',
      'risk_escalation',
      `Escalated for human review: ${riskLevel} risk in paranoid mode`,
      matched,
    );
  }
  const reason =
    matched.length > 0
      ? explain('Permitted', covering ?? [], 'rule')
      : 'Permitted: nothing forbids it (permissive mode)';
  return result('permit', 'permitted', reason, matched);
}

/**
 * The permits that together cover the request, or undefined when some part is not permitted: a
 * permit without an object covers everything; otherwise every data class needs a permit naming it.
 */
function coveringPermits(permits: Relation[], dataIds: readonly (readonly string[])[]): Relation[] | undefined {
  const general = permits.filter((r) => r.object === undefined);
  if (general.length > 0) return general;
  if (dataIds.length === 0) return undefined;
  const used = new Set<Relation>();
  for (const ids of dataIds) {
    const cover = permitNaming(permits, ids);
    if (!cover) return undefined;
    used.add(cover);
  }
  return [...used];
}

/** The first permit whose object is one of a data class's terms: what covers that data class. */
export function permitNaming(permits: readonly Relation[], dataTerms: readonly string[]): Relation | undefined {
  return permits.find((r) => r.object !== undefined && dataTerms.includes(r.object));
}

/** The request touches a relation's object (one of its data classes names it), or the relation names none. */
function touches(dataIds: readonly (readonly string[])[], object: string | undefined): boolean {
  return object === undefined || dataIds.some((ids) => ids.includes(object));
}

function* candidates(policy: CompiledPolicy, actorIds: readonly string[], actionId: string): Generator<Relation> {
  for (const actorId of actorIds) yield* policy.relationsByPair.get(relationKey(actorId, actionId)) ?? [];
  yield* policy.relationsByPair.get(relationKey(undefined, actionId)) ?? [];
}

export function stricterMode(policyMode: Mode, requested: Mode | undefined): Mode {
  if (!requested) return policyMode;
  return MODES.indexOf(requested) > MODES.indexOf(policyMode) ? requested : policyMode;
}

function explain(verb: string, relations: Relation[], noun: string): string {
  const justifications = relations.map((r) => r.justification).filter((j): j is string => Boolean(j));
  if (justifications.length > 0) return `${verb}: ${justifications.slice(0, MAX_JUSTIFICATIONS).join('; ')}`;
  return `${verb} by ${relations.length} ${noun}${relations.length === 1 ? '' : 's'}`;
}

function ids(relations: readonly Relation[]): string[] {
  return relations.map((r) => r.id);
}
