import { z } from '@hono/zod-openapi';
import { ERROR_STATUS, type ErrorCode } from '../../errors';

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.enum(Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]]),
      message: z.string(),
      requestId: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .openapi('Error');

/** A documented error response: always the one error shape. */
export const errorContent = (description: string) => ({
  description,
  content: { 'application/json': { schema: ErrorSchema } },
});

/** The error responses every route of a kind can give, documented once. */
export function errorResponses(authenticated: boolean, hasBody: boolean) {
  return {
    400: errorContent('Invalid request (VALIDATION_FAILED, INVALID_JSON, INVALID_STRING, ...)'),
    ...(authenticated
      ? {
          401: errorContent(
            'Missing or invalid credentials (UNAUTHENTICATED), or a session still owing its MFA code (MFA_REQUIRED)',
          ),
          403: errorContent('The caller’s role lacks the permission (FORBIDDEN)'),
          429: errorContent('Too many requests for this API key or session (RATE_LIMITED); see Retry-After'),
        }
      : {}),
    ...(hasBody
      ? {
          413: errorContent('Body larger than LEXECON_MAX_BODY_BYTES (PAYLOAD_TOO_LARGE)'),
          415: errorContent('Body is not application/json (UNSUPPORTED_MEDIA_TYPE)'),
        }
      : {}),
    500: errorContent('Unexpected failure (INTERNAL); details are logged, never returned'),
    503: errorContent(
      'A dependency is unavailable (DATABASE_UNAVAILABLE, SERVICE_UNAVAILABLE, LEDGER_TRUNCATED); retry',
    ),
  };
}

// The instants PostgreSQL (and every sane audit query) can store: years 1–9999, UTC.
const EARLIEST = Date.parse('0001-01-01T00:00:00Z');
const LATEST = Date.parse('9999-12-31T23:59:59.999Z');

export const IsoTimestamp = z.iso.datetime({ offset: true }).refine(
  (value) => {
    const instant = Date.parse(value);
    return instant >= EARLIEST && instant <= LATEST;
  },
  { message: 'must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z' },
);

export const LimitQuery = z.coerce.number().int().min(1).max(500).default(50);

/** An opaque pagination cursor (a ledger index). */
export const CursorQuery = z
  .string()
  .regex(/^\d{1,15}$/, 'must be a cursor returned by a previous page')
  .transform(Number);

export function json<T>(schema: T, description: string) {
  return { description, content: { 'application/json': { schema } } };
}

/** `{ id }` path parameter of a sortable id (src/ids.ts) with its type prefix, e.g. `key_…`. */
export function IdParam(prefix: string, noun: string) {
  return z.object({
    id: z.string().regex(new RegExp(`^${prefix}_[0-9A-Z]{26}$`), `must be a ${noun} id (${prefix}_…)`),
  });
}
