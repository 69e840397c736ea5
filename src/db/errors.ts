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
 * True when an error (or anything in its cause chain, which is where drizzle puts the driver's
 * error) says the database is unreachable or refusing connections: SQLSTATE class 08, operator
 * intervention 57P01–57P03, or too_many_connections 53300.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (let current = err, depth = 0; current && depth < 5; depth++) {
    // PGlite after close(), i.e. during shutdown.
    if ((current as { message?: unknown }).message === 'PGlite is closed') return true;
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') {
      if (CONNECTION_CODES.has(code) || code.startsWith('08') || /^57P0[123]$/.test(code) || code === '53300') {
        return true;
      }
    }
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** True when an error (or its cause chain) is a unique-constraint violation (SQLSTATE 23505). */
export function isUniqueViolation(err: unknown): boolean {
  for (let current = err, depth = 0; current && depth < 5; depth++) {
    if ((current as { code?: unknown }).code === '23505') return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}
