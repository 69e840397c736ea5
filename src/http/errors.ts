import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { HashingBusyError } from '../auth/hashing-capacity';
import { isDatabaseUnavailable } from '../db/errors';
import { AppError, DatabaseUnavailableError, ERROR_STATUS, type ErrorCode } from '../errors';
import type { AppEnv } from './context';
import { routeTemplate } from './middleware/http-telemetry';

/** The error body every 4xx and 5xx carries. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string; requestId: string; details?: unknown };
}

export function errorResponse(c: Context<AppEnv>, code: ErrorCode, message: string, details?: unknown) {
  c.get('services').telemetry.errorResponded(code);
  c.set('errorCode', code);
  const body: ErrorBody = { error: { code, message, requestId: c.get('requestId') } };
  if (details !== undefined) body.error.details = details;
  return c.json(body, ERROR_STATUS[code]);
}

/** Hono raises these for framework-level failures; map them to our codes without echoing internals. */
function fromHttpException(err: HTTPException): AppError {
  switch (err.status) {
    case 400:
      return new AppError('INVALID_JSON', 'The request body is not valid JSON');
    case 413:
      return new AppError('PAYLOAD_TOO_LARGE', 'The request body is too large');
    case 415:
      return new AppError('UNSUPPORTED_MEDIA_TYPE', 'The request body must be application/json');
    case 401:
      return new AppError('UNAUTHENTICATED', 'Authentication required');
    case 403:
      return new AppError('FORBIDDEN', 'Not allowed');
    case 404:
      return new AppError('NOT_FOUND', 'Not found');
    default:
      return new AppError('INTERNAL', 'Internal error');
  }
}

/**
 * The instance's password-hashing line is full (src/auth/hashing-capacity.ts), whichever route
 * hashes: 429 with Retry-After, counted as the `password_hashing` limiter.
 */
function refuseBusyHashing(c: Context<AppEnv>, err: HashingBusyError): AppError {
  c.get('services').telemetry.rateLimited('password_hashing');
  c.header('Retry-After', String(err.retryAfterSeconds));
  return new AppError(
    'RATE_LIMITED',
    `Password hashing on this instance is at capacity; retry in ${err.retryAfterSeconds} s`,
    {
      retry_after_seconds: err.retryAfterSeconds,
    },
  );
}

/** The one error handler: known errors keep their code; anything else is a logged, opaque 500. */
export function handleError(err: Error, c: Context<AppEnv>) {
  const known =
    err instanceof AppError
      ? err
      : err instanceof HTTPException
        ? fromHttpException(err)
        : err instanceof HashingBusyError
          ? refuseBusyHashing(c, err)
          : isDatabaseUnavailable(err)
            ? new DatabaseUnavailableError(err)
            : undefined;
  const { telemetry, logger } = c.get('services');
  if (known && known.code !== 'INTERNAL') {
    if (known.status >= 500) {
      // The logger writes errors as their summaries: no statement parameter, no payload.
      logger.warn('request failed', {
        requestId: c.get('requestId'),
        code: known.code,
        cause: known.cause,
      });
    }
    return errorResponse(c, known.code, known.message, known.details);
  }
  telemetry.exceptionCaught(err, routeTemplate(c, c.get('routes')));
  telemetry.recordException(err);
  logger.error('unhandled error', { requestId: c.get('requestId'), error: err });
  return errorResponse(c, 'INTERNAL', 'Internal error');
}
