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
      const error = errorCode(err);
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

/** The first code in an error's cause chain (where drizzle puts the driver's), else its class name. */
export function errorCode(err: unknown): string {
  for (let current = err, depth = 0; current && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z0-9_]{2,40}$/.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return err instanceof Error ? err.name : 'error';
}
