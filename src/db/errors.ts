/** What a failed statement was, as a bounded label (lexecon_db_errors_total{error_type}). */
export const DB_ERROR_TYPES = ['connection', 'constraint', 'timeout', 'query'] as const;
export type DbErrorType = (typeof DB_ERROR_TYPES)[number];

/**
 * Errors raised while a statement or transaction ran (marked by src/db/instrument.ts, which every
 * statement passes). Socket-level codes mean "the database is unavailable" only under this mark: a
 * client hanging up mid-upload raises ECONNRESET too, and that is not the database going away.
 */
const fromDatabase = new WeakSet<object>();

/** Marks `err` as raised by the database layer and returns it. */
export function markDatabaseError<T>(err: T): T {
  if (typeof err === 'object' && err !== null) fromDatabase.add(err);
  return err;
}

/** Driver-level codes (postgres.js and Node sockets) that mean "the database cannot be reached". */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  // Our own deadline on a statement the server never answered (src/db/instrument.ts).
  'STATEMENT_TIMEOUT',
]);

/**
 * SQLSTATEs that mean "retry later": statement_timeout or lock_timeout passed (57014, 55P03), the
 * server ended an idle transaction (25P03), operator intervention (57P01–57P03), insufficient
 * resources (class 53: disk full, out of memory, too many connections), connection exceptions
 * (class 08).
 */
function isRetryableState(code: string): boolean {
  return (
    code === '57014' ||
    code === '55P03' ||
    code === '25P03' ||
    code.startsWith('53') ||
    /^57P0[123]$/.test(code) ||
    code.startsWith('08')
  );
}

/** The links of an error's cause chain (drizzle puts the driver's error in `cause`), outermost first. */
function causeChain(err: unknown): object[] {
  const chain: object[] = [];
  for (let current = err; typeof current === 'object' && current !== null && chain.length < 5; ) {
    chain.push(current);
    current = (current as { cause?: unknown }).cause;
  }
  return chain;
}

/** The links raised by the database layer: from the first marked one inward. */
function databaseLinks(err: unknown): object[] {
  const chain = causeChain(err);
  const first = chain.findIndex((link) => fromDatabase.has(link));
  return first < 0 ? [] : chain.slice(first);
}

/** True when the database layer raised `err` (or an error in its cause chain). */
export function isDatabaseError(err: unknown): boolean {
  return databaseLinks(err).length > 0;
}

/** A code (driver or SQLSTATE) on an error or its cause chain, when it looks like one. */
export function errorCode(err: unknown): string | undefined {
  for (const link of causeChain(err)) {
    const code = (link as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z0-9_]{2,40}$/.test(code)) return code;
  }
  return undefined;
}

/**
 * True when the database layer raised an error saying it is unreachable, refusing connections, or
 * past its deadline: the request failed for a reason a retry may not meet (503).
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  return databaseLinks(err).some((link) => {
    // PGlite after close(), i.e. during shutdown.
    if ((link as { message?: unknown }).message === 'PGlite is closed') return true;
    const code = (link as { code?: unknown }).code;
    return typeof code === 'string' && (CONNECTION_CODES.has(code) || isRetryableState(code));
  });
}

/** The kind of a database failure, for lexecon_db_errors_total and log lines. */
export function classifyDbError(err: unknown): DbErrorType {
  for (const link of causeChain(err)) {
    const code = (link as { code?: unknown }).code;
    if (typeof code === 'string') {
      if (code === '57014' || code === '55P03' || code === 'CONNECT_TIMEOUT' || code === 'STATEMENT_TIMEOUT') {
        return 'timeout';
      }
      if (code.startsWith('23')) return 'constraint';
    }
  }
  return isDatabaseUnavailable(err) ? 'connection' : 'query';
}

/** True when an error (or its cause chain) is a unique-constraint violation (SQLSTATE 23505). */
export function isUniqueViolation(err: unknown): boolean {
  return causeChain(err).some((link) => (link as { code?: unknown }).code === '23505');
}

/**
 * The statement text of a database error (drizzle's `query`, postgres.js's and PGlite's `query`):
 * parameterised, so it holds no values. Undefined for other errors.
 */
export function statementOf(err: unknown): string | undefined {
  for (const link of causeChain(err)) {
    const query = (link as { query?: unknown }).query;
    if (typeof query === 'string') return query;
  }
  return undefined;
}

/**
 * True when an error may carry statement parameters or a server message quoting a value: raised by
 * the database layer, or shaped like a driver error (`params`, `parameters`, `query`), which covers
 * errors from connections outside the instrumented pool (migrations, the listener).
 */
export function mayCarryParameters(err: unknown): boolean {
  if (isDatabaseError(err)) return true;
  return causeChain(err).some((link) => 'params' in link || 'parameters' in link || 'query' in link);
}
