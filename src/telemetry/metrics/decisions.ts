import type { Meter } from '@opentelemetry/api';
import { REASON_CODES } from '../../governance/evaluate';
import { SENSITIVITIES } from '../../governance/policy';
import { RISK_LEVELS } from '../../governance/risk';
import { METRICS } from '../catalogue';
import type { DecisionMetrics } from '../telemetry';
import { createAttributeCache, instrumentsOf } from './instruments';

const DENIAL_REASONS = REASON_CODES.filter((code) => code !== 'permitted');
const UNKNOWN_ACTOR = 'unknown';
// Actor terms come from policies, not code: past the cap, an actor is `unknown`. 200 actors × 8
// outcome/risk combinations stays inside the SDK's 2,000 series per metric.
const MAX_ACTORS = 200;

/**
 * Decisions by outcome, actor term and risk; denials by reason; evaluation time; compliance
 * violations; risk assessments; and whether a policy is active. Every series an active policy can
 * produce exists from the moment it is activated.
 */
export function createDecisionMetrics(meter: Meter): DecisionMetrics {
  const { counter, histogram, gauge } = instrumentsOf(meter);
  const decisions = counter(METRICS.decisions);
  const denied = counter(METRICS.decisionsDenied);
  const evaluation = histogram(METRICS.decisionEvaluation);
  const violations = counter(METRICS.complianceViolations);
  const risk = counter(METRICS.riskAssessments);
  const riskAttributes = new Map(RISK_LEVELS.map((level) => [level as string, { risk_level: level }]));
  for (const attributes of riskAttributes.values()) risk.add(0, attributes);
  const cached = createAttributeCache();
  const actors = new Set<string>();
  let activePolicies = 0;

  const decisionAttributes = (allowed: string, actor: string, level: string) =>
    cached(`a\u0000${allowed}\u0000${actor}\u0000${level}`, () => ({ allowed, actor, risk_level: level }));
  const denialAttributes = (reason: string, actor: string) =>
    cached(`d\u0000${reason}\u0000${actor}`, () => ({ reason, actor }));
  const violationAttributes = (type: string, severity: string) =>
    cached(`v\u0000${type}\u0000${severity}`, () => ({ violation_type: type, severity }));

  function initialiseActor(actor: string) {
    for (const allowed of ['true', 'false']) {
      for (const level of RISK_LEVELS) decisions.add(0, decisionAttributes(allowed, actor, level));
    }
    for (const reason of DENIAL_REASONS) denied.add(0, denialAttributes(reason, actor));
  }
  initialiseActor(UNKNOWN_ACTOR);
  gauge(METRICS.activePolicies).addCallback((result) => result.observe(activePolicies));

  return {
    decisionMade(outcome) {
      const actor =
        outcome.actorTerm !== undefined && actors.has(outcome.actorTerm) ? outcome.actorTerm : UNKNOWN_ACTOR;
      const allowed = outcome.allowed ? 'true' : 'false';
      decisions.add(1, decisionAttributes(allowed, actor, outcome.riskLevel));
      if (!outcome.allowed) denied.add(1, denialAttributes(outcome.reasonCode, actor));
      evaluation.record(outcome.evaluationSeconds);
      risk.add(1, riskAttributes.get(outcome.riskLevel));
      for (const v of outcome.violations) violations.add(1, violationAttributes(v.type, v.severity));
    },
    policyActivated(policy) {
      activePolicies = policy ? 1 : 0;
      if (!policy) return;
      for (const actor of policy.actorTerms) {
        if (actors.has(actor) || actors.size >= MAX_ACTORS) continue;
        actors.add(actor);
        initialiseActor(actor);
      }
      for (const framework of policy.frameworks) {
        for (const severity of SENSITIVITIES) violations.add(0, violationAttributes(framework, severity));
      }
    },
  };
}
