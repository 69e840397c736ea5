import type { Meter } from '@opentelemetry/api';
import { METRICS } from '../catalogue';
import { POLICY_LOAD_RESULTS, type PolicyMetrics } from '../telemetry';
import { instrumentsOf } from './instruments';

/** Policy loads by result, for the stale-policy alert (the active policy's series are the decisions'). */
export function createPolicyMetrics(meter: Meter): PolicyMetrics {
  const policyLoads = instrumentsOf(meter).counter(METRICS.policyLoads);
  const loadAttributes = new Map(POLICY_LOAD_RESULTS.map((result) => [result as string, { result }]));
  for (const attributes of loadAttributes.values()) policyLoads.add(0, attributes);

  return {
    policyLoaded(result) {
      policyLoads.add(1, loadAttributes.get(result));
    },
  };
}
