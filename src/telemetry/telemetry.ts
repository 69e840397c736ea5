/**
 * What domain code reports, in its own words. The implementation behind it (OpenTelemetry
 * instruments and spans) is chosen by the runtime entry; domain code never sees an instrument.
 */
export interface DecisionOutcome {
  decision: 'permit' | 'deny' | 'escalate';
  reasonCode: string;
  riskLevel: 'low' | 'medium' | 'high' | 'critical';
  violations: readonly { type: string; severity: string }[];
  evaluationSeconds: number;
}

export interface Telemetry {
  decisionMade(outcome: DecisionOutcome): void;
  policyLoaded(result: 'loaded' | 'unchanged' | 'invalid'): void;
  ledgerEntriesAppended(count: number): void;
  ledgerVerified(valid: boolean): void;
}

export const noopTelemetry: Telemetry = {
  decisionMade() {},
  policyLoaded() {},
  ledgerEntriesAppended() {},
  ledgerVerified() {},
};
