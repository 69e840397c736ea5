import type { Sensitivity } from './policy';

export const RISK_LEVELS = ['low', 'medium', 'high', 'critical'] as const;
export type RiskLevel = (typeof RISK_LEVELS)[number];

export interface RiskFactors {
  /** The caller's declared risk, 1–5. */
  requestedRisk: number;
  /** `sensitivity` of every policy term the request's data classes matched (undefined = not declared). */
  dataSensitivities: readonly (Sensitivity | undefined)[];
  /** A forbids relation matched: the caller attempted something the policy prohibits. */
  forbidden: boolean;
  violations: number;
}

// Declared risk 1–5 mapped as the upstream's 0–100 score bands would place it (≥80 critical, ≥60 high, ≥30 medium).
const REQUESTED: Record<number, RiskLevel> = { 1: 'low', 2: 'low', 3: 'medium', 4: 'high', 5: 'critical' };

/**
 * The risk level is the highest of: the declared risk; the most sensitive data class touched;
 * `medium` when a forbids relation matched; `high` when that is a compliance violation.
 * Taking the maximum (not a weighted mean) means no factor can be averaged away.
 */
export function assessRisk(factors: RiskFactors): RiskLevel {
  let level: RiskLevel = REQUESTED[factors.requestedRisk] ?? 'critical';
  for (const sensitivity of factors.dataSensitivities) if (sensitivity) level = higher(level, sensitivity);
  if (factors.forbidden) level = higher(level, 'medium');
  if (factors.violations > 0) level = higher(level, 'high');
  return level;
}

function higher(a: RiskLevel, b: RiskLevel): RiskLevel {
  return RISK_LEVELS.indexOf(b) > RISK_LEVELS.indexOf(a) ? b : a;
}
