import type { Attributes, Meter } from '@opentelemetry/api';
import type { ErrorCode } from '../../errors';
import { ERROR_CLASSIFICATION, ERROR_CODES, METRICS } from '../catalogue';
import type { ErrorMetrics } from '../telemetry';
import { instrumentsOf } from './instruments';

// Exception classes are named by code we do not control: past this many, the rest are `other`.
const MAX_EXCEPTION_CLASSES = 20;
const EXCEPTION_CLASS = /^[A-Za-z][A-Za-z0-9]{0,39}$/;

export interface ErrorRecorder extends ErrorMetrics {
  /** The database answers again after a connection failure (told by the database metrics). */
  databaseRecovered(): void;
}

/** Error responses by code, unexpected exceptions by class, and recoveries of a failing dependency. */
export function createErrorMetrics(meter: Meter): ErrorRecorder {
  const { counter } = instrumentsOf(meter);
  const errors = counter(METRICS.errors);
  const errorAttributes = new Map<ErrorCode, Attributes>();
  for (const code of ERROR_CODES) {
    const attributes = { error_type: code, ...ERROR_CLASSIFICATION[code] };
    errorAttributes.set(code, attributes);
    errors.add(0, attributes);
  }
  const exceptions = counter(METRICS.exceptions);
  const exceptionClasses = new Set<string>();
  const recoveries = counter(METRICS.errorRecoveries);
  const recoveryAttributes = { error_type: 'DATABASE_UNAVAILABLE' } satisfies { error_type: ErrorCode };
  recoveries.add(0, recoveryAttributes);

  return {
    errorResponded(code) {
      errors.add(1, errorAttributes.get(code));
    },
    exceptionCaught(err, endpoint) {
      const name = err instanceof Error && EXCEPTION_CLASS.test(err.name) ? err.name : 'Error';
      if (!exceptionClasses.has(name) && exceptionClasses.size < MAX_EXCEPTION_CLASSES) exceptionClasses.add(name);
      exceptions.add(1, { exception_class: exceptionClasses.has(name) ? name : 'other', endpoint });
    },
    databaseRecovered() {
      recoveries.add(1, recoveryAttributes);
    },
  };
}
