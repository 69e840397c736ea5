import { errorCode } from '../db/errors';
import type { Logger } from '../telemetry/logger';

/** Appends are failing on this instance: since when, how many in a row, and the last error's code. */
export interface WriteFailure {
  since: string;
  consecutive_failures: number;
  /** A SQLSTATE or driver code (STATEMENT_TIMEOUT, ECONNREFUSED), never a message. */
  error: string;
}

/**
 * Failures that say an event cannot be stored, not that the ledger cannot write: characters jsonb
 * refuses (a NUL, an unpaired surrogate), or a caller's transaction already aborted by an earlier
 * statement of its own.
 */
const CALLERS_FAULT = new Set(['22P05', '22021', '25P02']);

export interface WriteHealth {
  current(): WriteFailure | undefined;
  succeeded(): void;
  failed(err: unknown): void;
}

/**
 * Tracks whether this instance can append. A conflict the writer retried successfully never
 * reaches here: only the outcome its caller sees does.
 */
export function createWriteHealth(logger: Logger, now: () => Date): WriteHealth {
  let failing: WriteFailure | undefined;
  return {
    current: () => failing,
    succeeded() {
      if (!failing) return;
      logger.info('ledger appends succeed again', { ...failing });
      failing = undefined;
    },
    failed(err) {
      const error = failureCode(err);
      if (CALLERS_FAULT.has(error)) return;
      if (!failing) logger.error('ledger appends are failing', { error });
      failing = {
        since: failing?.since ?? now().toISOString(),
        consecutive_failures: (failing?.consecutive_failures ?? 0) + 1,
        error,
      };
    },
  };
}

/** The error's code (SQLSTATE or driver code), else its class name: never a message. */
export function failureCode(err: unknown): string {
  return errorCode(err) ?? (err instanceof Error ? err.name : 'error');
}
