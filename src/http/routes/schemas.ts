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

/**
 * Response headers the app sends, declared once under components.headers and referenced by name
 * wherever they are sent (see withHeaders).
 */
export const RESPONSE_HEADERS = {
  'X-Request-ID': {
    description:
      'The caller’s X-Request-ID when it is 1–128 of [A-Za-z0-9._:-], otherwise a generated UUID; the error body and the request log carry the same id',
    required: true,
    schema: { type: 'string', pattern: '^[A-Za-z0-9._:-]{1,128}$' },
  },
  'Retry-After': {
    description: 'Seconds to wait before retrying (RFC 9110 §10.2.3)',
    required: true,
    schema: { type: 'integer', minimum: 1 },
  },
  'RateLimit-Limit': {
    description: 'The burst of the limit closest to refusing (draft-ietf-httpapi-ratelimit-headers-07)',
    required: true,
    schema: { type: 'integer', minimum: 0 },
  },
  'RateLimit-Remaining': {
    description: 'Requests left in that limit now',
    required: true,
    schema: { type: 'integer', minimum: 0 },
  },
  'RateLimit-Reset': {
    description: 'Seconds until that limit is full again',
    required: true,
    schema: { type: 'integer', minimum: 0 },
  },
  'RateLimit-Policy': {
    description: 'That limit as `<burst>;w=<seconds to refill>`',
    required: true,
    schema: { type: 'string', pattern: '^\\d+;w=\\d+$' },
  },
  Allow: {
    description: 'The methods the path serves, comma-separated (RFC 9110 §10.2.1)',
    required: true,
    schema: { type: 'string', example: 'GET, HEAD' },
  },
} as const;

type ResponseHeader = keyof typeof RESPONSE_HEADERS;

const RATE_LIMIT_HEADERS = [
  'RateLimit-Limit',
  'RateLimit-Remaining',
  'RateLimit-Reset',
  'RateLimit-Policy',
] as const satisfies ResponseHeader[];

/** What a response of a rate-limited operation carries: the limit's state, and on 429 when to retry. */
export function rateLimitHeaders(status: string): ResponseHeader[] {
  return status === '429' ? ['Retry-After', ...RATE_LIMIT_HEADERS] : [...RATE_LIMIT_HEADERS];
}

/** A response that also declares these headers (and X-Request-ID, which every response carries). */
export function withHeaders<T extends object>(response: T, names: readonly ResponseHeader[] = []) {
  const headers: Record<string, { $ref: string }> = {};
  for (const name of ['X-Request-ID', ...names]) headers[name] = { $ref: `#/components/headers/${name}` };
  const declared = 'headers' in response ? (response.headers as object) : {};
  return { ...response, headers: { ...declared, ...headers } };
}

/** The answer to a method a path does not serve; the app's notFound handler sends it (src/http/app.ts). */
export const METHOD_NOT_ALLOWED = withHeaders(
  {
    description: 'The path exists but not with this method (METHOD_NOT_ALLOWED); Allow lists the methods it serves',
    content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
  },
  ['Allow'],
);

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

/**
 * A whole number read from a path or query string. Like z.coerce.number() for any text, but null and
 * blank text stay invalid instead of becoming 0: the document can then say the parameter is an
 * integer that must be given, never null.
 */
export function WholeNumber(min: number, max: number) {
  return z.preprocess(
    (value) => (typeof value === 'string' && value.trim() !== '' ? Number(value) : value),
    z.number().int().min(min).max(max),
  );
}

export const LimitQuery = WholeNumber(1, 500).default(50);

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
