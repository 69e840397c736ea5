/** Every error code a client can receive. The HTTP status is part of the code's meaning. */
export const ERROR_STATUS = {
  INVALID_JSON: 400,
  INVALID_STRING: 400,
  VALIDATION_FAILED: 400,
  INVALID_POLICY: 400,
  /** The client closed the connection before its request body arrived whole. */
  REQUEST_ABORTED: 400,
  UNAUTHENTICATED: 401,
  MFA_REQUIRED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  DATABASE_UNAVAILABLE: 503,
  SERVICE_UNAVAILABLE: 503,
  /** The ledger's entries end before what it already signed or committed: appends stop until they are restored. */
  LEDGER_TRUNCATED: 503,
} as const satisfies Record<string, number>;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class AppError extends Error {
  override readonly name = 'AppError';
  readonly status: (typeof ERROR_STATUS)[ErrorCode];

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.status = ERROR_STATUS[code];
  }
}

/** Raised by data stores when the database cannot be reached; answered with 503 so callers retry. */
export class DatabaseUnavailableError extends AppError {
  constructor(cause: unknown) {
    super('DATABASE_UNAVAILABLE', 'The database is unavailable; retry later', undefined, { cause });
  }
}
