import type { Violation } from './compliance';
import { type Condition, type ConditionRead, type ConditionScope, conditionHolds, conditionReads } from './condition';
import {
  type DecisionInput,
  type Evaluation,
  evaluateWithFindings,
  type Findings,
  permitNaming,
  type ReasonCode,
} from './evaluate';
import type { CompiledPolicy, ConstraintEffect, Mode, Relation, RelationType, Sensitivity } from './policy';
import type { RiskLevel } from './risk';

/**
 * How a decision was reached, step by step, from the same evaluation that decides: which terms the
 * request matched, every relation and constraint considered with each condition's value, the mode's
 * effect, the risk factors, the compliance rules that fired and the rule that won.
 * docs/policy-language.md ("Explaining a decision") describes every field.
 */
export interface EvaluationTrace {
  policy: { name: string; version: string; mode: Mode; compliance_frameworks: string[] } | null;
  mode: { policy: Mode | null; requested: Mode | null; effective: Mode | null; effect: string };
  terms: { actor: TermMatch; action: TermMatch; data_classes: TermMatch[] };
  relations: RelationStep[];
  constraints: ConstraintStep[];
  risk: {
    declared: number;
    data: { term: string; sensitivity: Sensitivity | null }[];
    forbidden: boolean;
    violations: number;
    level: RiskLevel;
  };
  violations: Violation[];
  outcome: { reason_code: ReasonCode; decided_by: string[]; rule: string };
}

/** A request value and the policy terms it names (none: the policy does not know it). */
export interface TermMatch {
  value: string;
  terms: string[];
}

export interface ConditionStep {
  condition: string;
  holds: boolean;
  reads: ConditionRead[];
}

/**
 * What a relation did: `forbade`, `permitted`, `unmet` (a requirement whose condition failed), `met`,
 * `conditions_failed` (a permit or forbids whose conditions did not all hold) or `not_applicable` (a
 * forbids or requires whose object the request does not touch).
 */
export const RELATION_EFFECTS = [
  'forbade',
  'permitted',
  'unmet',
  'met',
  'conditions_failed',
  'not_applicable',
] as const;
export type RelationEffect = (typeof RELATION_EFFECTS)[number];

export interface RelationStep {
  id: string;
  type: RelationType;
  actor: string | null;
  action: string;
  object: string | null;
  conditions: ConditionStep[];
  effect: RelationEffect;
  /** It is among the relations and constraints the outcome names (matched_relations). */
  decided: boolean;
  justification?: string;
}

export interface ConstraintStep {
  name: string;
  effect: ConstraintEffect;
  condition: ConditionStep;
  fired: boolean;
  decided: boolean;
  obligation?: string;
}

export interface Explained {
  evaluation: Evaluation;
  trace: EvaluationTrace;
}

/** Evaluates exactly as a decision does, and keeps the evidence. */
export function explainEvaluation(policy: CompiledPolicy | undefined, input: DecisionInput): Explained {
  const { evaluation, findings } = evaluateWithFindings(policy, input);
  const trace = policy && findings ? traceOf(policy, input, evaluation, findings) : noPolicyTrace(input, evaluation);
  return { evaluation, trace };
}

/** With no policy, nothing matched and nothing was considered: only the request and the default. */
function noPolicyTrace(input: DecisionInput, evaluation: Evaluation): EvaluationTrace {
  const unknown = (value: string): TermMatch => ({ value, terms: [] });
  return {
    policy: null,
    mode: modeStep(null, input.policy_mode ?? null, evaluation.mode),
    terms: {
      actor: unknown(input.actor),
      action: unknown(input.proposed_action),
      data_classes: input.data_classes.map(unknown),
    },
    relations: [],
    constraints: [],
    risk: { declared: input.risk_level, data: [], forbidden: false, violations: 0, level: evaluation.riskLevel },
    violations: evaluation.violations,
    outcome: { reason_code: evaluation.reasonCode, decided_by: evaluation.matched, rule: ruleFor(evaluation, input) },
  };
}

function traceOf(
  policy: CompiledPolicy,
  input: DecisionInput,
  evaluation: Evaluation,
  findings: Findings,
): EvaluationTrace {
  const decided = new Set(evaluation.matched);
  const { scope, dataIds } = findings;
  const match = (value: string, ids: readonly string[] | undefined): TermMatch => ({ value, terms: [...(ids ?? [])] });
  return {
    policy: { name: policy.name, version: policy.version, mode: policy.mode, compliance_frameworks: policy.frameworks },
    mode: modeStep(policy.mode, input.policy_mode ?? null, evaluation.mode),
    terms: {
      actor: match(input.actor, findings.actorIds),
      action: match(input.proposed_action, findings.actionIds),
      data_classes: input.data_classes.map((value, i) => match(value, dataIds[i])),
    },
    relations: findings.considered.map(({ relation, applies, holds }) =>
      relationStep(relation, relationEffect(relation, applies, holds), decided, scope),
    ),
    constraints: policy.constraints.map((constraint) => {
      const step: ConstraintStep = {
        name: constraint.name,
        effect: constraint.effect,
        condition: conditionStep(constraint.conditionText, constraint.condition, scope),
        fired: findings.constraintsFired.includes(constraint),
        decided: decided.has(`constraint:${constraint.name}`),
      };
      if (constraint.effect === 'annotate') step.obligation = constraint.obligation ?? constraint.name;
      return step;
    }),
    risk: {
      declared: input.risk_level,
      data: dataIds.flat().map((term) => ({ term, sensitivity: policy.terms.get(term)?.sensitivity ?? null })),
      forbidden: findings.forbids.length > 0,
      violations: evaluation.violations.length,
      level: evaluation.riskLevel,
    },
    violations: evaluation.violations,
    outcome: {
      reason_code: evaluation.reasonCode,
      decided_by: evaluation.matched,
      rule: ruleFor(evaluation, input, findings),
    },
  };
}

function relationEffect(relation: Relation, applies: boolean, holds: boolean): RelationEffect {
  if (relation.type === 'permits') return holds ? 'permitted' : 'conditions_failed';
  if (!applies) return 'not_applicable';
  if (relation.type === 'requires') return holds ? 'met' : 'unmet';
  return holds ? 'forbade' : 'conditions_failed';
}

function relationStep(
  relation: Relation,
  effect: RelationEffect,
  decided: ReadonlySet<string>,
  scope: ConditionScope,
): RelationStep {
  const step: RelationStep = {
    id: relation.id,
    type: relation.type,
    actor: relation.source ?? null,
    action: relation.target,
    object: relation.object ?? null,
    conditions: relation.conditions.map((condition, i) =>
      conditionStep(relation.conditionText[i] ?? '', condition, scope),
    ),
    effect,
    decided: decided.has(relation.id),
  };
  if (relation.justification !== undefined) step.justification = relation.justification;
  return step;
}

function conditionStep(text: string, condition: Condition, scope: ConditionScope): ConditionStep {
  return { condition: text, holds: conditionHolds(condition, scope), reads: conditionReads(condition, scope) };
}

const MODE_EFFECT: Record<Mode, string> = {
  permissive: 'allows what nothing forbids, requires more or denies; no permit is needed',
  strict: 'allows only what permits cover: the action, and every data class the request names',
  paranoid: 'allows only what permits cover, as strict does, and escalates high or critical risk to human review',
};

function modeStep(policy: Mode | null, requested: Mode | null, effective: Mode | null): EvaluationTrace['mode'] {
  if (effective === null)
    return { policy, requested, effective, effect: 'no policy is active: every request is denied' };
  const asked =
    requested === null
      ? ''
      : requested === effective && requested !== policy
        ? `the request asked for ${requested}, stricter than the policy's ${policy}: `
        : requested === effective
          ? ''
          : `the request asked for ${requested}; the policy's stricter ${effective} applies: `;
  return { policy, requested, effective, effect: `${asked}${effective} ${MODE_EFFECT[effective]}` };
}

/** Why the winning rule won, in the order evaluation applies them. */
function ruleFor(evaluation: Evaluation, input: DecisionInput, findings?: Findings): string {
  switch (evaluation.reasonCode) {
    case 'no_policy':
      return 'No policy is active: deny by default.';
    case 'forbidden':
      return 'A forbids relation held for this request: a prohibition outranks every permit.';
    case 'requirement_unmet':
      return 'A requires relation for this action did not hold: an unmet requirement denies, whatever permits it.';
    case 'constraint_denied':
      return 'A deny constraint held: it denies after prohibitions and requirements, before any permit is looked at.';
    case 'not_permitted':
      return `Deny by default: ${uncovered(input, findings)}.`;
    case 'constraint_escalation':
      return 'Permitted, but an escalate constraint held: a human must review it first.';
    case 'risk_escalation':
      return `Permitted, but paranoid mode escalates ${evaluation.riskLevel} risk to human review.`;
    case 'permitted':
      return evaluation.matched.length > 0
        ? 'Permits cover the request and nothing forbids it, requires more, denies or escalates it.'
        : 'Permissive mode: nothing forbids it, requires more, denies or escalates it.';
  }
}

/** What no permit covers: the whole request, or the data classes no held permit names. */
function uncovered(input: DecisionInput, findings: Findings | undefined): string {
  if (!findings || findings.actorIds.length === 0) return `the policy has no actor "${input.actor}"`;
  if (findings.actionIds.length === 0) return `the policy has no action "${input.proposed_action}"`;
  const held = findings.permits;
  if (held.length === 0) return 'no permit for this actor and action held';
  const missing = input.data_classes.filter((_, i) => !permitNaming(held, findings.dataIds[i] ?? []));
  return missing.length > 0
    ? `no permit that held covers the data class${missing.length === 1 ? '' : 'es'} ${missing.map((d) => `"${d}"`).join(', ')}`
    : 'the permits that held each name data, and the request names none';
}
