import type { Attributes, Meter } from '@opentelemetry/api';
import { FLAG_ERROR_TYPES, FLAG_NAMES, UNKNOWN_FLAG } from '../../flags/definitions';
import { METRICS } from '../catalogue';
import type { FlagMetrics } from '../telemetry';
import { instrumentsOf } from './instruments';

/**
 * Flag evaluations by result and flag errors by kind. Flags are a closed list (plus `unknown` for
 * names that are not), so every series exists from the start and no caller can add one.
 */
export function createFlagMetrics(meter: Meter): FlagMetrics {
  const { counter } = instrumentsOf(meter);
  const flags = counter(METRICS.flagEvaluations);
  const flagErrors = counter(METRICS.flagErrors);
  const flagAttributes = new Map<string, Attributes>();
  const flagErrorAttributes = new Map<string, Attributes>();
  for (const flag of [...FLAG_NAMES, UNKNOWN_FLAG]) {
    for (const result of ['true', 'false']) {
      const attributes = { flag, result };
      flagAttributes.set(`${flag}\u0000${result}`, attributes);
      flags.add(0, attributes);
    }
    for (const errorType of FLAG_ERROR_TYPES) {
      const attributes = { flag, error_type: errorType };
      flagErrorAttributes.set(`${flag}\u0000${errorType}`, attributes);
      flagErrors.add(0, attributes);
    }
  }

  return {
    flagEvaluated(flag, result) {
      flags.add(
        1,
        flagAttributes.get(`${flag}\u0000${result}`) ?? flagAttributes.get(`${UNKNOWN_FLAG}\u0000${result}`),
      );
    },
    flagFailed(flag, errorType) {
      flagErrors.add(
        1,
        flagErrorAttributes.get(`${flag}\u0000${errorType}`) ??
          flagErrorAttributes.get(`${UNKNOWN_FLAG}\u0000${errorType}`),
      );
    },
  };
}
