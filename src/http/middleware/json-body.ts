import type { MiddlewareHandler } from 'hono';
import { AppError } from '../../errors';
import type { AppEnv, AppSettings } from '../context';

const JSON_MEDIA_TYPE = /^application\/(?:[\w.-]+\+)?json$/i;
const MAX_DEPTH = 64;

export interface JsonBodyOptions {
  /** The route's own limit in bytes; LEXECON_MAX_BODY_BYTES (`maxBodyBytes`) bounds it either way. */
  maxBytes?(settings: AppSettings): number;
}

/**
 * Reads and parses a JSON body once, before validation: 415 unless it is JSON, 413 past the size limit
 * (checked on the declared length and again while streaming), 400 REQUEST_ABORTED when the client
 * hangs up before the body is in, 400 for malformed JSON, and 400 for values Postgres or canonical
 * JSON cannot store faithfully (NUL, lone surrogates, non-finite numbers, absurd nesting) so they
 * can never reach the ledger and fail there.
 */
export function jsonBody(options: JsonBodyOptions = {}): MiddlewareHandler<AppEnv> {
  return async function jsonBody(c, next) {
    const mediaType = (c.req.header('content-type') ?? '').split(';')[0]?.trim() ?? '';
    if (!JSON_MEDIA_TYPE.test(mediaType)) {
      throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'The request body must be application/json');
    }
    const settings = c.get('settings');
    const limit = Math.min(settings.maxBodyBytes, options.maxBytes?.(settings) ?? settings.maxBodyBytes);
    const declared = Number(c.req.header('content-length'));
    if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);

    // With a declared length (which Node's HTTP parser enforces) the runtime's own buffered read
    // is fastest; a chunked body of unknown length is streamed and cut off at the limit.
    const text = decodeUtf8(
      await readBody(() =>
        Number.isFinite(declared) && c.req.header('content-length')
          ? c.req.raw.arrayBuffer().then((buffer) => new Uint8Array(buffer))
          : readLimited(c.req.raw, limit),
      ),
    );
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new AppError('INVALID_JSON', 'The request body is not valid JSON');
    }
    const problem = unstorable(value);
    if (problem) throw new AppError('INVALID_STRING', `The request body contains ${problem}`);
    // The route's schema validates this value (src/http/routes/router.ts): the body is parsed once.
    c.set('body', value);
    await next();
  };
}

/**
 * A body read that fails (the socket closed: ECONNRESET, "aborted") is the client's doing, told
 * apart from the database's by its own code, never counted as DATABASE_UNAVAILABLE.
 */
async function readBody(read: () => Promise<Uint8Array>): Promise<Uint8Array> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw new AppError('REQUEST_ABORTED', 'The request body did not arrive: the connection closed first');
  }
}

async function readLimited(request: Request, limit: number): Promise<Uint8Array> {
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new AppError('INVALID_JSON', 'The request body is not valid UTF-8');
  }
}

function tooLarge(limit: number): AppError {
  return new AppError('PAYLOAD_TOO_LARGE', `The request body exceeds ${limit} bytes`, { limit_bytes: limit });
}

/** Describes the first value that cannot be stored faithfully, or undefined. Iterative: no stack overflow. */
export function unstorable(root: unknown): string | undefined {
  const stack: { value: unknown; depth: number }[] = [{ value: root, depth: 0 }];
  while (stack.length > 0) {
    const { value, depth } = stack.pop() as { value: unknown; depth: number };
    if (typeof value === 'string') {
      if (!isStorableString(value)) return 'a string with a NUL character or an unpaired surrogate';
    } else if (typeof value === 'number') {
      if (!Number.isFinite(value)) return 'a number too large to represent';
    } else if (value !== null && typeof value === 'object') {
      if (depth >= MAX_DEPTH) return `values nested deeper than ${MAX_DEPTH} levels`;
      for (const [key, child] of Object.entries(value)) {
        if (!isStorableString(key)) return 'a key with a NUL character or an unpaired surrogate';
        stack.push({ value: child, depth: depth + 1 });
      }
    }
  }
  return undefined;
}

function isStorableString(s: string): boolean {
  return s.isWellFormed() && !s.includes('\u0000');
}
